/* Non-blocking transfers with a slow consumer: every byte arrives once and
 * in order, pending bytes are held and reported, splicer_wait names the fd,
 * open while pending is -EBUSY, abort drops and reports pending bytes, and
 * no byte of an aborted transfer reaches the next one. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static splicer_session *new_session(int nonblock) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, nonblock), 0);
  return s;
}

static void check_invariant(splicer_session *s) {
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.consumed == p.delivered + p.pending, "consumed %llu != %llu + %llu",
        (unsigned long long)p.consumed, (unsigned long long)p.delivered,
        (unsigned long long)p.pending);
}

/* Drive a non-blocking transfer from a unix socket (fed in full first)
 * to a socket with a tiny buffer, reading the far end in small pieces
 * between steps. */
static void slow_consumer(int method_mask, size_t size, size_t read_size) {
  splicer_session *s = new_session(1);
  if (method_mask)
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, method_mask), 0);
  int in = tu_file(size, 21), sv[2];
  tu_socketpair(sv);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  unsigned char *got = malloc(size + 1);
  size_t have = 0;
  uint64_t eagains = 0;
  CHECK_EQ(splicer_open(s, in, 0, sv[0], SPLICER_OFF_CUR, size), 0);
  for (;;) {
    int64_t r = splicer_step(s);
    check_invariant(s);
    if (r == 0)
      break;
    if (r == -EAGAIN) {
      eagains++;
      int fd;
      short ev;
      CHECK_EQ(splicer_wait(s, &fd, &ev), 0);
      CHECK(fd == sv[0] && ev == POLLOUT, "wait fd %d ev %d", fd, ev);
      splicer_progress p;
      splicer_progress_get(s, &p, sizeof p);
      if (method_mask != (1 << SPLICER_METHOD_SENDFILE) && p.pending > 0) {
        /* holding bytes: a new transfer must not start */
        CHECK_EQ(splicer_open(s, in, 0, sv[0], SPLICER_OFF_CUR, 1), -EBUSY);
        CHECK_EQ(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE, 65536), -EBUSY);
      }
      /* consume a little */
      ssize_t n = recv(sv[1], got + have, read_size, MSG_DONTWAIT);
      if (n > 0)
        have += (size_t)n;
      continue;
    }
    CHECK(r > 0, "step: %s", splicer_errname((int)r));
  }
  shutdown(sv[0], SHUT_WR);
  for (;;) {
    ssize_t n = recv(sv[1], got + have, size + 1 - have, 0);
    if (n <= 0)
      break;
    have += (size_t)n;
  }
  CHECK_EQ(have, size);
  unsigned char *want = malloc(size);
  tu_fill(want, size, 21, 0);
  CHECK(memcmp(got, want, size) == 0, "bytes differ");
  CHECK(eagains > 0, "the consumer never made the transfer wait");
  splicer_stats st;
  splicer_stats_get(s, &st, sizeof st);
  CHECK(st.eagain > 0, "eagain not counted");
  free(got); free(want);
  close(in); close(sv[0]); close(sv[1]);
  splicer_session_free(s);
}

int main(void) {
  slow_consumer(0, 300000, 1000);
  slow_consumer(1 << SPLICER_METHOD_SPLICE_PIPE, 300000, 777);
  slow_consumer(1 << SPLICER_METHOD_READ_WRITE, 300000, 1);
  slow_consumer(1 << SPLICER_METHOD_SENDFILE, 200000, 4096);
  tu_pass("non-blocking slow consumer: bytes intact, pending held, wait");

  /* blocking caller fds + SPLICER_OPT_NONBLOCK: -EAGAIN, not a hang, and the
   * fds' flags are restored */
  {
    splicer_session *s = new_session(1);
    int a[2], b[2];
    tu_socketpair(a);
    tu_socketpair(b);
    CHECK_EQ(splicer_open(s, a[0], SPLICER_OFF_CUR, b[0], SPLICER_OFF_CUR, 100), 0);
    CHECK_EQ(splicer_step(s), -EAGAIN);
    int fd;
    short ev;
    CHECK_EQ(splicer_wait(s, &fd, &ev), 0);
    CHECK(fd == a[0] && ev == POLLIN, "wait on the source");
    CHECK(!(fcntl(a[0], F_GETFL) & O_NONBLOCK), "source flags restored");
    CHECK_EQ(write(a[1], "0123456789", 10), 10);
    CHECK_EQ(splicer_step(s), 10);
    splicer_progress p;
    splicer_progress_get(s, &p, sizeof p);
    CHECK(p.consumed == 10 && p.delivered == 10 && !p.finished, "progress");
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
    splicer_session_free(s);
  }
  tu_pass("OPT_NONBLOCK on blocking fds");

  /* abort with pending bytes: they are reported, dropped, and never reach a
   * later transfer through the session's pipe */
  {
    splicer_session *s = new_session(1);
    int a[2], b[2];
    tu_socketpair(a);
    tu_socketpair(b);
    int small = 4096;
    setsockopt(b[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(b[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    unsigned char junk[100000];
    memset(junk, 'X', sizeof junk);
    size_t fed = 0;
    while (fed < sizeof junk) {
      ssize_t n = send(a[1], junk + fed, sizeof junk - fed, MSG_DONTWAIT);
      if (n <= 0) break;
      fed += (size_t)n;
    }
    CHECK_EQ(splicer_open(s, a[0], SPLICER_OFF_CUR, b[0], SPLICER_OFF_CUR, SPLICER_TO_EOF), 0);
    while (splicer_step(s) > 0)
      ;
    splicer_progress p;
    splicer_progress_get(s, &p, sizeof p);
    CHECK(p.pending > 0, "expected pending bytes");
    CHECK_EQ(splicer_open(s, a[0], SPLICER_OFF_CUR, b[0], SPLICER_OFF_CUR, 1), -EBUSY);
    uint64_t pending = p.pending;
    CHECK_EQ(splicer_abort(s), pending);
    splicer_progress_get(s, &p, sizeof p);
    CHECK(p.pending == 0 && p.consumed == p.delivered, "after abort");
    CHECK_EQ(splicer_abort(s), 0);
    /* drain the destination of what was delivered */
    char buf[65536];
    while (recv(b[1], buf, sizeof buf, MSG_DONTWAIT) > 0)
      ;
    while (recv(a[0], buf, sizeof buf, MSG_DONTWAIT) > 0)
      ;
    /* a new transfer through the same session carries only its own bytes */
    int c[2];
    tu_socketpair(c);
    CHECK_EQ(write(c[1], "fresh", 5), 5);
    CHECK_EQ(splicer_open(s, c[0], SPLICER_OFF_CUR, b[0], SPLICER_OFF_CUR, 5), 0);
    CHECK_EQ(splicer_run(s), 5);
    CHECK_EQ(recv(b[1], buf, sizeof buf, 0), 5);
    CHECK(memcmp(buf, "fresh", 5) == 0, "stale bytes crossed transfers");
    close(a[0]); close(a[1]); close(b[0]); close(b[1]); close(c[0]); close(c[1]);
    splicer_session_free(s);
  }
  tu_pass("abort drops pending, EBUSY, no crossing between transfers");
  return 0;
}
