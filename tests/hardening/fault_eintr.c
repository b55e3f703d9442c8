/* EINTR storm: an interval timer fires every 50 us (SIGALRM with a handler
 * installed without SA_RESTART, so every blocking syscall of the transferring
 * thread can fail with EINTR) during large transfers over every method.
 * Nothing may be lost, duplicated or reported wrongly, and no call may
 * surface -EINTR. */
#include "hardening.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;
static void on_tick(int sig) {
  (void)sig;
  ticks++;
}

/* SIGALRM stays blocked except around splicer's own calls, so that the
 * storm hits the transfer and not the fixtures (connect, say) or the helper
 * threads, which inherit the blocked mask. */
static void storm(bool on) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGALRM);
  pthread_sigmask(on ? SIG_UNBLOCK : SIG_BLOCK, &set, NULL);
}
#define STORMED(expr) (storm(true), (expr)); storm(false)

struct feeder {
  int fd;
  size_t size;
  uint32_t seed;
};
static void *feed(void *arg) {
  struct feeder *f = arg;
  unsigned char buf[65536];
  for (size_t done = 0; done < f->size;) {
    size_t n = f->size - done < sizeof buf ? f->size - done : sizeof buf;
    tu_fill(buf, n, f->seed, done);
    h_write_all(f->fd, buf, n);
    done += n;
  }
  shutdown(f->fd, SHUT_WR);
  return NULL;
}

static uint64_t total_bytes;
static int cases;

static void check_stream(struct tu_reader *r, size_t size, uint32_t seed,
                         const char *what) {
  CHECK(r->len == size, "%s: received %zu of %zu bytes", what, r->len, size);
  unsigned char *want = malloc(size + 1);
  tu_fill(want, size, seed, 0);
  CHECK(memcmp(r->data, want, size) == 0, "%s: bytes differ", what);
  free(want);
}

static void check_progress(splicer_session *s, uint64_t n, const char *what) {
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.consumed == n && p.delivered == n && p.pending == 0 && p.finished,
        "%s: progress %llu/%llu/%llu", what, (unsigned long long)p.consumed,
        (unsigned long long)p.delivered, (unsigned long long)p.pending);
  total_bytes += n;
  cases++;
}

/* file -> {pipe, unix socket, TCP} with a reader thread */
static void file_to_stream(int kind, int method, size_t size) {
  char what[64];
  snprintf(what, sizeof what, "file->%s %s", h_kind_name(kind),
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  int in = tu_file(size, 7);
  struct h_end d;
  h_end_open(&d, kind, false);
  /* a slow-ish reader: the transfer sleeps in its writes, where the
   * signals interrupt it */
  struct tu_reader r = {.chunk = 8192};
  tu_reader_start(&r, d.peer, 0);
  int64_t n = STORMED(splicer_copy(s, in, d.fd, SPLICER_TO_EOF));
  CHECK(n == (int64_t)size, "%s: copy %lld (%s)", what, (long long)n, tu_name(n));
  if (kind == H_PIPE) {
    close(d.fd);
    d.fd = -1;
  } else {
    shutdown(d.fd, SHUT_WR);
  }
  tu_reader_join(&r);
  check_stream(&r, size, 7, what);
  check_progress(s, size, what);
  tu_reader_free(&r);
  h_end_close(&d);
  close(in);
  splicer_session_free(s);
}

/* unix socket -> TCP (staged through the session's pipe), or read/write */
static void socket_to_socket(int method, size_t size) {
  const char *what = method ? "unix->tcp read_write" : "unix->tcp splice_pipe";
  splicer_session *s = tu_session(method);
  struct h_end a, b;
  h_end_open(&a, H_UNIX, true);
  h_end_open(&b, H_TCP, false);
  struct feeder f = {a.peer, size, 8};
  struct tu_reader r = {.chunk = 8192};
  pthread_t t;
  pthread_create(&t, NULL, feed, &f);
  tu_reader_start(&r, b.peer, 0);
  int64_t n = STORMED(splicer_copy(s, a.fd, b.fd, SPLICER_TO_EOF));
  CHECK(n == (int64_t)size, "%s: copy %lld (%s)", what, (long long)n, tu_name(n));
  shutdown(b.fd, SHUT_WR);
  tu_reader_join(&r);
  pthread_join(t, NULL);
  check_stream(&r, size, 8, what);
  check_progress(s, size, what);
  tu_reader_free(&r);
  h_end_close(&a);
  h_end_close(&b);
  splicer_session_free(s);
}

static void file_to_file(int method, size_t size) {
  char what[64];
  snprintf(what, sizeof what, "file->file %s",
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  /* small steps: many syscalls for the timer to hit */
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_CHUNK, 65536), 0);
  int in = tu_file(size, 9), out = tu_tmpfile();
  int64_t n = STORMED(splicer_copy(s, in, out, SPLICER_TO_EOF));
  CHECK(n == (int64_t)size, "%s: copy %lld (%s)", what, (long long)n, tu_name(n));
  CHECK_EQ(lseek(out, 0, SEEK_END), (off_t)size);
  tu_check_file(out, 0, size, 9, 0);
  check_progress(s, size, what);
  close(in);
  close(out);
  splicer_session_free(s);
}

static void tee_streams(size_t size) {
  const char *what = "tee file->{pipe,unix,tcp}";
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  int in = tu_file(size, 10);
  struct h_end d[3];
  h_end_open(&d[0], H_PIPE, false);
  h_end_open(&d[1], H_UNIX, false);
  h_end_open(&d[2], H_TCP, false);
  struct tu_reader r[3] = {{.chunk = 8192}, {.chunk = 8192}, {.chunk = 8192}};
  for (int i = 0; i < 3; i++)
    tu_reader_start(&r[i], d[i].peer, 0);
  int fds[3] = {d[0].fd, d[1].fd, d[2].fd};
  CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, 3, SPLICER_TO_EOF), 0);
  int64_t n = STORMED(splicer_run(s));
  CHECK(n == (int64_t)size, "%s: run %lld (%s)", what, (long long)n, tu_name(n));
  close(d[0].fd);
  d[0].fd = -1;
  shutdown(d[1].fd, SHUT_WR);
  shutdown(d[2].fd, SHUT_WR);
  for (int i = 0; i < 3; i++) {
    tu_reader_join(&r[i]);
    check_stream(&r[i], size, 10, what);
    tu_reader_free(&r[i]);
    h_end_close(&d[i]);
  }
  check_progress(s, size, what);
  close(in);
  splicer_session_free(s);
}

int main(void) {
  struct sigaction sa = {.sa_handler = on_tick}; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
  storm(false);
  size_t big = (size_t)h_env_int("SPLICER_EINTR_MB", 32) << 20;
  struct itimerval it = {{0, 50}, {0, 50}};
  double t0 = h_now();
  CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);

  file_to_stream(H_PIPE, 0, big);
  file_to_stream(H_UNIX, 0, big);
  file_to_stream(H_TCP, 0, big);
  file_to_stream(H_UNIX, SPLICER_METHOD_SPLICE_PIPE, big / 2);
  file_to_stream(H_PIPE, SPLICER_METHOD_READ_WRITE, big / 2);
  socket_to_socket(0, big);
  socket_to_socket(SPLICER_METHOD_READ_WRITE, big / 2);
  file_to_file(0, big);
  file_to_file(SPLICER_METHOD_SENDFILE, big / 2);
  file_to_file(SPLICER_METHOD_SPLICE_PIPE, big / 2);
  file_to_file(SPLICER_METHOD_READ_WRITE, big / 2);
  tee_streams(big / 2);

  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  double secs = h_now() - t0;
  CHECK(ticks > 100, "the timer hardly fired (%d)", (int)ticks);
  h_result("fault_eintr", "cases=%d bytes=%llu signals=%d seconds=%.1f", cases,
           (unsigned long long)total_bytes, (int)ticks, secs);
  tu_pass("EINTR storm: every byte once, counts exact");
  return 0;
}
