/* pipe-user-pages-soft exhausted: an unprivileged user's pipes beyond the
 * limit get 2 pages and F_SETPIPE_SZ is refused.
 *   - Sessions with pipes of their own (SPLICER_OPT_POOL 0) exhaust it and
 *     must settle for the small pipe and still move every byte.
 *   - With the limit already spent when the pool makes its first pipe, the
 *     pool must not lend a small pipe: it counts the refusal (undersized),
 *     the batches go by read/write (misses) with every byte delivered, it
 *     does not ask the kernel again for every batch (backoff), and once the
 *     pages are free again it makes full-size pipes.
 *
 * Root (CAP_SYS_RESOURCE/CAP_SYS_ADMIN) is exempt from the limit, so as root
 * the test runs in a child that switches to an unprivileged uid.  The
 * sysctl is not changed: enough sessions, each asking for 256 KiB pipes,
 * exhaust the default 16384 pages (64 MiB) on their own.  SKIP (77) when the
 * limit is off (0) or no unprivileged uid can be taken. */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAYLOAD 100000

static long soft_pages(void) {
  FILE *f = fopen("/proc/sys/fs/pipe-user-pages-soft", "re");
  long v = -1;
  if (f) {
    if (fscanf(f, "%ld", &v) != 1)
      v = -1;
    fclose(f);
  }
  return v;
}

struct feeder {
  int fd;
  uint32_t seed;
};
static void *feed(void *arg) {
  struct feeder *f = arg;
  unsigned char buf[PAYLOAD];
  tu_fill(buf, sizeof buf, f->seed, 0);
  h_write_all(f->fd, buf, sizeof buf);
  return NULL;
}

static void child(void *arg) {
  long limit = *(long *)arg;
  if (getuid() == 0) {
    /* room for the fds of many sessions, then drop privileges */
    struct rlimit rl = {8192, 8192};
    setrlimit(RLIMIT_NOFILE, &rl);
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) {
      fprintf(stderr, "SKIP: cannot become uid 65534: %s\n", strerror(errno));
      _exit(77);
    }
  }
  /* pages each session asks for: 256 KiB = 64 pages */
  int n = (int)(limit / 64) + 64;
  splicer_session **ss = calloc((size_t)n, sizeof *ss);
  int a[2], b[2];
  tu_socketpair(a);
  tu_socketpair(b);
  int smallest = 1 << 30, largest = 0, small_pipes = 0;
  uint64_t bytes = 0;
  double t0 = h_now();
  for (int i = 0; i < n; i++) {
    CHECK_EQ(splicer_session_new(&ss[i]), 0);
    CHECK_EQ(splicer_session_set(ss[i], SPLICER_OPT_POOL, 0), 0);
    /* a staged socket -> socket transfer: the session needs its own pipe */
    struct feeder f = {a[1], (uint32_t)i};
    pthread_t t;
    pthread_create(&t, NULL, feed, &f);
    struct tu_reader r = {0};
    tu_reader_start(&r, b[1], PAYLOAD);
    int64_t got = splicer_copy(ss[i], a[0], b[0], PAYLOAD);
    CHECK(got == PAYLOAD, "session %d: copy %lld (%s)", i, (long long)got,
          tu_name(got));
    pthread_join(t, NULL);
    tu_reader_join(&r);
    CHECK(r.len == PAYLOAD, "session %d: received %zu", i, r.len);
    unsigned char want[PAYLOAD];
    tu_fill(want, sizeof want, (uint32_t)i, 0);
    CHECK(memcmp(r.data, want, PAYLOAD) == 0, "session %d: bytes differ", i);
    tu_reader_free(&r);
    int64_t size;
    CHECK_EQ(splicer_session_get(ss[i], SPLICER_OPT_PIPE_SIZE, &size), 0);
    if (size < smallest)
      smallest = (int)size;
    if (size > largest)
      largest = (int)size;
    small_pipes += size < 262144;
    bytes += PAYLOAD;
  }
  for (int i = 0; i < n; i++)
    splicer_session_free(ss[i]);
  free(ss);
  printf("  %d sessions: pipe sizes %d .. %d bytes, %d below the 256 KiB asked\n",
         n, smallest, largest, small_pipes);
  CHECK(small_pipes > 0, "the limit was never reached (%d sessions)", n);
  double own_secs = h_now() - t0;

  /* the pool, with the limit spent before it makes a pipe: hog pipes of
   * 1 MiB until the kernel refuses to enlarge one */
  int hogs[4096][2], n_hogs = 0;
  while (n_hogs < 4096) {
    if (pipe2(hogs[n_hogs], O_CLOEXEC) < 0)
      break;
    int got = fcntl(hogs[n_hogs][1], F_SETPIPE_SZ, 1 << 20);
    n_hogs++;
    if (got < 0)
      break;
  }
  CHECK(n_hogs < 4096, "the limit was never reached by hog pipes");
  splicer_pool_stats p0, p1, p2;
  CHECK_EQ(splicer_pool_stats_get(&p0, sizeof p0), 0);
  unsigned char want[PAYLOAD];
  for (int round = 0; round < 3; round++) {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    struct feeder f = {a[1], (uint32_t)(1000 + round)};
    pthread_t t;
    pthread_create(&t, NULL, feed, &f);
    struct tu_reader r = {0};
    tu_reader_start(&r, b[1], PAYLOAD);
    CHECK_EQ(splicer_copy(s, a[0], b[0], PAYLOAD), PAYLOAD);
    pthread_join(t, NULL);
    tu_reader_join(&r);
    tu_fill(want, sizeof want, (uint32_t)(1000 + round), 0);
    CHECK(r.len == PAYLOAD && memcmp(r.data, want, PAYLOAD) == 0,
          "pooled round %d: bytes differ", round);
    tu_reader_free(&r);
    splicer_stats st;
    splicer_stats_get(s, &st, sizeof st);
    CHECK(st.pool_misses >= 1, "round %d: no miss with the limit spent", round);
    CHECK_EQ(st.bytes_by_method[SPLICER_METHOD_READ_WRITE], PAYLOAD);
    splicer_session_free(s);
  }
  CHECK_EQ(splicer_pool_stats_get(&p1, sizeof p1), 0);
  CHECK(p1.undersized - p0.undersized >= 1, "the small pipe was not noticed");
  /* one refusal, then the backoff: not one pipe2 per batch */
  CHECK(p1.undersized - p0.undersized <= 2, "asked the kernel %llu times",
        (unsigned long long)(p1.undersized - p0.undersized));
  CHECK_EQ(p1.in_use, 0);
  CHECK_EQ(p1.idle, 0);
  for (int i = 0; i < n_hogs; i++) {
    close(hogs[i][0]);
    close(hogs[i][1]);
  }
  struct timespec pause = {0, 150 * 1000 * 1000};
  nanosleep(&pause, NULL);
  {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    struct feeder f = {a[1], 2000};
    pthread_t t;
    pthread_create(&t, NULL, feed, &f);
    struct tu_reader r = {0};
    tu_reader_start(&r, b[1], PAYLOAD);
    CHECK_EQ(splicer_copy(s, a[0], b[0], PAYLOAD), PAYLOAD);
    pthread_join(t, NULL);
    tu_reader_join(&r);
    tu_fill(want, sizeof want, 2000, 0);
    CHECK(r.len == PAYLOAD && memcmp(r.data, want, PAYLOAD) == 0, "recovery: bytes differ");
    tu_reader_free(&r);
    splicer_stats st;
    splicer_stats_get(s, &st, sizeof st);
    CHECK_EQ(st.pool_misses, 0);
    CHECK_EQ(st.bytes_by_method[SPLICER_METHOD_SPLICE_PIPE], PAYLOAD);
    splicer_session_free(s);
  }
  CHECK_EQ(splicer_pool_stats_get(&p2, sizeof p2), 0);
  CHECK(p2.created > p1.created, "no full-size pipe after the pages came back");
  CHECK_EQ(p2.undersized, p1.undersized);
  printf("  pool with the limit spent: %llu undersized, %llu misses; full-size pipes again after\n",
         (unsigned long long)(p1.undersized - p0.undersized),
         (unsigned long long)(p1.misses - p0.misses));
  close(a[0]); close(a[1]); close(b[0]); close(b[1]);
  h_result("fault_pipe_pages",
           "sessions=%d limit_pages=%ld small_pipes=%d smallest=%d bytes=%llu "
           "seconds=%.1f hogs=%d pool_undersized=%llu pool_misses=%llu",
           n, limit, small_pipes, smallest, (unsigned long long)bytes, own_secs, n_hogs,
           (unsigned long long)(p1.undersized - p0.undersized),
           (unsigned long long)(p1.misses - p0.misses));
  _exit(0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  long limit = soft_pages();
  if (limit <= 0)
    tu_skip("pipe-user-pages-soft is 0 (no limit) or unreadable");
  if (limit > 1 << 20)
    tu_skip("pipe-user-pages-soft is too large to exhaust in a test");
  int st = tu_in_child(child, &limit);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
    return 77;
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
  tu_pass("pipe-user-pages-soft exhausted: every transfer still complete, the pool never lends a small pipe");
  return 0;
}
