/* The session: options, internal pipes, opening and ending transfers,
 * progress and statistics.  Moving bytes is transfer.c's job. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int splicer_session_new(splicer_session **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  splicer_session *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->pipe_size = SPLICER_DEFAULT_PIPE_SIZE;
  s->chunk = SPLICER_DEFAULT_CHUNK;
  s->fallback = true;
  s->sigpipe_guard = true;
  s->pooled = true;
  s->methods = SPLICER_ALL_METHODS;
  for (size_t i = 0; i < SPLICER_TEE_MAX; i++)
    s->pipes[i][0] = s->pipes[i][1] = -1;
  *out = s;
  return 0;
}

void splicer_session_free(splicer_session *s) {
  if (!s)
    return;
  splicer__end_transfer(s);
  splicer__drop_pipes(s);
  splicer__free_rwbuf(s);
  free(s);
}

static uint64_t pending_of(const splicer_session *s) {
  return s->kind == XFER_NONE ? 0 : s->consumed - splicer__min_delivered(s);
}

void splicer__free_rwbuf(splicer_session *s) {
  if (s->rwbuf_pooled)
    splicer__pool_buf_give(s->rwbuf);
  else
    free(s->rwbuf);
  s->rwbuf_pooled = false;
  s->rwbuf = NULL;
  s->rwbuf_cap = 0;
  s->rw_len = 0;
}

static void close_own_pipes(splicer_session *s) {
  for (size_t i = 0; i < SPLICER_TEE_MAX; i++) {
    for (int j = 0; j < 2; j++) {
      if (s->pipes[i][j] >= 0)
        close(s->pipes[i][j]);
      s->pipes[i][j] = -1;
    }
  }
  s->pipe_cap = 0;
}

void splicer__drop_pipes(splicer_session *s) {
  if (s->n_borrowed > 0) {
    splicer__pool_discard(s->pipes, s->n_borrowed, &s->lease);
    s->n_borrowed = 0;
    s->pipe_cap = 0;
  } else {
    close_own_pipes(s);
  }
  if (s->batch == BATCH_PIPE)
    s->batch = BATCH_NONE;
}

/* Ask for @want bytes; when the kernel refuses (EPERM above pipe-max-size
 * or with pipe-user-pages-soft exhausted, ENOMEM), settle for less: a
 * smaller pipe costs throughput, never the transfer.
 * @return the capacity the pipe has afterwards. */
static int resize_pipe(int fd, int want) {
  int r = fcntl(fd, F_SETPIPE_SZ, want);
  if (r > 0)
    return r;
  int have = fcntl(fd, F_GETPIPE_SZ);
  for (int w = want / 2; w > have; w /= 2) {
    r = fcntl(fd, F_SETPIPE_SZ, w);
    if (r > 0)
      return r;
  }
  return have;
}

/* Size pipes[0 .. n-1] as asked by the option and give them all the same
 * capacity (the least any of them got), so that tee(2) from pipes[0] into
 * an empty pipes[i] always takes the whole batch.  Only called while no
 * pipe holds data.  On failure pipe_cap is 0, so the next transfer tries
 * again. */
static int size_pipes(splicer_session *s, size_t n) {
  int cap = 0;
  s->pipe_cap = 0;
  for (size_t i = 0; i < n; i++) {
    int got = resize_pipe(s->pipes[i][1], (int)s->pipe_size);
    if (got <= 0)
      return -EIO;
    if (cap == 0 || got < cap)
      cap = got;
  }
  for (size_t i = 0; i < n; i++)
    if (fcntl(s->pipes[i][1], F_GETPIPE_SZ) != cap &&
        fcntl(s->pipes[i][1], F_SETPIPE_SZ, cap) < 0)
      return -errno;
  s->pipe_cap = cap;
  return 0;
}

/* Create pipes[0 .. n-1] that do not exist yet, sized as size_pipes()
 * says.  Only called while no pipe holds data. */
int splicer__ensure_pipes(splicer_session *s, size_t n) {
  bool created = false;
  for (size_t i = 0; i < n; i++) {
    if (s->pipes[i][0] >= 0)
      continue;
    if (pipe2(s->pipes[i], O_CLOEXEC) < 0) {
      int e = -errno;
      s->pipes[i][0] = s->pipes[i][1] = -1;
      return e;
    }
    created = true;
  }
  if (!created && s->pipe_cap > 0)
    return 0;
  return size_pipes(s, n);
}

/* End the current transfer: drop the sealed buffer it owned.  Pipes that
 * hold bytes are closed by the caller (abort), never reused. */
void splicer__end_transfer(splicer_session *s) {
  if (s->buf) {
    splicer_buf_free(s->buf);
    s->buf = NULL;
  }
  s->active = false;
  s->have_wait = false;
}

/* ---- options ----------------------------------------------------------- */

static bool is_bool(int64_t v) { return v == 0 || v == 1; }

int splicer_session_set(splicer_session *s, int option, int64_t value) {
  if (!s)
    return -EINVAL;
  switch (option) {
  case SPLICER_OPT_PIPE_SIZE:
    if (value < SPLICER_MIN_PIPE_SIZE || value > SPLICER_MAX_OPTION_SIZE)
      return -EINVAL;
    if (pending_of(s) > 0)
      return -EBUSY;
    s->pipe_size = value;
    if (!s->pooled && s->pipes[0][0] >= 0) {
      /* resize the empty pipes now, so that get reports the kernel's
       * answer; a failure leaves pipe_cap 0 and the next transfer retries */
      size_t n = 0;
      while (n < SPLICER_TEE_MAX && s->pipes[n][0] >= 0)
        n++;
      (void)size_pipes(s, n);
    }
    return 0;
  case SPLICER_OPT_CHUNK:
    if (value < 1 || value > SPLICER_MAX_OPTION_SIZE)
      return -EINVAL;
    s->chunk = value;
    return 0;
  case SPLICER_OPT_NONBLOCK:
    if (!is_bool(value))
      return -EINVAL;
    s->nonblock = value;
    return 0;
  case SPLICER_OPT_FALLBACK:
    if (!is_bool(value))
      return -EINVAL;
    s->fallback = value;
    return 0;
  case SPLICER_OPT_METHODS:
    if (value <= 0 || ((uint64_t)value & ~(uint64_t)SPLICER_ALL_METHODS))
      return -EINVAL;
    s->methods = (uint32_t)value;
    return 0;
  case SPLICER_OPT_SIGPIPE:
    if (!is_bool(value))
      return -EINVAL;
    s->sigpipe_guard = value;
    return 0;
  case SPLICER_OPT_POOL:
    if (!is_bool(value))
      return -EINVAL;
    if (pending_of(s) > 0)
      return -EBUSY;
    if (value && !s->pooled) {
      close_own_pipes(s); /* empty: nothing is pending */
      splicer__free_rwbuf(s);
    }
    s->pooled = value;
    return 0;
  case SPLICER_OPT_LAZY_FILES:
    if (!is_bool(value))
      return -EINVAL;
    s->lazy_files = value;
    return 0;
  default:
    return -EINVAL;
  }
}

int splicer_session_get(const splicer_session *s, int option, int64_t *value) {
  if (!s || !value)
    return -EINVAL;
  switch (option) {
  case SPLICER_OPT_PIPE_SIZE:
    if (s->pooled) {
      int64_t cap = splicer__pool_cap();
      *value = s->pipe_size < cap ? s->pipe_size : cap;
    } else {
      *value = s->pipe_cap > 0 ? s->pipe_cap : s->pipe_size;
    }
    return 0;
  case SPLICER_OPT_CHUNK:
    *value = s->chunk;
    return 0;
  case SPLICER_OPT_NONBLOCK:
    *value = s->nonblock;
    return 0;
  case SPLICER_OPT_FALLBACK:
    *value = s->fallback;
    return 0;
  case SPLICER_OPT_METHODS:
    *value = s->methods;
    return 0;
  case SPLICER_OPT_SIGPIPE:
    *value = s->sigpipe_guard;
    return 0;
  case SPLICER_OPT_POOL:
    *value = s->pooled;
    return 0;
  case SPLICER_OPT_LAZY_FILES:
    *value = s->lazy_files;
    return 0;
  default:
    return -EINVAL;
  }
}

/* ---- kept descriptors ---------------------------------------------------- */

/* The slot that keeps @fd, or n_kept when none does. */
static size_t kept_index(const splicer_session *s, int fd) {
  size_t i = 0;
  while (i < s->n_kept && s->kept[i].fd != fd)
    i++;
  return i;
}

int splicer_session_keep(splicer_session *s, int fd, int kind) {
  if (!s)
    return -EINVAL;
  struct endpoint ep;
  int r = splicer__classify_kept(fd, kind, &ep, s);
  if (r < 0)
    return r;
  size_t i = kept_index(s, fd);
  if (i == SPLICER_KEEP_MAX)
    return -ENOSPC;
  s->kept[i] = ep;
  if (i == s->n_kept)
    s->n_kept++;
  return 0;
}

int splicer_session_forget(splicer_session *s, int fd) {
  if (!s)
    return -EINVAL;
  if (fd == -1) {
    s->n_kept = 0;
    return 0;
  }
  size_t i = kept_index(s, fd);
  if (i == s->n_kept)
    return -ENOENT;
  s->kept[i] = s->kept[--s->n_kept];
  return 0;
}

/* ---- opening transfers ------------------------------------------------- */

static int check_offset(const struct endpoint *ep, int64_t off) {
  if (off < SPLICER_OFF_CUR)
    return -EINVAL;
  if (off >= 0 && (ep->kind == KIND_PIPE || ep->kind == KIND_SOCKET))
    return -ESPIPE;
  return 0;
}

/* A kept fd's endpoint as kept; any other fd classified now, leaving a
 * regular file's flags unread when @lazy_file. */
static int endpoint_of(splicer_session *s, int fd, struct endpoint *ep,
                       bool lazy_file) {
  size_t i = kept_index(s, fd);
  if (i == s->n_kept)
    return splicer__classify(fd, ep, s, lazy_file);
  *ep = s->kept[i];
  return 0;
}

static int classify_source(splicer_session *s, int fd, int64_t off,
                           struct endpoint *ep, bool lazy_file) {
  int r = endpoint_of(s, fd, ep, lazy_file);
  if (r < 0)
    return r;
  if ((ep->flags & O_ACCMODE) == O_WRONLY)
    return -EBADF;
  if ((r = check_offset(ep, off)) < 0)
    return r;
  ep->off = off;
  return 0;
}

static int classify_destination(splicer_session *s, int fd, int64_t off,
                                struct endpoint *ep, bool lazy_file) {
  /* an offset on an O_APPEND file is refused at open: its flags decide */
  int r = endpoint_of(s, fd, ep, lazy_file && off < 0);
  if (r < 0)
    return r;
  if ((ep->flags & O_ACCMODE) == O_RDONLY)
    return -EBADF;
  if ((r = check_offset(ep, off)) < 0)
    return r;
  /* pwrite on an O_APPEND file appends anyway: refuse rather than write
   * somewhere the caller did not ask for */
  if (off >= 0 && (ep->flags & O_APPEND))
    return -EINVAL;
  ep->off = off;
  return 0;
}

/* A source and a destination that are one object.  A socket may be read and
 * written at once (an echo server's Copy(c, c)); so may a tty.  A pipe
 * would read back what it writes.  A regular file or block device can be
 * copied onto itself only where the two ranges are known and disjoint: a
 * copy onto an overlapping range reads bytes it has already overwritten
 * (copy_file_range(2) refuses it with EINVAL too).  A length to the end of
 * the file is fixed to its size at open, so the copy never chases its own
 * output.  *len receives the length to use. */
static int check_self_transfer(struct endpoint *in, struct endpoint *out,
                               uint64_t *len) {
  if (in->kind != out->kind || in->dev != out->dev || in->ino != out->ino ||
      in->anonymous || out->anonymous)
    return 0;
  switch (in->kind) {
  case KIND_PIPE:
    return -EINVAL;
  case KIND_FILE:
  case KIND_BLOCK:
    break;
  default:
    return 0;
  }
  int r = splicer__refresh_size(in);
  if (r < 0)
    return r;
  /* O_APPEND decides where the copy writes */
  if ((r = splicer__settle_endpoint(out, false)) < 0)
    return r;
  int64_t pin = splicer__position(in);
  int64_t pout = out->off < 0 && (out->flags & O_APPEND) ? in->size
                                                         : splicer__position(out);
  if (pin < 0 || pout < 0)
    return -EINVAL;
  uint64_t n = *len;
  if (n == SPLICER_TO_EOF) {
    if (in->kind == KIND_BLOCK)
      return -EINVAL; /* no size to bound it by */
    n = in->size > pin ? (uint64_t)(in->size - pin) : 0;
  }
  if (n > 0 && (uint64_t)pin < (uint64_t)pout + n &&
      (uint64_t)pout < (uint64_t)pin + n)
    return -EINVAL;
  *len = n;
  return 0;
}

/* Validation is complete before anything changes: a refused open leaves the
 * previous transfer's progress readable. */
static int open_transfer(splicer_session *s, int kind, int fd_in,
                         int64_t off_in, const int *fds_out, size_t n_out,
                         int64_t off_out, uint64_t len) {
  if (pending_of(s) > 0)
    return -EBUSY;
  struct endpoint src = {.fd = -1, .kind = KIND_OTHER, .off = SPLICER_OFF_CUR};
  struct destination dst[SPLICER_TEE_MAX];
  /* only n_out are used; a copy's one is zeroed and moved by assignment,
   * without the calls to memset and memcpy a fan-out needs */
  if (n_out == 1)
    dst[0] = (struct destination){0};
  else
    memset(dst, 0, n_out * sizeof dst[0]);
  int r;
  bool lazy = s->lazy_files && kind == XFER_COPY && len > 0;
  size_t n_seen = 0; /* destinations looked at, for a refusal's order (one
                        whose fstat failed has no flags left unread) */
  if (kind != XFER_BUF &&
      (r = classify_source(s, fd_in, off_in, &src, lazy)) < 0)
    goto refused;
  for (size_t i = 0; i < n_out; i++) {
    n_seen = i + 1;
    if ((r = classify_destination(s, fds_out[i], off_out, &dst[i].ep, lazy)) < 0)
      goto refused;
    if (kind != XFER_BUF &&
        (r = check_self_transfer(&src, &dst[i].ep, &len)) < 0)
      goto refused;
  }
  bool bulk_tcp = kind == XFER_COPY && splicer__bulk_tcp(&src, &dst[0].ep, len);
  /* splice(2) refuses O_APPEND files.  A single destination finds out
   * before any byte moved and falls back; in a fan-out another destination
   * may already have its bytes by then, so decide here.  Datagram
   * destinations need one write per datagram, which tee's pipes cannot
   * promise either. */
  uint32_t tried = 0;
  if (kind == XFER_TEE)
    for (size_t i = 0; i < n_out; i++)
      if ((dst[i].ep.kind == KIND_FILE && (dst[i].ep.flags & O_APPEND)) ||
          dst[i].ep.records)
        tried |= 1u << SPLICER_METHOD_TEE;
  int m = splicer__opening_method(kind, &src, &dst[0].ep, s->methods & ~tried,
                                  bulk_tcp);
  if (m < 0) {
    r = m;
    goto refused;
  }
  /* A lazy open leaves a file's access mode to the kernel's first syscall,
   * which checks both ends only when it names both; a method that reads
   * the source first, or a transfer cut short by len 0 (now fixed by a
   * copy onto itself), checks here.  */
  if (lazy && (len == 0 || !splicer__method_is_direct(kind, m, &dst[0].ep)) &&
      (r = splicer__settle_ends(&src, dst, n_out)) < 0)
    return r;

  splicer__end_transfer(s);
  s->kind = kind;
  s->src = src;
  if (n_out == 1)
    s->dst[0] = dst[0];
  else
    memcpy(s->dst, dst, n_out * sizeof dst[0]);
  s->n_dst = n_out;
  s->len = len;
  s->consumed = 0;
  s->src_eof = false;
  s->rw_len = 0;
  s->batch = BATCH_NONE;
  s->dst_blocked = false;
  s->src_may_block = true;
  s->attributed = 0;
  s->dgram_max = src.dgram ? SIZE_MAX : SPLICER_DGRAM_SIZE;
  s->batch_limit = 0;
  s->bulk_tcp = bulk_tcp;
  s->tried = tried;
  s->method = m;
  s->active = len > 0;
  return 0;

refused:
  /* An eager open checks each end's access mode before its offset, and
   * the source before the destinations: a lazy open refused for another
   * reason gives the error the eager one would have met first. */
  if (lazy) {
    int e = splicer__settle_ends(&src, dst, n_seen);
    if (e < 0)
      return e;
  }
  return r;
}

int splicer_open(splicer_session *s, int fd_in, int64_t off_in, int fd_out,
                 int64_t off_out, uint64_t len) {
  if (!s)
    return -EINVAL;
  return open_transfer(s, XFER_COPY, fd_in, off_in, &fd_out, 1, off_out, len);
}

int splicer_open_tee(splicer_session *s, int fd_in, int64_t off_in,
                     const int *fds_out, size_t n_out, uint64_t len) {
  if (!s || !fds_out || n_out == 0 || n_out > SPLICER_TEE_MAX)
    return -EINVAL;
  return open_transfer(s, XFER_TEE, fd_in, off_in, fds_out, n_out,
                       SPLICER_OFF_CUR, len);
}

int splicer_open_buf(splicer_session *s, splicer_buf *b, size_t len,
                     int fd_out) {
  if (!s || !b || b->sealed || len > b->size)
    return -EINVAL;
  int r = open_transfer(s, XFER_BUF, -1, SPLICER_OFF_CUR, &fd_out, 1,
                        SPLICER_OFF_CUR, len);
  if (r < 0)
    return r;
  if ((r = splicer__buf_seal(b)) < 0) {
    s->kind = XFER_NONE;
    s->n_dst = 0;
    s->active = false;
    return r;
  }
  s->buf = b;
  if (!s->active)
    splicer__end_transfer(s); /* len 0: finished, and the buffer with it */
  return 0;
}

int64_t splicer_abort(splicer_session *s) {
  if (!s)
    return -EINVAL;
  uint64_t dropped = pending_of(s);
  if (dropped > 0 || s->active) {
    /* The pipes may hold this transfer's bytes: never let them reach
     * another transfer (a borrowed pipe is closed, not returned).  New
     * pipes are made or borrowed on demand. */
    splicer__drop_pipes(s);
    if (s->pooled)
      splicer__free_rwbuf(s);
    s->rw_len = 0;
    s->batch = BATCH_NONE;
  }
  splicer__end_transfer(s);
  /* keep the counters readable but make the transfer "ended" */
  s->consumed = splicer__min_delivered(s);
  s->attributed = s->consumed;
  return (int64_t)dropped;
}

/* ---- progress and statistics -------------------------------------------- */

int splicer_progress_get(const splicer_session *s, splicer_progress *p,
                         size_t size) {
  if (!s || !p || size < sizeof(uint64_t))
    return -EINVAL;
  splicer_progress full = {0};
  if (s->kind != XFER_NONE) {
    full.delivered = splicer__min_delivered(s);
    full.consumed = s->consumed;
    full.pending = s->consumed - full.delivered;
    full.method = s->method;
    full.finished = !s->active && full.pending == 0 &&
                    (s->consumed == s->len || s->src_eof || s->len == 0);
  }
  memcpy(p, &full, size < sizeof full ? size : sizeof full);
  return 0;
}

int splicer_stats_get(const splicer_session *s, splicer_stats *out,
                      size_t size) {
  if (!s || !out || size < sizeof(uint64_t))
    return -EINVAL;
  memcpy(out, &s->stats, size < sizeof s->stats ? size : sizeof s->stats);
  return 0;
}
