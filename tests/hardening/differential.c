/* The differential random test: random sequences of transfers through one
 * session each, every one also done by a plain read/write reference on an
 * identical set of fds.  Every destination must match the reference and the
 * model byte for byte, counts must agree, the source position (or what is
 * left in a stream source) must agree, and consumed == delivered + pending
 * after every call.
 *
 *   SPLICER_DIFF_RUNS   runs (default 10000)
 *   SPLICER_DIFF_SEED   base seed; run i uses seed base+i.  A failing run
 *                       prints its seed: SPLICER_DIFF_SEED=<it>
 *                       SPLICER_DIFF_RUNS=1 replays exactly that run.
 *   SPLICER_DIFF_JOBS   worker processes (default 2)
 *   SPLICER_DIFF_VERBOSE=1  describe every transfer
 */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { X_COPY, X_TEE, X_BUF };
enum { NB_NONE, NB_OPTION, NB_FDS };
enum { DRIVE_THREADS, DRIVE_LOOP };
#define MAX_DST 8

struct xspec {
  int xfer;
  int src_kind;       /* H_*, unused for X_BUF */
  size_t size;        /* bytes the source offers */
  uint32_t data_seed;
  int64_t src_pos;    /* file sources: position before the transfer */
  int64_t off_in;     /* SPLICER_OFF_CUR or a value */
  uint64_t len;
  size_t n_dst;
  int dst_kind[MAX_DST];
  size_t dst_junk[MAX_DST];  /* file destinations: bytes already there */
  int64_t dst_pos[MAX_DST];  /* file destinations: position before */
  int64_t off_out;           /* X_COPY: SPLICER_OFF_CUR or a value */
  int caller_pipe_size;      /* F_SETPIPE_SZ on the caller's pipes, 0: keep */
  bool small_sockbufs;
  /* splicer's side */
  int nb;
  int drive;
  int64_t pipe_size; /* 0: default */
  int64_t chunk;     /* 0: default */
  uint32_t methods;  /* 0: default (all) */
  int fallback;
  bool use_run;
  bool lazy_files; /* SPLICER_OPT_LAZY_FILES: the same bytes and results */
  /* consumers */
  size_t rd_min, rd_max;
  unsigned pause_every, pause_us;
  size_t feed_max;
};

struct outcome {
  int64_t count;     /* bytes delivered (to every destination) */
  int64_t err;       /* 0 or the -errno that ended the transfer */
  uint64_t consumed; /* from the source */
  bool refused;      /* a forced method the kernel refused */
  unsigned char *dst_data[MAX_DST];
  size_t dst_len[MAX_DST];
  int64_t dst_pos[MAX_DST]; /* file destinations: position after */
  int64_t src_pos;          /* file sources: position after */
  unsigned char *left;      /* stream sources: what was left in them */
  size_t left_len;
};

/* what the current run is, for failure messages (also from SIGALRM) */
static uint64_t cur_seed;
static int cur_transfer;
static const char *prog;
static char cur_desc[4096];
static bool verbose;

static void fail_exit(void) {
  fprintf(stderr,
          "FAIL seed=0x%016" PRIx64 " transfer %d\n  %s\n"
          "reproduce: SPLICER_DIFF_SEED=0x%016" PRIx64
          " SPLICER_DIFF_RUNS=1 SPLICER_DIFF_JOBS=1 %s\n",
          cur_seed, cur_transfer, cur_desc, cur_seed, prog);
  fflush(NULL);
  _exit(1);
}

#define DCHECK(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      fail_exit();                                                             \
    }                                                                          \
  } while (0)

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "a run took more than 60 s (hang)\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  fail_exit(); /* not async-signal-safe, but the process ends either way */
}

/* ---- the spec ------------------------------------------------------------ */

static bool is_file_kind(int k) {
  return k == H_FILE || k == H_MEMFD || k == H_APPEND;
}

/* The method chains of splicer.h, to predict what open picks. */
static const int *chain_of(const struct xspec *x) {
  static const int ff[] = {SPLICER_METHOD_COPY_FILE_RANGE,
                           SPLICER_METHOD_SENDFILE, SPLICER_METHOD_SPLICE_PIPE,
                           SPLICER_METHOD_READ_WRITE, 0};
  static const int pipe_end[] = {SPLICER_METHOD_SPLICE,
                                 SPLICER_METHOD_READ_WRITE, 0};
  static const int fo[] = {SPLICER_METHOD_SENDFILE, SPLICER_METHOD_SPLICE_PIPE,
                           SPLICER_METHOD_READ_WRITE, 0};
  static const int other[] = {SPLICER_METHOD_SPLICE_PIPE,
                              SPLICER_METHOD_READ_WRITE, 0};
  static const int file_tcp_bulk[] = {SPLICER_METHOD_SPLICE_PIPE,
                                      SPLICER_METHOD_SENDFILE,
                                      SPLICER_METHOD_READ_WRITE, 0};
  static const int tee[] = {SPLICER_METHOD_TEE, SPLICER_METHOD_READ_WRITE, 0};
  static const int buf[] = {SPLICER_METHOD_VMSPLICE, SPLICER_METHOD_READ_WRITE,
                            0};
  if (x->xfer == X_TEE)
    return tee;
  if (x->xfer == X_BUF)
    return buf;
  int in = x->src_kind, out = x->dst_kind[0];
  if (is_file_kind(in) && is_file_kind(out))
    return ff;
  if (in == H_PIPE || out == H_PIPE)
    return pipe_end;
  if (is_file_kind(in) && out == H_TCP) {
    /* more than 1 MiB left of a file to TCP: splice_pipe first */
    int64_t pos = x->off_in >= 0 ? x->off_in : x->src_pos;
    uint64_t left = x->len != SPLICER_TO_EOF ? x->len
                    : (int64_t)x->size > pos ? (uint64_t)((int64_t)x->size - pos)
                                             : 0;
    if (left > (1u << 20))
      return file_tcp_bulk;
  }
  if (is_file_kind(in))
    return fo;
  return other;
}

static int predicted_method(const struct xspec *x) {
  uint32_t mask = x->methods ? x->methods : 0xfe;
  /* sendfile(2) has no output offset: never chosen for off_out >= 0 */
  if (x->xfer == X_COPY && x->off_out >= 0)
    mask &= ~(1u << SPLICER_METHOD_SENDFILE);
  /* splice(2) refuses O_APPEND: a fan-out with one starts at read/write */
  for (size_t i = 0; x->xfer == X_TEE && i < x->n_dst; i++)
    if (x->dst_kind[i] == H_APPEND)
      mask &= ~(1u << SPLICER_METHOD_TEE);
  for (const int *m = chain_of(x); *m; m++)
    if (mask & (1u << *m))
      return *m;
  return -EOPNOTSUPP;
}

static size_t pick_size(h_rng *r) {
  static const size_t edges[] = {0,      1,      2,      7,      4095,
                                 4096,   4097,   65535,  65536,  65537,
                                 131072, 262143, 262144, 262145, 300001};
  unsigned p = (unsigned)h_below(r, 100);
  if (p < 35)
    return edges[h_below(r, sizeof edges / sizeof edges[0])];
  if (p < 80)
    return (size_t)h_below(r, 150000);
  if (p < 97)
    return (size_t)h_below(r, 1000000);
  return (size_t)h_below(r, 4000000);
}

static void gen_spec(h_rng *r, struct xspec *x) {
  memset(x, 0, sizeof *x);
  unsigned p = (unsigned)h_below(r, 100);
  x->xfer = p < 62 ? X_COPY : p < 92 ? X_TEE : X_BUF;
  x->data_seed = (uint32_t)h_next(r);
  x->size = pick_size(r);
  x->off_in = SPLICER_OFF_CUR;
  if (x->xfer == X_BUF) {
    if (x->size == 0)
      x->size = 1 + (size_t)h_below(r, 9000);
    x->src_kind = -1;
  } else {
    static const int src_kinds[] = {H_FILE, H_MEMFD, H_PIPE, H_UNIX, H_TCP};
    x->src_kind = src_kinds[h_below(r, 5)];
  }
  /* where the source starts and how much it has from there */
  uint64_t avail = x->size;
  if (is_file_kind(x->src_kind)) {
    x->src_pos = (int64_t)h_below(r, x->size + 10);
    int64_t start = x->src_pos;
    if (h_chance(r, 50)) {
      x->off_in = (int64_t)h_below(r, x->size + 10);
      start = x->off_in;
    }
    avail = (uint64_t)start < x->size ? x->size - (uint64_t)start : 0;
  }
  p = (unsigned)h_below(r, 100);
  if (x->xfer == X_BUF)
    x->len = p < 15 ? 0 : p < 50 ? x->size : h_below(r, x->size + 1);
  else if (p < 25)
    x->len = SPLICER_TO_EOF;
  else if (p < 40)
    x->len = avail;
  else if (p < 70)
    x->len = h_below(r, avail + 1);
  else if (p < 80)
    x->len = avail + 1 + h_below(r, 5000);
  else if (p < 88)
    x->len = 0;
  else
    x->len = 1 + h_below(r, 9);

  static const int dst_kinds[] = {H_FILE, H_MEMFD, H_PIPE, H_UNIX, H_TCP,
                                  H_APPEND};
  x->n_dst = x->xfer == X_TEE ? 1 + (size_t)h_below(r, MAX_DST) : 1;
  for (size_t i = 0; i < x->n_dst; i++) {
    x->dst_kind[i] = dst_kinds[h_below(r, 6)];
    if (is_file_kind(x->dst_kind[i])) {
      x->dst_junk[i] = h_chance(r, 50) ? 0 : (size_t)h_below(r, 20000);
      x->dst_pos[i] = x->dst_kind[i] == H_APPEND
                          ? 0
                          : (int64_t)h_below(r, x->dst_junk[i] + 5000);
    }
  }
  x->off_out = SPLICER_OFF_CUR;
  if (x->xfer == X_COPY &&
      (x->dst_kind[0] == H_FILE || x->dst_kind[0] == H_MEMFD) &&
      h_chance(r, 40))
    x->off_out = (int64_t)h_below(r, x->dst_junk[0] + 5000);

  static const int caller_pipes[] = {4096, 8192, 65536, 1 << 20};
  if (h_chance(r, 30))
    x->caller_pipe_size = caller_pipes[h_below(r, 4)];
  x->small_sockbufs = h_chance(r, 25);

  p = (unsigned)h_below(r, 100);
  x->nb = p < 50 ? NB_NONE : p < 80 ? NB_OPTION : NB_FDS;
  x->drive = x->nb != NB_NONE && h_chance(r, 50) ? DRIVE_LOOP : DRIVE_THREADS;
  static const int64_t pipe_sizes[] = {4096,   8192,    16384,
                                       65536,  262144,  1 << 20};
  if (h_chance(r, 60))
    x->pipe_size = h_chance(r, 80) ? pipe_sizes[h_below(r, 6)]
                                   : 4096 + (int64_t)h_below(r, 1 << 20);
  static const int64_t chunks[] = {1, 3, 4095, 4096, 4097, 65536, 1 << 20};
  if (h_chance(r, 55))
    x->chunk = h_chance(r, 80) ? chunks[h_below(r, 7)]
                               : 1 + (int64_t)h_below(r, 300000);
  /* keep a run's syscall count bounded */
  if (x->chunk && x->chunk < 64 && x->size > 4096) {
    x->size = 1 + (size_t)h_below(r, 4096);
    if (x->xfer == X_BUF && x->len > x->size)
      x->len = x->size;
  }

  p = (unsigned)h_below(r, 100);
  const int *chain = chain_of(x);
  size_t clen = 0;
  while (chain[clen])
    clen++;
  if (p < 55) {
    x->methods = 0;
  } else if (p < 80) {
    x->methods = 1u << chain[h_below(r, clen)];
  } else if (p < 90) {
    x->methods = (1u << chain[h_below(r, clen)]) | (1u << chain[h_below(r, clen)]);
  } else {
    x->methods = (uint32_t)(1 + h_below(r, 127)) << 1;
  }
  x->fallback = h_chance(r, 88) ? 1 : 0;
  x->use_run = h_chance(r, 30);
  x->lazy_files = h_chance(r, 50);

  /* consumers: read sizes and pauses */
  p = (unsigned)h_below(r, 100);
  if (p < 15 && x->size <= 16384) {
    x->rd_min = 1;
    x->rd_max = 16;
  } else if (p < 50) {
    x->rd_min = 100;
    x->rd_max = 4096;
  } else {
    x->rd_min = 4096;
    x->rd_max = 262144;
  }
  if (x->rd_min > 1 && h_chance(r, 30)) {
    x->pause_every = 4 + (unsigned)h_below(r, 32);
    x->pause_us = 1 + (unsigned)h_below(r, 200);
  }
  x->feed_max = h_chance(r, 30) ? 1 + (size_t)h_below(r, 5000) : 262144;
}

static void describe(const struct xspec *x, char *out, size_t cap) {
  static const char *const xfers[] = {"copy", "tee", "buf"};
  static const char *const nbs[] = {"blocking", "opt-nonblock", "fd-nonblock"};
  int n = snprintf(
      out, cap,
      "%s src=%s size=%zu pos=%" PRId64 " off_in=%" PRId64 " len=%" PRId64
      " %s/%s pipe=%" PRId64 " chunk=%" PRId64 " methods=%#x fallback=%d %s"
      " lazy=%d rd=%zu..%zu pause=%u/%uus feed=%zu callerpipe=%d smallbuf=%d"
      " off_out=%" PRId64 " dst=",
      xfers[x->xfer], x->xfer == X_BUF ? "buf" : h_kind_name(x->src_kind),
      x->size, x->src_pos, x->off_in,
      x->len == SPLICER_TO_EOF ? (int64_t)-1 : (int64_t)x->len, nbs[x->nb],
      x->drive == DRIVE_LOOP ? "loop" : "threads", x->pipe_size, x->chunk,
      x->methods, x->fallback, x->use_run ? "run" : "step", x->lazy_files,
      x->rd_min,
      x->rd_max, x->pause_every, x->pause_us, x->feed_max, x->caller_pipe_size,
      x->small_sockbufs, x->off_out);
  for (size_t i = 0; i < x->n_dst && n > 0 && (size_t)n < cap; i++)
    n += snprintf(out + n, cap - (size_t)n, "%s%s(junk=%zu,pos=%" PRId64 ")",
                  i ? "," : "", h_kind_name(x->dst_kind[i]), x->dst_junk[i],
                  x->dst_pos[i]);
}

/* ---- feeders and consumers ----------------------------------------------- */

struct feeder {
  int fd;
  bool is_pipe;
  const unsigned char *data;
  size_t n, off, max;
  bool done;
  h_rng rng;
  pthread_t t;
};

/* @return false when the write would block */
static bool feed_once(struct feeder *f) {
  if (f->done)
    return true;
  size_t want = f->n - f->off;
  size_t most = 1 + (size_t)h_below(&f->rng, f->max);
  if (want > most)
    want = most;
  if (want > 0) {
    ssize_t w = write(f->fd, f->data + f->off, want);
    if (w < 0 && (errno == EAGAIN || errno == EINTR))
      return false;
    DCHECK(w > 0, "feeder write: %s", strerror(errno));
    f->off += (size_t)w;
  }
  if (f->off == f->n) {
    /* end of the stream: the transfer sees EOF after the data */
    if (f->is_pipe)
      close(f->fd);
    else
      shutdown(f->fd, SHUT_WR);
    f->done = true;
  }
  return true;
}

static void *feeder_main(void *arg) {
  struct feeder *f = arg;
  while (!f->done)
    feed_once(f);
  return NULL;
}

struct consumer {
  int fd;
  unsigned char *buf;
  size_t len, cap;
  size_t rd_min, rd_max;
  unsigned pause_every, pause_us, reads;
  bool eof;
  h_rng rng;
  pthread_t t;
};

/* @return false when the read would block */
static bool consume_once(struct consumer *c) {
  if (c->eof)
    return true;
  size_t want = c->rd_min + (size_t)h_below(&c->rng, c->rd_max - c->rd_min + 1);
  if (c->len + want > c->cap) {
    c->cap = (c->len + want) * 2;
    c->buf = realloc(c->buf, c->cap);
  }
  ssize_t n = read(c->fd, c->buf + c->len, want);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return false;
  DCHECK(n >= 0, "consumer read: %s", strerror(errno));
  if (n == 0) {
    c->eof = true;
    return true;
  }
  c->len += (size_t)n;
  if (c->pause_every && ++c->reads % c->pause_every == 0)
    usleep(c->pause_us);
  return true;
}

static void *consumer_main(void *arg) {
  struct consumer *c = arg;
  while (!c->eof)
    if (!consume_once(c))
      usleep(50);
  return NULL;
}

static void set_nonblock(int fd, bool on) { tu_set_nonblock(fd, on); }

/* ---- one transfer, by splicer or by the reference ------------------------ */

struct fixture {
  struct h_end src;
  struct h_end dst[MAX_DST];
  unsigned char *data; /* what the source offers */
  splicer_buf *buf;    /* X_BUF */
  struct feeder feeder;
  struct consumer cons[MAX_DST];
  bool threads_started;
};

static void junk_of(unsigned char *p, size_t n, uint32_t seed) {
  tu_fill(p, n, seed ^ 0x5eed5eedu, 0);
}

static void fixture_open(struct fixture *fx, const struct xspec *x,
                         uint64_t seed) {
  memset(fx, 0, sizeof *fx);
  fx->data = malloc(x->size + 1);
  tu_fill(fx->data, x->size, x->data_seed, 0);
  fx->src.fd = fx->src.peer = -1;
  if (x->xfer == X_BUF) {
    CHECK_EQ(splicer_buf_new(&fx->buf, x->size), 0);
    memcpy(splicer_buf_data(fx->buf), fx->data, x->size);
  } else {
    h_end_open(&fx->src, x->src_kind, true);
    if (is_file_kind(x->src_kind)) {
      h_write_all(fx->src.fd, fx->data, x->size);
      CHECK(lseek(fx->src.fd, x->src_pos, SEEK_SET) == x->src_pos, "lseek");
    }
  }
  for (size_t i = 0; i < x->n_dst; i++) {
    struct h_end *d = &fx->dst[i];
    h_end_open(d, x->dst_kind[i], false);
    if (is_file_kind(d->kind)) {
      unsigned char *j = malloc(x->dst_junk[i] + 1);
      junk_of(j, x->dst_junk[i], (uint32_t)i);
      h_write_all(d->fd, j, x->dst_junk[i]);
      free(j);
      CHECK(lseek(d->fd, x->dst_pos[i], SEEK_SET) == x->dst_pos[i], "lseek");
    }
  }
  /* caller-side buffer sizes */
  struct h_end *ends[MAX_DST + 1];
  size_t ne = 0;
  if (x->xfer != X_BUF)
    ends[ne++] = &fx->src;
  for (size_t i = 0; i < x->n_dst; i++)
    ends[ne++] = &fx->dst[i];
  for (size_t i = 0; i < ne; i++) {
    if (ends[i]->kind == H_PIPE && x->caller_pipe_size)
      CHECK(fcntl(ends[i]->fd, F_SETPIPE_SZ, x->caller_pipe_size) > 0,
            "F_SETPIPE_SZ");
    /* unix sockets only: TCP with a 4 KiB window crawls on delayed ACKs */
    if (ends[i]->kind == H_UNIX && x->small_sockbufs) {
      int small = 4096;
      setsockopt(ends[i]->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      setsockopt(ends[i]->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      setsockopt(ends[i]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      setsockopt(ends[i]->peer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    }
  }
  /* feeder and consumers (started later) */
  if (h_is_stream(fx->src.kind)) {
    struct feeder *f = &fx->feeder;
    f->fd = fx->src.peer;
    f->is_pipe = fx->src.kind == H_PIPE;
    f->data = fx->data;
    f->n = x->size;
    f->max = x->feed_max;
    h_rng_seed(&f->rng, seed ^ 0xfeed);
  }
  for (size_t i = 0; i < x->n_dst; i++) {
    struct consumer *c = &fx->cons[i];
    c->fd = fx->dst[i].peer;
    c->rd_min = x->rd_min;
    c->rd_max = x->rd_max;
    c->pause_every = x->pause_every;
    c->pause_us = x->pause_us;
    h_rng_seed(&c->rng, seed ^ (0xc0 + i));
  }
}

static void start_threads(struct fixture *fx, const struct xspec *x,
                          int drive) {
  if (drive == DRIVE_LOOP) {
    if (h_is_stream(fx->src.kind))
      set_nonblock(fx->feeder.fd, true);
    for (size_t i = 0; i < x->n_dst; i++)
      if (fx->cons[i].fd >= 0)
        set_nonblock(fx->cons[i].fd, true);
    return;
  }
  fx->threads_started = true;
  if (h_is_stream(fx->src.kind))
    CHECK(pthread_create(&fx->feeder.t, NULL, feeder_main, &fx->feeder) == 0,
          "pthread_create");
  for (size_t i = 0; i < x->n_dst; i++)
    if (fx->cons[i].fd >= 0)
      CHECK(pthread_create(&fx->cons[i].t, NULL, consumer_main,
                           &fx->cons[i]) == 0,
            "pthread_create");
}

/* The loop driver's turn for the far ends: feed a little, read a little. */
static void service(struct fixture *fx, const struct xspec *x) {
  if (h_is_stream(fx->src.kind))
    feed_once(&fx->feeder);
  for (size_t i = 0; i < x->n_dst; i++)
    if (fx->cons[i].fd >= 0)
      consume_once(&fx->cons[i]);
}

/* After the transfer: close the destinations' write sides, collect what
 * every destination got and what the source still holds. */
static void fixture_finish(struct fixture *fx, const struct xspec *x,
                           int drive, struct outcome *o) {
  for (size_t i = 0; i < x->n_dst; i++) {
    struct h_end *d = &fx->dst[i];
    if (d->kind == H_PIPE) {
      close(d->fd);
      d->fd = -1;
    } else if (d->kind == H_UNIX || d->kind == H_TCP) {
      shutdown(d->fd, SHUT_WR);
    }
  }
  for (size_t i = 0; i < x->n_dst; i++) {
    struct consumer *c = &fx->cons[i];
    if (c->fd < 0)
      continue;
    if (fx->threads_started) {
      pthread_join(c->t, NULL);
    } else {
      set_nonblock(c->fd, false);
      while (!c->eof)
        consume_once(c);
    }
  }
  if (h_is_stream(fx->src.kind)) {
    /* what the transfer left in the source: read until the feeder's EOF */
    struct consumer left = {.fd = fx->src.fd, .rd_min = 1, .rd_max = 65536};
    set_nonblock(fx->src.fd, drive == DRIVE_LOOP);
    while (!left.eof) {
      if (drive == DRIVE_LOOP) {
        feed_once(&fx->feeder);
        if (!consume_once(&left)) {
          struct pollfd pf = {.fd = fx->src.fd, .events = POLLIN};
          poll(&pf, 1, 1);
        }
      } else {
        consume_once(&left);
      }
    }
    if (fx->threads_started)
      pthread_join(fx->feeder.t, NULL);
    o->left = left.buf;
    o->left_len = left.len;
  } else if (x->xfer != X_BUF) {
    o->src_pos = lseek(fx->src.fd, 0, SEEK_CUR);
  }
  for (size_t i = 0; i < x->n_dst; i++) {
    struct h_end *d = &fx->dst[i];
    if (is_file_kind(d->kind)) {
      o->dst_pos[i] = lseek(d->fd, 0, SEEK_CUR);
      o->dst_data[i] = h_slurp(d->fd, &o->dst_len[i]);
    } else {
      o->dst_data[i] = fx->cons[i].buf;
      o->dst_len[i] = fx->cons[i].len;
      fx->cons[i].buf = NULL;
    }
  }
}

static void fixture_close(struct fixture *fx, const struct xspec *x) {
  if (h_is_stream(fx->src.kind) && fx->feeder.done && fx->src.kind == H_PIPE)
    fx->src.peer = -1; /* the feeder closed it */
  h_end_close(&fx->src);
  for (size_t i = 0; i < x->n_dst; i++)
    h_end_close(&fx->dst[i]);
  splicer_buf_free(fx->buf);
  free(fx->data);
}

static void outcome_free(struct outcome *o) {
  for (size_t i = 0; i < MAX_DST; i++)
    free(o->dst_data[i]);
  free(o->left);
}

/* ---- the engines ----------------------------------------------------------- */

static void check_invariant(splicer_session *s, splicer_progress *p) {
  DCHECK(splicer_progress_get(s, p, sizeof *p) == 0, "progress_get");
  DCHECK(p->consumed == p->delivered + p->pending,
         "consumed %" PRIu64 " != delivered %" PRIu64 " + pending %" PRIu64,
         p->consumed, p->delivered, p->pending);
}

static bool is_refusal(int64_t e) {
  return e == -EINVAL || e == -ENOSYS || e == -EXDEV || e == -EOPNOTSUPP ||
         e == -EPERM || e == -EBADF;
}

/* @return false when open failed as predicted (nothing to run) */
static bool splicer_open_spec(splicer_session *s, struct fixture *fx,
                              const struct xspec *x, h_rng *r) {
  DCHECK(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE,
                             x->pipe_size ? x->pipe_size : 262144) == 0,
         "set pipe size");
  DCHECK(splicer_session_set(s, SPLICER_OPT_CHUNK,
                             x->chunk ? x->chunk : 1 << 20) == 0,
         "set chunk");
  DCHECK(splicer_session_set(s, SPLICER_OPT_NONBLOCK, x->nb == NB_OPTION) == 0,
         "set nonblock");
  DCHECK(splicer_session_set(s, SPLICER_OPT_METHODS,
                             x->methods ? x->methods : 0xfe) == 0,
         "set methods");
  DCHECK(splicer_session_set(s, SPLICER_OPT_FALLBACK, x->fallback) == 0,
         "set fallback");
  DCHECK(splicer_session_set(s, SPLICER_OPT_LAZY_FILES, x->lazy_files) == 0,
         "set lazy files");
  if (x->nb == NB_FDS) {
    if (x->xfer != X_BUF)
      set_nonblock(fx->src.fd, true);
    for (size_t i = 0; i < x->n_dst; i++)
      set_nonblock(fx->dst[i].fd, true);
  }
  int fds[MAX_DST];
  for (size_t i = 0; i < x->n_dst; i++)
    fds[i] = fx->dst[i].fd;
  /* misuse first, now and then: refused without touching the session */
  if (h_chance(r, 10)) {
    if (x->xfer != X_BUF && h_is_stream(fx->src.kind))
      DCHECK(splicer_open(s, fx->src.fd, 0, fds[0], SPLICER_OFF_CUR, 1) ==
                 -ESPIPE,
             "offset on a stream source");
    if (x->dst_kind[0] == H_APPEND && x->xfer != X_BUF)
      DCHECK(splicer_open(s, fx->src.fd, SPLICER_OFF_CUR, fds[0], 0, 1) ==
                 -EINVAL,
             "offset on an O_APPEND destination");
    DCHECK(splicer_open(s, -1, SPLICER_OFF_CUR, fds[0], SPLICER_OFF_CUR, 1) ==
               -EBADF,
           "negative fd");
  }
  int rc;
  if (x->xfer == X_COPY)
    rc = splicer_open(s, fx->src.fd, x->off_in, fds[0], x->off_out, x->len);
  else if (x->xfer == X_TEE)
    rc = splicer_open_tee(s, fx->src.fd, x->off_in, fds, x->n_dst, x->len);
  else
    rc = splicer_open_buf(s, fx->buf, (size_t)x->len, fds[0]);
  int want = predicted_method(x);
  if (want < 0) {
    DCHECK(rc == want, "open: %s, predicted %s", splicer_errname(rc),
           splicer_errname(want));
    return false;
  }
  DCHECK(rc == 0, "open: %s", splicer_errname(rc));
  if (x->xfer == X_BUF)
    fx->buf = NULL; /* the session owns it now */
  splicer_progress p;
  check_invariant(s, &p);
  DCHECK(p.consumed == 0 && p.method == want, "after open: method %s, want %s",
         splicer_method_name(p.method), splicer_method_name(want));
  return true;
}

static void splicer_drive(splicer_session *s, struct fixture *fx,
                          const struct xspec *x, struct outcome *o) {
  splicer_stats st0, st1;
  DCHECK(splicer_stats_get(s, &st0, sizeof st0) == 0, "stats");
  splicer_progress p;
  uint64_t prev = 0;
  double deadline = h_now() + 45;
  for (;;) {
    int64_t r = x->use_run ? splicer_run(s) : splicer_step(s);
    check_invariant(s, &p);
    DCHECK(p.delivered >= prev, "delivered went back");
    if (r >= 0)
      DCHECK((uint64_t)r == p.delivered - prev,
             "returned %" PRId64 " but delivered grew by %" PRIu64, r,
             p.delivered - prev);
    prev = p.delivered;
    if (r > 0)
      continue;
    if (r == 0) {
      DCHECK(p.finished == 1 && p.pending == 0, "0 but not finished");
      DCHECK(splicer_step(s) == 0, "step after the end");
      break;
    }
    if (r == -EAGAIN) {
      DCHECK(x->nb != NB_NONE, "EAGAIN in blocking mode");
      int fd;
      short ev;
      DCHECK(splicer_wait(s, &fd, &ev) == 0, "no wait after EAGAIN");
      bool known = fd == fx->src.fd && ev == POLLIN && x->xfer != X_BUF;
      for (size_t i = 0; i < x->n_dst; i++)
        known |= fd == fx->dst[i].fd && ev == POLLOUT;
      DCHECK(known, "wait names fd %d events %d", fd, ev);
      DCHECK(h_now() < deadline, "no progress for 45 s");
      struct pollfd pf = {.fd = fd, .events = ev};
      if (x->drive == DRIVE_LOOP) {
        service(fx, x);
        poll(&pf, 1, 1);
      } else {
        poll(&pf, 1, 100);
      }
      continue;
    }
    o->err = r;
    break;
  }
  o->count = (int64_t)p.delivered;
  o->consumed = p.consumed;
  if (o->err) {
    /* only a forced method (or fallback off) may end a transfer early, and
     * only with a refusal before any destination got a byte */
    bool forced = !x->fallback ||
                  !((x->methods ? x->methods : 0xfe) &
                    (1u << SPLICER_METHOD_READ_WRITE));
    DCHECK(forced && is_refusal(o->err) && p.delivered == 0,
           "transfer failed: %s (consumed %" PRIu64 ", delivered %" PRIu64 ")",
           splicer_errname((int)o->err), p.consumed, p.delivered);
    o->refused = true;
    int64_t dropped = splicer_abort(s);
    DCHECK(dropped == (int64_t)p.pending, "abort dropped %" PRId64
           " of %" PRIu64 " pending", dropped, p.pending);
    check_invariant(s, &p);
    DCHECK(p.pending == 0, "pending after abort");
  } else {
    DCHECK(splicer_wait(s, &(int){0}, &(short){0}) == -EINVAL,
           "wait after a finished transfer");
  }
  DCHECK(splicer_stats_get(s, &st1, sizeof st1) == 0, "stats");
  DCHECK(st1.bytes - st0.bytes == (uint64_t)o->count,
         "stats.bytes grew by %" PRIu64 ", delivered %" PRId64,
         st1.bytes - st0.bytes, o->count);
  uint64_t by = 0;
  for (int m = 0; m < SPLICER_METHOD_COUNT; m++)
    by += st1.bytes_by_method[m];
  DCHECK(by == st1.bytes, "bytes_by_method sums to %" PRIu64 ", bytes %" PRIu64,
         by, st1.bytes);
  if (!o->refused && p.method > 0)
    DCHECK((x->methods ? x->methods : 0xfe) & (1u << p.method),
           "ended with method %s, not allowed", splicer_method_name(p.method));
}

static void reference_drive(struct fixture *fx, const struct xspec *x,
                            struct outcome *o) {
  static unsigned char buf[65536];
  uint64_t left = x->len;
  int64_t off_in = x->off_in, off_out = x->off_out;
  size_t boff = 0;
  while (left > 0) {
    size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
    ssize_t n;
    const unsigned char *from = buf;
    if (x->xfer == X_BUF) {
      n = (ssize_t)want;
      from = fx->data + boff;
      boff += want;
    } else {
      do
        n = off_in >= 0 ? pread(fx->src.fd, buf, want, off_in)
                        : read(fx->src.fd, buf, want);
      while (n < 0 && errno == EINTR);
      CHECK(n >= 0, "reference read: %s", strerror(errno));
    }
    if (n == 0)
      break;
    if (off_in >= 0)
      off_in += n;
    for (size_t i = 0; i < x->n_dst; i++) {
      if (off_out >= 0) {
        CHECK(pwrite(fx->dst[i].fd, from, (size_t)n, off_out) == n, "pwrite");
      } else {
        h_write_all(fx->dst[i].fd, from, (size_t)n);
      }
    }
    if (off_out >= 0)
      off_out += n;
    left -= (uint64_t)n;
    o->count += n;
  }
  o->consumed = (uint64_t)o->count;
}

/* ---- the model -------------------------------------------------------------- */

/* what destination i must hold after delivering @n bytes from @start */
static unsigned char *model_dst(const struct xspec *x, size_t i,
                                const unsigned char *data, uint64_t start,
                                uint64_t n, size_t *len, int64_t *pos) {
  if (!is_file_kind(x->dst_kind[i])) {
    *len = (size_t)n;
    unsigned char *p = malloc(n + 1);
    memcpy(p, data + start, n);
    return p;
  }
  size_t junk = x->dst_junk[i];
  uint64_t at = x->dst_kind[i] == H_APPEND ? junk
                : x->off_out >= 0        ? (uint64_t)x->off_out
                                         : (uint64_t)x->dst_pos[i];
  size_t size = junk;
  if (n > 0 && at + n > size)
    size = (size_t)(at + n);
  unsigned char *p = calloc(size + 1, 1);
  junk_of(p, junk, (uint32_t)i);
  memcpy(p + at, data + start, n);
  *len = size;
  *pos = x->off_out >= 0 ? x->dst_pos[i]
         : x->dst_kind[i] == H_APPEND && n == 0 ? x->dst_pos[i]
                                                : (int64_t)(at + n);
  return p;
}

static void check_model(const struct xspec *x, const unsigned char *data,
                        const struct outcome *o, const char *who) {
  uint64_t start = 0, avail = x->size;
  if (x->xfer != X_BUF && is_file_kind(x->src_kind)) {
    start = (uint64_t)(x->off_in >= 0 ? x->off_in : x->src_pos);
    avail = start < x->size ? x->size - start : 0;
  }
  uint64_t n = x->len < avail ? x->len : avail;
  uint64_t consumed = n;
  if (o->refused) {
    n = 0;
    consumed = o->consumed;
  }
  DCHECK((uint64_t)o->count == n, "%s: delivered %" PRId64 ", want %" PRIu64,
         who, o->count, n);
  for (size_t i = 0; i < x->n_dst; i++) {
    size_t len;
    int64_t pos = 0;
    unsigned char *want = model_dst(x, i, data, start, n, &len, &pos);
    DCHECK(o->dst_len[i] == len, "%s: destination %zu (%s) holds %zu bytes, want %zu",
           who, i, h_kind_name(x->dst_kind[i]), o->dst_len[i], len);
    if (memcmp(o->dst_data[i], want, len) != 0) {
      size_t k = 0;
      while (o->dst_data[i][k] == want[k])
        k++;
      DCHECK(0, "%s: destination %zu (%s) differs from byte %zu", who, i,
             h_kind_name(x->dst_kind[i]), k);
    }
    free(want);
    if (is_file_kind(x->dst_kind[i]))
      DCHECK(o->dst_pos[i] == pos,
             "%s: destination %zu position %" PRId64 ", want %" PRId64, who, i,
             o->dst_pos[i], pos);
  }
  if (x->xfer == X_BUF)
    return;
  if (is_file_kind(x->src_kind)) {
    int64_t want = x->off_in >= 0 ? x->src_pos
                                  : x->src_pos + (int64_t)consumed;
    DCHECK(o->src_pos == want, "%s: source position %" PRId64 ", want %" PRId64,
           who, o->src_pos, want);
  } else {
    DCHECK(o->left_len == x->size - consumed &&
               memcmp(o->left, data + consumed, o->left_len) == 0,
           "%s: the source holds %zu bytes after the transfer, want %" PRIu64
           " (read past len?)",
           who, o->left_len, x->size - consumed);
  }
}

static void compare(const struct xspec *x, const struct outcome *a,
                    const struct outcome *b) {
  DCHECK(a->count == b->count, "splicer delivered %" PRId64 ", reference %" PRId64,
         a->count, b->count);
  for (size_t i = 0; i < x->n_dst; i++)
    DCHECK(a->dst_len[i] == b->dst_len[i] &&
               memcmp(a->dst_data[i], b->dst_data[i], a->dst_len[i]) == 0,
           "destination %zu differs from the reference", i);
  DCHECK(a->src_pos == b->src_pos && a->left_len == b->left_len,
         "source state differs from the reference");
}

/* ---- a run ------------------------------------------------------------------ */

struct totals {
  uint64_t runs, transfers, bytes, refused, eopnotsupp, eagain_waits;
};

static void one_transfer(splicer_session *s, const struct xspec *x,
                         uint64_t seed, h_rng *r, struct totals *t) {
  describe(x, cur_desc, sizeof cur_desc);
  if (verbose)
    fprintf(stderr, "seed=0x%016" PRIx64 " #%d %s\n", seed, cur_transfer,
            cur_desc);
  struct fixture fx;
  struct outcome got = {0}, ref = {0};
  fixture_open(&fx, x, seed);
  if (!splicer_open_spec(s, &fx, x, r)) {
    t->eopnotsupp++;
    fixture_close(&fx, x);
    return;
  }
  start_threads(&fx, x, x->drive);
  splicer_drive(s, &fx, x, &got);
  if (x->nb == NB_FDS) {
    if (x->xfer != X_BUF)
      set_nonblock(fx.src.fd, false);
    for (size_t i = 0; i < x->n_dst; i++)
      if (fx.dst[i].fd >= 0)
        set_nonblock(fx.dst[i].fd, false);
  }
  fixture_finish(&fx, x, x->drive, &got);
  check_model(x, fx.data, &got, "splicer");
  fixture_close(&fx, x);
  t->transfers++;
  t->bytes += (uint64_t)got.count * x->n_dst;
  if (got.refused) {
    t->refused++;
  } else {
    /* the same transfer, plain read/write, blocking, on fresh fds */
    fixture_open(&fx, x, seed);
    start_threads(&fx, x, DRIVE_THREADS);
    reference_drive(&fx, x, &ref);
    fixture_finish(&fx, x, DRIVE_THREADS, &ref);
    check_model(x, fx.data, &ref, "reference");
    compare(x, &got, &ref);
    fixture_close(&fx, x);
  }
  outcome_free(&got);
  outcome_free(&ref);
}

static void one_run(uint64_t seed, struct totals *t) {
  cur_seed = seed;
  h_rng r;
  h_rng_seed(&r, seed);
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int n = 1 + (int)h_below(&r, 4);
  for (cur_transfer = 0; cur_transfer < n; cur_transfer++) {
    struct xspec x;
    gen_spec(&r, &x);
    one_transfer(s, &x, h_next(&r), &r, t);
  }
  splicer_session_free(s);
  t->runs++;
}

int main(int argc, char **argv) {
  (void)argc;
  prog = argv[0];
  verbose = h_env_int("SPLICER_DIFF_VERBOSE", 0) != 0;
  int runs = h_env_int("SPLICER_DIFF_RUNS", 10000);
  int jobs = h_env_int("SPLICER_DIFF_JOBS", 2);
  if (jobs < 1)
    jobs = 1;
  const char *seed_env = getenv("SPLICER_DIFF_SEED");
  uint64_t base = seed_env && *seed_env
                      ? strtoull(seed_env, NULL, 0)
                      : h_mix((uint64_t)time(NULL), (uint64_t)getpid());
  printf("differential: %d runs, %d jobs, base seed 0x%016" PRIx64 "\n", runs,
         jobs, base);
  fflush(stdout);
  int fds_before = tu_count_fds();
  double t0 = h_now();

  int sums[2];
  CHECK(pipe2(sums, O_CLOEXEC) == 0, "pipe2");
  pid_t pids[64];
  if (jobs > 64)
    jobs = 64;
  for (int w = 0; w < jobs; w++) {
    fflush(NULL);
    pids[w] = fork();
    CHECK(pids[w] >= 0, "fork");
    if (pids[w] == 0) {
      close(sums[0]);
      signal(SIGALRM, on_alarm);
      struct totals t = {0};
      for (int i = w; i < runs; i += jobs) {
        alarm(60);
        one_run(base + (uint64_t)i, &t);
      }
      alarm(0);
      splicer_pool_trim(); /* the pool's idle pipes are not leaks */
      DCHECK(tu_count_fds() == fds_before + 1, "fd leak: %d fds, had %d",
             tu_count_fds(), fds_before + 1);
      dprintf(sums[1], "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
              " %" PRIu64 "\n", t.runs, t.transfers, t.bytes, t.refused,
              t.eopnotsupp);
      _exit(0);
    }
  }
  close(sums[1]);
  int failed = 0;
  for (int w = 0; w < jobs; w++) {
    int st;
    while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
      ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      failed++;
      fprintf(stderr, "worker %d failed (status %#x)\n", w, st);
    }
  }
  struct totals all = {0};
  FILE *f = fdopen(sums[0], "r");
  struct totals t;
  while (fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                &t.runs, &t.transfers, &t.bytes, &t.refused,
                &t.eopnotsupp) == 5) {
    all.runs += t.runs;
    all.transfers += t.transfers;
    all.bytes += t.bytes;
    all.refused += t.refused;
    all.eopnotsupp += t.eopnotsupp;
  }
  fclose(f);
  double secs = h_now() - t0;
  h_result("differential",
           "runs=%" PRIu64 " transfers=%" PRIu64 " bytes=%" PRIu64
           " refused=%" PRIu64 " eopnotsupp=%" PRIu64
           " seed=0x%016" PRIx64 " jobs=%d seconds=%.1f",
           all.runs, all.transfers, all.bytes, all.refused, all.eopnotsupp,
           base, jobs, secs);
  if (failed || all.runs != (uint64_t)runs) {
    fprintf(stderr, "differential: %d worker(s) failed\n", failed);
    return 1;
  }
  tu_pass("differential: every destination matched the reference");
  return 0;
}
