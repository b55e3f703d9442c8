/* SPLICER_OPT_LAZY_FILES: an open leaves a regular file's fcntl(F_GETFL) to
 * the transfer's first syscall.  Counted here: which opens still read the
 * flags, and that the errors and the bytes are those of an eager open.  The
 * error cases of every binding are in tests/cases/14-lazy-files.json. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* F_GETFL calls by fd: a definition in the program takes the place of
 * libc's for the library linked into it. */
#define WATCHED 1024
static int getfl_calls[WATCHED];

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long); /* every command this library uses takes an
                                  int or none; reading a long is harmless */
  va_end(ap);
  if (cmd == F_GETFL && fd >= 0 && fd < WATCHED)
    getfl_calls[fd]++;
  return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static void reset(void) { memset(getfl_calls, 0, sizeof getfl_calls); }

static splicer_session *lazy_session(void) {
  splicer_session *s = tu_session(0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_LAZY_FILES, 1), 0);
  return s;
}

/* file -> file and file -> /dev/null: the files' flags are never read, and
 * the copy is the eager one's */
static void files_unread(void) {
  splicer_session *s = lazy_session();
  int in = tu_file(70000, 11), out = tu_tmpfile();
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  CHECK(null >= 0 && null < WATCHED && out < WATCHED, "fds");
  reset();
  CHECK_EQ(splicer_copy(s, in, out, SPLICER_TO_EOF), 70000);
  CHECK_EQ(getfl_calls[in], 0);
  CHECK_EQ(getfl_calls[out], 0);
  tu_check_file(out, 0, 70000, 11, 0);
  lseek(in, 0, SEEK_SET);
  reset();
  CHECK_EQ(splicer_copy(s, in, null, 4096), 4096);
  CHECK_EQ(getfl_calls[in], 0);
  CHECK_EQ(getfl_calls[null], 1); /* a character device: its flags matter */
  /* off, every open reads both */
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_LAZY_FILES, 0), 0);
  lseek(in, 0, SEEK_SET);
  lseek(out, 0, SEEK_SET);
  reset();
  CHECK_EQ(splicer_copy(s, in, out, SPLICER_TO_EOF), 70000);
  CHECK_EQ(getfl_calls[in], 1);
  CHECK_EQ(getfl_calls[out], 1);
  close(in); close(out); close(null);
  splicer_session_free(s);
  tu_pass("lazy: a regular file's flags are not read at open");
}

/* Where the first method reads the source before it writes (a socket into a
 * file goes through a pipe), the open reads the file's flags: a byte taken
 * from the socket could not be given back. */
static void staged_reads_at_open(void) {
  splicer_session *s = lazy_session();
  int sv[2], ro = tu_file(0, 0), out = tu_tmpfile();
  tu_socketpair(sv);
  unsigned char data[3000];
  tu_fill(data, sizeof data, 12, 0);
  CHECK_EQ(write(sv[1], data, sizeof data), sizeof data);
  shutdown(sv[1], SHUT_WR);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", ro);
  int rofd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(rofd >= 0 && rofd < WATCHED, "reopen read-only");
  reset();
  CHECK_EQ(splicer_open(s, sv[0], SPLICER_OFF_CUR, rofd, SPLICER_OFF_CUR,
                        SPLICER_TO_EOF), -EBADF);
  CHECK_EQ(getfl_calls[rofd], 1);
  reset();
  CHECK_EQ(splicer_copy(s, sv[0], out, SPLICER_TO_EOF), sizeof data);
  CHECK_EQ(getfl_calls[out], 1);
  tu_check_file(out, 0, sizeof data, 12, 0);
  close(sv[0]); close(sv[1]); close(ro); close(rofd); close(out);
  splicer_session_free(s);
  tu_pass("lazy: a method that reads first checks the file at open");
}

/* The kernel's EBADF: the session is left as after any failed step, and
 * the next transfer on it works; an O_APPEND destination, refused by
 * copy_file_range with the same EBADF, still falls back. */
static void ebadf_then_reuse(void) {
  splicer_session *s = lazy_session();
  int in = tu_file(5000, 13), out = tu_tmpfile();
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", out);
  int ro = open(path, O_RDONLY | O_CLOEXEC);
  int app = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  CHECK(ro >= 0 && app >= 0 && ro < WATCHED && app < WATCHED, "reopen");
  CHECK_EQ(splicer_open(s, in, SPLICER_OFF_CUR, ro, SPLICER_OFF_CUR,
                        SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), -EBADF);
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.consumed == 0 && p.delivered == 0 && p.pending == 0 && !p.finished,
        "nothing moved");
  /* ended as a refused open leaves it: the open's EBADF, not a step's */
  CHECK_EQ(p.method, SPLICER_METHOD_NONE);
  CHECK_EQ(splicer_step(s), 0);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
  CHECK_EQ(splicer_copy(s, in, out, 2000), 2000);
  tu_check_file(out, 0, 2000, 13, 0);
  reset();
  CHECK_EQ(splicer_copy(s, in, app, SPLICER_TO_EOF), 3000);
  CHECK_EQ(getfl_calls[app], 1); /* read when copy_file_range said EBADF */
  tu_check_file(out, 0, 5000, 13, 0);
  splicer_stats st;
  CHECK_EQ(splicer_stats_get(s, &st, sizeof st), 0);
  CHECK(st.fallbacks >= 1, "fell back from copy_file_range");
  close(in); close(out); close(ro); close(app);
  splicer_session_free(s);
  tu_pass("lazy: EBADF leaves the session usable; O_APPEND falls back");
}

int main(void) {
  files_unread();
  staged_reads_at_open();
  ebadf_then_reuse();
  return 0;
}
