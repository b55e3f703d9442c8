/* A TCP peer reset (RST, via SO_LINGER 0) in the middle of a transfer, on
 * the destination side and on the source side: the transfer ends with an
 * error the kernel really gives, the process does not crash (SIGPIPE is at
 * its default disposition, which would kill it), and the counts stay
 * consistent.  What the kernel gives is printed and summarised: writing
 * into a reset connection gives ECONNRESET for the first write after the
 * RST arrived and EPIPE for later ones, so both are accepted. */
#include "hardening.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (64 << 20)

static int n_connreset, n_epipe, n_eof, cases;

static void rst_close(int fd) {
  struct linger l = {1, 0};
  CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
  close(fd);
}

/* reads some bytes, then resets the connection */
struct resetter {
  int fd;
  size_t after;
  size_t got;
  bool prefix_ok;
};
static void *reset_after(void *arg) {
  struct resetter *r = arg;
  unsigned char buf[65536], want[65536];
  r->prefix_ok = true;
  while (r->got < r->after) {
    ssize_t n = read(r->fd, buf, sizeof buf);
    if (n <= 0)
      break;
    tu_fill(want, (size_t)n, 21, r->got);
    r->prefix_ok &= memcmp(buf, want, (size_t)n) == 0;
    r->got += (size_t)n;
  }
  rst_close(r->fd);
  return NULL;
}

static void tally(int64_t r, const char *what) {
  printf("  %-30s -> %s\n", what, r < 0 ? splicer_errname((int)r) : "ok");
  if (r == -ECONNRESET)
    n_connreset++;
  else if (r == -EPIPE)
    n_epipe++;
  cases++;
}

struct unix_feeder {
  int fd;
};
static void *feed_unix(void *arg) {
  struct unix_feeder *f = arg;
  unsigned char buf[65536];
  for (size_t done = 0; done < BIG; done += sizeof buf) {
    tu_fill(buf, sizeof buf, 21, done);
    for (size_t off = 0; off < sizeof buf;) {
      ssize_t n = send(f->fd, buf + off, sizeof buf - off, MSG_NOSIGNAL);
      if (n <= 0)
        return NULL; /* the transfer is over */
      off += (size_t)n;
    }
  }
  return NULL;
}

/* file or unix socket -> TCP; the TCP reader resets after 1 MiB */
static void destination_reset(int src_kind, int method, int tee) {
  char what[80];
  snprintf(what, sizeof what, "%s->tcp%s %s", h_kind_name(src_kind),
           tee ? " (tee +pipe)" : "", method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  int in, feed_fd = -1, sv[2] = {-1, -1};
  if (src_kind == H_FILE) {
    in = tu_file(BIG, 21);
  } else {
    tu_socketpair(sv);
    in = sv[0];
    feed_fd = sv[1];
  }
  int tcp[2];
  tu_tcp_pair(tcp);
  struct resetter rs = {tcp[1], 1 << 20, 0, false};
  pthread_t t;
  pthread_create(&t, NULL, reset_after, &rs);
  /* a unix source is fed with the pattern until the transfer stops */
  struct unix_feeder uf = {feed_fd};
  pthread_t ft;
  if (feed_fd >= 0)
    pthread_create(&ft, NULL, feed_unix, &uf);
  struct h_end extra = {.fd = -1, .peer = -1};
  struct tu_reader r = {0};
  int64_t res;
  if (tee) {
    h_end_open(&extra, H_PIPE, false);
    tu_reader_start(&r, extra.peer, 0);
    int fds[2] = {extra.fd, tcp[0]};
    CHECK_EQ(splicer_open_tee(s, in, SPLICER_OFF_CUR, fds, 2, BIG), 0);
    res = splicer_run(s);
  } else {
    res = splicer_copy(s, in, tcp[0], BIG);
  }
  pthread_join(t, NULL);
  CHECK(rs.prefix_ok, "%s: the peer got wrong bytes before the reset", what);
  CHECK(res == -ECONNRESET || res == -EPIPE, "%s: got %lld (%s)", what,
        (long long)res, tu_name(res));
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.consumed == p.delivered + p.pending, "%s: invariant", what);
  CHECK(p.delivered >= rs.got && p.delivered < BIG,
        "%s: delivered %llu, the peer read %zu", what,
        (unsigned long long)p.delivered, rs.got);
  tally(res, what);
  CHECK_EQ(splicer_abort(s), p.pending);
  if (tee) {
    close(extra.fd);
    extra.fd = -1;
    tu_reader_join(&r);
    tu_reader_free(&r);
    h_end_close(&extra);
  }
  close(tcp[0]);
  if (feed_fd >= 0) {
    shutdown(in, SHUT_RDWR); /* stops the feeder */
    pthread_join(ft, NULL);
    close(feed_fd);
  }
  close(in);
  splicer_session_free(s);
}

/* TCP source whose writer sends 1 MiB and then resets; destination a file.
 * Data the receiver had not read when the RST came may be dropped by the
 * kernel, so the file must hold a prefix of what was sent, exactly as many
 * bytes as reported delivered. */
struct rst_writer {
  int fd;
};
static void *write_then_reset(void *arg) {
  struct rst_writer *w = arg;
  unsigned char buf[65536];
  for (size_t done = 0; done < (1 << 20); done += sizeof buf) {
    tu_fill(buf, sizeof buf, 21, done);
    h_write_all(w->fd, buf, sizeof buf);
  }
  usleep(1000);
  rst_close(w->fd);
  return NULL;
}

static void source_reset(int method) {
  char what[80];
  snprintf(what, sizeof what, "tcp(reset)->file %s",
           method ? splicer_method_name(method) : "default");
  splicer_session *s = tu_session(method);
  int tcp[2];
  tu_tcp_pair(tcp);
  int out = tu_tmpfile();
  struct rst_writer w = {tcp[1]};
  pthread_t t;
  pthread_create(&t, NULL, write_then_reset, &w);
  int64_t res = splicer_copy(s, tcp[0], out, BIG);
  pthread_join(t, NULL);
  splicer_progress p;
  CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
  CHECK(p.consumed == p.delivered + p.pending, "%s: invariant", what);
  CHECK(res == -ECONNRESET || (res >= 0 && (uint64_t)res == p.delivered),
        "%s: got %lld (%s)", what, (long long)res, tu_name(res));
  CHECK(p.delivered <= (1 << 20), "%s: delivered %llu", what,
        (unsigned long long)p.delivered);
  CHECK_EQ(lseek(out, 0, SEEK_END), (off_t)p.delivered);
  tu_check_file(out, 0, (size_t)p.delivered, 21, 0);
  if (res >= 0)
    n_eof++;
  tally(res, what);
  splicer_abort(s);
  close(tcp[0]);
  close(out);
  splicer_session_free(s);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_DFL);
  double t0 = h_now();
  destination_reset(H_FILE, 0, 0);              /* sendfile */
  destination_reset(H_FILE, SPLICER_METHOD_SPLICE_PIPE, 0);
  destination_reset(H_FILE, SPLICER_METHOD_READ_WRITE, 0);
  destination_reset(H_UNIX, 0, 0);              /* splice_pipe */
  destination_reset(H_UNIX, SPLICER_METHOD_READ_WRITE, 0);
  destination_reset(H_FILE, 0, 1);              /* tee */
  source_reset(0); /* splice */
  source_reset(SPLICER_METHOD_READ_WRITE);
  h_result("fault_reset", "cases=%d econnreset=%d epipe=%d eof=%d seconds=%.1f",
           cases, n_connreset, n_epipe, n_eof, h_now() - t0);
  tu_pass("peer reset: -ECONNRESET or -EPIPE, no crash, counts consistent");
  return 0;
}
