/* file -> file: copy_file_range, offsets by value and SPLICER_OFF_CUR, every
 * length edge, each method forced, the O_APPEND fallback chain. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Counts the library's fstatfs(2) calls: a definition in the program takes
 * the place of libc's for the library linked into it. */
static int fstatfs_calls;
int fstatfs(int fd, struct statfs *buf) {
  fstatfs_calls++;
  return (int)syscall(SYS_fstatfs, fd, buf);
}

/* A file's filesystem matters only for a source that reads 0 at once
 * (procfs and the like give 0 to zero-copy calls): an empty destination,
 * the usual one, is not asked, and a non-empty source is not either. */
static void filesystem_asked_when_needed(void) {
  splicer_session *s = tu_session(0);
  int in = tu_file(5000, 2), out = tu_tmpfile(), empty = tu_tmpfile();
  fstatfs_calls = 0;
  CHECK_EQ(splicer_copy(s, in, out, SPLICER_TO_EOF), 5000);
  CHECK_EQ(fstatfs_calls, 0);
  tu_check_file(out, 0, 5000, 2, 0);
  /* an empty source: asked once, when the copy reads 0 */
  CHECK_EQ(splicer_copy(s, empty, out, SPLICER_TO_EOF), 0);
  CHECK_EQ(fstatfs_calls, 1);
  /* a /proc file says size 0 and is copied whole: by sendfile(2) where the
   * kernel serves it so, else through read/write once the zero-copy read
   * gave 0 and the filesystem was asked */
  int proc = open("/proc/sys/kernel/ostype", O_RDONLY | O_CLOEXEC);
  CHECK(proc >= 0, "open /proc/sys/kernel/ostype");
  char want[64];
  ssize_t wn = pread(proc, want, sizeof want, 0);
  CHECK(wn > 0, "read /proc/sys/kernel/ostype");
  int out2 = tu_tmpfile();
  fstatfs_calls = 0;
  CHECK_EQ(splicer_copy(s, proc, out2, SPLICER_TO_EOF), wn);
  CHECK(fstatfs_calls <= 1, "fstatfs calls for a /proc source: %d", fstatfs_calls);
  char got[64];
  CHECK_EQ(pread(out2, got, sizeof got, 0), wn);
  CHECK(memcmp(got, want, (size_t)wn) == 0, "bytes of the /proc file");
  /* kept: asked once at keep, whatever the size, never at open */
  lseek(in, 0, SEEK_SET);
  lseek(out, 0, SEEK_SET);
  fstatfs_calls = 0;
  CHECK_EQ(splicer_session_keep(s, in, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(splicer_session_keep(s, empty, SPLICER_FD_UNKNOWN), 0);
  CHECK_EQ(fstatfs_calls, 2);
  CHECK_EQ(splicer_copy(s, in, out, SPLICER_TO_EOF), 5000);
  CHECK_EQ(splicer_copy(s, empty, out, SPLICER_TO_EOF), 0);
  CHECK_EQ(fstatfs_calls, 2);
  close(in); close(out); close(empty); close(proc); close(out2);
  splicer_session_free(s);
  tu_pass("a file's filesystem is asked only where a source reads 0 at once");
}

static void copy_len(size_t size, uint64_t len, size_t expect) {
  splicer_session *s = tu_session(0);
  int in = tu_file(size, 7), out = tu_tmpfile();
  CHECK_EQ(splicer_copy(s, in, out, len), expect);
  CHECK_EQ(lseek(in, 0, SEEK_CUR), expect);
  CHECK_EQ(lseek(out, 0, SEEK_CUR), expect);
  tu_check_file(out, 0, expect, 7, 0);
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  CHECK(p.finished && p.delivered == expect && p.pending == 0, "progress");
  CHECK_EQ(p.method, SPLICER_METHOD_COPY_FILE_RANGE);
  close(in); close(out);
  splicer_session_free(s);
}

int main(void) {
  CHECK_EQ(splicer_method_for(0 > 1 ? 0 : tu_file(1, 1), tu_tmpfile()),
           SPLICER_METHOD_COPY_FILE_RANGE);
  size_t lens[] = {0, 1, 4095, 4096, 4097, 1 << 20, (3 << 20) + 123};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    copy_len(lens[i], SPLICER_TO_EOF, lens[i]);
    copy_len(lens[i] + 10, lens[i], lens[i]);
  }
  copy_len(100, 1000, 100); /* len beyond EOF stops at EOF */
  tu_pass("file->file lengths, to EOF and limited");
  filesystem_asked_when_needed();

  /* offsets by value: positions untouched */
  {
    splicer_session *s = tu_session(0);
    int in = tu_file(100000, 3), out = tu_tmpfile();
    lseek(in, 17, SEEK_SET);
    lseek(out, 5, SEEK_SET);
    CHECK_EQ(splicer_open(s, in, 1000, out, 2000, 50000), 0);
    CHECK_EQ(splicer_run(s), 50000);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 17);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 5);
    tu_check_file(out, 2000, 50000, 3, 1000);
    /* SPLICER_OFF_CUR: positions used and advanced */
    CHECK_EQ(splicer_open(s, in, SPLICER_OFF_CUR, out, SPLICER_OFF_CUR, 300), 0);
    CHECK_EQ(splicer_run(s), 300);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 317);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 305);
    tu_check_file(out, 5, 300, 3, 17);
    close(in); close(out);
    splicer_session_free(s);
  }
  tu_pass("offsets by value and current position");

  /* each method forced on the same pair gives the same bytes */
  int methods[] = {SPLICER_METHOD_COPY_FILE_RANGE, SPLICER_METHOD_SENDFILE,
                   SPLICER_METHOD_SPLICE_PIPE, SPLICER_METHOD_READ_WRITE};
  for (size_t i = 0; i < 4; i++) {
    splicer_session *s = tu_session(methods[i]);
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, 65536), 0);
    int in = tu_file(1000003, 9), out = tu_tmpfile();
    /* sendfile has no output offset: it only applies with the destination's
     * own position */
    int64_t off_out = methods[i] == SPLICER_METHOD_SENDFILE ? SPLICER_OFF_CUR : 0;
    CHECK_EQ(splicer_open(s, in, 3, out, off_out, SPLICER_TO_EOF), 0);
    CHECK_EQ(splicer_run(s), 1000000);
    tu_check_file(out, 0, 1000000, 9, 3);
    splicer_stats st;
    splicer_stats_get(s, &st, sizeof st);
    CHECK_EQ(st.bytes_by_method[methods[i]], 1000000);
    CHECK_EQ(st.fallbacks, 0);
    CHECK(st.syscalls >= 1000000 / 262144, "syscalls %llu", (unsigned long long)st.syscalls);
    close(in); close(out);
    splicer_session_free(s);
  }
  tu_pass("every file->file method forced");

  /* O_APPEND destination: copy_file_range says EBADF, sendfile and splice
   * say EINVAL; read/write appends */
  {
    splicer_session *s = tu_session(0);
    int in = tu_file(70000, 5), tmp = tu_tmpfile();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", tmp);
    int app = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(app >= 0, "reopen O_APPEND");
    CHECK_EQ(write(app, "head", 4), 4);
    CHECK_EQ(splicer_open(s, in, 0, app, 0, 10), -EINVAL); /* offset on O_APPEND */
    CHECK_EQ(splicer_copy(s, in, app, SPLICER_TO_EOF), 70000);
    splicer_progress p;
    splicer_progress_get(s, &p, sizeof p);
    CHECK_EQ(p.method, SPLICER_METHOD_READ_WRITE);
    splicer_stats st;
    splicer_stats_get(s, &st, sizeof st);
    CHECK_EQ(st.fallbacks, 3);
    tu_check_file(tmp, 4, 70000, 5, 0);
    /* with fallback off, the kernel's refusal comes back */
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_FALLBACK, 0), 0);
    lseek(in, 0, SEEK_SET);
    CHECK_EQ(splicer_copy(s, in, app, SPLICER_TO_EOF), -EBADF);
    splicer_progress_get(s, &p, sizeof p);
    CHECK_EQ(p.delivered, 0);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 0); /* nothing taken from the source */
    close(in); close(app); close(tmp);
    splicer_session_free(s);
  }
  tu_pass("O_APPEND destination falls back to read/write");

  /* across filesystems (ext4/tmp -> tmpfs /dev/shm): copy_file_range says
   * EXDEV; an offset by value on the destination must still hold, so the
   * fallback skips sendfile (no output offset) for splice_pipe */
  {
    int shm = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (shm < 0) {
      printf("# /dev/shm unavailable (%s): cross-filesystem case not run\n", strerror(errno));
    } else {
      splicer_session *s = tu_session(0);
      int in = tu_file(50000, 8);
      lseek(shm, 7, SEEK_SET);
      CHECK_EQ(splicer_open(s, in, 10000, shm, 5000, 20000), 0);
      CHECK_EQ(splicer_run(s), 20000);
      CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
      CHECK_EQ(lseek(shm, 0, SEEK_CUR), 7);
      tu_check_file(shm, 5000, 20000, 8, 10000);
      splicer_progress p;
      splicer_progress_get(s, &p, sizeof p);
      int64_t same_fs = splicer_copy_file_range(in, 0, shm, 0, 1) == 1;
      CHECK(same_fs || p.method == SPLICER_METHOD_SPLICE_PIPE, "method %s",
            splicer_method_name(p.method));
      /* with the destination's own position, sendfile is the next choice */
      CHECK_EQ(splicer_open(s, in, 0, shm, SPLICER_OFF_CUR, 100), 0);
      CHECK_EQ(splicer_run(s), 100);
      splicer_progress_get(s, &p, sizeof p);
      CHECK(same_fs || p.method == SPLICER_METHOD_SENDFILE, "method %s",
            splicer_method_name(p.method));
      CHECK_EQ(lseek(shm, 0, SEEK_CUR), 107);
      close(in); close(shm);
      splicer_session_free(s);
    }
  }
  tu_pass("EXDEV fallback keeps offsets by value");

  /* methods that do not apply */
  {
    splicer_session *s = tu_session(0);
    int in = tu_file(10, 1), out = tu_tmpfile();
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1 << SPLICER_METHOD_TEE), 0);
    CHECK_EQ(splicer_open(s, in, 0, out, 0, 10), -EOPNOTSUPP);
    close(in); close(out);
    splicer_session_free(s);
  }
  tu_pass("no applicable method is EOPNOTSUPP");
  return 0;
}
