/* Security properties not already covered by tests/c (test_nonblock covers
 * abort/reuse for a socket -> socket copy, test_hygiene exec with idle pipes,
 * test_sigpipe single-destination copies, test_pipes_sockets len for one
 * socket pair):
 *   1. no byte crosses from an aborted transfer to the next one, for a tee,
 *      the read/write fallback, a sealed buffer staged through the pipe and
 *      a TCP splice_pipe;
 *   2. no internal fd survives exec while the session's pipes hold bytes;
 *   3. no SIGPIPE death for a tee and for sealed buffers;
 *   4. a stream source is never read past len: pipe, unix and TCP sources,
 *      every method, copy and tee, blocking and not, several lengths. */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int checks;

static void shrink(struct h_end *e) {
  if (e->kind == H_PIPE) {
    fcntl(e->fd, F_SETPIPE_SZ, 4096);
  } else {
    int small = 4096;
    setsockopt(e->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(e->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
}

static size_t drain(int fd, unsigned char *p, size_t cap) {
  tu_set_nonblock(fd, true);
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, p + have, cap - have);
    if (n <= 0)
      break;
    have += (size_t)n;
  }
  return have;
}

/* ---- 1. abort, reuse, check ----------------------------------------------- */

enum { A_TEE, A_READ_WRITE, A_BUF, A_TCP };
static const char *const abort_names[] = {"tee", "read_write", "sealed buffer",
                                          "tcp splice_pipe"};

static void abort_then_reuse(int shape) {
  const char *what = abort_names[shape];
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 1), 0);
  if (shape == A_READ_WRITE || shape == A_TCP)
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS,
                                 1 << (shape == A_TCP ? SPLICER_METHOD_SPLICE_PIPE
                                                      : SPLICER_METHOD_READ_WRITE)),
             0);
  enum { OLD = 600000, NEW = 5000 };
  int nd = shape == A_TEE ? 3 : 1;
  struct h_end d[3];
  for (int i = 0; i < nd; i++) {
    h_end_open(&d[i], shape == A_TCP ? H_TCP : i == 1 ? H_PIPE : H_UNIX, false);
    shrink(&d[i]);
  }
  int fds[3] = {d[0].fd, nd > 1 ? d[1].fd : -1, nd > 2 ? d[2].fd : -1};
  int in = tu_file(OLD, 41);
  splicer_buf *b = NULL;
  if (shape == A_BUF) {
    CHECK_EQ(splicer_buf_new(&b, OLD), 0);
    tu_fill(splicer_buf_data(b), OLD, 41, 0);
    CHECK_EQ(splicer_open_buf(s, b, OLD, fds[0]), 0);
  } else if (shape == A_TEE) {
    CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, 3, OLD), 0);
  } else {
    CHECK_EQ(splicer_open(s, in, SPLICER_OFF_CUR, fds[0], SPLICER_OFF_CUR, OLD), 0);
  }
  /* the destinations fill up; the session ends up holding bytes */
  splicer_progress p;
  for (int i = 0; i < 100; i++) {
    int64_t r = splicer_step(s);
    if (r == -EAGAIN)
      break;
    CHECK(r > 0, "%s: step %s", what, tu_name(r));
  }
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.pending > 0, "%s: nothing pending", what);
  CHECK_EQ(splicer_abort(s), p.pending);
  uint64_t old_delivered = p.delivered, old_consumed = p.consumed;

  /* a new transfer, new bytes, same session and destinations */
  int in2 = tu_file(NEW, 42);
  if (shape == A_TEE)
    CHECK_EQ(splicer_open_tee(s, in2, SPLICER_OFF_CUR, fds, 3, NEW), 0);
  else
    CHECK_EQ(splicer_open(s, in2, SPLICER_OFF_CUR, fds[0], SPLICER_OFF_CUR, NEW), 0);
  unsigned char *got = malloc(OLD + NEW), *want_old = malloc(OLD),
                *want_new = malloc(NEW);
  tu_fill(want_old, OLD, 41, 0);
  tu_fill(want_new, NEW, 42, 0);
  size_t have[3] = {0};
  unsigned char *bufs[3];
  for (int i = 0; i < nd; i++)
    bufs[i] = malloc(OLD + NEW);
  int64_t r;
  double deadline = h_now() + 20;
  while ((r = splicer_step(s)) != 0) {
    CHECK(r > 0 || r == -EAGAIN, "%s: new step %s", what, tu_name(r));
    for (int i = 0; i < nd; i++)
      have[i] += drain(d[i].peer, bufs[i] + have[i], OLD + NEW - have[i]);
    CHECK(h_now() < deadline, "%s: stuck", what);
  }
  for (int i = 0; i < nd; i++) {
    if (d[i].kind == H_PIPE) {
      close(d[i].fd);
      d[i].fd = -1;
    } else {
      shutdown(d[i].fd, SHUT_WR);
    }
    tu_set_nonblock(d[i].peer, false);
    ssize_t n;
    while ((n = read(d[i].peer, bufs[i] + have[i], OLD + NEW - have[i])) > 0)
      have[i] += (size_t)n;
    /* old prefix (what reached this destination before the abort), then
     * exactly the new bytes: nothing of the dropped batch */
    CHECK(have[i] >= NEW, "%s: destination %d short", what, i);
    size_t k = have[i] - NEW;
    CHECK(k >= old_delivered && k <= old_consumed,
          "%s: destination %d has %zu old bytes (delivered %" PRIu64
          ", consumed %" PRIu64 ")",
          what, i, k, old_delivered, old_consumed);
    CHECK(memcmp(bufs[i], want_old, k) == 0, "%s: old prefix differs", what);
    CHECK(memcmp(bufs[i] + k, want_new, NEW) == 0,
          "%s: destination %d: bytes of the aborted transfer crossed", what, i);
    free(bufs[i]);
    h_end_close(&d[i]);
  }
  free(got);
  free(want_old);
  free(want_new);
  close(in);
  close(in2);
  splicer_session_free(s);
  checks++;
}

/* ---- 2. exec while bytes are pending ----------------------------------------- */

static int exec_child(const char *inodes) {
  /* every fd we have must not be one of the session's pipes */
  for (int fd = 3; fd < 4096; fd++) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
      continue;
    char ino[32];
    snprintf(ino, sizeof ino, ",%lu,", (unsigned long)st.st_ino);
    if (strstr(inodes, ino)) {
      fprintf(stderr, "fd %d (pipe inode %lu) survived exec\n", fd,
              (unsigned long)st.st_ino);
      return 1;
    }
  }
  return 0;
}

static void exec_with_pending(const char *self) {
  splicer_pool_trim(); /* the tee below makes its pipes anew */
  int before[4096] = {0};
  for (int fd = 0; fd < 4096; fd++)
    before[fd] = fcntl(fd, F_GETFD) >= 0;
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 1), 0);
  struct h_end d[4];
  int fds[4];
  for (int i = 0; i < 4; i++) {
    h_end_open(&d[i], H_UNIX, false);
    shrink(&d[i]);
    fds[i] = d[i].fd;
  }
  int in = tu_file(1 << 20, 43);
  CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, 4, 1 << 20), 0);
  while (splicer_step(s) > 0)
    ;
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  CHECK(p.pending > 0, "exec: nothing pending");
  /* the session's fds: those that appeared since, and are pipes */
  char inodes[4096] = ",";
  int made = 0;
  for (int fd = 0; fd < 4096; fd++) {
    struct stat st;
    if (before[fd] || fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
      continue;
    size_t len = strlen(inodes);
    snprintf(inodes + len, sizeof inodes - len, "%lu,", (unsigned long)st.st_ino);
    made++;
  }
  CHECK(made == 8, "exec: %d internal pipe fds, want 8", made);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    execl(self, self, "--exec-child", inodes, (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec child: status %#x", st);
  splicer_session_free(s);
  for (int i = 0; i < 4; i++)
    h_end_close(&d[i]);
  close(in);
  checks++;
}

/* ---- 3. SIGPIPE: tee and sealed buffers ------------------------------------- */

struct sp_arg {
  int shape; /* 0 tee to live pipe + closed pipe, 1 tee closed socket,
                2 buf to closed pipe, 3 buf to closed socket */
};

static void sigpipe_child(void *vp) {
  struct sp_arg *a = vp;
  signal(SIGPIPE, SIG_DFL);
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  struct h_end live, dead;
  h_end_open(&live, H_PIPE, false);
  h_end_open(&dead, a->shape == 1 || a->shape == 3 ? H_UNIX : H_PIPE, false);
  close(dead.peer); /* the reader is gone */
  dead.peer = -1;
  int64_t r;
  if (a->shape < 2) {
    int in = tu_file(10000, 44);
    struct tu_reader rd = {0};
    tu_reader_start(&rd, live.peer, 0);
    int fds[2] = {live.fd, dead.fd};
    CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, 2, 10000), 0);
    r = splicer_run(s);
    close(live.fd);
    live.fd = -1;
    tu_reader_join(&rd);
    tu_reader_free(&rd);
    close(in);
  } else {
    splicer_buf *b;
    CHECK_EQ(splicer_buf_new(&b, 10000), 0);
    CHECK_EQ(splicer_open_buf(s, b, 10000, dead.fd), 0);
    r = splicer_run(s);
  }
  CHECK_EQ(r, -EPIPE);
  splicer_session_free(s);
  h_end_close(&live);
  h_end_close(&dead);
  _exit(42);
}

static void no_sigpipe_death(void) {
  for (int shape = 0; shape < 4; shape++) {
    struct sp_arg a = {shape};
    int st = tu_in_child(sigpipe_child, &a);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42,
          "SIGPIPE shape %d: status %#x (signal %d)", shape, st,
          WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    checks++;
  }
}

/* ---- 4. never past len -------------------------------------------------------- */

static void never_past_len(int kind, int method, bool tee, bool nonblock,
                           size_t len) {
  enum { EXTRA = 5000 };
  splicer_session *s = tu_session(method);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, nonblock), 0);
  struct h_end src, dst;
  h_end_open(&src, kind, true);
  h_end_open(&dst, H_FILE, false);
  if (kind == H_PIPE)
    fcntl(src.fd, F_SETPIPE_SZ, 1 << 20);
  else {
    int big = 4 << 20;
    setsockopt(src.peer, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(src.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  unsigned char *data = malloc(len + EXTRA);
  tu_fill(data, len + EXTRA, 45, 0);
  h_write_all(src.peer, data, len + EXTRA); /* fits in the enlarged buffer */
  if (kind == H_TCP)
    usleep(2000); /* let all of it reach the receive queue */
  int64_t r;
  if (tee) {
    int fds[1] = {dst.fd};
    CHECK_EQ(splicer_open_tee(s, src.fd, SPLICER_OFF_CUR, fds, 1, len), 0);
  } else {
    CHECK_EQ(splicer_open(s, src.fd, SPLICER_OFF_CUR, dst.fd, SPLICER_OFF_CUR, len), 0);
  }
  double deadline = h_now() + 10;
  while ((r = splicer_run(s)) == -EAGAIN)
    CHECK(h_now() < deadline, "never_past_len: stuck");
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  CHECK(p.delivered == len && p.consumed == len,
        "%s %s%s: delivered %" PRIu64 " consumed %" PRIu64 " of %zu",
        h_kind_name(kind), method ? splicer_method_name(method) : "default",
        tee ? " tee" : "", p.delivered, p.consumed, len);
  tu_check_file(dst.fd, 0, len, 45, 0);
  /* the rest is still in the source, untouched */
  if (kind != H_PIPE)
    shutdown(src.peer, SHUT_WR);
  else {
    close(src.peer);
    src.peer = -1;
  }
  tu_set_nonblock(src.fd, false);
  unsigned char *rest = malloc(EXTRA + 1);
  size_t have = 0;
  ssize_t n;
  while ((n = read(src.fd, rest + have, EXTRA + 1 - have)) > 0)
    have += (size_t)n;
  CHECK(have == EXTRA && memcmp(rest, data + len, EXTRA) == 0,
        "%s %s%s len %zu: %zu bytes left in the source, want %d",
        h_kind_name(kind), method ? splicer_method_name(method) : "default",
        tee ? " tee" : "", len, have, EXTRA);
  free(rest);
  free(data);
  h_end_close(&src);
  h_end_close(&dst);
  splicer_session_free(s);
  checks++;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--exec-child") == 0)
    return exec_child(argv[2]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_DFL);
  int fds0 = tu_count_fds();
  double t0 = h_now();

  for (int shape = A_TEE; shape <= A_TCP; shape++)
    abort_then_reuse(shape);
  tu_pass("no byte crosses from an aborted transfer (tee, read_write, buffer, tcp)");

  exec_with_pending("/proc/self/exe");
  tu_pass("no internal fd survives exec while bytes are pending");

  no_sigpipe_death();
  tu_pass("no SIGPIPE death: tee and sealed buffers");

  static const size_t lens[] = {1, 4095, 4096, 65537, 300000};
  static const int kinds[] = {H_PIPE, H_UNIX, H_TCP};
  for (size_t k = 0; k < 3; k++)
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
      for (int nb = 0; nb < 2; nb++) {
        never_past_len(kinds[k], 0, false, nb, lens[l]);
        never_past_len(kinds[k], SPLICER_METHOD_READ_WRITE, false, nb, lens[l]);
        never_past_len(kinds[k], 0, true, nb, lens[l]);
        never_past_len(kinds[k], SPLICER_METHOD_READ_WRITE, true, nb, lens[l]);
        if (kinds[k] != H_PIPE)
          never_past_len(kinds[k], SPLICER_METHOD_SPLICE_PIPE, false, nb, lens[l]);
      }
  tu_pass("a stream source is never read past len");

  splicer_pool_trim(); /* the pool's idle pipes are not leaks */
  CHECK_EQ(tu_count_fds(), fds0);
  h_result("security", "checks=%d seconds=%.1f", checks, h_now() - t0);
  return 0;
}
