/* One wrapper per syscall: EINTR retried, offsets by value, -errno results.
 * The engine in transfer.c uses these too, so there is one place where the
 * kernel is called. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* Methods the running kernel lacks.  ENOSYS cannot change while the process
 * lives, so it is the only thing remembered process-wide. */
static atomic_uint missing_methods;

uint32_t splicer__methods_missing(void) {
  return atomic_load_explicit(&missing_methods, memory_order_relaxed);
}

bool splicer__method_missing(int method) {
  return (splicer__methods_missing() & (1u << method)) != 0;
}

void splicer__method_set_missing(int method) {
  atomic_fetch_or_explicit(&missing_methods, 1u << method,
                           memory_order_relaxed);
}

/* The kernel moves at most MAX_RW_COUNT (INT_MAX & PAGE_MASK) per call;
 * asking for more is harmless for splice but clamping keeps size_t
 * arguments meaningful on every call. */
static size_t clamp_len(uint64_t len) {
  return len > (uint64_t)(INT_MAX & ~4095) ? (size_t)(INT_MAX & ~4095)
                                           : (size_t)len;
}

static loff_t *offp(int64_t off, loff_t *store) {
  if (off < 0)
    return NULL;
  *store = (loff_t)off;
  return store;
}

int64_t splicer_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                       uint64_t len, unsigned flags) {
  if (off_in < SPLICER_OFF_CUR || off_out < SPLICER_OFF_CUR)
    return -EINVAL;
  loff_t oi, oo;
  ssize_t n;
  do
    n = splice(fd_in, offp(off_in, &oi), fd_out, offp(off_out, &oo),
               clamp_len(len), flags);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int64_t splicer_tee(int fd_in, int fd_out, uint64_t len, unsigned flags) {
  ssize_t n;
  do
    n = tee(fd_in, fd_out, clamp_len(len), flags);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int64_t splicer_vmsplice(int pipe_fd, const struct iovec *iov, size_t n,
                         unsigned flags) {
  if (!iov && n)
    return -EFAULT;
  /* On a pipe's read end vmsplice(2) reads *into* the iovecs, which this
   * signature promises are const: refuse it. */
  int fl = fcntl(pipe_fd, F_GETFL);
  if (fl < 0)
    return -errno;
  if ((fl & O_ACCMODE) == O_RDONLY)
    return -EBADF;
  ssize_t r;
  do
    r = vmsplice(pipe_fd, iov, n, flags);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

int64_t splicer_sendfile(int fd_out, int fd_in, int64_t off_in, uint64_t len) {
  if (off_in < SPLICER_OFF_CUR)
    return -EINVAL;
  off_t o = (off_t)off_in;
  ssize_t n;
  do
    n = sendfile(fd_out, fd_in, off_in >= 0 ? &o : NULL, clamp_len(len));
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int64_t splicer_copy_file_range(int fd_in, int64_t off_in, int fd_out,
                                int64_t off_out, uint64_t len) {
  if (off_in < SPLICER_OFF_CUR || off_out < SPLICER_OFF_CUR)
    return -EINVAL;
  loff_t oi, oo;
  ssize_t n;
  do
    n = copy_file_range(fd_in, offp(off_in, &oi), fd_out, offp(off_out, &oo),
                        clamp_len(len), 0);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int splicer_pipe_size(int pipe_fd) {
  int r = fcntl(pipe_fd, F_GETPIPE_SZ);
  return r < 0 ? -errno : r;
}

int splicer_set_pipe_size(int pipe_fd, int size) {
  if (size <= 0)
    return -EINVAL;
  int r = fcntl(pipe_fd, F_SETPIPE_SZ, size);
  return r < 0 ? -errno : r;
}
