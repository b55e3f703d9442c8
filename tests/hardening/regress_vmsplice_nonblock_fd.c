/* Regression (found by the differential test): a sealed buffer handed to
 * an O_NONBLOCK pipe (non-blocking fd, SPLICER_OPT_NONBLOCK off) must give
 * -EAGAIN and a POLLOUT wait once the pipe is full, as splicer.h promises
 * for non-blocking fds.  vmsplice(2), unlike splice, does not look at the
 * pipe's O_NONBLOCK, so the session has to pass SPLICER_F_NONBLOCK itself.
 * A 2 s watchdog turns a hang into a failure. */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "splicer_step blocked on an O_NONBLOCK pipe\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(1);
}

int main(void) {
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  splicer_buf *b;
  CHECK_EQ(splicer_buf_new(&b, 1 << 20), 0);
  memset(splicer_buf_data(b), 'x', 1 << 20);
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_open_buf(s, b, 1 << 20, p[1]), 0);
  signal(SIGALRM, on_alarm);
  alarm(2);
  int64_t r;
  while ((r = splicer_step(s)) > 0)
    ;
  alarm(0);
  CHECK_EQ(r, -EAGAIN);
  int fd;
  short ev;
  CHECK_EQ(splicer_wait(s, &fd, &ev), 0);
  CHECK(fd == p[1] && ev == POLLOUT, "wait fd %d events %d", fd, ev);
  splicer_session_free(s);
  close(p[0]);
  close(p[1]);
  tu_pass("sealed buffer to an O_NONBLOCK pipe gives -EAGAIN");
  return 0;
}
