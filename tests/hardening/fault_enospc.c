/* ENOSPC: transfers into a 1 MiB tmpfs (mounted in a private mount
 * namespace, so nothing outside this process sees it) stop with -ENOSPC,
 * and the bytes reported delivered are exactly the bytes in the file, equal
 * to the source's first bytes.  Every method, direct and staged, and a tee.
 * SKIP (77) with the errno when a mount namespace or tmpfs is refused. */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FS_SIZE (1 << 20)
#define DATA_SIZE (4 << 20)

static char dir[] = "/tmp/splicer-enospc-XXXXXX";
static int cases;
static uint64_t total_delivered;

static int fs_file(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  unlink(path);
  return fd;
}

struct feeder {
  int fd;
  bool is_pipe;
};
static void *feed(void *arg) {
  struct feeder *f = arg;
  unsigned char buf[65536];
  for (size_t done = 0; done < DATA_SIZE;) {
    tu_fill(buf, sizeof buf, 5, done);
    ssize_t w = write(f->fd, buf, sizeof buf);
    if (w <= 0)
      break; /* the transfer stopped reading: we are closed */
    done += (size_t)w;
  }
  return NULL;
}

/* the destination holds exactly what progress says, and it is a prefix */
static void check_prefix(splicer_session *s, int out, const char *what) {
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.consumed == p.delivered + p.pending, "%s: invariant", what);
  struct stat st;
  CHECK_EQ(fstat(out, &st), 0);
  CHECK((uint64_t)st.st_size == p.delivered,
        "%s: file holds %lld bytes, delivered says %llu", what,
        (long long)st.st_size, (unsigned long long)p.delivered);
  CHECK(p.delivered > 0 && p.delivered < DATA_SIZE, "%s: delivered %llu", what,
        (unsigned long long)p.delivered);
  tu_check_file(out, 0, (size_t)p.delivered, 5, 0);
  /* what is pending was consumed and not written: abort reports it */
  CHECK_EQ(splicer_abort(s), p.pending);
  total_delivered += p.delivered;
  cases++;
  printf("  %-26s -ENOSPC after %llu bytes (pending %llu, method %s)\n", what,
         (unsigned long long)p.delivered, (unsigned long long)p.pending,
         splicer_method_name(p.method));
}

static void from_file(int method) {
  char what[64];
  snprintf(what, sizeof what, "file->tmpfs %s",
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  int in = tu_file(DATA_SIZE, 5), out = fs_file("f");
  CHECK_EQ(splicer_copy(s, in, out, SPLICER_TO_EOF), -ENOSPC);
  check_prefix(s, out, what);
  close(in);
  close(out);
  splicer_session_free(s);
}

static void from_stream(int kind, int method) {
  char what[64];
  snprintf(what, sizeof what, "%s->tmpfs %s", h_kind_name(kind),
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  struct h_end src;
  h_end_open(&src, kind, true);
  int out = fs_file("s");
  struct feeder f = {src.peer, kind == H_PIPE};
  pthread_t t;
  pthread_create(&t, NULL, feed, &f);
  CHECK_EQ(splicer_copy(s, src.fd, out, SPLICER_TO_EOF), -ENOSPC);
  check_prefix(s, out, what);
  /* unblock the feeder */
  h_end_close(&src);
  pthread_join(t, NULL);
  close(out);
  splicer_session_free(s);
}

static void tee_to_file_and_pipe(void) {
  const char *what = "tee file->{tmpfs,pipe}";
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int in = tu_file(DATA_SIZE, 5), out = fs_file("t");
  struct h_end pipe_end;
  h_end_open(&pipe_end, H_PIPE, false);
  struct tu_reader r = {0};
  tu_reader_start(&r, pipe_end.peer, 0);
  int fds[2] = {pipe_end.fd, out};
  CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, 2, SPLICER_TO_EOF), 0);
  CHECK_EQ(splicer_run(s), -ENOSPC);
  splicer_progress p;
  splicer_progress_get(s, &p, sizeof p);
  check_prefix(s, out, what);
  close(pipe_end.fd);
  pipe_end.fd = -1;
  tu_reader_join(&r);
  /* the pipe got at least what every destination got, all of it right */
  CHECK(r.len >= p.delivered, "pipe got %zu < %llu", r.len,
        (unsigned long long)p.delivered);
  unsigned char *want = malloc(r.len + 1);
  tu_fill(want, r.len, 5, 0);
  CHECK(memcmp(r.data, want, r.len) == 0, "pipe bytes differ");
  free(want);
  tu_reader_free(&r);
  h_end_close(&pipe_end);
  close(in);
  close(out);
  splicer_session_free(s);
}

static void child(void *arg) {
  (void)arg;
  /* the feeders write into sources closed under them: test code only */
  signal(SIGPIPE, SIG_IGN);
  if (unshare(CLONE_NEWNS) < 0) {
    fprintf(stderr, "SKIP: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    _exit(77);
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    fprintf(stderr, "SKIP: make / private: %s\n", strerror(errno));
    _exit(77);
  }
  char opts[64];
  snprintf(opts, sizeof opts, "size=%d,mode=0700", FS_SIZE);
  if (mount("tmpfs", dir, "tmpfs", 0, opts) < 0) {
    fprintf(stderr, "SKIP: mount tmpfs: %s\n", strerror(errno));
    _exit(77);
  }
  double t0 = h_now();
  from_file(0); /* copy_file_range across filesystems falls back */
  from_file(SPLICER_METHOD_SENDFILE);
  from_file(SPLICER_METHOD_SPLICE_PIPE);
  from_file(SPLICER_METHOD_READ_WRITE);
  from_stream(H_PIPE, 0);
  from_stream(H_UNIX, 0);
  from_stream(H_TCP, SPLICER_METHOD_READ_WRITE);
  tee_to_file_and_pipe();
  h_result("fault_enospc", "cases=%d fs_bytes=%d delivered=%llu seconds=%.1f",
           cases, FS_SIZE, (unsigned long long)total_delivered, h_now() - t0);
  umount(dir);
  _exit(0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  int st = tu_in_child(child, NULL);
  rmdir(dir);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
    return 77;
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
  tu_pass("ENOSPC: delivered is exactly what the file holds");
  return 0;
}
