/* Bare syscall loops: what a careful programmer writes by hand for one
 * method, with the library's defaults (1 MiB per call, 256 KiB pipes,
 * 256 KiB read/write buffer).  They are the yardstick for the library's
 * own overhead ("within 10% of a bare loop of its own method"). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define PIPE_SZ (256 * 1024)
#define RW_BUF (256 * 1024)

static int64_t write_all(int fd, const char *p, size_t n, uint64_t *sc) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    ++*sc;
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int64_t loop_rw(struct fixture *f, uint64_t *sc) {
  char *buf = malloc(RW_BUF);
  if (!buf)
    return -ENOMEM;
  int64_t total = 0;
  for (;;) {
    ssize_t n = read(f->in, buf, RW_BUF);
    ++*sc;
    if (n == 0)
      break;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      total = -errno;
      break;
    }
    int64_t r = 0;
    for (int i = 0; i < f->n_out && r == 0; i++)
      r = write_all(f->out[i], buf, (size_t)n, sc);
    if (r < 0) {
      total = r;
      break;
    }
    total += n;
  }
  free(buf);
  return total;
}

/* sendfile, copy_file_range and direct splice: one call does it all */
static int64_t loop_direct(int loop, struct fixture *f, uint64_t *sc) {
  int64_t total = 0;
  for (;;) {
    ssize_t n;
    if (loop == BARE_SENDFILE)
      n = sendfile(f->out[0], f->in, NULL, CHUNK);
    else if (loop == BARE_CFR)
      n = copy_file_range(f->in, NULL, f->out[0], NULL, CHUNK, 0);
    else
      n = splice(f->in, NULL, f->out[0], NULL, CHUNK, SPLICE_F_MOVE);
    ++*sc;
    if (n == 0)
      return total;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    total += n;
  }
}

static int make_pipe(int p[2]) {
  if (pipe2(p, O_CLOEXEC) < 0)
    return -errno;
  fcntl(p[1], F_SETPIPE_SZ, PIPE_SZ); /* smaller if the limits say so */
  return 0;
}

static int64_t splice_out(int from, int to, size_t n, uint64_t *sc) {
  while (n > 0) {
    ssize_t m = splice(from, NULL, to, NULL, n, SPLICE_F_MOVE);
    ++*sc;
    if (m < 0 && errno == EINTR)
      continue;
    if (m <= 0)
      return m < 0 ? -errno : -EIO;
    n -= (size_t)m;
  }
  return 0;
}

/* Neither end a pipe: source -> our pipe -> destination.  For the tee
 * pair, the batch is duplicated with tee(2) into one pipe per extra
 * destination first, as the library does. */
static int64_t loop_staged(int loop, struct fixture *f, uint64_t *sc) {
  int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  int np = loop == BARE_TEE ? f->n_out : 1;
  int64_t total = 0, r = 0;
  for (int i = 0; i < np && r == 0; i++)
    r = make_pipe(p[i]);
  int cap = r == 0 ? fcntl(p[0][1], F_GETPIPE_SZ) : 0;
  while (r == 0) {
    ssize_t n = splice(f->in, NULL, p[0][1], NULL, (size_t)cap, SPLICE_F_MOVE);
    ++*sc;
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      r = n < 0 ? -errno : 0;
      break;
    }
    for (int i = 1; i < np && r == 0; i++) {
      ssize_t t = tee(p[0][0], p[i][1], (size_t)n, 0);
      ++*sc;
      if (t != n) /* an empty pipe of the same size takes the whole batch */
        r = t < 0 ? -errno : -EIO;
    }
    for (int i = np - 1; i >= 0 && r == 0; i--)
      r = splice_out(p[i][0], f->out[i], (size_t)n, sc);
    total += n;
  }
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++)
      if (p[i][k] >= 0)
        close(p[i][k]);
  return r < 0 ? r : total;
}

int64_t bare_run(int loop, struct fixture *f, uint64_t *sc) {
  switch (loop) {
  case BARE_RW:
    return loop_rw(f, sc);
  case BARE_SENDFILE:
  case BARE_CFR:
  case BARE_SPLICE:
    return loop_direct(loop, f, sc);
  default:
    return loop_staged(loop, f, sc);
  }
}
