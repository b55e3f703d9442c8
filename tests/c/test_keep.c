/* Kept descriptors: splicer_session_keep() and splicer_session_forget().
 * Errors, the table's capacity, what a kept fd still validates at open, a
 * kept file that grows or is copied onto itself, and kinds given by the
 * caller (trusted: a wrong one fails at the syscall, losing nothing). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void errors(void) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int f = tu_file(100, 1);
  CHECK_EQ(splicer_session_keep(NULL, f, SPLICER_FD_UNKNOWN), -EINVAL);
  CHECK_EQ(splicer_session_keep(s, -1, SPLICER_FD_UNKNOWN), -EBADF);
  CHECK_EQ(splicer_session_keep(s, -1, SPLICER_FD_STREAM | SPLICER_FD_NONBLOCK),
           -EBADF);
  CHECK_EQ(splicer_session_keep(s, 1000000, SPLICER_FD_UNKNOWN), -EBADF);
  CHECK_EQ(splicer_session_keep(s, 1000000, SPLICER_FD_PIPE), -EBADF);
  CHECK_EQ(splicer_session_keep(s, f, 5), -EINVAL);
  CHECK_EQ(splicer_session_keep(s, f, -1), -EINVAL);
  CHECK_EQ(splicer_session_keep(s, f, SPLICER_FD_STREAM | 0x200), -EINVAL);
  CHECK_EQ(splicer_session_keep(s, f, SPLICER_FD_UNKNOWN | SPLICER_FD_NONBLOCK),
           -EINVAL);
#ifdef O_PATH
  int path = open("/etc/hostname", O_PATH | O_CLOEXEC);
  if (path >= 0) {
    CHECK_EQ(splicer_session_keep(s, path, SPLICER_FD_UNKNOWN), -EBADF);
    CHECK_EQ(splicer_session_keep(s, path, SPLICER_FD_PIPE), -EBADF);
    close(path);
  }
#endif
  CHECK_EQ(splicer_session_forget(NULL, f), -EINVAL);
  CHECK_EQ(splicer_session_forget(s, f), -ENOENT);
  CHECK_EQ(splicer_session_forget(s, -2), -ENOENT);
  CHECK_EQ(splicer_session_forget(s, -1), 0); /* nothing kept: still fine */

  /* capacity: SPLICER_KEEP_MAX distinct fds, then -ENOSPC; keeping one
   * already kept replaces it */
  int fds[SPLICER_KEEP_MAX + 1];
  for (int i = 0; i <= SPLICER_KEEP_MAX; i++)
    fds[i] = tu_file(10, (uint32_t)i);
  for (int i = 0; i < SPLICER_KEEP_MAX; i++)
    CHECK_EQ(splicer_session_keep(s, fds[i], SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, fds[SPLICER_KEEP_MAX], SPLICER_FD_UNKNOWN),
           -ENOSPC);
  CHECK_EQ(splicer_session_keep(s, fds[3], SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_forget(s, fds[3]), 0);
  CHECK_EQ(splicer_session_forget(s, fds[3]), -ENOENT);
  CHECK_EQ(splicer_session_keep(s, fds[SPLICER_KEEP_MAX], SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_forget(s, -1), 0);
  for (int i = 0; i < SPLICER_KEEP_MAX; i++)
    CHECK_EQ(splicer_session_forget(s, fds[i]), -ENOENT);
  for (int i = 0; i <= SPLICER_KEEP_MAX; i++)
    close(fds[i]);

  /* a refused keep keeps nothing */
  CHECK_EQ(splicer_session_keep(s, f, 9), -EINVAL);
  CHECK_EQ(splicer_session_forget(s, f), -ENOENT);
  close(f);
  splicer_session_free(s);
  tu_pass("keep and forget: errors and capacity");
}

/* A kept fd is still validated at open, from what was kept. */
static void validation(void) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int src = tu_file(4096, 2), dst = tu_tmpfile();
  int wronly = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int p[2];
  tu_pipe(p);
  CHECK_EQ(splicer_session_keep(s, wronly, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, p[0], SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, p[1], SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, src, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, dst, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_open(s, wronly, SPLICER_OFF_CUR, dst, SPLICER_OFF_CUR, 10),
           -EBADF);
  CHECK_EQ(splicer_open(s, p[0], 0, dst, SPLICER_OFF_CUR, 10), -ESPIPE);
  CHECK_EQ(splicer_open(s, p[0], SPLICER_OFF_CUR, p[1], SPLICER_OFF_CUR, 10),
           -EINVAL); /* one pipe at both ends: its identity was kept */
  CHECK_EQ(splicer_copy(s, src, dst, SPLICER_TO_EOF), 4096);
  tu_check_file(dst, 0, 4096, 2, 0);
  /* forgotten, then closed: the next open classifies it, and finds it gone */
  CHECK_EQ(splicer_session_forget(s, wronly), 0);
  close(wronly);
  CHECK_EQ(splicer_open(s, src, 0, wronly, SPLICER_OFF_CUR, 10), -EBADF);
  /* an open transfer is not affected by forgetting its fds */
  CHECK_EQ(lseek(dst, 0, SEEK_SET), 0);
  CHECK_EQ(splicer_open(s, src, 0, dst, SPLICER_OFF_CUR, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_session_forget(s, -1), 0);
  CHECK_EQ(splicer_run(s), 4096);
  tu_check_file(dst, 0, 4096, 2, 0);
  close(src);
  close(dst);
  close(p[0]);
  close(p[1]);
  splicer_session_free(s);
  tu_pass("a kept fd is validated at open from what was kept");
}

/* A kept file's size is asked again where it matters. */
static void sizes(void) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int f = tu_file(4096, 3), out = tu_tmpfile();
  CHECK_EQ(splicer_session_keep(s, f, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, out, SPLICER_FD_UNKNOWN), 0);
  /* it grows while kept: a copy to the end still reads to the end */
  unsigned char more[4096];
  tu_fill(more, sizeof more, 3, 4096);
  CHECK_EQ(pwrite(f, more, sizeof more, 4096), 4096);
  CHECK_EQ(splicer_copy(s, f, out, SPLICER_TO_EOF), 8192);
  tu_check_file(out, 0, 8192, 3, 0);

  /* onto itself through a second fd: the length to the end is the size
   * now (8192), not when it was kept (4096), so the copy stops there and an
   * overlap by the current size is refused */
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", f);
  int again = open(path, O_RDWR | O_CLOEXEC);
  CHECK(again >= 0, "reopen: %s", strerror(errno));
  CHECK_EQ(splicer_session_keep(s, again, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(lseek(again, 4096, SEEK_SET), 4096);
  CHECK_EQ(splicer_open(s, f, 0, again, SPLICER_OFF_CUR, SPLICER_TO_EOF), -EINVAL);
  CHECK_EQ(lseek(again, 8192, SEEK_SET), 8192);
  CHECK_EQ(splicer_open(s, f, 0, again, SPLICER_OFF_CUR, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), 8192);
  CHECK_EQ(lseek(f, 0, SEEK_END), 16384);
  tu_check_file(f, 0, 8192, 3, 0);
  tu_check_file(f, 8192, 8192, 3, 0);
  close(again);
  close(f);
  close(out);
  splicer_session_free(s);
  tu_pass("a kept file may grow; onto itself its size is asked again");
}

/* Kinds given by the caller make no syscall and are trusted. */
static void given_kinds(void) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int sv[2], f = tu_file(100000, 4);
  tu_tcp_pair(sv);
  tu_set_nonblock(sv[0], true);
  CHECK_EQ(splicer_session_keep(s, sv[0], SPLICER_FD_STREAM | SPLICER_FD_NONBLOCK), 0);
  CHECK_EQ(splicer_session_keep(s, f, SPLICER_FD_UNKNOWN), 0);
  struct tu_reader r = {0};
  tu_reader_start(&r, sv[1], 100000);
  CHECK_EQ(splicer_open(s, f, SPLICER_OFF_CUR, sv[0], SPLICER_OFF_CUR,
                        SPLICER_TO_EOF), 0);
  int64_t n;
  while ((n = splicer_step(s)) != 0) {
    if (n == -EAGAIN) { /* a non-blocking destination: wait, go on */
      struct pollfd pfd;
      CHECK_EQ(splicer_wait(s, &pfd.fd, &pfd.events), 0);
      CHECK_EQ(pfd.fd, sv[0]);
      poll(&pfd, 1, -1);
      continue;
    }
    CHECK(n > 0, "step: %s", tu_name(n));
  }
  tu_reader_join(&r);
  CHECK_EQ(r.len, 100000);
  unsigned char *want = malloc(100000);
  tu_fill(want, 100000, 4, 0);
  CHECK(memcmp(r.data, want, 100000) == 0, "bytes as sent");
  free(want);
  tu_reader_free(&r);
  close(sv[0]);
  close(sv[1]);
  close(f);

  /* a datagram destination given as such gets one write per datagram */
  int d[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, d), 0);
  int big = tu_file(40000, 5);
  CHECK_EQ(splicer_session_keep(s, d[0], SPLICER_FD_DGRAM), 0);
  int sndbuf = 1 << 20;
  setsockopt(d[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  setsockopt(d[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
  CHECK_EQ(splicer_copy(s, big, d[0], SPLICER_TO_EOF), 40000);
  unsigned char buf[65536];
  CHECK_EQ(recv(d[1], buf, sizeof buf, 0), 32768);
  CHECK_EQ(recv(d[1], buf, sizeof buf, 0), 40000 - 32768);
  close(d[0]);
  close(d[1]);
  close(big);

  /* a pipe's read end given as a destination: the kernel refuses at the
   * first step, and nothing was taken from the source */
  int p[2], src = tu_file(1000, 6);
  tu_pipe(p);
  CHECK_EQ(splicer_session_keep(s, p[0], SPLICER_FD_PIPE | SPLICER_FD_NONBLOCK), 0);
  CHECK_EQ(splicer_open(s, src, SPLICER_OFF_CUR, p[0], SPLICER_OFF_CUR, 1000), 0);
  CHECK_EQ(splicer_run(s), -EBADF);
  CHECK_EQ(lseek(src, 0, SEEK_CUR), 0);
  splicer_progress pr;
  CHECK_EQ(splicer_progress_get(s, &pr, sizeof pr), 0);
  CHECK_EQ(pr.consumed, 0);
  CHECK_EQ(pr.pending, 0);
  /* the write end, given as a blocking pipe: flags read once */
  CHECK_EQ(splicer_session_keep(s, p[1], SPLICER_FD_PIPE), 0);
  CHECK_EQ(splicer_copy(s, src, p[1], 1000), 1000);
  CHECK_EQ(read(p[0], buf, sizeof buf), 1000);
  close(p[0]);
  close(p[1]);
  close(src);
  splicer_session_free(s);
  tu_pass("kinds given by the caller");
}

int main(void) {
  errors();
  validation();
  sizes();
  given_kinds();
  return 0;
}
