/* Bad input gets a clear error and changes nothing: EBADF, ESPIPE, EINVAL,
 * EBUSY (see test_nonblock), EOPNOTSUPP. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int in = tu_file(1000, 1), out = tu_tmpfile(), p[2], sv[2];
  tu_pipe(p);
  tu_socketpair(sv);

  CHECK_EQ(splicer_open(NULL, in, 0, out, 0, 10), -EINVAL);
  CHECK_EQ(splicer_open(s, -1, 0, out, 0, 10), -EBADF);
  CHECK_EQ(splicer_open(s, in, 0, -1, 0, 10), -EBADF);
  CHECK_EQ(splicer_open(s, 9999, 0, out, 0, 10), -EBADF);
  int closed = dup(in);
  close(closed);
  CHECK_EQ(splicer_open(s, closed, 0, out, 0, 10), -EBADF);
  CHECK_EQ(splicer_copy(s, in, closed, 10), -EBADF);
  tu_pass("EBADF: negative, unopened, closed fds");

  int ro = open("/dev/null", O_RDONLY | O_CLOEXEC), wo = open("/dev/null", O_WRONLY | O_CLOEXEC);
  CHECK_EQ(splicer_open(s, wo, SPLICER_OFF_CUR, out, 0, 10), -EBADF);
  CHECK_EQ(splicer_open(s, in, 0, ro, SPLICER_OFF_CUR, 10), -EBADF);
  CHECK_EQ(splicer_open(s, p[1], SPLICER_OFF_CUR, out, 0, 10), -EBADF); /* write end as source */
  CHECK_EQ(splicer_open(s, in, 0, p[0], SPLICER_OFF_CUR, 10), -EBADF);  /* read end as destination */
  int opath = open("/tmp", O_PATH | O_CLOEXEC);
  CHECK_EQ(splicer_open(s, opath, SPLICER_OFF_CUR, out, 0, 10), -EBADF);
  tu_pass("EBADF: wrong access mode, O_PATH");

  CHECK_EQ(splicer_open(s, p[0], 0, out, 0, 10), -ESPIPE);
  CHECK_EQ(splicer_open(s, in, 0, p[1], 5, 10), -ESPIPE);
  CHECK_EQ(splicer_open(s, sv[0], 3, out, 0, 10), -ESPIPE);
  CHECK_EQ(splicer_open(s, in, 0, sv[0], 1, 10), -ESPIPE);
  tu_pass("ESPIPE: offsets on pipes and sockets");

  CHECK_EQ(splicer_open(s, in, -2, out, 0, 10), -EINVAL);
  CHECK_EQ(splicer_open(s, in, 0, out, -7, 10), -EINVAL);
  /* one pipe at both ends would read back what it writes */
  CHECK_EQ(splicer_open(s, p[0], SPLICER_OFF_CUR, p[1], SPLICER_OFF_CUR, 10), -EINVAL);
  int fds[SPLICER_TEE_MAX + 1];
  for (int i = 0; i <= SPLICER_TEE_MAX; i++)
    fds[i] = out;
  CHECK_EQ(splicer_open_tee(s, in, 0, fds, 0, 10), -EINVAL);
  CHECK_EQ(splicer_open_tee(s, in, 0, fds, SPLICER_TEE_MAX + 1, 10), -EINVAL);
  CHECK_EQ(splicer_open_tee(s, in, 0, NULL, 1, 10), -EINVAL);
  CHECK_EQ(splicer_open_tee(s, in, 0, fds, SPLICER_TEE_MAX, 10), 0);
  CHECK_EQ(splicer_run(s), 10 > 0 ? 10 : 0);
  tu_pass("EINVAL: offsets, same fd, tee counts");

  /* raw wrappers return -errno too */
  CHECK_EQ(splicer_splice(in, 0, out, 0, 10, 0), -EINVAL); /* no pipe */
  CHECK_EQ(splicer_splice(-1, SPLICER_OFF_CUR, p[1], SPLICER_OFF_CUR, 10, 0), -EBADF);
  CHECK_EQ(splicer_splice(in, -3, p[1], SPLICER_OFF_CUR, 10, 0), -EINVAL);
  CHECK_EQ(splicer_tee(in, p[1], 10, 0), -EINVAL);
  CHECK_EQ(splicer_pipe_size(in), -EBADF);
  CHECK_EQ(splicer_set_pipe_size(p[1], 0), -EINVAL);
  CHECK_EQ(splicer_sendfile(out, in, -5, 10), -EINVAL);
  CHECK_EQ(splicer_copy_file_range(in, 0, p[1], SPLICER_OFF_CUR, 10), -EINVAL);
  CHECK_EQ(splicer_vmsplice(p[1], NULL, 1, 0), -EFAULT);
  {
    /* a read end would make the kernel write into the const iovec */
    CHECK_EQ(write(p[1], "ZZ", 2), 2);
    char buf[3] = "ab";
    struct iovec v = {buf, 2};
    CHECK_EQ(splicer_vmsplice(p[0], &v, 1, 0), -EBADF);
    CHECK(buf[0] == 'a' && buf[1] == 'b', "buffer written");
    CHECK_EQ(read(p[0], buf, 2), 2);
  }
  tu_pass("raw wrappers: -errno");

  /* nothing taken: the source position did not move on any refused open */
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
  close(in); close(out); close(p[0]); close(p[1]); close(sv[0]); close(sv[1]);
  close(ro); close(wo); close(opath);
  splicer_session_free(s);
  return 0;
}
