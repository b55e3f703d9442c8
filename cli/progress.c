/* A pv-like progress line on stderr: bytes, rate, ETA, method.  Drawn at
 * most five times a second so that it costs nothing next to the copy. */
#include "cli.h"

#include <string.h>

void progress_init(struct progress *p, uint64_t total, bool on) {
  memset(p, 0, sizeof *p);
  p->on = on;
  p->total = total;
  p->start = p->last = cli_now();
}

static void draw(struct progress *p, const splicer_session *s, double now,
                 bool final) {
  splicer_progress pr;
  if (splicer_progress_get(s, &pr, sizeof pr) < 0)
    return;
  double el = now - p->start;
  double rate = el > 0 ? (double)pr.delivered / el : 0;
  char done[32], tot[32], rt[32], line[160];
  cli_human(pr.delivered, done, sizeof done);
  cli_human((uint64_t)rate, rt, sizeof rt);
  int n;
  if (p->total && !final) {
    double eta = rate > 0 ? (double)(p->total - (pr.delivered < p->total
                                                     ? pr.delivered
                                                     : p->total)) /
                                rate
                          : 0;
    unsigned e = (unsigned)(eta + 0.5);
    n = snprintf(line, sizeof line, "%s / %s  %3.0f%%  %s/s  ETA %u:%02u  %s",
                 done, cli_human(p->total, tot, sizeof tot),
                 100.0 * (double)pr.delivered / (double)p->total, rt, e / 60,
                 e % 60, splicer_method_name(pr.method));
  } else {
    unsigned e = (unsigned)(el + 0.5);
    n = snprintf(line, sizeof line, "%s  %s/s  %u:%02u  %s", done, rt, e / 60,
                 e % 60, splicer_method_name(pr.method));
  }
  if (n < 0)
    return;
  size_t len = strlen(line);
  /* pad to blank what a longer previous line left behind */
  fprintf(stderr, "\r%s%*s", line,
          p->width > len ? (int)(p->width - len) : 0, "");
  p->width = len;
  fflush(stderr);
}

void progress_update(struct progress *p, const splicer_session *s,
                     bool force) {
  if (!p->on)
    return;
  double now = cli_now();
  if (!force && now - p->last < 0.2)
    return;
  p->last = now;
  draw(p, s, now, false);
}

void progress_done(struct progress *p, const splicer_session *s) {
  if (!p->on || p->last == p->start)
    return; /* never drawn: the copy was too quick to need a progress line */
  draw(p, s, cli_now(), true);
  fputc('\n', stderr);
}
