/* pool_cost: what the pipe pool adds to a batch, against the batch itself.
 *
 * Measures, in CPU time of the measuring threads:
 *   - one borrow plus one return of a pool pipe, with 1, 2, 8 and 64 threads
 *     borrowing and returning at once (the pool's mutex under contention);
 *   - one 64 KiB batch through a pipe: splice file -> pipe, splice pipe ->
 *     /dev/null (what a staged step costs without the pool);
 *   - a whole pooled 64 KiB step against the same step with the session's
 *     own pipe (splicer_step on a socket -> /dev/null transfer).
 * Prints a Markdown table; bench/scale/run puts it in bench/SCALE.md.
 *
 * Links the static library: splicer__pool_borrow/return are internal
 * (hidden from the shared object, not from the archive). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../../core/src/internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 65536

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double wall_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct borrower {
  long iters;
  double cpu; /* seconds of this thread's CPU */
};

static void *borrow_loop(void *arg) {
  struct borrower *b = arg;
  int fds[1][2];
  struct pool_lease lease;
  double t0 = cpu_now();
  for (long i = 0; i < b->iters; i++) {
    if (splicer__pool_borrow(fds, 1, &lease) == 0)
      splicer__pool_return(fds, 1, &lease);
  }
  b->cpu = cpu_now() - t0;
  return NULL;
}

/* ns of CPU per borrow+return with n threads at once; wall-clock ns per
 * operation of the whole group too (contention shows as waiting) */
static void borrow_cost(int n, long iters, double *cpu_ns, double *wall_ns) {
  pthread_t t[64];
  struct borrower b[64];
  double w0 = wall_now();
  for (int i = 0; i < n; i++) {
    b[i] = (struct borrower){iters, 0};
    pthread_create(&t[i], NULL, borrow_loop, &b[i]);
  }
  double cpu = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(t[i], NULL);
    cpu += b[i].cpu;
  }
  *cpu_ns = cpu / ((double)n * (double)iters) * 1e9;
  *wall_ns = (wall_now() - w0) / ((double)n * (double)iters) * 1e9;
}

/* one 64 KiB batch through a pipe, by hand */
static double batch_cost(long iters) {
  char path[] = "/dev/shm/splicer-pool-cost-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) {
    strcpy(path, "/tmp/splicer-pool-cost-XXXXXX");
    fd = mkstemp(path);
  }
  unlink(path);
  static char buf[BATCH];
  memset(buf, 'x', sizeof buf);
  if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
    exit(1);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    exit(1);
  fcntl(p[1], F_SETPIPE_SZ, 262144);
  double t0 = cpu_now();
  for (long i = 0; i < iters; i++) {
    loff_t off = 0;
    ssize_t n = splice(fd, &off, p[1], NULL, BATCH, SPLICE_F_MOVE);
    if (n != BATCH || splice(p[0], NULL, null, NULL, BATCH, SPLICE_F_MOVE) != BATCH)
      exit(1);
  }
  double ns = (cpu_now() - t0) / (double)iters * 1e9;
  close(fd);
  close(null);
  close(p[0]);
  close(p[1]);
  return ns;
}

/* a whole step of 64 KiB, socket -> /dev/null (staged: splice_pipe) */
static double step_cost(long iters, int pooled) {
  splicer_session *s;
  splicer_session_new(&s);
  splicer_session_set(s, SPLICER_OPT_POOL, pooled);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  int big = 1 << 20;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  static char buf[BATCH];
  memset(buf, 'y', sizeof buf);
  double spent = 0;
  for (long i = 0; i < iters; i++) {
    if (write(sv[1], buf, sizeof buf) != (ssize_t)sizeof buf)
      exit(1);
    double t0 = cpu_now();
    if (splicer_open(s, sv[0], SPLICER_OFF_CUR, null, SPLICER_OFF_CUR, BATCH) < 0 ||
        splicer_run(s) != BATCH)
      exit(1);
    spent += cpu_now() - t0;
  }
  splicer_session_free(s);
  close(sv[0]);
  close(sv[1]);
  close(null);
  return spent / (double)iters * 1e9;
}

static double best(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 200000;
  int runs = 3;
  double batch = 1e18, own = 1e18, pooled = 1e18;
  for (int r = 0; r < runs; r++) {
    batch = best(batch, batch_cost(iters / 10));
    own = best(own, step_cost(iters / 20, 0));
    pooled = best(pooled, step_cost(iters / 20, 1));
  }
  printf("| measure | threads | CPU ns per op | wall ns per op | vs a 64 KiB batch |\n");
  printf("|---|---:|---:|---:|---:|\n");
  printf("| 64 KiB batch: splice file -> pipe -> /dev/null | 1 | %.0f | | 1.000 |\n", batch);
  static const int threads[] = {1, 2, 8, 64};
  for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
    double cpu = 1e18, wall = 1e18;
    for (int r = 0; r < runs; r++) {
      double c, w;
      borrow_cost(threads[k], iters / threads[k], &c, &w);
      cpu = best(cpu, c);
      wall = best(wall, w);
    }
    printf("| pool borrow + return | %d | %.0f | %.0f | %.3f |\n", threads[k], cpu, wall,
           cpu / batch);
  }
  printf("| 64 KiB step, session's own pipe | 1 | %.0f | | %.3f |\n", own, own / batch);
  printf("| 64 KiB step, pooled pipe | 1 | %.0f | | %.3f |\n", pooled, pooled / batch);
  printf("\nThe pooled step costs %.1f%% more CPU than the step with its own pipe "
         "(best of %d runs, %ld iterations).\n",
         (pooled / own - 1) * 100, runs, iters);
  return 0;
}
