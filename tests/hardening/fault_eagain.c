/* EAGAIN on (nearly) every call: non-blocking transfers whose consumer reads
 * one byte at a time between steps, and whose stream source is fed one byte
 * at a time.  Every -EAGAIN must name the right fd and event, the
 * invariant consumed == delivered + pending must hold after every step, and
 * every byte must arrive once, in order. */
#include "hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint64_t total_bytes, total_eagain, total_steps;
static int cases;

struct shape {
  const char *name;
  int src;      /* H_FILE or a stream kind */
  int dst;      /* stream kind */
  int method;   /* 0: default */
  int n_tee;    /* 0: copy; else tee to n pipes */
};

static void one(const struct shape *sh, size_t size) {
  splicer_session *s;
  CHECK_EQ(splicer_session_new(&s), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_NONBLOCK, 1), 0);
  if (sh->method)
    CHECK_EQ(splicer_session_set(s, SPLICER_OPT_METHODS, 1 << sh->method), 0);
  CHECK_EQ(splicer_session_set(s, SPLICER_OPT_PIPE_SIZE, 4096), 0);
  unsigned char *data = malloc(size);
  tu_fill(data, size, 33, 0);
  struct h_end src;
  if (sh->src == H_FILE) {
    src.kind = H_FILE;
    src.fd = tu_file(size, 33);
    src.peer = -1;
  } else {
    h_end_open(&src, sh->src, true);
    tu_set_nonblock(src.peer, true);
  }
  int nd = sh->n_tee ? sh->n_tee : 1;
  struct h_end d[4];
  int fds[4];
  unsigned char *got[4];
  size_t have[4] = {0};
  for (int i = 0; i < nd; i++) {
    h_end_open(&d[i], sh->n_tee ? H_PIPE : sh->dst, false);
    if (d[i].kind == H_PIPE)
      fcntl(d[i].fd, F_SETPIPE_SZ, 4096);
    else {
      int small = 4096;
      setsockopt(d[i].fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      setsockopt(d[i].peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    tu_set_nonblock(d[i].peer, true);
    fds[i] = d[i].fd;
    got[i] = malloc(size + 1);
  }
  if (sh->n_tee)
    CHECK_EQ(splicer_open_tee(s, src.fd, SPLICER_OFF_CUR, fds, nd, size), 0);
  else
    CHECK_EQ(splicer_open(s, src.fd, SPLICER_OFF_CUR, fds[0], SPLICER_OFF_CUR,
                          size), 0);
  size_t fed = 0;
  uint64_t eagain = 0, steps = 0, delivered = 0;
  for (;;) {
    int64_t r = splicer_step(s);
    steps++;
    splicer_progress p;
    CHECK_EQ(splicer_progress_get(s, &p, sizeof p), 0);
    CHECK(p.consumed == p.delivered + p.pending, "%s: invariant", sh->name);
    if (r == 0)
      break;
    if (r > 0) {
      delivered += (uint64_t)r;
    } else {
      CHECK(r == -EAGAIN, "%s: step %s", sh->name, tu_name(r));
      eagain++;
      int fd;
      short ev;
      CHECK_EQ(splicer_wait(s, &fd, &ev), 0);
      bool ok = fd == src.fd && ev == POLLIN && sh->src != H_FILE;
      for (int i = 0; i < nd; i++)
        ok |= fd == fds[i] && ev == POLLOUT;
      CHECK(ok, "%s: wait fd %d events %d", sh->name, fd, ev);
    }
    /* one byte in every other turn (the source runs dry), one byte out of
     * each destination every turn (the destination is full) */
    if (sh->src != H_FILE && fed < size && steps % 2 == 0) {
      ssize_t w = write(src.peer, data + fed, 1);
      if (w == 1 && ++fed == size)
        shutdown(src.peer, SHUT_WR);
    }
    for (int i = 0; i < nd; i++) {
      ssize_t n = read(d[i].peer, got[i] + have[i], 1);
      if (n == 1)
        have[i]++;
    }
    CHECK(steps < 100 * (uint64_t)size + 100000, "%s: no progress", sh->name);
  }
  CHECK(delivered == size, "%s: delivered %llu of %zu", sh->name,
        (unsigned long long)delivered, size);
  for (int i = 0; i < nd; i++) {
    if (d[i].kind == H_PIPE) {
      close(d[i].fd);
      d[i].fd = -1;
    } else {
      shutdown(d[i].fd, SHUT_WR);
    }
    tu_set_nonblock(d[i].peer, false);
    ssize_t n;
    while ((n = read(d[i].peer, got[i] + have[i], size + 1 - have[i])) > 0)
      have[i] += (size_t)n;
    CHECK(have[i] == size && memcmp(got[i], data, size) == 0,
          "%s: destination %d got %zu bytes, or they differ", sh->name, i,
          have[i]);
    free(got[i]);
    h_end_close(&d[i]);
  }
  splicer_stats st;
  splicer_stats_get(s, &st, sizeof st);
  CHECK(st.eagain > 0 && eagain > 0, "%s: never saw EAGAIN", sh->name);
  h_end_close(&src);
  free(data);
  splicer_session_free(s);
  total_bytes += size * (uint64_t)nd;
  total_eagain += eagain;
  total_steps += steps;
  cases++;
  printf("  %-28s %zu bytes, %llu steps, %llu EAGAIN\n", sh->name, size,
         (unsigned long long)steps, (unsigned long long)eagain);
}

int main(void) {
  size_t size = (size_t)h_env_int("SPLICER_EAGAIN_BYTES", 100000);
  static const struct shape shapes[] = {
      {"file->unix sendfile", H_FILE, H_UNIX, 0, 0},
      {"file->pipe splice", H_FILE, H_PIPE, 0, 0},
      {"file->tcp sendfile", H_FILE, H_TCP, 0, 0},
      {"unix->unix splice_pipe", H_UNIX, H_UNIX, 0, 0},
      {"tcp->pipe splice", H_TCP, H_PIPE, 0, 0},
      {"unix->tcp read_write", H_UNIX, H_TCP, SPLICER_METHOD_READ_WRITE, 0},
      {"file->unix splice_pipe", H_FILE, H_UNIX, SPLICER_METHOD_SPLICE_PIPE, 0},
      {"unix->tee 3 pipes", H_UNIX, H_PIPE, 0, 3},
      {"file->tee 2 pipes rw", H_FILE, H_PIPE, SPLICER_METHOD_READ_WRITE, 2},
  };
  double t0 = h_now();
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    one(&shapes[i], size);
  h_result("fault_eagain",
           "cases=%d bytes=%llu steps=%llu eagain=%llu seconds=%.1f", cases,
           (unsigned long long)total_bytes, (unsigned long long)total_steps,
           (unsigned long long)total_eagain, h_now() - t0);
  tu_pass("EAGAIN on every call: bytes intact, waits right");
  return 0;
}
