/* Fan-out: identical bytes to pipes, files and sockets, blocking and
 * non-blocking with per-destination pending. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void check_bytes(const unsigned char *p, size_t n, uint32_t seed) {
  unsigned char *want = malloc(n + 1);
  tu_fill(want, n, seed, 0);
  CHECK(memcmp(p, want, n) == 0, "tee bytes differ");
  free(want);
}

static void tee_blocking(size_t size, int n_files, int n_pipes, int n_socks) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int in = tu_file(size, 31);
  int fds[SPLICER_TEE_MAX], files[SPLICER_TEE_MAX], far[SPLICER_TEE_MAX];
  struct tu_reader r[SPLICER_TEE_MAX];
  memset(r, 0, sizeof r);
  int n = 0, nr = 0;
  for (int i = 0; i < n_files; i++)
    files[i] = fds[n++] = tu_tmpfile();
  for (int i = 0; i < n_pipes; i++) {
    int p[2];
    tu_pipe(p);
    fds[n++] = p[1];
    far[nr] = p[0];
    tu_reader_start(&r[nr++], p[0], 0);
  }
  for (int i = 0; i < n_socks; i++) {
    int sv[2];
    tu_socketpair(sv);
    fds[n++] = sv[0];
    far[nr] = sv[1];
    tu_reader_start(&r[nr++], sv[1], 0);
  }
  CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, (size_t)n, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), size);
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  CHECK(p.method == SPLICER_METHOD_TEE && p.finished, "method %d", p.method);
  for (int i = n_files; i < n; i++)
    i < n_files + n_pipes ? close(fds[i]) : shutdown(fds[i], SHUT_WR);
  for (int i = 0; i < nr; i++) {
    tu_reader_join(&r[i]);
    CHECK_EQ(r[i].len, size);
    check_bytes(r[i].data, size, 31);
    tu_reader_free(&r[i]);
    close(far[i]);
  }
  for (int i = 0; i < n_files; i++) {
    tu_check_file(files[i], 0, size, 31, 0);
    close(files[i]);
  }
  for (int i = n_files + n_pipes; i < n; i++)
    close(fds[i]);
  close(in);
  splicer_session_free(s);
}

int main(void) {
  tee_blocking(1, 1, 0, 0);
  tee_blocking(4097, 1, 1, 0);
  tee_blocking(3 << 20, 1, 1, 1);
  tee_blocking(1 << 20, 3, 3, 2);
  tee_blocking(2 << 20, 0, 8, 8);
  tu_pass("blocking tee to files, pipes and sockets");

  /* non-blocking: one fast and one slow destination */
  {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 1), 0);
    size_t size = 500000;
    int in = tu_file(size, 32), fast = tu_tmpfile(), sv[2];
    tu_socketpair(sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    int fds[2] = {fast, sv[0]};
    CHECK_EQ(splicer_open_tee(s, in, 0, fds, 2, size), 0);
    unsigned char *got = malloc(size + 1); /* +1: room to see an extra byte */
    size_t have = 0;
    int waits = 0;
    for (;;) {
      int64_t r = splicer_step(s);
      splicer_progress p;
      splicer_progress_get(s, &p, sizeof p);
      CHECK(p.consumed == p.delivered + p.pending, "invariant");
      if (r == 0) break;
      if (r == -EAGAIN) {
        int fd; short ev;
        CHECK_EQ(splicer_wait(s, &fd, &ev), 0);
        CHECK(fd == sv[0] && ev == POLLOUT, "waits on the slow one");
        waits++;
        ssize_t n = recv(sv[1], got + have, 3000, MSG_DONTWAIT);
        if (n > 0) have += (size_t)n;
        continue;
      }
      CHECK(r > 0, "step %s", splicer_errname((int)r));
    }
    shutdown(sv[0], SHUT_WR);
    ssize_t n;
    while ((n = recv(sv[1], got + have, size - have + 1, 0)) > 0)
      have += (size_t)n;
    CHECK_EQ(have, size);
    check_bytes(got, size, 32);
    tu_check_file(fast, 0, size, 32, 0);
    CHECK(waits > 0, "never waited");
    free(got);
    close(in); close(fast); close(sv[0]); close(sv[1]);
    splicer_session_free(s);
  }
  tu_pass("non-blocking tee with a slow destination");

  /* tee with read/write forced, and pipe source */
  {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1 << SPLICER_METHOD_READ_WRITE), 0);
    int in = tu_file(777777, 33), a = tu_tmpfile(), b = tu_tmpfile();
    int fds[2] = {a, b};
    CHECK_EQ(splicer_open_tee(s, in, 0, fds, 2, SPLICER_TO_EOF), 0);
    CHECK_EQ(splicer_run(s), 777777);
    tu_check_file(a, 0, 777777, 33, 0);
    tu_check_file(b, 0, 777777, 33, 0);
    close(in); close(a); close(b);
    splicer_session_free(s);
  }
  tu_pass("tee through read/write");

  /* an O_APPEND file that is not the first destination: read/write from
   * the start, every destination complete */
  {
    splicer_session *s;
    CHECK_EQ(splicer_session_new(&s), 0);
    int p[2], tmp = tu_tmpfile(), other = tu_tmpfile();
    tu_pipe(p);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", tmp);
    int app = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK_EQ(write(app, "old", 3), 3);
    unsigned char data[5000];
    tu_fill(data, sizeof data, 34, 0);
    CHECK_EQ(write(p[1], data, sizeof data), sizeof data);
    close(p[1]);
    int fds[2] = {other, app};
    CHECK_EQ(splicer_open_tee(s, p[0], SPLICER_OFF_CUR, fds, 2, SPLICER_TO_EOF), 0);
    CHECK_EQ(splicer_run(s), sizeof data);
    splicer_progress pr;
    splicer_progress_get(s, &pr, sizeof pr);
    CHECK_EQ(pr.method, SPLICER_METHOD_READ_WRITE);
    tu_check_file(other, 0, sizeof data, 34, 0);
    tu_check_file(tmp, 3, sizeof data, 34, 0);
    close(p[0]); close(tmp); close(other); close(app);
    splicer_session_free(s);
  }
  tu_pass("tee with an O_APPEND destination");
  return 0;
}
