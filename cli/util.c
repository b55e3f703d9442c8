/* Messages, sizes and clocks shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *cli_prog = "splicer";

void cli_err(int err, const char *path, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli_prog);
  if (path)
    fprintf(stderr, "%s: ", path);
  if (fmt && *fmt) {
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (err)
      fputs(": ", stderr);
  }
  if (err)
    fprintf(stderr, "%s (%s)", splicer_errname(err), splicer_strerror(err));
  fputc('\n', stderr);
}

void cli_msg(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli_prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

const char *cli_human(uint64_t bytes, char *buf, size_t n) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof unit / sizeof unit[0]) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(buf, n, "%llu B", (unsigned long long)bytes);
  else
    snprintf(buf, n, "%.1f %s", v, unit[u]);
  return buf;
}

int64_t cli_parse_size(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *s == '-')
    return -1;
  unsigned shift = 0;
  switch (*end) {
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  default: break;
  }
  if (*end == 'i' && shift)
    end++;
  if (*end == 'B' || *end == 'b')
    end++;
  if (*end || v > (unsigned long long)(INT64_MAX >> shift))
    return -1;
  return (int64_t)(v << shift);
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_print_stats(const splicer_session *s) {
  splicer_stats st;
  if (splicer_stats_get(s, &st, sizeof st) < 0)
    return;
  fprintf(stderr, "%s: %llu bytes, %llu syscalls, %llu fallbacks, %llu EAGAIN\n",
          cli_prog, (unsigned long long)st.bytes,
          (unsigned long long)st.syscalls, (unsigned long long)st.fallbacks,
          (unsigned long long)st.eagain);
  for (int m = 1; m < SPLICER_METHOD_COUNT; m++)
    if (st.bytes_by_method[m])
      fprintf(stderr, "%s:   %-16s %llu bytes\n", cli_prog,
              splicer_method_name(m),
              (unsigned long long)st.bytes_by_method[m]);
}
