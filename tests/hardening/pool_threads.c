/* 256 threads share a pool of at most 8 pipes while another thread keeps
 * changing the pool's caps and pipe size.  Each thread runs staged
 * transfers of its own (socket -> file, a fan-out to two files, and a
 * non-blocking socket -> socket with a slow consumer that holds its pipe
 * for a while) and checks every byte.  At the end the pool's books balance:
 * nothing in use, created - closed == idle, and misses happened (the pool
 * was short) without a byte lost or crossing streams.
 *   SPLICER_POOL_THREADS (256), SPLICER_SOAK_SECONDS (60; ctest runs 5) */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUND_BYTES 65536

static atomic_bool stop;
static atomic_ullong bytes_checked, rounds_done;

static void fill_socket(int sv[2], uint32_t seed) {
  unsigned char *p = malloc(ROUND_BYTES);
  tu_fill(p, ROUND_BYTES, seed, 0);
  h_write_all(sv[1], p, ROUND_BYTES);
  free(p);
  shutdown(sv[1], SHUT_WR);
}

static void check_file(int fd, uint32_t seed) {
  tu_check_file(fd, 0, ROUND_BYTES, seed, 0);
  CHECK_EQ(ftruncate(fd, 0), 0);
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
}

/* socket -> file, blocking */
static void round_file(splicer_session *s, int out, uint32_t seed) {
  int sv[2];
  tu_socketpair(sv);
  fill_socket(sv, seed);
  CHECK_EQ(splicer_copy(s, sv[0], out, SPLICER_TO_EOF), ROUND_BYTES);
  check_file(out, seed);
  close(sv[0]);
  close(sv[1]);
}

/* socket -> two files: two pipes at once, or a miss */
static void round_tee(splicer_session *s, int out[2], uint32_t seed) {
  int sv[2];
  tu_socketpair(sv);
  fill_socket(sv, seed);
  CHECK_EQ(splicer_open_tee(s, sv[0], SPLICER_OFF_CUR, out, 2, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), ROUND_BYTES);
  check_file(out[0], seed);
  check_file(out[1], seed);
  close(sv[0]);
  close(sv[1]);
}

/* socket -> socket, non-blocking, the consumer reads in small bites so the
 * session holds its batch (and its pipe) across EAGAINs */
static void round_slow(splicer_session *s, uint32_t seed) {
  int in[2], out[2];
  tu_socketpair(in);
  tu_socketpair(out);
  int small = 4096;
  setsockopt(out[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(out[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  fill_socket(in, seed);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 1), 0);
  CHECK_EQ(splicer_open(s, in[0], SPLICER_OFF_CUR, out[0], SPLICER_OFF_CUR, SPLICER_TO_EOF), 0);
  unsigned char *got = malloc(ROUND_BYTES + 1);
  size_t n = 0;
  for (;;) {
    int64_t r = splicer_step(s);
    if (r > 0)
      continue;
    if (r == 0)
      break;
    CHECK(r == -EAGAIN, "step: %s", tu_name(r));
    int fd;
    short ev;
    CHECK_EQ(splicer_wait(s, &fd, &ev), 0);
    CHECK(fd == out[0] && ev == POLLOUT, "waits for the destination");
    struct pollfd p = {out[1], POLLIN, 0};
    poll(&p, 1, 10);
    ssize_t k = read(out[1], got + n, ROUND_BYTES + 1 - n < 8192 ? ROUND_BYTES + 1 - n : 8192);
    if (k > 0)
      n += (size_t)k;
  }
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 0), 0);
  shutdown(out[0], SHUT_WR);
  for (ssize_t k; n <= ROUND_BYTES && (k = read(out[1], got + n, ROUND_BYTES + 1 - n)) > 0;)
    n += (size_t)k;
  CHECK_EQ(n, ROUND_BYTES);
  unsigned char *want = malloc(ROUND_BYTES);
  tu_fill(want, ROUND_BYTES, seed, 0);
  CHECK(memcmp(got, want, ROUND_BYTES) == 0, "slow round: bytes differ (seed %u)", seed);
  free(want);
  free(got);
  close(in[0]), close(in[1]), close(out[0]), close(out[1]);
}

static void *worker(void *arg) {
  uint32_t id = (uint32_t)(uintptr_t)arg;
  h_rng rng;
  h_rng_seed(&rng, id);
  splicer_session *s = tu_session(0);
  int out[2] = {tu_tmpfile(), tu_tmpfile()};
  for (uint32_t k = 0; !atomic_load(&stop); k++) {
    uint32_t seed = id * 100003u + k;
    switch (h_below(&rng, 3)) {
    case 0:
      round_file(s, out[0], seed);
      break;
    case 1:
      round_tee(s, out, seed);
      break;
    default:
      round_slow(s, seed);
      break;
    }
    atomic_fetch_add(&bytes_checked, ROUND_BYTES);
    atomic_fetch_add(&rounds_done, 1);
  }
  splicer_session_free(s);
  close(out[0]);
  close(out[1]);
  return NULL;
}

/* caps and sizes changed under the workers' feet */
static void *chaos(void *arg) {
  (void)arg;
  h_rng rng;
  h_rng_seed(&rng, 42);
  static const int64_t caps[] = {0, 1, 2, 4, 8, 8, 8};
  static const int64_t idles[] = {0, 2, 8};
  static const int64_t sizes[] = {65536, 262144};
  while (!atomic_load(&stop)) {
    CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, caps[h_below(&rng, 7)]), 0);
    CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_IDLE, idles[h_below(&rng, 3)]), 0);
    if (h_chance(&rng, 10))
      CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, sizes[h_below(&rng, 2)]), 0);
    if (h_chance(&rng, 10))
      CHECK(splicer_pool_trim() >= 0, "trim");
    struct timespec t = {0, (long)(1 + h_below(&rng, 5)) * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int n = h_env_int("SPLICER_POOL_THREADS", 256);
  int secs = h_env_int("SPLICER_SOAK_SECONDS", 60);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)(n * 8 + 64)) {
    rl.rlim_cur = rl.rlim_max < (rlim_t)(n * 8 + 64) ? rl.rlim_max : (rlim_t)(n * 8 + 64);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, 8), 0);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_IDLE, 8), 0);
  splicer_pool_stats p0, p1;
  CHECK_EQ(splicer_pool_stats_get(&p0, sizeof p0), 0);
  pthread_t *t = calloc((size_t)n, sizeof *t), c;
  double t0 = h_now();
  for (int i = 0; i < n; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i), 0);
  CHECK_EQ(pthread_create(&c, NULL, chaos, NULL), 0);
  while (h_now() - t0 < secs) {
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  atomic_store(&stop, true);
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  pthread_join(c, NULL);
  free(t);
  CHECK_EQ(splicer_pool_stats_get(&p1, sizeof p1), 0);
  CHECK_EQ(p1.in_use, 0);
  CHECK_EQ(p1.created - p1.closed, p1.idle);
  CHECK_EQ(p1.borrowed - p0.borrowed, p1.returned - p0.returned + (p1.discarded - p0.discarded));
  CHECK(p1.misses > p0.misses, "the pool was never short");
  unsigned long long rounds = atomic_load(&rounds_done);
  printf("  %d threads, %.0f s: %llu rounds, %llu bytes checked; pool: %llu borrowed, "
         "%llu created, %llu misses, peak %llu in use\n",
         n, h_now() - t0, rounds, atomic_load(&bytes_checked),
         (unsigned long long)(p1.borrowed - p0.borrowed),
         (unsigned long long)(p1.created - p0.created),
         (unsigned long long)(p1.misses - p0.misses), (unsigned long long)p1.peak_in_use);
  h_result("pool_threads", "threads=%d seconds=%.0f rounds=%llu bytes=%llu borrowed=%llu misses=%llu",
           n, h_now() - t0, rounds, atomic_load(&bytes_checked),
           (unsigned long long)(p1.borrowed - p0.borrowed),
           (unsigned long long)(p1.misses - p0.misses));
  splicer_pool_trim();
  tu_pass("256 threads on a pool of 8 pipes with caps changing: every byte, books balance");
  return 0;
}
