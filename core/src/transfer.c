/* Moving bytes: the choice of method, the fallbacks, and the step engine.
 *
 * Two shapes of transfer:
 *   direct  one syscall moves bytes from source to destination
 *           (copy_file_range, sendfile, splice with a pipe at one end,
 *           vmsplice into a destination pipe, write from a sealed buffer);
 *           nothing is ever held by the session.
 *   staged  bytes are taken from the source into the session's pipe(s) (or
 *           its buffer, for read/write) and then delivered.  A new batch is
 *           taken only when every destination received the previous one,
 *           so an internal pipe is always empty when it is filled: the
 *           session's own pipes never block it, and what is held is exactly
 *           consumed - delivered.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* returned by the engine when it switched method and wants to run again:
 * neither a byte count nor an errno, so that it cannot be mistaken for
 * either (a 1-byte step must return, not run again) */
#define RETRY (-((int64_t)1 << 40))
/* returned by a fill that read a zero-length datagram: not the end of
 * input, just nothing to deliver */
#define EMPTY_DATAGRAM (-((int64_t)1 << 41))

/* ---- fd classification and method choice ------------------------------- */

/* Filesystems whose files report a size of 0 and may give nothing to
 * copy_file_range/sendfile while read(2) returns data. */
static bool is_pseudo_fs(long type) {
  switch ((unsigned long)type) {
  case 0x9fa0:     /* procfs */
  case 0x62656572: /* sysfs */
  case 0x64626720: /* debugfs */
  case 0x74726163: /* tracefs */
  case 0x73636673: /* securityfs */
  case 0x62656570: /* configfs */
  case 0x27e0eb:   /* cgroup */
  case 0x63677270: /* cgroup2 */
    return true;
  default:
    return false;
  }
}

static bool recall_socket(splicer_session *s, struct endpoint *ep) {
  for (size_t i = 0; s && i < SOCKET_MEMOS; i++)
    if (s->memo[i].ino == ep->ino && s->memo[i].dev == ep->dev && ep->ino) {
      ep->dgram = s->memo[i].dgram;
      ep->records = s->memo[i].records;
      return true;
    }
  return false;
}

static void remember_socket(splicer_session *s, const struct endpoint *ep) {
  if (!s)
    return;
  s->memo[s->memo_next] = (struct socket_memo){ep->dev, ep->ino, ep->dgram, ep->records};
  s->memo_next = (s->memo_next + 1) % SOCKET_MEMOS;
}

/* An endpoint for @fd that knows nothing yet; -EBADF for a negative fd. */
static int endpoint_init(int fd, struct endpoint *ep) {
  memset(ep, 0, sizeof *ep);
  ep->fd = fd;
  ep->off = SPLICER_OFF_CUR;
  return fd < 0 ? -EBADF : 0;
}

/* @fd's status flags into ep->flags; an O_PATH fd, which no transfer can
 * use, is -EBADF. */
static int read_flags(int fd, struct endpoint *ep) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0)
    return -errno;
#ifdef O_PATH
  if (flags & O_PATH)
    return -EBADF;
#endif
  ep->flags = flags;
  return 0;
}

/* Whether @ep's file is on a pseudo filesystem, asking the filesystem
 * the first time it matters. */
static bool on_pseudo_fs(struct endpoint *ep) {
  if (ep->fs_unasked) {
    struct statfs sfs;
    ep->pseudo_fs = fstatfs(ep->fd, &sfs) == 0 && is_pseudo_fs((long)sfs.f_type);
    ep->fs_unasked = false;
  }
  return ep->pseudo_fs;
}

int splicer__classify(int fd, struct endpoint *ep, splicer_session *s,
                      bool lazy_file) {
  int r = endpoint_init(fd, ep);
  if (r < 0)
    return r;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (lazy_file && S_ISREG(st.st_mode)) {
    ep->flags = O_RDWR;
    ep->flags_unread = true;
  } else if ((r = read_flags(fd, ep)) < 0) {
    return r;
  }
  ep->dev = st.st_dev;
  ep->ino = st.st_ino;
  if (S_ISREG(st.st_mode)) {
    ep->kind = KIND_FILE;
    ep->size = st.st_size;
    ep->fs_unasked = st.st_size == 0;
  } else if (S_ISFIFO(st.st_mode)) {
    ep->kind = KIND_PIPE;
  } else if (S_ISSOCK(st.st_mode)) {
    ep->kind = KIND_SOCKET;
    int type = 0;
    socklen_t tl = sizeof type;
    if (!recall_socket(s, ep) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0) {
      ep->dgram = type == SOCK_DGRAM;
      ep->records = type == SOCK_DGRAM || type == SOCK_SEQPACKET;
      remember_socket(s, ep);
    }
  } else if (S_ISBLK(st.st_mode)) {
    ep->kind = KIND_BLOCK;
    ep->dev = st.st_rdev; /* two device nodes of one disk are one disk */
    ep->ino = 0;
  } else if (S_ISCHR(st.st_mode)) {
    ep->kind = KIND_CHAR;
  } else {
    ep->kind = KIND_OTHER;
  }
  return 0;
}

int splicer__classify_kept(int fd, int kind, struct endpoint *ep,
                           splicer_session *s) {
  int type = kind & ~SPLICER_FD_NONBLOCK;
  if (type < SPLICER_FD_UNKNOWN || type > SPLICER_FD_PIPE ||
      (type == SPLICER_FD_UNKNOWN && kind != type))
    return -EINVAL;
  if (type == SPLICER_FD_UNKNOWN) {
    int r = splicer__classify(fd, ep, s, false);
    if (r < 0)
      return r;
    if (ep->kind == KIND_FILE) {
      /* the size at open may change while kept: a pseudo filesystem is
       * known by its type alone, asked once here */
      ep->fs_unasked = true;
      on_pseudo_fs(ep);
      ep->stale_size = true;
    }
    return 0;
  }
  int r = endpoint_init(fd, ep);
  if (r < 0)
    return r;
  ep->anonymous = true;
  ep->kind = type == SPLICER_FD_PIPE ? KIND_PIPE : KIND_SOCKET;
  ep->dgram = type == SPLICER_FD_DGRAM;
  ep->records = type == SPLICER_FD_DGRAM || type == SPLICER_FD_SEQPACKET;
  if (kind & SPLICER_FD_NONBLOCK) {
    /* readable and writable as far as the open's checks go: the kernel
     * judges the access mode at the first syscall */
    ep->flags = O_RDWR | O_NONBLOCK;
    return 0;
  }
  return read_flags(fd, ep);
}

/* Each chain is the order in which methods are tried for one kind of
 * transfer; the last resort is always read/write. */
static const int chain_file_file[] = {
    SPLICER_METHOD_COPY_FILE_RANGE, SPLICER_METHOD_SENDFILE,
    SPLICER_METHOD_SPLICE_PIPE, SPLICER_METHOD_READ_WRITE, SPLICER_METHOD_NONE};
static const int chain_pipe_end[] = {
    SPLICER_METHOD_SPLICE, SPLICER_METHOD_READ_WRITE, SPLICER_METHOD_NONE};
static const int chain_file_other[] = {
    SPLICER_METHOD_SENDFILE, SPLICER_METHOD_SPLICE_PIPE,
    SPLICER_METHOD_READ_WRITE, SPLICER_METHOD_NONE};
/* More than SPLICER_BULK_TCP bytes of a file to a TCP socket: sendfile(2)
 * stages through the task's own 16-page pipe, so it hands TCP 64 KiB per
 * sendmsg; a pool pipe of 256 KiB hands it four times that, and measured
 * 1.1-1.2x the GB per CPU-second of sendfile at 256 MiB in three runs out
 * of three (bench/RESULTS.md).  At 1 MiB the two tie and below it sendfile's
 * one syscall wins; to a Unix socket or /dev/null sendfile was as good or
 * better at every size, so they keep it. */
static const int chain_file_tcp_bulk[] = {
    SPLICER_METHOD_SPLICE_PIPE, SPLICER_METHOD_SENDFILE,
    SPLICER_METHOD_READ_WRITE, SPLICER_METHOD_NONE};
static const int chain_other[] = {SPLICER_METHOD_SPLICE_PIPE,
                                  SPLICER_METHOD_READ_WRITE,
                                  SPLICER_METHOD_NONE};
static const int chain_tee[] = {SPLICER_METHOD_TEE, SPLICER_METHOD_READ_WRITE,
                                SPLICER_METHOD_NONE};
static const int chain_buf[] = {SPLICER_METHOD_VMSPLICE,
                                SPLICER_METHOD_READ_WRITE, SPLICER_METHOD_NONE};
/* A datagram (or seqpacket) destination: splice and sendfile hand a socket
 * a pipe's worth at once, which a datagram socket sends as one datagram or
 * refuses (EMSGSIZE); write(2) of a bounded size is one datagram, whole or
 * not at all. */
static const int chain_records[] = {SPLICER_METHOD_READ_WRITE,
                                    SPLICER_METHOD_NONE};

static const int *chain_for(int kind, int in, bool out_records, int out,
                            bool bulk_tcp) {
  if (kind == XFER_TEE)
    return chain_tee;
  if (out_records)
    return chain_records;
  if (bulk_tcp && kind == XFER_COPY)
    return chain_file_tcp_bulk;
  if (kind == XFER_BUF)
    return chain_buf;
  if (in == KIND_FILE && out == KIND_FILE)
    return chain_file_file;
  if (in == KIND_PIPE || out == KIND_PIPE)
    return chain_pipe_end;
  if (in == KIND_FILE || in == KIND_BLOCK)
    return chain_file_other;
  return chain_other;
}

static int first_in_chain(const int *chain, uint32_t allowed) {
  allowed &= ~splicer__methods_missing();
  for (; *chain != SPLICER_METHOD_NONE; chain++)
    if (allowed & (1u << *chain))
      return *chain;
  return -EOPNOTSUPP;
}

int splicer__opening_method(int kind, const struct endpoint *src,
                            const struct endpoint *dst0, uint32_t methods,
                            bool bulk_tcp) {
  /* sendfile(2) has no output offset: it would write at the destination's
   * position and move it, where the caller asked for neither */
  if (dst0->off >= 0)
    methods &= ~(1u << SPLICER_METHOD_SENDFILE);
  return first_in_chain(
      chain_for(kind, src->kind, dst0->records, dst0->kind, bulk_tcp), methods);
}

int splicer__first_method(const splicer_session *s, uint32_t tried) {
  return splicer__opening_method(s->kind, &s->src, &s->dst[0].ep,
                                 s->methods & ~tried, s->bulk_tcp);
}

SPLICER_COLD int splicer__settle_endpoint(struct endpoint *ep, bool source) {
  if (!ep->flags_unread)
    return 0;
  int r = read_flags(ep->fd, ep);
  if (r < 0)
    return r;
  ep->flags_unread = false;
  return (ep->flags & O_ACCMODE) == (source ? O_WRONLY : O_RDONLY) ? -EBADF : 0;
}

SPLICER_COLD int splicer__settle_ends(struct endpoint *src,
                                     struct destination *dst, size_t n_dst) {
  int r = splicer__settle_endpoint(src, true);
  for (size_t i = 0; r == 0 && i < n_dst; i++)
    r = splicer__settle_endpoint(&dst[i].ep, false);
  return r;
}

/* The open transfer's ends (splicer__settle_ends). */
static int settle_flags(splicer_session *s) {
  return splicer__settle_ends(&s->src, s->dst, s->n_dst);
}

static bool is_inet(int fd) {
  int domain = 0;
  socklen_t l = sizeof domain;
  return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) == 0 &&
         (domain == AF_INET || domain == AF_INET6);
}

int splicer__refresh_size(struct endpoint *ep) {
  struct stat st;
  if (!ep->stale_size)
    return 0;
  if (fstat(ep->fd, &st) < 0)
    return -errno;
  ep->size = st.st_size;
  ep->stale_size = false;
  return 0;
}

int64_t splicer__position(const struct endpoint *ep) {
  return ep->off >= 0 ? ep->off : lseek(ep->fd, 0, SEEK_CUR);
}

bool splicer__bulk_tcp(const struct endpoint *in, const struct endpoint *out,
                       uint64_t len) {
  if (in->kind != KIND_FILE || out->kind != KIND_SOCKET || out->records)
    return false;
  if (len == SPLICER_TO_EOF) {
    /* a kept file's size may be stale: it only steers the method, which
     * is not worth an fstat per open */
    if (in->size <= SPLICER_BULK_TCP)
      return false;
    int64_t pos = splicer__position(in);
    if (pos < 0 || in->size - pos <= SPLICER_BULK_TCP)
      return false;
  } else if (len <= SPLICER_BULK_TCP) {
    return false;
  }
  return is_inet(out->fd);
}

int splicer_method_for(int fd_in, int fd_out) {
  struct endpoint in, out;
  int r;
  if ((r = splicer__classify(fd_in, &in, NULL, false)) < 0 ||
      (r = splicer__classify(fd_out, &out, NULL, false)) < 0)
    return r;
  r = first_in_chain(chain_for(XFER_COPY, in.kind, out.records, out.kind,
                               splicer__bulk_tcp(&in, &out, SPLICER_TO_EOF)),
                     SPLICER_ALL_METHODS);
  return r < 0 ? SPLICER_METHOD_READ_WRITE : r;
}

const char *splicer_method_name(int method) {
  static const char *const names[SPLICER_METHOD_COUNT] = {
      "none", "copy_file_range", "sendfile", "splice",
      "splice_pipe", "tee", "vmsplice", "read_write"};
  return method >= 0 && method < SPLICER_METHOD_COUNT ? names[method]
                                                      : "unknown";
}

/* ---- bookkeeping -------------------------------------------------------- */

static uint64_t remaining(const splicer_session *s) {
  return s->len - s->consumed;
}

static bool source_done(const splicer_session *s) {
  return s->src_eof || s->consumed == s->len;
}

static size_t want_bytes(const splicer_session *s, uint64_t limit) {
  uint64_t w = remaining(s);
  if (w > (uint64_t)s->chunk)
    w = (uint64_t)s->chunk;
  if (w > limit)
    w = limit;
  return (size_t)w;
}

/* Every data-moving syscall's result passes through here. */
static int64_t note(splicer_session *s, int64_t r) {
  s->stats.syscalls++;
  if (r == -EAGAIN)
    s->stats.eagain++;
  else if (r == -EPIPE)
    s->saw_epipe = true;
  return r;
}

static void set_wait(splicer_session *s, int fd, short events) {
  if (s->have_wait)
    return; /* the first blocked fd of this step is the one to wait for */
  s->have_wait = true;
  s->wait_fd = fd;
  s->wait_events = events;
}

static void advance(struct endpoint *ep, int64_t n) {
  if (ep->off >= 0)
    ep->off += n;
}

/* Errors that mean "this method cannot do this transfer", not "the
 * transfer failed".  EBADF counts only for an O_APPEND destination
 * (copy_file_range refuses those); every fd was validated at open (a lazy
 * open's files by the time this is asked, see refused_late).
 * EPERM: CIFS and some FUSE filesystems refuse copy_file_range with it. */
static bool refusal(const splicer_session *s, int64_t err) {
  switch (-err) {
  case EINVAL:
  case ENOSYS:
  case EXDEV:
  case EOPNOTSUPP:
  case EPERM:
    return true;
  case EBADF:
    return (s->dst[0].ep.flags & O_APPEND) != 0;
  default:
    return false;
  }
}

/* The open's own refusal of a file, found after a lazy open: the transfer
 * ends as a refused open leaves it (none open: progress of no transfer,
 * method SPLICER_METHOD_NONE), which tells a caller that this -EBADF is the
 * open's and not a failed step's.  The ends stay recorded until the call
 * returns, so that flags set for the call are put back. */
SPLICER_COLD static int64_t refused_late(splicer_session *s, int64_t err) {
  splicer__end_transfer(s);
  s->kind = XFER_NONE;
  return err;
}

/* Before a refusal is judged: an EBADF with nothing taken, where a lazy
 * open left a file's flags unread, may be the kernel's check of what the
 * open did not check.  @return 0, or the open's error (the transfer
 * ended, refused_late). */
SPLICER_COLD static int64_t settle_before_refusal(splicer_session *s,
                                                 int64_t err) {
  int r;
  if (err != -EBADF || s->consumed != 0 ||
      (r = settle_flags(s)) == 0)
    return 0;
  return refused_late(s, r);
}

/* Move to the next method after the kernel refused the current one before
 * any byte moved.  @return RETRY, or @err when there is nothing to fall
 * back to (or fallback is off). */
static int64_t fall_back(splicer_session *s, int64_t err) {
  if (!s->fallback)
    return err;
  if (err == -ENOSYS)
    splicer__method_set_missing(s->method);
  uint32_t tried = s->tried | (1u << s->method);
  int next = splicer__first_method(s, tried);
  if (next < 0)
    return err;
  /* a method that reads the source before it touches the destination
   * needs the checks a lazy open left to the kernel done first */
  int r;
  if (!splicer__method_is_direct(s->kind, next, &s->dst[0].ep) &&
      (r = settle_flags(s)) < 0)
    return refused_late(s, r);
  s->tried = tried;
  s->method = next;
  s->stats.fallbacks++;
  return RETRY;
}

static bool nothing_delivered(const splicer_session *s) {
  for (size_t i = 0; i < s->n_dst; i++)
    if (s->dst[i].delivered)
      return false;
  return true;
}

/* Room for @need bytes in the read/write buffer.  A pooled session takes
 * one of the pool's buffers (it gives it back when the batch is delivered);
 * only more bytes than that, moved out of a pipe, need one of their own. */
static int ensure_rwbuf(splicer_session *s, size_t need) {
  if (s->rwbuf_cap >= need)
    return 0;
  if (s->pooled && !s->rwbuf && need <= SPLICER_RW_BUF_MAX) {
    if (!(s->rwbuf = splicer__pool_buf_take()))
      return -ENOMEM;
    s->rwbuf_cap = SPLICER_RW_BUF_MAX;
    s->rwbuf_pooled = true;
    return 0;
  }
  if (s->rwbuf_pooled)
    splicer__free_rwbuf(s);
  unsigned char *p = realloc(s->rwbuf, need);
  if (!p)
    return -ENOMEM;
  s->rwbuf = p;
  s->rwbuf_cap = need;
  return 0;
}

static size_t rw_batch_size(const splicer_session *s) {
  return s->chunk < SPLICER_RW_BUF_MAX ? (size_t)s->chunk : SPLICER_RW_BUF_MAX;
}

static unsigned splice_flags(const splicer_session *s) {
  return SPLICER_F_MOVE | (s->nonblock ? SPLICER_F_NONBLOCK : 0);
}

static int64_t do_read(const struct endpoint *ep, void *p, size_t n) {
  ssize_t r;
  do
    r = ep->off >= 0 ? pread(ep->fd, p, n, ep->off) : read(ep->fd, p, n);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static int64_t do_write(const struct endpoint *ep, const void *p, size_t n) {
  ssize_t r;
  do
    r = ep->off >= 0 ? pwrite(ep->fd, p, n, ep->off) : write(ep->fd, p, n);
  while (r < 0 && errno == EINTR);
  if (r == 0 && n > 0)
    return -EIO; /* no progress and no error: never spin on it */
  return r < 0 ? -errno : r;
}

/* Write from memory.  To a datagram (or seqpacket) destination every write
 * is one record of at most dgram_max bytes; one the socket finds too large
 * (EMSGSIZE: a Unix socket's sndbuf, UDP's 65,507) is tried again at half
 * the size before anything is given up, and nothing is lost meanwhile. */
static int64_t write_out(splicer_session *s, const struct endpoint *ep,
                         const void *p, size_t n) {
  if (!ep->records)
    return do_write(ep, p, n);
  for (;;) {
    size_t piece = n < s->dgram_max ? n : s->dgram_max;
    int64_t r = do_write(ep, p, piece);
    if (r != -EMSGSIZE || piece / 2 < SPLICER_DGRAM_MIN)
      return r;
    s->stats.syscalls++;
    s->dgram_max = piece / 2;
  }
}

/* Delivered bytes not yet counted by method go to @method. */
static void attribute(splicer_session *s, int method) {
  uint64_t d = splicer__min_delivered(s);
  if (d > s->attributed) {
    s->stats.bytes_by_method[method] += d - s->attributed;
    s->attributed = d;
  }
}

/* The method that carries the batch in flight: a batch that could not get a
 * pipe from the pool goes through read/write whatever the transfer's
 * method. */
static int carrier(const splicer_session *s) {
  return s->batch == BATCH_BUF ? SPLICER_METHOD_READ_WRITE : s->method;
}

/* ---- direct transfers --------------------------------------------------- */

/* @n bytes went from the source to the (only) destination in one call:
 * taken and delivered at once, nothing held. */
static void moved_direct(splicer_session *s, int64_t n) {
  advance(&s->src, n);
  advance(&s->dst[0].ep, n);
  s->consumed += (uint64_t)n;
  s->dst[0].delivered += (uint64_t)n;
}

bool splicer__method_is_direct(int kind, int method,
                               const struct endpoint *dst0) {
  switch (method) {
  case SPLICER_METHOD_COPY_FILE_RANGE:
  case SPLICER_METHOD_SENDFILE:
  case SPLICER_METHOD_SPLICE:
    return true;
  case SPLICER_METHOD_VMSPLICE:
    return dst0->kind == KIND_PIPE;
  case SPLICER_METHOD_READ_WRITE:
    return kind == XFER_BUF;
  default:
    return false;
  }
}

static bool is_direct(const splicer_session *s) {
  return splicer__method_is_direct(s->kind, s->method, &s->dst[0].ep);
}

/* After EAGAIN from a call that touches both ends: find the end that is not
 * ready, so that splicer_wait names an fd that really is not ready (an
 * edge-triggered poller such as Go's or epoll's EPOLLET would otherwise wait
 * for an edge that never comes).  Regular files and sealed buffers are
 * always ready.  @return true when both ends are ready: the EAGAIN raced
 * with the peer and the call should simply be made again. */
static bool wait_for_either(splicer_session *s) {
  struct pollfd p[2] = {{.fd = s->src.fd, .events = POLLIN},
                        {.fd = s->dst[0].ep.fd, .events = POLLOUT}};
  bool src_ready = true, dst_ready = true;
  if (s->kind == XFER_BUF) {
    dst_ready = poll(&p[1], 1, 0) > 0;
  } else if (poll(p, 2, 0) >= 0) {
    src_ready = p[0].revents != 0;
    dst_ready = p[1].revents != 0;
  }
  if (!src_ready)
    set_wait(s, s->src.fd, POLLIN);
  else if (!dst_ready)
    set_wait(s, s->dst[0].ep.fd, POLLOUT);
  return src_ready && dst_ready;
}

/* The one syscall of a direct method. */
static int64_t direct_call(splicer_session *s, size_t want) {
  struct endpoint *in = &s->src, *out = &s->dst[0].ep;
  switch (s->method) {
  case SPLICER_METHOD_COPY_FILE_RANGE:
    return splicer_copy_file_range(in->fd, in->off, out->fd, out->off, want);
  case SPLICER_METHOD_SENDFILE:
    return splicer_sendfile(out->fd, in->fd, in->off, want);
  case SPLICER_METHOD_SPLICE:
    return splicer_splice(in->fd, in->off, out->fd, out->off, want,
                          splice_flags(s));
  case SPLICER_METHOD_VMSPLICE: {
    struct iovec iov = {s->buf->data + s->consumed, want};
    /* vmsplice(2), unlike splice(2), ignores the pipe's own O_NONBLOCK */
    bool nb = s->nonblock || (out->flags & O_NONBLOCK);
    return splicer_vmsplice(out->fd, &iov, 1, nb ? SPLICER_F_NONBLOCK : 0);
  }
  default: /* read/write of a sealed buffer */
    return write_out(s, out, s->buf->data + s->consumed, want);
  }
}

static int64_t step_direct(splicer_session *s) {
  struct endpoint *in = &s->src, *out = &s->dst[0].ep;
  size_t want = want_bytes(s, UINT64_MAX);
  int64_t n;
  /* EAGAIN with both ends ready means it raced with the peer: call again,
   * a bounded number of times so that an fd that polls ready but still
   * refuses cannot make the session spin.  A zero-length datagram is not
   * the end of input: read on (its queue is finite; a blocking source then
   * waits for the next datagram as read(2) would). */
  for (int attempt = 0;;) {
    n = note(s, direct_call(s, want));
    if (n == 0 && in->dgram && s->kind != XFER_BUF && want > 0)
      continue;
    if (n != -EAGAIN)
      break;
    if (!wait_for_either(s))
      return n;
    if (attempt++ == 2) {
      set_wait(s, out->fd, POLLOUT);
      return n;
    }
  }
  if (n > 0) {
    moved_direct(s, n);
    return n;
  }
  if (n == 0) {
    if (s->kind == XFER_BUF)
      return -EIO;
    /* procfs and friends: zero-copy reads 0 where read(2) has data */
    int64_t next;
    if (s->consumed == 0 && on_pseudo_fs(in) && (next = fall_back(s, 0)) != 0)
      return next; /* RETRY, or the open's refusal (refused_late) */
    s->src_eof = true;
    return 0;
  }
  int64_t refused = settle_before_refusal(s, n);
  if (refused < 0)
    return refused;
  if (s->consumed == 0 && refusal(s, n))
    return fall_back(s, n);
  return n;
}

/* ---- staged transfers --------------------------------------------------- */

static size_t pipes_needed(const splicer_session *s) {
  return s->kind == XFER_TEE ? s->n_dst : 1;
}

/* The pipe destination i drains. */
static int pipe_of(const splicer_session *s, size_t i) {
  return s->pipes[s->kind == XFER_TEE ? i : 0][0];
}

/* Pipes for the next batch: the session's own, or a loan from the pool.
 * Only called while nothing is pending, so any pipe it yields is empty.
 * @return 0, -ENOBUFS (the pool has none to lend), or -errno. */
static int acquire_pipes(splicer_session *s) {
  size_t n = pipes_needed(s);
  if (!s->pooled)
    return splicer__ensure_pipes(s, n);
  int r = splicer__pool_borrow(s->pipes, n, &s->lease);
  if (r < 0)
    return r;
  s->n_borrowed = n;
  s->pipe_cap = s->lease.cap;
  return 0;
}

/* Give back what held the batch, now empty: the pool's pipes go back to the
 * pool, and a pooled session's buffer is freed, so that a session between
 * batches holds neither. */
static void release_batch(splicer_session *s) {
  attribute(s, carrier(s));
  if (s->batch != BATCH_NONE && !s->batch_blocked && s->batch_limit > 0) {
    s->batch_limit *= 2;
    if (s->batch_limit >= SPLICER_RW_BUF_MAX * 4)
      s->batch_limit = 0; /* no limit but the pipe again */
  }
  if (s->n_borrowed > 0) {
    splicer__pool_return(s->pipes, s->n_borrowed, &s->lease);
    s->n_borrowed = 0;
    s->pipe_cap = 0;
  }
  if (s->pooled && s->rwbuf)
    splicer__free_rwbuf(s);
  s->batch = BATCH_NONE;
  s->rw_len = 0;
}

/* Read exactly @n bytes out of the pipe @fd, which holds at least that.
 * @return 0, or -errno (-EIO for a pipe that held less). */
static int read_pipe(int fd, unsigned char *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? -errno : -EIO;
    got += (size_t)r;
  }
  return 0;
}

/* The kernel refused to deliver from our pipe (say, a destination without
 * splice_write) before any destination received a byte: move the batch
 * into the read/write buffer and carry on there.  Bytes already taken from
 * the source are kept, not re-read. */
static int64_t migrate_to_read_write(splicer_session *s, int64_t err) {
  if (!s->fallback)
    return err;
  if (s->kind == XFER_BUF) {
    /* the sealed buffer still has them: just forget the pipe's copy */
    splicer__drop_pipes(s);
    s->consumed = 0;
    s->batch = BATCH_NONE;
    return fall_back(s, err);
  }
  size_t batch = (size_t)s->consumed;
  int r = ensure_rwbuf(s, batch > rw_batch_size(s) ? batch : rw_batch_size(s));
  if (r < 0)
    return r;
  int64_t rr = fall_back(s, err);
  if (rr != RETRY)
    return rr;
  if ((r = read_pipe(s->pipes[0][0], s->rwbuf, batch)) < 0)
    return r;
  splicer__drop_pipes(s); /* the other pipes hold copies of the same batch */
  s->batch = BATCH_BUF;
  s->rw_len = batch;
  return RETRY;
}

/* A destination blocked after taking @took bytes in this call: the next
 * batch takes about that much (at least a quarter of the last, at least
 * SPLICER_MIN_BATCH). */
static void shrink_batch(splicer_session *s, uint64_t took) {
  s->batch_blocked = true;
  if (!s->pooled)
    return;
  size_t cur = s->batch_limit ? s->batch_limit : s->batch_len;
  size_t want = (size_t)took & ~(size_t)4095;
  if (want < cur / 4)
    want = cur / 4;
  if (want < SPLICER_MIN_BATCH)
    want = SPLICER_MIN_BATCH;
  if (want < cur)
    s->batch_limit = want;
}

/* The destination blocked with bytes left in a borrowed pipe.  While the
 * pool has pipes to spare the pipe waits with them for POLLOUT; when it has
 * none, the bytes left are moved into a buffer and the pipe goes back at
 * once: a copy of the tail of one batch, instead of the whole batches that
 * other sessions would move by read/write while this pipe waits. */
static void spill(splicer_session *s) {
  if (s->n_borrowed != 1 || s->kind != XFER_COPY || s->batch != BATCH_PIPE ||
      !splicer__pool_short())
    return;
  size_t left = (size_t)(s->consumed - s->dst[0].delivered);
  if (ensure_rwbuf(s, left) < 0)
    return; /* the pipe keeps them */
  int r = read_pipe(s->pipes[0][0], s->rwbuf, left);
  attribute(s, s->method); /* what the pipe delivered */
  if (r < 0) {
    /* cannot happen (the pipe holds exactly what is owed); if it does, the
     * bytes read so far are lost with the pipe */
    splicer__drop_pipes(s);
    s->batch = BATCH_NONE;
    return;
  }
  s->stats.syscalls++;
  s->stats.pool_spills++;
  splicer__pool_return_early(s->pipes, s->n_borrowed, &s->lease);
  s->n_borrowed = 0;
  s->pipe_cap = 0;
  s->batch = BATCH_BUF;
  s->rw_len = left;
}

/* Deliver what each destination is owed.
 * @return 0 when nothing is pending any more (what held the batch is given
 * back), -EAGAIN when a destination would block (the others were still
 * served), RETRY after a fallback, or -errno. */
static int64_t drain(splicer_session *s) {
  if (s->batch == BATCH_NONE)
    return 0;
  bool blocked = false;
  for (size_t i = 0; i < s->n_dst; i++) {
    struct destination *d = &s->dst[i];
    uint64_t took = 0;
    while (d->delivered < s->consumed) {
      uint64_t owed = s->consumed - d->delivered;
      int64_t n;
      if (s->batch == BATCH_BUF)
        n = write_out(s, &d->ep, s->rwbuf + (s->rw_len - owed), (size_t)owed);
      else
        n = splicer_splice(pipe_of(s, i), SPLICER_OFF_CUR, d->ep.fd, d->ep.off,
                           owed, splice_flags(s));
      note(s, n);
      if (n > 0) {
        d->delivered += (uint64_t)n;
        took += (uint64_t)n;
        advance(&d->ep, n);
        continue;
      }
      if (n == 0)
        n = -EIO;
      if (n == -EAGAIN) {
        set_wait(s, d->ep.fd, POLLOUT);
        blocked = true;
        s->dst_blocked = true;
        shrink_batch(s, took);
        break;
      }
      if (s->batch == BATCH_PIPE && refusal(s, n) && nothing_delivered(s))
        return migrate_to_read_write(s, n);
      return n;
    }
  }
  if (blocked) {
    spill(s);
    return -EAGAIN;
  }
  release_batch(s);
  return 0;
}

static bool may_block(const struct endpoint *ep, const splicer_session *s) {
  return !s->nonblock && !(ep->flags & O_NONBLOCK) &&
         (ep->kind == KIND_PIPE || ep->kind == KIND_SOCKET ||
          ep->kind == KIND_CHAR || ep->kind == KIND_OTHER);
}

/* A pooled session holds a pipe (or buffer) only while bytes are in
 * flight, so before it takes a batch it waits without one:
 *   - for destinations that refused bytes (EAGAIN) since the last batch,
 *     until they are writable again: a batch taken now would sit in its
 *     pipe until then;
 *   - in blocking mode, for a source that came back short last time, until
 *     it is readable: a thread blocked in splice(2) would hold its pipe.
 * @return 0 to go on, or -EAGAIN (the wait is set). */
static int64_t wait_before_fill(splicer_session *s) {
  if (!s->pooled)
    return 0;
  if (s->dst_blocked) {
    struct pollfd p[SPLICER_TEE_MAX];
    for (size_t i = 0; i < s->n_dst; i++)
      p[i] = (struct pollfd){.fd = s->dst[i].ep.fd, .events = POLLOUT};
    if (poll(p, s->n_dst, 0) >= 0)
      for (size_t i = 0; i < s->n_dst; i++)
        if (p[i].revents == 0) {
          set_wait(s, p[i].fd, POLLOUT);
          return -EAGAIN;
        }
    s->dst_blocked = false;
  }
  if (s->kind != XFER_BUF && s->src_may_block && may_block(&s->src, s)) {
    /* FIONREAD costs about two thirds of a poll and answers the common
     * case (bytes are there); poll only when it says none or cannot say */
    int avail = 0;
    if (ioctl(s->src.fd, FIONREAD, &avail) < 0 || avail <= 0) {
      struct pollfd p = {.fd = s->src.fd, .events = POLLIN};
      while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    }
  }
  return 0;
}

/* One batch into the pipes (pipes[0] from the source, the others by tee).
 * @return bytes taken, or what the syscall returned. */
static int64_t fill_pipe(splicer_session *s, size_t want) {
  int64_t n;
  if (s->kind == XFER_BUF) {
    struct iovec iov = {s->buf->data + s->consumed, want};
    n = splicer_vmsplice(s->pipes[0][1], &iov, 1, SPLICER_F_NONBLOCK);
  } else {
    n = splicer_splice(s->src.fd, s->src.off, s->pipes[0][1], SPLICER_OFF_CUR,
                       want, splice_flags(s));
  }
  note(s, n);
  for (size_t i = 1; n > 0 && i < pipes_needed(s); i++) {
    /* pipes[i] is empty and as large as pipes[0]: tee takes it all */
    int64_t t = note(s, splicer_tee(s->pipes[0][0], s->pipes[i][1],
                                    (uint64_t)n, SPLICER_F_NONBLOCK));
    if (t != n) {
      /* cannot happen with equal capacities; if it does, the batch is
       * not in every pipe, so it must not be delivered anywhere */
      splicer__drop_pipes(s);
      s->consumed += (uint64_t)n;
      return t < 0 ? t : -EIO;
    }
  }
  if (n > 0)
    s->batch = BATCH_PIPE;
  else
    release_batch(s); /* nothing taken: the pipes are empty */
  return n;
}

/* One batch of at most @want bytes into the read/write buffer. */
static int64_t fill_buf(splicer_session *s, size_t want) {
  int r = ensure_rwbuf(s, rw_batch_size(s));
  if (r < 0)
    return r;
  int64_t n = note(s, do_read(&s->src, s->rwbuf, want));
  s->batch = BATCH_BUF;
  if (n > 0)
    s->rw_len = (size_t)n;
  else
    release_batch(s); /* nothing taken: the buffer goes back */
  return n;
}

/* A sealed buffer whose staging pipe could not be had is written straight
 * from the buffer: it holds the bytes already. */
static int64_t write_buf_direct(splicer_session *s) {
  struct endpoint *out = &s->dst[0].ep;
  int64_t n = note(s, write_out(s, out, s->buf->data + s->consumed,
                                want_bytes(s, rw_batch_size(s))));
  if (n > 0) {
    moved_direct(s, n);
    attribute(s, SPLICER_METHOD_READ_WRITE);
  } else if (n == -EAGAIN) {
    s->dst_blocked = true;
    set_wait(s, out->fd, POLLOUT);
  }
  return n;
}

/* A file batch that could not get a pool pipe goes by sendfile(2), which
 * needs none and copies nothing, where sendfile can serve the transfer. */
static bool sendfile_serves(const splicer_session *s) {
  const struct endpoint *out = &s->dst[0].ep;
  return s->kind == XFER_COPY &&
         (s->src.kind == KIND_FILE || s->src.kind == KIND_BLOCK) &&
         out->off < 0 && !out->records &&
         (s->methods & ~s->tried & (1u << SPLICER_METHOD_SENDFILE)) &&
         !splicer__method_missing(SPLICER_METHOD_SENDFILE);
}

/* @return bytes moved (taken and delivered at once), 0 at end of input,
 * -EAGAIN, or -errno; -ENOBUFS when the kernel refused sendfile for this
 * transfer (the caller goes by read/write instead). */
static int64_t sendfile_batch(splicer_session *s) {
  struct endpoint *in = &s->src, *out = &s->dst[0].ep;
  int64_t n = note(s, splicer_sendfile(out->fd, in->fd, in->off,
                                       want_bytes(s, UINT64_MAX)));
  if (n > 0) {
    moved_direct(s, n);
    attribute(s, SPLICER_METHOD_SENDFILE);
  } else if (n == 0) {
    s->src_eof = true;
  } else if (n == -EAGAIN) {
    s->dst_blocked = true;
    set_wait(s, out->fd, POLLOUT);
  } else if (refusal(s, n)) {
    s->tried |= 1u << SPLICER_METHOD_SENDFILE;
    return -ENOBUFS;
  }
  return n;
}

/* Take one batch from the source.  Called only when nothing is pending, so
 * every internal pipe is empty and no buffer holds bytes.
 * @return bytes taken, 0 at end of input, EMPTY_DATAGRAM, RETRY after a
 * fallback, -errno. */
static int64_t fill(splicer_session *s) {
  int64_t n = wait_before_fill(s);
  if (n < 0)
    return n;
  uint64_t limit = rw_batch_size(s);
  bool via_buf = s->method == SPLICER_METHOD_READ_WRITE;
  if (!via_buf) {
    int r = acquire_pipes(s);
    if (r == -ENOBUFS && s->pooled) {
      /* the pool has nothing to lend: this batch goes by read/write */
      s->stats.pool_misses++;
      if (sendfile_serves(s) && (n = sendfile_batch(s)) != -ENOBUFS)
        return n;
      if (!(s->methods & (1u << SPLICER_METHOD_READ_WRITE)))
        return -ENOBUFS;
      if (s->kind == XFER_BUF)
        return write_buf_direct(s);
      via_buf = true;
      if (limit > SPLICER_MISS_BATCH)
        limit = SPLICER_MISS_BATCH;
    } else if (r < 0) {
      return r;
    } else {
      limit = (uint64_t)s->pipe_cap;
      if (s->pooled && (uint64_t)s->pipe_size < limit)
        limit = (uint64_t)s->pipe_size;
    }
  }
  if (s->pooled && s->batch_limit > 0 && s->batch_limit < limit)
    limit = s->batch_limit;
  size_t want = want_bytes(s, limit);
  n = via_buf ? fill_buf(s, want) : fill_pipe(s, want);
  if (n > 0) {
    s->batch_len = (size_t)n;
    s->batch_blocked = false;
    advance(&s->src, n);
    s->consumed += (uint64_t)n;
    s->src_may_block = (size_t)n < want;
    return n;
  }
  if (n == 0) {
    if (s->src.dgram && want > 0) {
      s->src_may_block = true;
      return EMPTY_DATAGRAM;
    }
    int64_t next;
    if (s->consumed == 0 && !via_buf && on_pseudo_fs(&s->src) &&
        (next = fall_back(s, 0)) != 0)
      return next; /* RETRY, or the open's refusal (refused_late) */
    s->src_eof = true;
    return 0;
  }
  if (n == -EAGAIN) {
    s->src_may_block = true;
    set_wait(s, s->src.fd, POLLIN);
    return n;
  }
  if (s->consumed == 0 && !via_buf && refusal(s, n))
    return fall_back(s, n);
  return n;
}

/* Deliver what is pending, then take and deliver at most one more batch.
 * @return 0 (no error; progress is measured by the caller), -EAGAIN,
 * RETRY, or -errno. */
static int64_t step_staged(splicer_session *s) {
  int64_t r = drain(s);
  if (r != 0)
    return r;
  if (source_done(s))
    return 0;
  do
    r = fill(s);
  while (r == EMPTY_DATAGRAM);
  if (r <= 0) /* end of input, -EAGAIN, RETRY or an error */
    return r;
  return drain(s);
}

/* ---- the guard around a public call -------------------------------------- */

struct guard {
  bool sig_blocked;
  bool sigpipe_was_pending;
  sigset_t old_mask;
};

static bool may_raise_sigpipe(const splicer_session *s) {
  for (size_t i = 0; i < s->n_dst; i++)
    if (s->dst[i].ep.kind == KIND_PIPE || s->dst[i].ep.kind == KIND_SOCKET)
      return true;
  return false;
}

static void toggle_nonblock(struct endpoint *ep, bool on) {
  if (ep->fd < 0 || ep->kind == KIND_FILE || (ep->flags & O_NONBLOCK))
    return;
  if (on && fcntl(ep->fd, F_SETFL, ep->flags | O_NONBLOCK) == 0)
    ep->toggled = true;
  else if (!on && ep->toggled) {
    fcntl(ep->fd, F_SETFL, ep->flags);
    ep->toggled = false;
  }
}

/* SPLICER_OPT_NONBLOCK on the caller's blocking fds: set O_NONBLOCK on
 * every end for one call, then put their flags back. */
static void toggle_all(splicer_session *s, bool on) {
  if (!s->nonblock)
    return;
  toggle_nonblock(&s->src, on);
  for (size_t i = 0; i < s->n_dst; i++)
    toggle_nonblock(&s->dst[i].ep, on);
}

static void guard_enter(splicer_session *s, struct guard *g) {
  g->sig_blocked = false;
  s->saw_epipe = false;
  toggle_all(s, true);
  if (!s->sigpipe_guard || !may_raise_sigpipe(s))
    return;
  /* Only the default disposition kills.  One query keeps the common cases
   * (SIGPIPE ignored, as servers do; or caught, as Ruby and Go runtimes
   * do) at a single syscall per call: measured ~40 ns, against ~330 ns for
   * the full block/consume/restore guard, which a stepping event loop
   * would pay on every step.  A handler runs as the program arranged. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 &&
      ((sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL))
    return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &set, &g->old_mask) != 0)
    return;
  g->sig_blocked = true;
  g->sigpipe_was_pending = false;
  if (sigismember(&g->old_mask, SIGPIPE)) {
    /* blocked by the caller already: leave a SIGPIPE that was pending
     * before this call for the caller */
    sigset_t pend;
    if (sigpending(&pend) == 0)
      g->sigpipe_was_pending = sigismember(&pend, SIGPIPE);
  }
}

static void guard_leave(splicer_session *s, struct guard *g) {
  if (g->sig_blocked) {
    if (s->saw_epipe && !g->sigpipe_was_pending) {
      /* the kernel sends SIGPIPE to this thread with EPIPE: consume it
       * while it is still blocked */
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      struct timespec zero = {0, 0};
      while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
        ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
  }
  toggle_all(s, false);
}

/* ---- public stepping ------------------------------------------------------ */

static void finish_if_done(splicer_session *s) {
  if (s->active && source_done(s) && s->consumed == splicer__min_delivered(s))
    splicer__end_transfer(s);
}

/* One step without the guard.  @return bytes delivered (to every
 * destination) by this step, 0 when finished, or -errno. */
int64_t splicer__step(splicer_session *s) {
  s->have_wait = false;
  if (!s->active)
    return 0;
  uint64_t before = splicer__min_delivered(s);
  int64_t r;
  do
    r = is_direct(s) ? step_direct(s) : step_staged(s);
  while (r == RETRY);
  uint64_t delta = splicer__min_delivered(s) - before;
  s->stats.bytes += delta;
  attribute(s, carrier(s));
  finish_if_done(s);
  if (delta > 0) {
    /* the error (if any) comes back on the next step; a pending EAGAIN
     * wait is meaningless when something moved */
    if (r != -EAGAIN)
      s->have_wait = false;
    return (int64_t)delta;
  }
  if (r < 0)
    return r;
  if (s->active) {
    /* nothing delivered, no error, not finished: a destination of a tee
     * took bytes while another is still owed them */
    return -EAGAIN;
  }
  return 0;
}

int64_t splicer_step(splicer_session *s) {
  if (!s)
    return -EINVAL;
  if (!s->active) {
    s->have_wait = false;
    return 0;
  }
  struct guard g;
  guard_enter(s, &g);
  int64_t r = splicer__step(s);
  guard_leave(s, &g);
  return r;
}

int64_t splicer_run(splicer_session *s) {
  if (!s)
    return -EINVAL;
  if (!s->active) {
    s->have_wait = false;
    return 0;
  }
  struct guard g;
  guard_enter(s, &g);
  int64_t total = 0, r;
  while ((r = splicer__step(s)) > 0)
    total += r;
  guard_leave(s, &g);
  return r < 0 ? r : total;
}

int splicer_wait(const splicer_session *s, int *fd, short *events) {
  if (!s || !fd || !events || !s->have_wait)
    return -EINVAL;
  *fd = s->wait_fd;
  *events = s->wait_events;
  return 0;
}

int64_t splicer_copy(splicer_session *s, int fd_in, int fd_out, uint64_t len) {
  int r = splicer_open(s, fd_in, SPLICER_OFF_CUR, fd_out, SPLICER_OFF_CUR, len);
  return r < 0 ? r : splicer_run(s);
}
