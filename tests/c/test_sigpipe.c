/* A destination whose reader is gone gives -EPIPE and the process lives,
 * with SIGPIPE at its default disposition (which would kill it), for pipes
 * and sockets, for every method that writes there.  With the guard off the
 * signal arrives as the process arranged. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct arg { int dest_kind; int method; int guard; int block_first; };

static void child(void *vp) {
  struct arg *a = vp;
  signal(SIGPIPE, SIG_DFL);
  if (a->block_first) {
    /* the caller has SIGPIPE blocked already: splicer must consume only its
     * own signal and leave the mask as it was */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
  }
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_SIGPIPE, a->guard), 0);
  if (a->method)
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1 << a->method), 0);
  int in = tu_file(100000, 1), ends[2];
  if (a->dest_kind == 0) {
    tu_pipe(ends);
    close(ends[0]);
    ends[0] = ends[1];
  } else {
    tu_socketpair(ends);
    close(ends[1]);
  }
  CHECK_EQ(splicer_copy(s, in, ends[0], SPLICER_TO_EOF), -EPIPE);
  if (a->block_first) {
    sigset_t pend, mask;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGPIPE), "SIGPIPE left pending");
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    CHECK(sigismember(&mask, SIGPIPE), "mask not restored");
  }
  splicer_session_free(s);
  _exit(42);
}

static volatile sig_atomic_t caught;
static void on_sigpipe(int sig) { (void)sig; caught++; }

static void with_handler(void *vp) {
  (void)vp;
  signal(SIGPIPE, on_sigpipe);
  splicer_session *s = tu_session(0);
  int in = tu_file(100000, 1), p[2];
  tu_pipe(p);
  close(p[0]);
  CHECK_EQ(splicer_copy(s, in, p[1], SPLICER_TO_EOF), -EPIPE);
  CHECK(caught >= 1, "the handler did not run");
  splicer_session_free(s);
  _exit(43);
}

int main(void) {
  int methods[] = {0, SPLICER_METHOD_SENDFILE, SPLICER_METHOD_SPLICE,
                   SPLICER_METHOD_SPLICE_PIPE, SPLICER_METHOD_READ_WRITE};
  for (int kind = 0; kind < 2; kind++) {
    for (size_t m = 0; m < 5; m++) {
      if (kind == 1 && methods[m] == SPLICER_METHOD_SPLICE)
        continue; /* neither end a pipe: direct splice does not apply */
      if (kind == 0 && (methods[m] == SPLICER_METHOD_SENDFILE ||
                        methods[m] == SPLICER_METHOD_SPLICE_PIPE))
        continue;
      for (int blocked = 0; blocked < 2; blocked++) {
        struct arg a = {kind, methods[m], 1, blocked};
        int st = tu_in_child(child, &a);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42,
              "kind %d method %s blocked %d: status %#x (signal %d)", kind,
              splicer_method_name(methods[m]), blocked, st,
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
      }
    }
    struct arg off = {kind, 0, 0, 0};
    int st = tu_in_child(child, &off);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE,
          "guard off: expected death by SIGPIPE, status %#x", st);
  }
  tu_pass("EPIPE without SIGPIPE death, pipe and socket, every method");

  /* a handler installed: it cannot kill, so the guard stays out of the way
   * and the handler runs as the program arranged */
  int st = tu_in_child(with_handler, NULL);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 43, "with a handler: status %#x", st);
  tu_pass("with a SIGPIPE handler: EPIPE, and the handler runs");
  return 0;
}
