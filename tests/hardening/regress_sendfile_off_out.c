/* Regression test of a core bug the differential test found: a file ->
 * file copy with an output offset by value, where copy_file_range refuses
 * (EXDEV across filesystems: a file on disk into a memfd), fell back to
 * sendfile, which has no output offset: the bytes landed at the
 * destination's file position, not at off_out, and moved that position.
 * Fixed by never choosing sendfile for off_out >= 0.  Expected: bytes at
 * off_out, the position unchanged. */
#include "hardening.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
  int in = tu_file(4096, 3);
  int out = memfd_create("splicer-bug", MFD_CLOEXEC);
  CHECK(out >= 0, "memfd_create");
  unsigned char junk[100];
  memset(junk, 'j', sizeof junk);
  h_write_all(out, junk, sizeof junk); /* position 100 */
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_open(s, in, 0, out, 1000, 4096), 0);
  CHECK_EQ(splicer_run(s), 4096);
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  fprintf(stderr, "method %s\n", splicer_method_name(p.method));
  CHECK_EQ(lseek(out, 0, SEEK_CUR), 100);     /* got 4196 */
  CHECK_EQ(lseek(out, 0, SEEK_END), 1000 + 4096); /* got 4196 */
  tu_check_file(out, 1000, 4096, 3, 0);
  splicer_session_free(s);
  close(in);
  close(out);
  tu_pass("file -> file at an output offset, through the fallback");
  return 0;
}
