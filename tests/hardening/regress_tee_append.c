/* Regression test of a core bug the differential test found: a tee whose
 * destination i > 0 is an O_APPEND file failed with -EINVAL (consumed 1000,
 * delivered 0) with default options, while the same tee with the O_APPEND
 * file first succeeded: splice(2) into an O_APPEND file is EINVAL, and
 * drain() fell back to read/write only while nothing_delivered(), already
 * false because destination 0 had taken the batch.  Fixed by choosing
 * read/write from the start for such a fan-out.  Expected: 1000 bytes. */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int main(void) {
  int in = tu_file(1000, 4), sv[2];
  tu_socketpair(sv);
  int app = tu_tmpfile();
  CHECK_EQ(fcntl(app, F_SETFL, O_APPEND), 0);
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int fds[2] = {sv[0], app};
  CHECK_EQ(splicer_open_tee(s, in, 0, fds, 2, SPLICER_TO_EOF), 0);
  int64_t r = splicer_run(s);
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  fprintf(stderr, "run %lld (%s): consumed %llu delivered %llu pending %llu\n",
          (long long)r, tu_name(r), (unsigned long long)p.consumed,
          (unsigned long long)p.delivered, (unsigned long long)p.pending);
  CHECK_EQ(r, 1000);
  tu_check_file(app, 0, 1000, 4, 0);
  splicer_session_free(s);
  close(in); close(app); close(sv[0]); close(sv[1]);
  tu_pass("tee to a socket and an O_APPEND file");
  return 0;
}
