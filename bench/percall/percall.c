/* percall: what one splicer_copy() costs against the bare syscall loop that
 * moves the same bytes, for small copies where the library's own work per
 * call (validating and classifying the descriptors, choosing a method,
 * bookkeeping) is not hidden behind the data.
 *
 * For every pair and size, these contenders move the same bytes on the same
 * descriptors, interleaved round by round:
 *   bare         the syscall loop of the method splicer picks, exact length;
 *   splicer      splicer_copy(s, in, out, n) on one reused session, which
 *                validates and classifies both fds at every call;
 *   kept         the same on a session that keeps both fds
 *                (splicer_session_keep), so that an open makes no syscall;
 * and from a file source of n bytes, the same three to the end of the file
 * (SPLICER_TO_EOF), against a bare loop that calls until the source
 * returns 0 (what io.Copy and std::io::copy do).
 * Only the call is timed (CLOCK_MONOTONIC around it); refilling a source
 * pipe or socket, draining a destination and rewinding offsets are not.
 * Each round times ITERS calls of each contender; the report gives the
 * best round and the median round, in ns per call, and the ratios of
 * splicer's medians to the bare loop's median.
 *
 * With SIGPIPE at its default disposition (a C program's), splicer blocks
 * and restores it around writes to pipes and sockets (SPLICER_OPT_SIGPIPE);
 * "ignore" runs as a server does, with SIGPIPE ignored.
 *
 *   percall [ROUNDS [ITERS [ignore]]]      prints a Markdown table */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <splicer.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MAX_ROUNDS 101

enum pair { FILE_FILE, FILE_NULL, FILE_PIPE, PIPE_PIPE, FILE_TCP, TCP_TCP, PAIRS };
static const char *pair_name[PAIRS] = {"file → file", "file → /dev/null",
                                       "file → pipe", "pipe → pipe",
                                       "file → TCP",  "TCP → TCP"};

struct fixture {
  enum pair pair;
  size_t n;
  int in, out;        /* what the contenders copy between */
  int feed;           /* writes the source pipe or socket, or -1 */
  int drain;          /* reads the destination pipe or socket, or -1 */
  int stage[2];       /* the bare TCP -> TCP loop's own pipe */
  char *buf;
};

static void tcp_pair(int *a, int *b) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sl) < 0 || listen(l, 1) < 0 ||
      getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
    die("listen");
  *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sl) < 0)
    die("connect");
  *b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (*b < 0)
    die("accept");
  close(l);
  int one = 1;
  setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void make_fixture(struct fixture *f, enum pair p, size_t n) {
  memset(f, 0, sizeof *f);
  f->pair = p;
  f->n = n;
  f->feed = f->drain = -1;
  f->stage[0] = f->stage[1] = -1;
  f->buf = malloc(n);
  memset(f->buf, 'y', n);
  int fds[2], a, b;
  if (p == PIPE_PIPE) {
    if (pipe2(fds, O_CLOEXEC) < 0)
      die("pipe2");
    f->in = fds[0];
    f->feed = fds[1];
  } else if (p == TCP_TCP) {
    tcp_pair(&a, &b);
    f->in = a;
    f->feed = b;
    if (pipe2(f->stage, O_CLOEXEC) < 0)
      die("pipe2");
  } else {
    f->in = temp_file(n);
  }
  switch (p) {
  case FILE_FILE:
    f->out = temp_file(0);
    break;
  case FILE_NULL:
    f->out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    break;
  case FILE_PIPE:
  case PIPE_PIPE:
    if (pipe2(fds, O_CLOEXEC) < 0)
      die("pipe2");
    f->out = fds[1];
    f->drain = fds[0];
    /* room for more than n: a copy to the end asks the source once more
     * after n bytes, and a full pipe would block that call */
    if (fcntl(f->out, F_SETPIPE_SZ, 1 << 20) < 0)
      die("F_SETPIPE_SZ");
    break;
  case FILE_TCP:
  case TCP_TCP:
    tcp_pair(&a, &b);
    f->out = a;
    f->drain = b;
    break;
  default:
    break;
  }
  if (f->out < 0)
    die("open destination");
}

static void free_fixture(struct fixture *f) {
  int fds[] = {f->in, f->out, f->feed, f->drain, f->stage[0], f->stage[1]};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(f->buf);
}

static void read_exactly(int fd, char *b, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, b, n);
    if (r <= 0)
      die("drain");
    n -= (size_t)r;
  }
}

/* untimed: put n bytes where the source will find them, rewind files */
static void before(struct fixture *f) {
  if (f->feed >= 0) {
    if (write(f->feed, f->buf, f->n) != (ssize_t)f->n)
      die("feed");
    if (f->pair == TCP_TCP) { /* wait until all n bytes are queued */
      int q = 0;
      while (ioctl(f->in, FIONREAD, &q) == 0 && (size_t)q < f->n)
        poll(NULL, 0, 0);
    }
  } else {
    lseek(f->in, 0, SEEK_SET);
  }
  if (f->pair == FILE_FILE)
    lseek(f->out, 0, SEEK_SET);
}

static void after(struct fixture *f) {
  if (f->drain >= 0)
    read_exactly(f->drain, f->buf, f->n);
}

/* the bare loop of the method splicer chooses for the pair; to_eof keeps
 * calling until the source says 0, as a copy that does not know the length
 * does */
static long bare(struct fixture *f, bool to_eof) {
  size_t left = f->n;
  long moved = 0;
  for (;;) {
    /* to the end, ask for much more than is left, as io.Copy and
     * std::io::copy do (and splicer: SPLICER_OPT_CHUNK, 1 MiB) */
    size_t want = to_eof ? (size_t)1 << 20 : left;
    ssize_t r;
    switch (f->pair) {
    case FILE_FILE:
      r = copy_file_range(f->in, NULL, f->out, NULL, want, 0);
      break;
    case FILE_NULL:
    case FILE_TCP:
      r = sendfile(f->out, f->in, NULL, want);
      break;
    case FILE_PIPE:
    case PIPE_PIPE:
      r = splice(f->in, NULL, f->out, NULL, want, 0);
      break;
    default: /* TCP_TCP through the loop's own pipe */
      r = splice(f->in, NULL, f->stage[1], NULL, want, 0);
      if (r > 0 && splice(f->stage[0], NULL, f->out, NULL, (size_t)r, 0) != r)
        die("splice out");
      break;
    }
    if (r < 0)
      die("bare");
    moved += r;
    if (r == 0 || (!to_eof && (left -= (size_t)r) == 0))
      return moved;
  }
}

struct contender {
  const char *name;
  bool to_eof;
  int how; /* 0 bare, 1 splicer, 2 splicer with kept fds, 3 splicer with
              SPLICER_OPT_LAZY_FILES */
  double round_ns[MAX_ROUNDS];
};

static void one_round(struct fixture *f, splicer_session *const *s,
                      struct contender *c, int round, long iters) {
  double total = 0;
  for (long i = 0; i < iters; i++) {
    before(f);
    double t0 = now_ns();
    long moved =
        c->how == 0
            ? bare(f, c->to_eof)
            : (long)splicer_copy(s[c->how - 1], f->in, f->out,
                                 c->to_eof ? SPLICER_TO_EOF : f->n);
    total += now_ns() - t0;
    if (moved != (long)f->n) {
      fprintf(stderr, "%s %s: moved %ld of %zu\n", pair_name[f->pair], c->name,
              moved, f->n);
      exit(1);
    }
    after(f);
  }
  c->round_ns[round] = total / (double)iters;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double t[MAX_ROUNDS];
  memcpy(t, v, (size_t)n * sizeof *v);
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double best(const double *v, int n) {
  double b = v[0];
  for (int i = 1; i < n; i++)
    b = v[i] < b ? v[i] : b;
  return b;
}

static void print_row(const struct contender *c, int rounds) {
  double m0 = median(c[0].round_ns, rounds);
  double m1 = median(c[1].round_ns, rounds);
  double m2 = median(c[2].round_ns, rounds);
  double m3 = median(c[3].round_ns, rounds);
  printf(" %.0f, %.0f | %.0f, %.0f | %.0f, %.0f | %.0f, %.0f | %.2f× | %.2f× | "
         "%.2f× |",
         best(c[0].round_ns, rounds), m0, best(c[1].round_ns, rounds), m1,
         best(c[3].round_ns, rounds), m3, best(c[2].round_ns, rounds), m2,
         m1 / m0, m3 / m0, m2 / m0);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 21;
  long iters = argc > 2 ? atol(argv[2]) : 2000;
  if (rounds < 1 || rounds > MAX_ROUNDS || iters < 1) {
    fprintf(stderr, "usage: percall [ROUNDS (1..%d) [ITERS [ignore]]]\n",
            MAX_ROUNDS);
    return 2;
  }
  if (argc > 3 && strcmp(argv[3], "ignore") == 0)
    signal(SIGPIPE, SIG_IGN);
  static const size_t sizes[] = {4096, 65536};
  printf("| pair | size | length | method | bare ns/call (best, median) | "
         "splicer | lazy | kept | splicer / bare | lazy / bare | kept / bare "
         "|\n");
  printf("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int p = 0; p < PAIRS; p++)
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
      struct fixture f;
      make_fixture(&f, (enum pair)p, sizes[z]);
      splicer_session *s[3];
      if (splicer_session_new(&s[0]) < 0 || splicer_session_new(&s[1]) < 0 ||
          splicer_session_new(&s[2]) < 0 ||
          splicer_session_keep(s[1], f.in, SPLICER_FD_UNKNOWN) < 0 ||
          splicer_session_keep(s[1], f.out, SPLICER_FD_UNKNOWN) < 0 ||
          splicer_session_set(s[2], SPLICER_OPT_LAZY_FILES, 1) < 0)
        die("session");
      bool file_src = p != PIPE_PIPE && p != TCP_TCP;
      struct contender c[8] = {
          {"bare", false, 0, {0}},          {"splicer", false, 1, {0}},
          {"kept", false, 2, {0}},          {"lazy", false, 3, {0}},
          {"bare to EOF", true, 0, {0}},    {"splicer to EOF", true, 1, {0}},
          {"kept to EOF", true, 2, {0}},    {"lazy to EOF", true, 3, {0}}};
      int nc = file_src ? 8 : 4;
      for (int w = 0; w < nc; w++) /* warm up: page cache, pool pipe */
        one_round(&f, s, &c[w], 0, iters / 10 + 1);
      for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nc; k++) /* rotate the order each round */
          one_round(&f, s, &c[(k + r) % nc], r, iters);
      splicer_progress pr;
      splicer_progress_get(s[0], &pr, sizeof pr);
      printf("| %s | %zu KiB | exact | %s |", pair_name[p], sizes[z] / 1024,
             splicer_method_name(pr.method));
      print_row(c, rounds);
      printf("\n");
      if (file_src) {
        printf("| %s | %zu KiB | to EOF | %s |", pair_name[p],
               sizes[z] / 1024, splicer_method_name(pr.method));
        print_row(c + 4, rounds);
        printf("\n");
      }
      fflush(stdout);
      for (int i = 0; i < 3; i++)
        splicer_session_free(s[i]);
      free_fixture(&f);
    }
  return 0;
}
