/* Sealed buffers: vmsplice of library-owned memory to a pipe, a socket and
 * a file; a write after hand-over faults instead of changing the stream. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static splicer_buf *filled(size_t size, uint32_t seed) {
  splicer_buf *b;
  CHECK_EQ(splicer_buf_new(&b, size), 0);
  CHECK_EQ(splicer_buf_size(b), size);
  tu_fill(splicer_buf_data(b), size, seed, 0);
  return b;
}

static void late_write(void *arg) {
  (void)arg;
  signal(SIGSEGV, SIG_DFL);
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int p[2];
  tu_pipe(p);
  splicer_buf *b = filled(8192, 1);
  unsigned char *data = splicer_buf_data(b);
  CHECK_EQ(splicer_open_buf(s, b, 8192, p[1]), 0);
  CHECK_EQ(splicer_step(s), 8192);
  data[0] = 'X'; /* must fault: the pipe still refers to this page */
  _exit(0);
}

int main(void) {
  CHECK_EQ(splicer_buf_new(NULL, 10), -EINVAL);
  splicer_buf *b;
  CHECK_EQ(splicer_buf_new(&b, 0), -EINVAL);
  CHECK(b == NULL, "out cleared on failure");
  splicer_buf_free(NULL);
  CHECK(splicer_buf_data(NULL) == NULL && splicer_buf_size(NULL) == 0, "NULL buf");
  b = filled(100, 1);
  splicer_buf_free(b); /* never handed over: the caller frees */
  tu_pass("buffer lifecycle");

  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  /* to a pipe: vmsplice directly */
  {
    int p[2];
    tu_pipe(p);
    struct tu_reader r = {0};
    tu_reader_start(&r, p[0], 0);
    b = filled(1 << 20, 41);
    CHECK_EQ(splicer_open_buf(s, b, 1000000, p[1]), 0);
    CHECK_EQ(splicer_open_buf(s, b, 10, p[1]), -EINVAL); /* already handed over */
    CHECK_EQ(splicer_run(s), 1000000);
    splicer_progress pr;
    splicer_progress_get(s, &pr, sizeof pr);
    CHECK_EQ(pr.method, SPLICER_METHOD_VMSPLICE);
    close(p[1]);
    tu_reader_join(&r);
    CHECK_EQ(r.len, 1000000);
    unsigned char *want = malloc(1000000);
    tu_fill(want, 1000000, 41, 0);
    CHECK(memcmp(r.data, want, 1000000) == 0, "pipe bytes");
    tu_reader_free(&r);
    close(p[0]);
    /* to a socket and to a file: through the session's pipe */
    int sv[2];
    tu_socketpair(sv);
    tu_reader_start(&r, sv[1], 0);
    b = filled(1000000, 41);
    CHECK_EQ(splicer_open_buf(s, b, 1000000, sv[0]), 0);
    CHECK_EQ(splicer_run(s), 1000000);
    shutdown(sv[0], SHUT_WR);
    tu_reader_join(&r);
    CHECK_EQ(r.len, 1000000);
    CHECK(memcmp(r.data, want, 1000000) == 0, "socket bytes");
    tu_reader_free(&r);
    close(sv[0]); close(sv[1]);
    int f = tu_tmpfile();
    b = filled(1000000, 41);
    CHECK_EQ(splicer_open_buf(s, b, 1000000, f), 0);
    CHECK_EQ(splicer_run(s), 1000000);
    tu_check_file(f, 0, 1000000, 41, 0);
    close(f);
    free(want);
    /* len > size refused and the buffer still the caller's */
    b = filled(10, 1);
    CHECK_EQ(splicer_open_buf(s, b, 11, 1), -EINVAL);
    CHECK_EQ(splicer_open_buf(s, b, 10, -1), -EBADF);
    ((unsigned char *)splicer_buf_data(b))[0] = 1; /* not sealed: writable */
    splicer_buf_free(b);
    /* length 0: finished at once; the session frees the buffer */
    b = filled(10, 1);
    CHECK_EQ(splicer_open_buf(s, b, 0, 1), 0);
    CHECK_EQ(splicer_step(s), 0);
  }
  tu_pass("sealed buffer to pipe, socket and file");

  int st = tu_in_child(late_write, NULL);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
        "a write after hand-over must fault, status %#x", st);
  tu_pass("write after hand-over faults");
  splicer_session_free(s);
  return 0;
}
