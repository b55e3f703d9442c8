/* Internal declarations shared by the core's translation units. */
#ifndef SPLICER_INTERNAL_H
#define SPLICER_INTERNAL_H

#include "splicer.h"

#include <signal.h>
#include <stdbool.h>

/* 256 KiB.  Measured on a TCP -> TCP proxy (2 cores): throughput is the
 * same from 64 KiB to 1 MiB (the peers are the bottleneck) but the proxy's
 * CPU per byte falls with fewer, larger steps: ~2.1 GB per CPU-second at
 * 64 KiB, ~2.7 at 256 KiB, ~3.6 at 1 MiB.  256 KiB keeps most of that gain
 * while 256 sessions still fit under the default pipe-user-pages-soft limit
 * (64 MiB per user), past which the kernel hands out 2-page pipes. */
#define SPLICER_DEFAULT_PIPE_SIZE (256 * 1024)
#define SPLICER_DEFAULT_CHUNK (1 << 20)
#define SPLICER_MIN_PIPE_SIZE 4096
#define SPLICER_MAX_OPTION_SIZE (1 << 30)
/* The read/write fallback buffer: larger buys nothing measurable and costs
 * memory per session (coreutils uses 128 KiB). */
#define SPLICER_RW_BUF_MAX (256 * 1024)
/* A batch the pool could not lend a pipe for reads at most this much: under
 * the load where the pool runs short, destinations take a few tens of KiB
 * at a time, and a batch that waits in a full destination then holds no
 * more memory than a read/write loop's buffer would (Go's io.Copy uses
 * 32 KiB).  A session whose method is read/write keeps 256 KiB batches. */
#define SPLICER_MISS_BATCH (64 * 1024)
/* Largest datagram written to a datagram destination when the source is a
 * stream (Go's io.Copy writes 32 KiB): within UDP's 65,507 and the default
 * Unix datagram sndbuf, so EMSGSIZE is rare; it halves when it happens.
 * From a datagram source each datagram read is written as one. */
#define SPLICER_DGRAM_SIZE (32 * 1024)
#define SPLICER_DGRAM_MIN 256
/* A file to a TCP socket moves through a pool pipe (splice_pipe) rather
 * than sendfile when more than this is to go (see chain_file_tcp_bulk). */
#define SPLICER_BULK_TCP (1 << 20)
/* The least a pooled session's batch shrinks to after its destination
 * blocked (see batch_limit). */
#define SPLICER_MIN_BATCH (16 * 1024)

/* For error paths next to the copy path: the compiler places them apart,
 * so that a small copy runs through fewer cache lines of code (see
 * bench/percall/analysis.md on what a cold line costs between syscalls). */
#define SPLICER_COLD __attribute__((cold))

#define SPLICER_ALL_METHODS                                                    \
  ((1u << SPLICER_METHOD_COUNT) - 1u - (1u << SPLICER_METHOD_NONE))

enum endpoint_kind {
  KIND_FILE,   /* regular file */
  KIND_BLOCK,  /* block device */
  KIND_PIPE,   /* FIFO or pipe */
  KIND_SOCKET, /* any socket */
  KIND_CHAR,   /* character device, tty, ... */
  KIND_OTHER
};

/* One end of a transfer: the caller's fd, never closed by the session. */
struct endpoint {
  int fd;
  int kind;
  int64_t off;       /* >= 0: our copy of the offset; SPLICER_OFF_CUR: fd's */
  int flags;         /* F_GETFL at open */
  bool pseudo_fs;    /* procfs, sysfs, ...: sizes lie, zero-copy may read 0 */
  bool flags_unread; /* a regular file whose F_GETFL the open skipped
                        (SPLICER_OPT_LAZY_FILES): flags say O_RDWR until
                        splicer__settle_ends() reads them */
  bool fs_unasked;   /* a file of size 0 whose filesystem is asked only if a
                        zero-copy read of it gives 0 at once: pseudo_fs
                        matters for a source, and only then */
  bool toggled;      /* O_NONBLOCK set by us for the current call */
  bool dgram;        /* SOCK_DGRAM: a read of 0 is an empty datagram, not EOF */
  bool records;      /* SOCK_DGRAM or SOCK_SEQPACKET: one write, one record */
  bool anonymous;    /* kept with a kind the caller gave: dev and ino are
                        unknown (0) */
  bool stale_size;   /* kept: size is from when it was kept */
  uint64_t dev, ino; /* identity (st_rdev for a block device), to recognise
                        one file or pipe at both ends */
  int64_t size;      /* st_size at open (regular files) */
};

struct destination {
  struct endpoint ep;
  uint64_t delivered; /* bytes of this transfer written to this fd */
};

enum transfer_kind { XFER_NONE, XFER_COPY, XFER_TEE, XFER_BUF };

/* What a socket's type was, by its inode: a socket's type never changes,
 * and sockfs gives every socket a new inode number, so a session that opens
 * transfers on the same sockets again asks getsockopt(SO_TYPE) once. */
struct socket_memo {
  uint64_t dev, ino;
  bool dgram, records;
};
#define SOCKET_MEMOS 4

/* Where the pending bytes of a staged transfer are. */
enum batch_place { BATCH_NONE, BATCH_PIPE, BATCH_BUF };

/* A loan from the pipe pool: what the pipes were made as, so that they go
 * back only to the pool (and the size) they came from. */
struct pool_lease {
  int cap;      /* capacity of each pipe */
  unsigned gen; /* pool generation (a forked child starts a new one) */
};

struct splicer_buf {
  unsigned char *data;
  size_t size;     /* as asked */
  size_t map_size; /* whole pages */
  bool sealed;
};

struct splicer_session {
  /* options */
  int64_t pipe_size;
  int64_t chunk;
  bool nonblock;
  bool fallback;
  bool sigpipe_guard;
  bool pooled; /* SPLICER_OPT_POOL */
  bool lazy_files; /* SPLICER_OPT_LAZY_FILES */
  uint32_t methods;

  /* internal pipes: pipes[0] takes bytes from the source; for a tee to n
   * destinations, destination i drains pipes[i] (pipes[i>0] are filled from
   * pipes[0] with tee(2)).  All pipes in use have the same capacity so that
   * a tee into an empty pipe always takes a whole batch. */
  int pipes[SPLICER_TEE_MAX][2];
  int pipe_cap; /* capacity of the pipes in use, 0 before any exists */
  /* With the pool, pipes[0 .. n_borrowed-1] are lent for the batch in flight
   * and go back the moment it is delivered; no pipe is held otherwise. */
  size_t n_borrowed;
  struct pool_lease lease;
  int batch;         /* enum batch_place */
  bool dst_blocked;  /* a destination refused bytes (EAGAIN) since the last
                        batch was taken: wait for it before the next one */
  bool src_may_block; /* the last read came back short: the source may be
                         empty now (blocking mode waits before borrowing) */
  size_t dgram_max;  /* largest record written to a record destination */
  /* A pooled session takes no more from the source than its destinations
   * took the last time they blocked, so that a batch is delivered within
   * its step and its pipe goes straight back: a batch its destination
   * cannot take keeps a pool pipe (or 256 KiB of buffer) until POLLOUT.
   * 0: no limit but the pipe.  Doubles after a batch delivered without a
   * block. */
  size_t batch_limit;
  size_t batch_len;    /* bytes of the batch in flight */
  bool batch_blocked;  /* a destination of it returned EAGAIN */
  uint64_t attributed; /* delivered bytes already counted by method */

  /* the open (or last) transfer */
  int kind;
  bool active;   /* open and not finished */
  bool src_eof;
  int method;
  uint32_t tried; /* methods abandoned during this transfer */
  bool bulk_tcp;  /* a file to a TCP socket, more than SPLICER_BULK_TCP */
  struct endpoint src;
  struct destination dst[SPLICER_TEE_MAX];
  size_t n_dst;
  uint64_t len;
  uint64_t consumed;
  splicer_buf *buf; /* XFER_BUF: the sealed buffer, owned */

  /* read/write fallback: bytes [0, rw_len) of rwbuf are the current batch */
  unsigned char *rwbuf;
  size_t rwbuf_cap;
  bool rwbuf_pooled; /* taken from the pool's buffers: goes back there */
  size_t rw_len;

  /* what to poll after -EAGAIN */
  bool saw_epipe; /* a syscall of the current call returned EPIPE */
  bool have_wait;
  int wait_fd;
  short wait_events;

  struct socket_memo memo[SOCKET_MEMOS];
  unsigned memo_next;

  /* splicer_session_keep(): endpoints classified once, fd >= 0 */
  struct endpoint kept[SPLICER_KEEP_MAX];
  size_t n_kept;

  splicer_stats stats;
};

/* Bytes of the transfer that every destination has: what the transfer
 * delivered.  Inline: every step asks it more than once. */
static inline uint64_t splicer__min_delivered(const splicer_session *s) {
  if (s->n_dst == 0)
    return 0;
  uint64_t m = s->dst[0].delivered;
  for (size_t i = 1; i < s->n_dst; i++)
    if (s->dst[i].delivered < m)
      m = s->dst[i].delivered;
  return m;
}

/* session.c */
/* Let go of the pipes: borrowed ones are discarded (they may hold bytes),
 * the session's own are closed. */
void splicer__drop_pipes(splicer_session *s);
void splicer__free_rwbuf(splicer_session *s);
int splicer__ensure_pipes(splicer_session *s, size_t n);
void splicer__end_transfer(splicer_session *s);

/* transfer.c */
/* @s may be NULL (no memo of socket types).  @lazy_file: a regular file's
 * flags are left unread (flags_unread). */
int splicer__classify(int fd, struct endpoint *ep, splicer_session *s,
                      bool lazy_file);
/* Read the flags a lazy open left unread of @src and the first @n_dst
 * destinations, and check them in the order an eager open does (the source
 * first): 0, or the first end's -EBADF (a source not readable, a
 * destination not writable, O_PATH) or fcntl's -errno.  Nothing is changed
 * but the flags read. */
int splicer__settle_ends(struct endpoint *src, struct destination *dst,
                         size_t n_dst);
/* The same for one end, a source or a destination. */
int splicer__settle_endpoint(struct endpoint *ep, bool source);
/* splicer_session_keep()'s classification of @fd as @kind */
int splicer__classify_kept(int fd, int kind, struct endpoint *ep,
                           splicer_session *s);
/* a kept regular file's size as of now (fstat); 0 or -errno */
int splicer__refresh_size(struct endpoint *ep);
int splicer__first_method(const splicer_session *s, uint32_t tried);
/* The method a copy or fan-out opened with these ends would start with:
 * the method, or -EOPNOTSUPP when none of @methods applies. */
int splicer__opening_method(int kind, const struct endpoint *src,
                            const struct endpoint *dst0, uint32_t methods,
                            bool bulk_tcp);
/* Whether @method moves bytes with one syscall that names both ends (for a
 * copy: copy_file_range, sendfile, splice) */
bool splicer__method_is_direct(int kind, int method, const struct endpoint *dst0);
bool splicer__bulk_tcp(const struct endpoint *in, const struct endpoint *out,
                       uint64_t len);
/* where a file endpoint reads or writes next: its offset by value, or its
 * fd's position; -1 when lseek fails */
int64_t splicer__position(const struct endpoint *ep);
int64_t splicer__step(splicer_session *s);

/* pool.c: every lent pipe has the pool's capacity; -ENOBUFS is a miss */
int splicer__pool_borrow(int fds[][2], size_t n, struct pool_lease *lease);
void splicer__pool_return(int fds[][2], size_t n,
                          const struct pool_lease *lease);
void splicer__pool_discard(int fds[][2], size_t n,
                           const struct pool_lease *lease);
int splicer__pool_cap(void);
/* no idle pipe and half the cap or more lent: a pipe waiting for POLLOUT
 * is worth more back in the pool than with its session */
bool splicer__pool_short(void);
/* splicer__pool_return() of pipes whose bytes were moved out (a spill) */
void splicer__pool_return_early(int fds[][2], size_t n,
                                const struct pool_lease *lease);
/* a buffer of SPLICER_RW_BUF_MAX bytes (NULL when out of memory), and back */
void *splicer__pool_buf_take(void);
void splicer__pool_buf_give(void *p);

/* buf.c */
int splicer__buf_seal(splicer_buf *b);

/* raw.c: process-wide memory of methods the kernel lacks (ENOSYS) */
bool splicer__method_missing(int method);
/* all of them, as a mask of (1u << method) bits */
uint32_t splicer__methods_missing(void);
void splicer__method_set_missing(int method);

#endif
