/* The raw wrappers: one per syscall, offsets by value. */
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
  int in = tu_file(100000, 51), out = tu_tmpfile(), p[2], q[2];
  tu_pipe(p);
  tu_pipe(q);

  CHECK_EQ(splicer_pipe_size(p[0]), 65536);
  CHECK_EQ(splicer_set_pipe_size(p[1], 100000), 131072);
  CHECK_EQ(splicer_pipe_size(p[0]), 131072);
  tu_pass("pipe size get/set");

  /* splice at an offset leaves the position alone */
  CHECK_EQ(splicer_splice(in, 10, p[1], SPLICER_OFF_CUR, 5000, 0), 5000);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
  /* tee duplicates without consuming */
  CHECK_EQ(splicer_tee(p[0], q[1], 5000, 0), 5000);
  CHECK_EQ(splicer_splice(p[0], SPLICER_OFF_CUR, out, 0, 5000, 0), 5000);
  tu_check_file(out, 0, 5000, 51, 10);
  unsigned char buf[5000], want[5000];
  CHECK_EQ(read(q[0], buf, sizeof buf), 5000);
  tu_fill(want, 5000, 51, 10);
  CHECK(memcmp(buf, want, 5000) == 0, "tee bytes");
  tu_pass("splice and tee");

  /* vmsplice maps user memory */
  struct iovec iov[2] = {{want, 100}, {want + 100, 200}};
  CHECK_EQ(splicer_vmsplice(p[1], iov, 2, 0), 300);
  CHECK_EQ(read(p[0], buf, 300), 300);
  CHECK(memcmp(buf, want, 300) == 0, "vmsplice bytes");
  tu_pass("vmsplice");

  /* sendfile with and without offset */
  CHECK_EQ(splicer_sendfile(p[1], in, 50, 1000), 1000);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
  CHECK_EQ(read(p[0], buf, 1000), 1000);
  tu_fill(want, 1000, 51, 50);
  CHECK(memcmp(buf, want, 1000) == 0, "sendfile bytes");
  CHECK_EQ(splicer_sendfile(p[1], in, SPLICER_OFF_CUR, 700), 700);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 700);
  CHECK_EQ(read(p[0], buf, 700), 700);
  tu_pass("sendfile");

  /* copy_file_range */
  int out2 = tu_tmpfile();
  CHECK_EQ(splicer_copy_file_range(in, 1000, out2, 3, 20000), 20000);
  tu_check_file(out2, 3, 20000, 51, 1000);
  CHECK_EQ(splicer_copy_file_range(in, 100000, out2, 0, 10), 0); /* at EOF */
  tu_pass("copy_file_range");

  close(in); close(out); close(out2);
  close(p[0]); close(p[1]); close(q[0]); close(q[1]);
  return 0;
}
