/* A step that moves one byte returns it at once.  A peer that sends single
 * bytes (keystrokes through a proxy) must see each delivered and the step
 * returned, not the step going on to wait for more input -- for direct
 * methods (pipe -> file) and staged ones (socket -> file, tee). */
#include "testutil.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "a one-byte step did not return\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(1);
}

/* the writer end stays open: a step that waits for more would hang */
static void one_byte_steps(int src_read, int src_write, int kind, int n_dst) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int outs[2] = {tu_tmpfile(), tu_tmpfile()};
  if (n_dst == 1)
    CHECK_EQ(splicer_open(s, src_read, SPLICER_OFF_CUR, outs[0], 0, SPLICER_TO_EOF), 0);
  else
    CHECK_EQ(splicer_open_tee(s, src_read, SPLICER_OFF_CUR, outs, 2, SPLICER_TO_EOF), 0);
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(write(src_write, "k", 1), 1);
    alarm(5);
    CHECK_EQ(splicer_step(s), 1);
    alarm(0);
  }
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  CHECK(p.delivered == 5 && p.pending == 0 && !p.finished, "kind %d: delivered %llu",
        kind, (unsigned long long)p.delivered);
  for (int i = 0; i < n_dst; i++) {
    char buf[8] = {0};
    CHECK_EQ(pread(outs[i], buf, sizeof buf, 0), 5);
    close(outs[i]);
  }
  if (n_dst == 1)
    close(outs[1]);
  splicer_session_free(s);
}

int main(void) {
  signal(SIGALRM, on_alarm);
  int p[2], sv[2];
  tu_pipe(p);
  one_byte_steps(p[0], p[1], 0, 1); /* direct splice */
  tu_pass("one-byte steps return: pipe -> file (direct)");
  tu_socketpair(sv);
  one_byte_steps(sv[0], sv[1], 1, 1); /* through the session's pipe */
  tu_pass("one-byte steps return: socket -> file (staged)");
  one_byte_steps(p[0], p[1], 2, 2); /* fan-out */
  tu_pass("one-byte steps return: pipe -> 2 files (tee)");
  close(p[0]); close(p[1]); close(sv[0]); close(sv[1]);
  return 0;
}
