/* file -> pipe, pipe -> file, file -> socket, socket -> socket, a TCP
 * loopback proxy, /dev/null and /dev/zero, and /proc sources. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int method_of(splicer_session *s) {
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  return p.method;
}

static void check_reader(struct tu_reader *r, size_t size, uint32_t seed,
                         uint64_t start) {
  CHECK_EQ(r->len, size);
  unsigned char *want = malloc(size + 1);
  tu_fill(want, size, seed, start);
  CHECK(memcmp(r->data, want, size) == 0, "received bytes differ");
  free(want);
}

/* file -> {pipe, unix socket, TCP socket}: reader thread on the far end */
static void file_to(int kind, size_t size, int expect_method) {
  splicer_session *s = tu_session(0);
  int in = tu_file(size, 11), ends[2];
  if (kind == 0)
    tu_pipe(ends), ends[0] ^= ends[1], ends[1] ^= ends[0], ends[0] ^= ends[1];
  else if (kind == 1)
    tu_socketpair(ends);
  else
    tu_tcp_pair(ends);
  /* ends[0] is written to, ends[1] read by the reader thread */
  struct tu_reader r = {0};
  tu_reader_start(&r, ends[1], 0);
  CHECK_EQ(splicer_method_for(in, ends[0]), expect_method);
  CHECK_EQ(splicer_copy(s, in, ends[0], SPLICER_TO_EOF), size);
  CHECK_EQ(method_of(s), expect_method);
  if (kind == 0)
    close(ends[0]);
  else
    shutdown(ends[0], SHUT_WR);
  tu_reader_join(&r);
  check_reader(&r, size, 11, 0);
  tu_reader_free(&r);
  if (kind != 0)
    close(ends[0]);
  close(ends[1]); close(in);
  splicer_session_free(s);
}

/* a writer thread feeding a pipe or socket */
struct feeder { int fd; size_t size; uint32_t seed; bool close_after; };
#include <pthread.h>
static void *feed(void *arg) {
  struct feeder *f = arg;
  unsigned char buf[8192];
  for (size_t done = 0; done < f->size;) {
    size_t n = f->size - done < sizeof buf ? f->size - done : sizeof buf;
    tu_fill(buf, n, f->seed, done);
    ssize_t w = send(f->fd, buf, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK)
      w = write(f->fd, buf, n);
    if (w <= 0) break;
    done += (size_t)w;
  }
  if (f->close_after) close(f->fd);
  return NULL;
}

int main(void) {
  size_t sizes[] = {1, 4096, 4097, 1 << 20, (5 << 20) + 3};
  for (size_t i = 0; i < 5; i++) {
    file_to(0, sizes[i], SPLICER_METHOD_SPLICE);
    file_to(1, sizes[i], SPLICER_METHOD_SENDFILE);
    /* to TCP, more than 1 MiB goes through a pool pipe */
    file_to(2, sizes[i], sizes[i] > (1 << 20) ? SPLICER_METHOD_SPLICE_PIPE
                                              : SPLICER_METHOD_SENDFILE);
  }
  tu_pass("file -> pipe, unix socket, TCP");

  /* pipe -> file, with a source position check on the destination */
  {
    splicer_session *s = tu_session(0);
    int p[2], out = tu_tmpfile();
    tu_pipe(p);
    struct feeder f = {p[1], 3 << 20, 12, true};
    pthread_t t;
    pthread_create(&t, NULL, feed, &f);
    CHECK_EQ(splicer_open(s, p[0], SPLICER_OFF_CUR, out, 100, SPLICER_TO_EOF), 0);
    CHECK_EQ(splicer_run(s), 3 << 20);
    pthread_join(t, NULL);
    CHECK_EQ(method_of(s), SPLICER_METHOD_SPLICE);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 0);
    tu_check_file(out, 100, 3 << 20, 12, 0);
    close(p[0]); close(out);
    splicer_session_free(s);
  }
  tu_pass("pipe -> file at an offset");

  /* socket -> socket through the session's pipe; never read past len */
  {
    splicer_session *s = tu_session(0);
    int a[2], b[2];
    tu_socketpair(a);
    tu_socketpair(b);
    struct feeder f = {a[1], 2 << 20, 13, false};
    pthread_t t;
    pthread_create(&t, NULL, feed, &f);
    struct tu_reader r = {0};
    tu_reader_start(&r, b[1], 1 << 20);
    CHECK_EQ(splicer_method_for(a[0], b[0]), SPLICER_METHOD_SPLICE_PIPE);
    CHECK_EQ(splicer_copy(s, a[0], b[0], 1 << 20), 1 << 20);
    tu_reader_join(&r);
    check_reader(&r, 1 << 20, 13, 0);
    tu_reader_free(&r);
    /* the rest is still in the source socket, untouched */
    unsigned char buf[4096], want[4096];
    size_t got = 0;
    while (got < sizeof buf) {
      ssize_t n = read(a[0], buf + got, sizeof buf - got);
      CHECK(n > 0, "read rest");
      got += (size_t)n;
    }
    tu_fill(want, sizeof want, 13, 1 << 20);
    CHECK(memcmp(buf, want, sizeof buf) == 0, "socket read past len");
    shutdown(a[0], SHUT_RDWR);
    pthread_join(t, NULL);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
    splicer_session_free(s);
  }
  tu_pass("socket -> socket, source never read past len");

  /* TCP loopback proxy: client -> [proxy in ... proxy out] -> server */
  {
    splicer_session *s = tu_session(0);
    int c[2], d[2];
    tu_tcp_pair(c); /* c[0] client, c[1] proxy's accepted side */
    tu_tcp_pair(d); /* d[0] proxy's upstream, d[1] server */
    struct feeder f = {c[0], 8 << 20, 14, false};
    pthread_t t;
    pthread_create(&t, NULL, feed, &f);
    struct tu_reader r = {0};
    tu_reader_start(&r, d[1], 0);
    CHECK_EQ(splicer_copy(s, c[1], d[0], 8 << 20), 8 << 20);
    pthread_join(t, NULL);
    shutdown(c[0], SHUT_WR);
    CHECK_EQ(splicer_copy(s, c[1], d[0], SPLICER_TO_EOF), 0);
    CHECK_EQ(method_of(s), SPLICER_METHOD_SPLICE_PIPE);
    shutdown(d[0], SHUT_WR);
    tu_reader_join(&r);
    check_reader(&r, 8 << 20, 14, 0);
    tu_reader_free(&r);
    close(c[0]); close(c[1]); close(d[0]); close(d[1]);
    splicer_session_free(s);
  }
  tu_pass("TCP loopback proxy");

  /* /dev/zero -> /dev/null and file -> /dev/null */
  {
    splicer_session *s = tu_session(0);
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC), n = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK_EQ(splicer_copy(s, z, n, 10 << 20), 10 << 20);
    CHECK_EQ(method_of(s), SPLICER_METHOD_SPLICE_PIPE);
    int in = tu_file(1 << 20, 1);
    CHECK_EQ(splicer_copy(s, in, n, SPLICER_TO_EOF), 1 << 20);
    CHECK_EQ(method_of(s), SPLICER_METHOD_SENDFILE);
    close(z); close(n); close(in);
    splicer_session_free(s);
  }
  tu_pass("/dev/zero and /dev/null");

  /* a /proc source: zero-copy reads nothing there, read/write does */
  {
    splicer_session *s = tu_session(0);
    int in = open("/proc/self/status", O_RDONLY | O_CLOEXEC), out = tu_tmpfile();
    CHECK(in >= 0, "open /proc/self/status");
    int64_t n = splicer_copy(s, in, out, SPLICER_TO_EOF);
    CHECK(n > 100, "copied %lld bytes of /proc/self/status", (long long)n);
    char buf[64] = {0};
    CHECK_EQ(pread(out, buf, 5, 0), 5);
    CHECK(memcmp(buf, "Name:", 5) == 0, "content: %s", buf);
    splicer_stats st;
    splicer_stats_get(s, &st, sizeof st);
    CHECK(st.fallbacks >= 1, "fallbacks %llu", (unsigned long long)st.fallbacks);
    close(in); close(out);
    splicer_session_free(s);
  }
  tu_pass("/proc source falls back");
  return 0;
}
