/* The pipe pool: its API, caps, discarding pipes that hold bytes, pipes of
 * an old size, and fork (a child never shares a pool pipe with its parent). */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static splicer_pool_stats pool_now(void) {
  splicer_pool_stats st;
  CHECK_EQ(splicer_pool_stats_get(&st, sizeof st), 0);
  return st;
}

/* Inodes of the pipes this process has open, into ino[] (at most max). */
static size_t pipe_inodes(unsigned long ino[], size_t max) {
  size_t n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
      continue;
    struct stat st;
    if (fstat(atoi(e->d_name), &st) == 0 && S_ISFIFO(st.st_mode))
      ino[n++] = (unsigned long)st.st_ino;
  }
  closedir(d);
  return n;
}

/* Bytes into a socketpair's far end, then end of file: a staged source. */
static void feed(int sv[2], size_t n, uint32_t seed) {
  unsigned char *p = malloc(n);
  tu_fill(p, n, seed, 0);
  CHECK_EQ(write(sv[1], p, n), (long long)n);
  free(p);
  shutdown(sv[1], SHUT_WR);
}

/* A non-blocking session left holding bytes: socket -> socket whose reader
 * reads nothing, so the batch stays in a borrowed pipe. */
struct held {
  splicer_session *s;
  int src[2], dst[2];
};

static void hold_bytes(struct held *h) {
  tu_socketpair(h->src);
  tu_socketpair(h->dst);
  int small = 4096;
  setsockopt(h->dst[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(h->dst[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  feed(h->src, 100000, 11);
  h->s = tu_session(0);
  CHECK_EQ(splicer_session_set(h->s, SPLICER_OPT_NONBLOCK, 1), 0);
  CHECK_EQ(splicer_open(h->s, h->src[0], SPLICER_OFF_CUR, h->dst[0], SPLICER_OFF_CUR,
                        SPLICER_TO_EOF),
           0);
  CHECK(splicer_step(h->s) > 0, "first step delivers");
  splicer_progress p;
  splicer_progress_get(h->s, &p, sizeof p);
  CHECK(p.pending > 0, "bytes held");
}

static void release_held(struct held *h) {
  close(h->src[0]);
  close(h->src[1]);
  close(h->dst[0]);
  close(h->dst[1]);
}

static void test_api(void) {
  int64_t v;
  CHECK_EQ(splicer_pool_get(SPLICER_POOL_PIPE_SIZE, NULL), -EINVAL);
  CHECK_EQ(splicer_pool_get(299, &v), -EINVAL);
  CHECK_EQ(splicer_pool_set(303, 1), -EINVAL);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, -1), -EINVAL);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, INT64_MAX), -EINVAL);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_IDLE, INT64_MIN), -EINVAL);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, 0), -EINVAL);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, (int64_t)1 << 31), -EINVAL);
  CHECK_EQ(splicer_pool_get(SPLICER_POOL_PIPE_SIZE, &v), 0);
  CHECK_EQ(v, 262144);
  CHECK_EQ(splicer_pool_get(SPLICER_POOL_MAX_IDLE, &v), 0);
  CHECK_EQ(v, 32);
  CHECK_EQ(splicer_pool_get(SPLICER_POOL_MAX_PIPES, &v), 0);
  CHECK(v >= 16 && v <= 1024, "derived cap %lld", (long long)v);
  /* the derived cap follows the pipe size until it is set */
  int64_t cap_256k = v;
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, 1 << 20), 0);
  CHECK_EQ(splicer_pool_get(SPLICER_POOL_MAX_PIPES, &v), 0);
  CHECK(v <= cap_256k, "1 MiB pipes: cap %lld <= %lld", (long long)v, (long long)cap_256k);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, 262144), 0);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, 7), 0);
  CHECK_EQ(splicer_pool_get(SPLICER_POOL_MAX_PIPES, &v), 0);
  CHECK_EQ(v, 7);

  splicer_pool_stats st;
  CHECK_EQ(splicer_pool_stats_get(NULL, sizeof st), -EINVAL);
  CHECK_EQ(splicer_pool_stats_get(&st, 0), -EINVAL);
  /* an older, smaller struct gets the fields it has */
  memset(&st, 0xab, sizeof st);
  CHECK_EQ(splicer_pool_stats_get(&st, sizeof(uint64_t)), 0);
  CHECK(st.returned == 0xababababababababull, "only the first field written");
  CHECK_EQ(splicer_pool_trim(), 0);
  tu_pass("pool options and statistics: validation, defaults, sizes");
}

/* A session freed or aborted with bytes pending closes its borrowed pipe:
 * counted discarded, fds closed, never returned. */
static void test_discard(void) {
  int before = tu_count_fds();
  splicer_pool_stats a = pool_now();
  struct held h;
  hold_bytes(&h);
  CHECK_EQ(pool_now().in_use, a.in_use + 1);
  splicer_session_free(h.s);
  splicer_pool_stats b = pool_now();
  CHECK_EQ(b.in_use, a.in_use);
  CHECK_EQ(b.discarded, a.discarded + 1);
  CHECK_EQ(b.returned, a.returned);
  CHECK_EQ(b.idle, a.idle);
  release_held(&h);
  CHECK_EQ(tu_count_fds(), before);

  hold_bytes(&h);
  CHECK(splicer_abort(h.s) > 0, "abort drops bytes");
  b = pool_now();
  CHECK_EQ(b.discarded, a.discarded + 2);
  CHECK_EQ(b.in_use, a.in_use);
  splicer_session_free(h.s);
  release_held(&h);
  CHECK_EQ(tu_count_fds(), before);
  tu_pass("a pipe holding bytes is discarded, never returned");
}

/* A pipe borrowed at the old size is closed when it comes back. */
static void test_size_change_while_borrowed(void) {
  splicer_pool_trim();
  struct held h;
  hold_bytes(&h);
  splicer_pool_stats a = pool_now();
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, 65536), 0);
  /* deliver the rest: read the destination until the transfer ends */
  unsigned char buf[65536];
  size_t got = 0;
  for (int i = 0; i < 100000; i++) {
    int64_t r = splicer_step(h.s);
    if (r == 0)
      break;
    if (r == -EAGAIN) {
      ssize_t n = read(h.dst[1], buf, sizeof buf);
      if (n > 0)
        got += (size_t)n;
    } else {
      CHECK(r > 0, "step: %s", splicer_errname((int)r));
    }
  }
  splicer_session_free(h.s);
  shutdown(h.dst[0], SHUT_WR);
  for (ssize_t n; (n = read(h.dst[1], buf, sizeof buf)) > 0;)
    got += (size_t)n;
  CHECK_EQ(got, 100000);
  splicer_pool_stats b = pool_now();
  CHECK_EQ(b.in_use, 0);
  /* the 256 KiB pipe went, a 64 KiB one may have come and stayed */
  CHECK(b.closed >= a.closed + 1, "old-size pipe closed");
  CHECK(b.idle <= 1, "idle %llu", (unsigned long long)b.idle);
  release_held(&h);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_PIPE_SIZE, 262144), 0);
  CHECK_EQ(pool_now().idle, 0); /* the 64 KiB one closed with the change */
  tu_pass("a pipe of an old size is closed when it comes back");
}

/* MAX_IDLE lowered closes idle pipes at once; MAX_PIPES lowered sheds the
 * idle ones above it. */
static void test_idle_caps(void) {
  splicer_pool_trim();
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, 16), 0);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_IDLE, 16), 0);
  /* a fan-out to 6 destinations leaves 6 idle pipes */
  int in[2], out[6];
  tu_socketpair(in);
  feed(in, 5000, 3);
  for (int i = 0; i < 6; i++)
    out[i] = tu_tmpfile();
  splicer_session *s = tu_session(0);
  CHECK_EQ(splicer_open_tee(s, in[0], SPLICER_OFF_CUR, out, 6, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), 5000);
  for (int i = 0; i < 6; i++)
    tu_check_file(out[i], 0, 5000, 3, 0);
  CHECK_EQ(pool_now().idle, 6);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_IDLE, 4), 0);
  CHECK_EQ(pool_now().idle, 4);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, 2), 0);
  CHECK_EQ(pool_now().idle, 2);
  /* a fan-out needing more pipes than the cap: every batch misses */
  int in2[2];
  tu_socketpair(in2);
  feed(in2, 7000, 4);
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(ftruncate(out[i], 0), 0);
    CHECK_EQ(lseek(out[i], 0, SEEK_SET), 0);
  }
  CHECK_EQ(splicer_open_tee(s, in2[0], SPLICER_OFF_CUR, out, 3, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), 7000);
  splicer_stats st;
  splicer_stats_get(s, &st, sizeof st);
  CHECK(st.pool_misses >= 1, "tee of 3 with a cap of 2 misses");
  for (int i = 0; i < 3; i++)
    tu_check_file(out[i], 0, 7000, 4, 0);
  splicer_session_free(s);
  for (int i = 0; i < 6; i++)
    close(out[i]);
  close(in[0]), close(in[1]), close(in2[0]), close(in2[1]);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_IDLE, 32), 0);
  splicer_pool_trim();
  tu_pass("idle and total caps shed idle pipes at once");
}

/* ---- fork ---------------------------------------------------------------- */

static void child_after_fork(void *arg) {
  const unsigned long *parent_pool = arg; /* inodes, 0-terminated */
  /* the idle pipes inherited from the parent's pool are gone */
  unsigned long ino[256];
  size_t n = pipe_inodes(ino, 256);
  for (size_t i = 0; i < n; i++)
    for (const unsigned long *p = parent_pool; *p; p++)
      if (ino[i] == *p)
        _exit(10);
  splicer_pool_stats st = pool_now();
  if (st.idle != 0 || st.in_use != 0)
    _exit(11);
  /* a transfer of the child's own gets a new pipe, not one of the parent */
  int sv[2], out = tu_tmpfile();
  tu_socketpair(sv);
  feed(sv, 3000, 9);
  splicer_session *s = tu_session(0);
  if (splicer_copy(s, sv[0], out, SPLICER_TO_EOF) != 3000)
    _exit(12);
  splicer_session_free(s);
  n = pipe_inodes(ino, 256);
  for (size_t i = 0; i < n; i++)
    for (const unsigned long *p = parent_pool; *p; p++)
      if (ino[i] == *p)
        _exit(13);
  if (pool_now().idle != 1 || pool_now().created < 1)
    _exit(14);
  _exit(0);
}


/* A session that had borrowed a pipe before the fork: in the child, giving
 * it up must not count in the child's pool nor put the pipe in it. */
static void child_with_borrowed(void *arg) {
  struct held *h = arg;
  splicer_pool_stats a = pool_now();
  if (a.in_use != 0)
    _exit(20);
  splicer_abort(h->s);
  splicer_session_free(h->s);
  splicer_pool_stats b = pool_now();
  if (b.in_use != 0 || b.idle != 0 || b.discarded != a.discarded)
    _exit(21);
  _exit(0);
}

static atomic_bool stop;

static void *hammer(void *arg) {
  (void)arg;
  int out = tu_tmpfile();
  while (!atomic_load(&stop)) {
    int sv[2];
    tu_socketpair(sv);
    feed(sv, 20000, 5);
    splicer_session *s = tu_session(0);
    CHECK_EQ(splicer_copy(s, sv[0], out, SPLICER_TO_EOF), 20000);
    splicer_session_free(s);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(ftruncate(out, 0), 0);
    CHECK_EQ(lseek(out, 0, SEEK_SET), 0);
  }
  close(out);
  return NULL;
}

/* The child of a process whose threads are mid-transfer: the memory those
 * threads held is unreachable here, so the child leaves by exec, not by an
 * exit a leak checker would count against it. */
static void child_quick(void *arg) {
  (void)arg;
  int sv[2], out = tu_tmpfile();
  tu_socketpair(sv);
  feed(sv, 5000, 6);
  splicer_session *s = tu_session(0);
  bool ok = splicer_copy(s, sv[0], out, SPLICER_TO_EOF) == 5000;
  splicer_session_free(s);
  execl("/bin/sh", "sh", "-c", ok ? "exit 0" : "exit 30", (char *)NULL);
  _exit(31);
}

static void test_fork(void) {
  splicer_pool_trim();
  unsigned long had[256];
  size_t n_had = pipe_inodes(had, 256);
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, 64), 0);
  /* idle pipes in the parent's pool */
  int sv[2], out = tu_tmpfile();
  tu_socketpair(sv);
  feed(sv, 3000, 8);
  splicer_session *s = tu_session(0);
  int fds[3] = {out, out, out};
  CHECK_EQ(splicer_open_tee(s, sv[0], SPLICER_OFF_CUR, fds, 3, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), 3000);
  splicer_session_free(s);
  close(sv[0]);
  close(sv[1]);
  close(out);
  CHECK_EQ(pool_now().idle, 3);
  /* the pool's pipes: those that are new, each once (two fds a pipe) */
  unsigned long all[256], pool_ino[257] = {0};
  size_t n_all = pipe_inodes(all, 256), n = 0;
  for (size_t i = 0; i < n_all; i++) {
    bool seen = false;
    for (size_t j = 0; j < n_had; j++)
      seen |= all[i] == had[j];
    for (size_t j = 0; j < n; j++)
      seen |= all[i] == pool_ino[j];
    if (!seen)
      pool_ino[n++] = all[i];
  }
  CHECK_EQ(n, 3);
  int st = tu_in_child(child_after_fork, pool_ino);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child after fork: status %d", st);
  /* the parent's pool is untouched */
  CHECK_EQ(pool_now().idle, 3);
  tu_pass("a forked child closes the inherited idle pipes and makes its own");

  struct held h;
  hold_bytes(&h);
  st = tu_in_child(child_with_borrowed, &h);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child with borrowed: status %d", st);
  CHECK_EQ(pool_now().in_use, 1);
  splicer_session_free(h.s);
  release_held(&h);
  CHECK_EQ(pool_now().in_use, 0);
  tu_pass("a pipe borrowed before fork is not pooled by the child");

  /* fork while other threads borrow and return: no deadlock in the child */
  pthread_t t[4];
  atomic_store(&stop, false);
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, hammer, NULL), 0);
  for (int i = 0; i < 40; i++) {
    st = tu_in_child(child_quick, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork %d: status %d", i, st);
  }
  atomic_store(&stop, true);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  CHECK_EQ(pool_now().in_use, 0);
  splicer_pool_trim();
  tu_pass("fork while threads use the pool: the child's pool works");
}

int main(void) {
  int before = tu_count_fds();
  test_api();
  CHECK_EQ(splicer_pool_set(SPLICER_POOL_MAX_PIPES, 64), 0);
  test_discard();
  test_size_change_while_borrowed();
  test_idle_caps();
  test_fork();
  splicer_pool_trim();
  CHECK_EQ(tu_count_fds(), before);
  return 0;
}
