/*
 * splicer.h -- zero-copy transfers between file descriptors on Linux.
 *
 * splicer moves bytes from one file descriptor to another (or to several)
 * inside the kernel, with splice(2), tee(2), vmsplice(2), sendfile(2) and
 * copy_file_range(2), so that the CPU does not copy them through user space.
 * Its centre is an opaque transfer session that
 *   - picks the fastest method for each pair of fds,
 *   - falls back to the next method (finally to read/write) when the kernel
 *     refuses one before any byte moved,
 *   - holds bytes it took from the source but could not yet deliver, so that
 *     nothing is lost or duplicated in non-blocking use,
 *   - counts what it did.
 *
 * Reading order: version, errors, the session and its options, transfers,
 * progress and statistics, methods, sealed buffers, raw syscall wrappers.
 *
 * Conventions
 *   - Every fallible call returns >= 0 on success (a count or 0) and a
 *     negative errno value (-EAGAIN, -EPIPE, ...) on failure.  There is no
 *     thread-local "last error".
 *   - A session borrows the caller's fds and never closes them.  It owns its
 *     internal pipe(s), which are created lazily with O_CLOEXEC.
 *   - A session is used by one thread at a time; distinct sessions are
 *     independent.
 *
 * Page references (read this before using splicer on live data)
 *   Zero-copy methods hand the kernel references to page-cache or user
 *   pages, not copies.  Two consequences:
 *   - vmsplice: the pipe refers to the caller's memory.  If that memory is
 *     changed before the reader consumed it, the reader sees the new bytes.
 *     splicer_vmsplice() has this caveat; the session API only accepts a
 *     splicer_buf, which is made read-only when handed over, so that a late
 *     write faults instead of silently changing the stream.
 *   - file -> pipe or socket (splice, sendfile): bytes sitting in a pipe or
 *     a socket buffer still refer to the file's page cache.  A write to the
 *     file after the transfer returned, but before the peer read the data,
 *     can show up in what the peer reads.  Do not rewrite a file in place
 *     while a transfer of it may still be in flight.
 */
#ifndef SPLICER_H
#define SPLICER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h> /* struct iovec */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(SPLICER_NO_VISIBILITY)
#define SPLICER_API __attribute__((visibility("default")))
#else
#define SPLICER_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

#define SPLICER_VERSION_MAJOR 0
#define SPLICER_VERSION_MINOR 1
#define SPLICER_VERSION_PATCH 0
#define SPLICER_VERSION_STRING "0.1.0"
/* MAJOR*10000 + MINOR*100 + PATCH, as splicer_version_number() returns it. */
#define SPLICER_VERSION_NUMBER                                                 \
  (SPLICER_VERSION_MAJOR * 10000 + SPLICER_VERSION_MINOR * 100 +               \
   SPLICER_VERSION_PATCH)

/**
 * splicer_version_number() - version of the library actually linked.
 * @return MAJOR*10000 + MINOR*100 + PATCH; compare with
 *         SPLICER_VERSION_NUMBER to detect a header/library mismatch.
 */
SPLICER_API unsigned splicer_version_number(void);

/**
 * splicer_version_string() - version of the library actually linked.
 * @return a static string such as "0.1.0"; never NULL.
 */
SPLICER_API const char *splicer_version_string(void);

/* ------------------------------------------------------------------------
 * Errors: every fallible call returns -errno
 * ------------------------------------------------------------------------ */

/**
 * splicer_strerror() - describe an error returned by splicer.
 * @err: a negative errno value as returned by a splicer call (a positive
 *       value is accepted too and treated as its negation).
 * @return a static, thread-safe string such as "Broken pipe"; never NULL.
 *         0 gives "Success"; an unknown value gives "Unknown error".
 */
SPLICER_API const char *splicer_strerror(int err);

/**
 * splicer_errname() - symbolic name of an error returned by splicer.
 * @err: a negative errno value (-EAGAIN); a positive one is accepted too.
 * @return a static string such as "EAGAIN"; "OK" for 0; "EUNKNOWN" for a
 *         value splicer does not know.  Never NULL.
 */
SPLICER_API const char *splicer_errname(int err);

/* ------------------------------------------------------------------------
 * The session
 * ------------------------------------------------------------------------ */

typedef struct splicer_session splicer_session;

/**
 * splicer_session_new() - create a transfer session with default options.
 * @out: receives the new session; set to NULL on failure.
 *
 * No pipe is created until a transfer needs one.
 * @return 0, or -EINVAL (out is NULL), -ENOMEM.
 */
SPLICER_API int splicer_session_new(splicer_session **out);

/**
 * splicer_session_free() - end any transfer, close the session's internal
 * pipes and release it.  Bytes still pending are dropped (see
 * splicer_abort()).  The caller's fds are left open.  NULL is a no-op.
 */
SPLICER_API void splicer_session_free(splicer_session *s);

/* Options are enum-keyed and sticky: they apply to every later transfer of
 * the session.  Values are spaced so that the list can grow. */
enum splicer_option {
  /* The most bytes one batch of a staged method (splice_pipe, tee, vmsplice
   * staging) takes from the source, and so the most the session holds
   * pending (default 262144; range 4096 .. 2^30).
   * With the pipe pool (SPLICER_OPT_POOL = 1, the default) the pipes are the
   * pool's, sized by SPLICER_POOL_PIPE_SIZE: a batch takes the lesser of this
   * option and their capacity, and get returns that lesser value.
   * Without the pool the session's own pipes are asked for this many bytes
   * with F_SETPIPE_SZ; the kernel rounds up to a power-of-two number of pages
   * and may give less when /proc/sys/fs/pipe-max-size or
   * pipe-user-pages-soft forbid more: the session then uses what it got and
   * never fails because of it, and get returns the size the kernel gave to
   * the current pipe, or the requested size before a pipe exists.
   * Setting it while bytes are pending is -EBUSY. */
  SPLICER_OPT_PIPE_SIZE = 100,
  /* Most bytes one syscall is asked to move (default 1 MiB; 1 .. 2^30).
   * Staged methods move at most one pipe's worth per call in any case. */
  SPLICER_OPT_CHUNK = 101,
  /* 1: never block.  A step that cannot progress returns -EAGAIN and
   * splicer_wait() says which fd to poll for which event.  A caller fd that
   * is not O_NONBLOCK gets O_NONBLOCK for the duration of each call and its
   * flags are restored before the call returns.  0 (default): blocking
   * follows the caller's fds. */
  SPLICER_OPT_NONBLOCK = 200,
  /* 1 (default): when the kernel refuses a method before any byte of the
   * transfer moved, try the next one and finally read/write.  0: return
   * the kernel's error instead. */
  SPLICER_OPT_FALLBACK = 201,
  /* Bitmask of allowed methods, (1u << SPLICER_METHOD_x) ORed together.
   * Default: all.  A transfer for which no allowed method applies fails
   * with -EOPNOTSUPP.  0 or unknown bits are -EINVAL. */
  SPLICER_OPT_METHODS = 202,
  /* 1 (default): a destination whose reader is gone gives -EPIPE and the
   * process is not killed by SIGPIPE: while SIGPIPE has its default
   * disposition the signal is blocked and consumed around the session's
   * own writes; when it is ignored or caught by a handler nothing is done
   * (it cannot kill then, and a handler runs as the program arranged).
   * 0: SIGPIPE is delivered as the process arranged. */
  SPLICER_OPT_SIGPIPE = 203,
  /* 1 (default): staged transfers borrow their pipe(s) from the process-wide
   * pipe pool for each batch and give them back the moment they are empty,
   * so an idle session, or one waiting for its source, holds no pipe and no
   * buffer.  When the pool has no pipe to give (its cap, EMFILE, ENFILE, or
   * the kernel's per-user pipe limit spent), that batch goes through
   * read/write instead: nothing is lost, and it is counted in the session's
   * pool_misses and the pool's misses.  0: the session creates and keeps
   * pipes of its own, sized by SPLICER_OPT_PIPE_SIZE, until it is freed.
   * Changing it while bytes are pending is -EBUSY. */
  SPLICER_OPT_POOL = 204,
  /* 1: a copy's open (splicer_open(), splicer_copy()) does not read the
   * status flags of a regular file it was not told of (splicer_session_keep)
   * with fcntl(2): one syscall less per file, for a program that copies many
   * files once each.  The kernel checks the same at the transfer's first
   * syscall, before any byte moves, so a source not open for reading or a
   * destination not open for writing (or an O_PATH fd) is -EBADF from
   * splicer_step() or splicer_run() instead of from the open, with nothing
   * moved, and the transfer ends as a refused open leaves it:
   * splicer_progress_get() reports no transfer (method
   * SPLICER_METHOD_NONE), which tells this -EBADF from a failed step's.
   * splicer_copy() returns the same -EBADF either way.  The flags are read
   * at open regardless where they decide the open (a destination with an
   * offset, O_APPEND; a file copied onto itself; a length of 0, which makes
   * no syscall) or where the first method would read the source before the
   * destination is touched (splice_pipe, read_write).  Fan-outs
   * (splicer_open_tee) and buffers always check at open.  0 (default):
   * every check at open. */
  SPLICER_OPT_LAZY_FILES = 205
};

/**
 * splicer_session_set() - set an option (enum splicer_option).
 * @return 0, or -EINVAL (NULL session, unknown option, value out of
 *         range), -EBUSY (PIPE_SIZE while bytes are pending).
 */
SPLICER_API int splicer_session_set(splicer_session *s, int option,
                                    int64_t value);

/**
 * splicer_session_get() - read an option's current value into *value.
 * @return 0, or -EINVAL (NULL argument, unknown option).
 */
SPLICER_API int splicer_session_get(const splicer_session *s, int option,
                                    int64_t *value);

/* ------------------------------------------------------------------------
 * Kept descriptors: classify once, open cheaply
 * ------------------------------------------------------------------------
 *
 * Every open validates and classifies its fds: fstat(2) and fcntl(2) per
 * fd, about as much as a small copy itself costs.  A program that opens
 * many transfers on the same fds (a proxy relaying one connection, a file
 * server writing many files to one socket), or a binding whose objects
 * already say what a descriptor is, keeps the fd in the session instead:
 * later opens on this session take what was kept and make no syscall for
 * it.
 *
 * The caller vouches for a kept fd: until splicer_session_forget(), it stays
 * open on the same file (no close, no dup2 over it) and its status flags
 * (O_NONBLOCK, O_APPEND) keep the values they had.  A kept regular file
 * may grow or shrink: its size is asked again where correctness needs it
 * (a copy onto itself); the choice of method for a file to a TCP socket
 * goes by its size when it was kept.
 */

/* Most fds one session keeps. */
#define SPLICER_KEEP_MAX 8

/* What splicer_session_keep() is told about a descriptor. */
enum splicer_fd_kind {
  SPLICER_FD_UNKNOWN = 0,   /* classify it now (fstat, fcntl), once */
  SPLICER_FD_STREAM = 1,    /* a SOCK_STREAM socket (TCP, Unix stream) */
  SPLICER_FD_DGRAM = 2,     /* a SOCK_DGRAM socket */
  SPLICER_FD_SEQPACKET = 3, /* a SOCK_SEQPACKET socket */
  SPLICER_FD_PIPE = 4       /* either end of a pipe or FIFO */
};
/* ORed with a kind other than SPLICER_FD_UNKNOWN: O_NONBLOCK is set on the
 * fd, so that keeping it makes no syscall at all.  Without it the fd's
 * flags are read once with fcntl(F_GETFL). */
#define SPLICER_FD_NONBLOCK 0x100

/**
 * splicer_session_keep() - keep @fd classified for the later opens of @s.
 * @kind: SPLICER_FD_UNKNOWN to classify the fd now with the checks of
 *   splicer_open(); or the kind the caller knows (enum splicer_fd_kind,
 *   optionally | SPLICER_FD_NONBLOCK), which is trusted: a kind given
 *   wrongly makes the kernel refuse the transfer's syscalls instead of the
 *   open (a pipe's read end given as a destination fails with -EBADF at the
 *   first step, not at open), and one pipe at both ends is found by
 *   splice(2) rather than by the open.
 *
 * Keeping an fd already kept replaces what was kept (after its flags
 * changed, say).  A transfer already open is not affected.
 * @return 0, or -EINVAL (NULL session, unknown kind or flag), -EBADF (fd
 *         negative, not open, or O_PATH), -ENOSPC (SPLICER_KEEP_MAX fds
 *         kept already).
 */
SPLICER_API int splicer_session_keep(splicer_session *s, int fd, int kind);

/**
 * splicer_session_forget() - stop keeping @fd (before closing it or changing
 * its flags); -1 forgets every kept fd.
 * @return 0, or -EINVAL (NULL session), -ENOENT (@fd is not kept).
 */
SPLICER_API int splicer_session_forget(splicer_session *s, int fd);

/* ------------------------------------------------------------------------
 * The pipe pool: pipes shared by every session of the process
 * ------------------------------------------------------------------------
 *
 * A staged transfer borrows its pipe(s) from the pool when it takes a batch
 * from the source and gives them back as soon as every destination received
 * the batch, so pipe memory and fds are bounded by the pool, not by the
 * number of sessions (HAProxy's rule).  A pipe that holds bytes never goes
 * back: when its session is aborted or freed with bytes pending it is
 * closed, so no byte of one stream can reach another.  New pipes are sized
 * by SPLICER_POOL_PIPE_SIZE; a new pipe the kernel will not give that size
 * (the per-user limit fs.pipe-user-pages-soft is spent) is closed rather
 * than used small, the batch goes through read/write, and the pool waits a
 * moment before it asks the kernel again.  A non-blocking session whose
 * destination blocked takes its next batch no larger than what the
 * destination took, so that the batch is delivered within its step and the
 * pipe goes straight back.  Idle pipes are fds: a program at its fd limit
 * gives them back with splicer_pool_trim() when accept(2) or connect(2)
 * fail with EMFILE.  The pool is thread-safe; a forked child starts with an
 * empty pool of its own (the pipes inherited from the parent's pool are
 * closed in the child, never shared).
 */

enum splicer_pool_option {
  /* Most pipes in existence, borrowed plus idle (0 .. 2^20; 0 disables the
   * pool: every batch goes through read/write).  Default: half of
   * fs.pipe-user-pages-soft divided by the pages of one pool pipe (128
   * pipes of 256 KiB under the default 64 MiB limit), within 16 .. 1024; 256
   * where the limit is 0 or unreadable.  Lowering it below what is borrowed
   * takes effect as pipes come back. */
  SPLICER_POOL_MAX_PIPES = 300,
  /* Most empty pipes kept for reuse (0 .. 2^20; default 32).  Lowering it
   * closes the excess at once. */
  SPLICER_POOL_MAX_IDLE = 301,
  /* Bytes asked of F_SETPIPE_SZ for each new pipe (4096 .. 2^30; default
   * 262144).  Changing it closes the idle pipes; borrowed pipes of the old
   * size are closed when they come back.  While MAX_PIPES was never set,
   * its default follows this size. */
  SPLICER_POOL_PIPE_SIZE = 302
};

/**
 * splicer_pool_set() - set an option of the process-wide pipe pool (enum
 * splicer_pool_option).  Safe while transfers run in other threads.
 * @return 0, or -EINVAL (unknown option, value out of range).
 */
SPLICER_API int splicer_pool_set(int option, int64_t value);

/**
 * splicer_pool_get() - read a pool option into *value: the value in effect
 * (for MAX_PIPES, the derived default until it is set; for PIPE_SIZE, the
 * size asked, before the kernel's rounding).
 * @return 0, or -EINVAL (NULL value, unknown option).
 */
SPLICER_API int splicer_pool_get(int option, int64_t *value);

/* Statistics of the pipe pool since the process started (in_use, idle and
 * peak_in_use are gauges; the rest count events). */
typedef struct {
  uint64_t borrowed;    /* pipes handed to sessions */
  uint64_t returned;    /* pipes given back empty */
  uint64_t created;     /* pipes made by the pool */
  uint64_t closed;      /* pipes closed by the pool: over MAX_IDLE, trimmed,
                           of an old size, discarded or undersized */
  uint64_t misses;      /* batches done by read/write: no pipe to be had */
  uint64_t in_use;      /* pipes borrowed now */
  uint64_t idle;        /* empty pipes kept now */
  uint64_t peak_in_use; /* most pipes borrowed at once, since the start or
                           the last splicer_pool_trim() */
  uint64_t discarded;   /* pipes closed because they held bytes (a session
                           aborted or freed with bytes pending) */
  uint64_t undersized;  /* new pipes closed because the kernel gave less
                           than SPLICER_POOL_PIPE_SIZE */
  uint64_t spills;      /* pipes given back early: a session's destination
                           was full while the pool had no idle pipe, so the
                           bytes left were moved into a buffer */
  uint64_t reserved[5];
} splicer_pool_stats;

/**
 * splicer_pool_stats_get() - copy the pool's statistics.
 * @size: sizeof(splicer_pool_stats) as the caller knows it; a smaller
 *        (older) struct gets the fields it has.
 * @return 0, or -EINVAL (NULL, size smaller than one field).
 */
SPLICER_API int splicer_pool_stats_get(splicer_pool_stats *out, size_t size);

/**
 * splicer_pool_trim() - close every idle pipe of the pool (borrowed pipes
 * are untouched) and restart peak_in_use from the pipes in use now.
 * @return how many pipes were closed (>= 0).
 */
SPLICER_API int splicer_pool_trim(void);

/* ------------------------------------------------------------------------
 * Transfers: open, then step until finished
 * ------------------------------------------------------------------------ */

/* Offset meaning "use and advance the fd's own file position". */
#define SPLICER_OFF_CUR (-1)
/* Length meaning "until the source reports end of file". */
#define SPLICER_TO_EOF UINT64_MAX
/* Most destinations of one splicer_open_tee(). */
#define SPLICER_TEE_MAX 16

/**
 * splicer_open() - begin a transfer of up to @len bytes from @fd_in to
 * @fd_out.  Nothing moves until splicer_step() or splicer_run().
 * @off_in, @off_out: an offset >= 0 reads/writes there and leaves the fd's
 *   position alone (the session advances its own copy); SPLICER_OFF_CUR
 *   uses and advances the fd's position.
 * @len: bytes to move, or SPLICER_TO_EOF.  The source is never read past
 *   @len: extra bytes of a socket or pipe stay where they are.  0 opens a
 *   transfer that is already finished.
 *
 * A transfer that is still open but holds no pending bytes is replaced.
 *
 * One object at both ends: a socket may be source and destination (an
 * echo: it is read and written back through the session's pipe); so may a
 * tty.  A regular file copied onto itself, through one fd or two, must have
 * disjoint ranges: SPLICER_OFF_CUR positions are read at open, and
 * SPLICER_TO_EOF becomes the size at open minus the source position, so the
 * copy never chases its own output.
 *
 * Datagram sockets: a datagram (or seqpacket) destination gets write(2)s,
 * one datagram each, of at most 32 KiB from a stream source and one per
 * datagram read from a datagram source; EMSGSIZE makes them smaller (down
 * to 256 bytes), nothing is dropped.  From a datagram source a read of 0 is
 * an empty datagram, not the end of input, and a datagram longer than one
 * step's read loses its tail, as with recv(2).
 * @return 0, or
 *   -EBADF   an fd is negative or not open, @fd_in is not readable or
 *            @fd_out is not writable;
 *   -ESPIPE  an offset >= 0 given for a pipe or socket;
 *   -EINVAL  NULL session, an offset < -1, an offset >= 0 on an O_APPEND
 *            destination, one pipe at both ends (it would read back what it
 *            writes), or a regular file copied onto an overlapping range of
 *            itself (see below);
 *   -EBUSY   the previous transfer still holds pending bytes (deliver them
 *            with splicer_step() or drop them with splicer_abort());
 *   -EOPNOTSUPP no method allowed by SPLICER_OPT_METHODS applies.
 */
SPLICER_API int splicer_open(splicer_session *s, int fd_in, int64_t off_in,
                             int fd_out, int64_t off_out, uint64_t len);

/**
 * splicer_open_tee() - begin a fan-out: the same bytes from @fd_in to each
 * of @fds_out[0 .. n_out-1] (1 .. SPLICER_TEE_MAX destinations of any kind:
 * pipe, file, socket, ...).  Destinations use their own file positions.
 * Each destination has its own pending bytes; a step delivers what it can
 * to each and "delivered" is the least any destination received.  A
 * fan-out that includes an O_APPEND file (which splice(2) refuses) uses
 * read/write from the start.  A refusal by the kernel is only recovered
 * from while no destination has received a byte.
 * @return 0 or an error as for splicer_open(); -EINVAL also for n_out out
 *         of range or fds_out NULL.
 */
SPLICER_API int splicer_open_tee(splicer_session *s, int fd_in, int64_t off_in,
                                 const int *fds_out, size_t n_out,
                                 uint64_t len);

/**
 * splicer_step() - move bytes of the open transfer: first pending bytes,
 * then at most one chunk more from the source.
 *
 * In blocking mode a step waits until it delivered something, reached the
 * end, or failed.  In non-blocking mode (SPLICER_OPT_NONBLOCK or
 * non-blocking fds) a step that can deliver nothing returns -EAGAIN; bytes
 * taken from the source stay pending and are delivered first by the next
 * step.  EINTR is retried internally.
 * @return >0 bytes delivered by this step; 0 when the transfer is finished
 *         (or none is open); or -errno: -EAGAIN (see splicer_wait()),
 *         -EPIPE (destination's reader gone), -ENOSPC, -ECONNRESET, the
 *         kernel's error when fallback is off, ...  After an error other
 *         than -EAGAIN the transfer stays open so that splicer_progress_get()
 *         can tell what was delivered; splicer_abort() ends it.
 */
SPLICER_API int64_t splicer_step(splicer_session *s);

/**
 * splicer_run() - step until the transfer is finished.
 * @return the bytes delivered by this call (>= 0), or -errno from the first
 *         failing step.  In non-blocking mode -EAGAIN is returned as soon as
 *         a step would block; what was delivered before is in the progress.
 */
SPLICER_API int64_t splicer_run(splicer_session *s);

/**
 * splicer_wait() - after -EAGAIN, which fd to poll and for what.
 * @fd: receives the fd (the source or one destination).
 * @events: receives POLLIN (wait until the source is readable) or POLLOUT
 *          (until the destination is writable).
 * @return 0, or -EINVAL (NULL argument, or the last step did not return
 *         -EAGAIN).
 */
SPLICER_API int splicer_wait(const splicer_session *s, int *fd, short *events);

/**
 * splicer_abort() - end the open transfer, dropping pending bytes.  The
 * session's pipes that held them are closed (never reused), so no byte of
 * this transfer can reach a later one.
 * @return how many bytes were dropped (consumed but not delivered to every
 *         destination), 0 if none or no transfer is open; -EINVAL for NULL.
 */
SPLICER_API int64_t splicer_abort(splicer_session *s);

/**
 * splicer_copy() - splicer_open(s, fd_in, SPLICER_OFF_CUR, fd_out,
 * SPLICER_OFF_CUR, len) followed by splicer_run().
 * @return bytes delivered, or -errno (as splicer_open(), splicer_run()).
 */
SPLICER_API int64_t splicer_copy(splicer_session *s, int fd_in, int fd_out,
                                 uint64_t len);

/* Progress of the open (or last) transfer.  consumed == delivered + pending
 * at every moment. */
typedef struct {
  uint64_t consumed;  /* taken from the source */
  uint64_t delivered; /* written to the destination (to every destination,
                         for a tee: the least of them) */
  uint64_t pending;   /* consumed but not yet delivered: held by the session */
  int32_t method;     /* enum splicer_method in use */
  int32_t finished;   /* 1 once the length is reached or the source hit EOF,
                         and pending is 0 */
} splicer_progress;

/**
 * splicer_progress_get() - progress of the open or last transfer.
 * @size: sizeof(splicer_progress) as the caller knows it; a smaller
 *        (older) struct gets the fields it has.
 * @return 0, or -EINVAL (NULL argument or size smaller than the first
 *         field).
 */
SPLICER_API int splicer_progress_get(const splicer_session *s,
                                     splicer_progress *p, size_t size);

/* ------------------------------------------------------------------------
 * Methods
 * ------------------------------------------------------------------------ */

enum splicer_method {
  SPLICER_METHOD_NONE = 0,
  SPLICER_METHOD_COPY_FILE_RANGE = 1, /* file -> file, in the kernel (reflink
                                         where the filesystem can) */
  SPLICER_METHOD_SENDFILE = 2,        /* file -> socket and others */
  SPLICER_METHOD_SPLICE = 3,          /* one end is a pipe: direct */
  SPLICER_METHOD_SPLICE_PIPE = 4,     /* neither end is a pipe: through the
                                         session's pipe */
  SPLICER_METHOD_TEE = 5,             /* fan-out through tee(2) */
  SPLICER_METHOD_VMSPLICE = 6,        /* a sealed splicer_buf */
  SPLICER_METHOD_READ_WRITE = 7,      /* the fallback: read(2)/write(2) */
  SPLICER_METHOD_COUNT = 8
};

/**
 * splicer_method_name() - name of an enum splicer_method value.
 * @return "none", "copy_file_range", "sendfile", "splice", "splice_pipe",
 *         "tee", "vmsplice", "read_write"; "unknown" otherwise.  Never NULL.
 */
SPLICER_API const char *splicer_method_name(int method);

/**
 * splicer_method_for() - the method a transfer from @fd_in to @fd_out
 * would try first (with all methods allowed):
 *   regular file -> regular file        copy_file_range
 *   either end a pipe                   splice
 *   regular file/block dev -> other     sendfile
 *   regular file -> TCP, > 1 MiB left   splice_pipe (a 256 KiB pool pipe
 *                                       hands TCP four times what sendfile's
 *                                       internal 64 KiB pipe does; sendfile
 *                                       when the pool has no pipe to lend)
 *   anything -> datagram socket         read_write (one write, one datagram)
 *   anything else                       splice_pipe
 * "Left" is the file's size from its position, as a copy to the end would
 * move it; a transfer's own length decides for the transfer.
 * Methods the kernel has reported as missing (ENOSYS) are skipped.  For a
 * transfer, sendfile is a candidate only when the destination uses its own
 * position (off_out == SPLICER_OFF_CUR): sendfile(2) has no output offset.
 * @return an enum splicer_method value, or -EBADF for an fd that is not
 *         open.
 */
SPLICER_API int splicer_method_for(int fd_in, int fd_out);

/* Cumulative statistics of a session over all its transfers. */
typedef struct {
  uint64_t bytes;     /* delivered (to every destination, for a tee) */
  uint64_t syscalls;  /* data-moving syscalls made */
  uint64_t fallbacks; /* times a method was abandoned for the next one */
  uint64_t eagain;    /* times a syscall returned EAGAIN */
  uint64_t bytes_by_method[SPLICER_METHOD_COUNT];
  uint64_t pool_misses; /* batches done by read/write because the pipe pool
                           had no pipe to lend (SPLICER_OPT_POOL) */
  uint64_t pool_spills; /* batches whose last bytes were moved from a pool
                           pipe into a buffer, so that the pipe could go back
                           while the destination was full and the pool short */
  uint64_t reserved[6];
} splicer_stats;

/**
 * splicer_stats_get() - copy the session's statistics.
 * @size: sizeof(splicer_stats) as the caller knows it.
 * @return 0, or -EINVAL (NULL argument, size smaller than one field).
 */
SPLICER_API int splicer_stats_get(const splicer_session *s, splicer_stats *out,
                                  size_t size);

/* ------------------------------------------------------------------------
 * Sealed buffers for vmsplice
 * ------------------------------------------------------------------------ */

typedef struct splicer_buf splicer_buf;

/**
 * splicer_buf_new() - allocate a page-aligned, writable buffer of @size
 * bytes (rounded up to whole pages) to fill and then hand to
 * splicer_open_buf().
 * @return 0, or -EINVAL (out NULL, size 0 or absurd), -ENOMEM.
 */
SPLICER_API int splicer_buf_new(splicer_buf **out, size_t size);

/**
 * splicer_buf_data() - the buffer's memory.  Writable until the buffer is
 * handed over; after that a write to it faults (SIGSEGV).
 * @return the address, or NULL for a NULL buffer.
 */
SPLICER_API void *splicer_buf_data(splicer_buf *b);

/**
 * splicer_buf_size() - the usable size asked of splicer_buf_new().
 * @return bytes, 0 for NULL.
 */
SPLICER_API size_t splicer_buf_size(const splicer_buf *b);

/**
 * splicer_buf_free() - release a buffer that was never handed over.  NULL
 * is a no-op.  A buffer handed to splicer_open_buf() belongs to the
 * session and must not be freed by the caller.
 */
SPLICER_API void splicer_buf_free(splicer_buf *b);

/**
 * splicer_open_buf() - begin a transfer of the first @len bytes of @b to
 * @fd_out with vmsplice(2).  The buffer is sealed (made read-only) first,
 * so that a later write faults instead of changing bytes the reader has not
 * consumed yet.  On success the session owns @b and frees it when the
 * transfer ends (finished, aborted, replaced or the session freed).  On
 * failure the caller still owns @b.
 * @return 0, or -EINVAL (NULL, len > size, buffer already handed over),
 *         -EBADF, -EBUSY, -EOPNOTSUPP as splicer_open().
 */
SPLICER_API int splicer_open_buf(splicer_session *s, splicer_buf *b, size_t len,
                                 int fd_out);

/* ------------------------------------------------------------------------
 * Raw wrappers: one per syscall, EINTR retried, offsets by value
 * (SPLICER_OFF_CUR means "no offset": the fd's position is used).
 * They return the syscall's count, or -errno.
 * ------------------------------------------------------------------------ */

#define SPLICER_F_MOVE 1     /* SPLICE_F_MOVE */
#define SPLICER_F_NONBLOCK 2 /* SPLICE_F_NONBLOCK: the pipe side only */
#define SPLICER_F_MORE 4     /* SPLICE_F_MORE: more data follows */
#define SPLICER_F_GIFT 8     /* SPLICE_F_GIFT (vmsplice) */

/**
 * splicer_splice() - splice(2): move up to @len bytes between a pipe and
 * another fd (at least one of the two must be a pipe).
 * @return bytes moved (0 at end of input), or -errno.
 */
SPLICER_API int64_t splicer_splice(int fd_in, int64_t off_in, int fd_out,
                                   int64_t off_out, uint64_t len,
                                   unsigned flags);

/**
 * splicer_tee() - tee(2): duplicate up to @len bytes from pipe @fd_in into
 * pipe @fd_out without consuming them.
 * @return bytes duplicated, or -errno.
 */
SPLICER_API int64_t splicer_tee(int fd_in, int fd_out, uint64_t len,
                                unsigned flags);

/**
 * splicer_vmsplice() - vmsplice(2): map @n user buffers into pipe @pipe_fd,
 * which must be a write end (vmsplice on a read end would write into the
 * const buffers: -EBADF).
 * CAVEAT: the pipe refers to the caller's pages, it does not copy them.
 * Changing the memory before the reader consumed it changes what the reader
 * gets.  Use splicer_open_buf() for a buffer that cannot be changed.
 * @return bytes queued, or -errno.
 */
SPLICER_API int64_t splicer_vmsplice(int pipe_fd, const struct iovec *iov,
                                     size_t n, unsigned flags);

/**
 * splicer_sendfile() - sendfile(2): up to @len bytes of @fd_in (from
 * @off_in, leaving its position alone, or from its position with
 * SPLICER_OFF_CUR) to @fd_out.
 * @return bytes moved, or -errno.
 */
SPLICER_API int64_t splicer_sendfile(int fd_out, int fd_in, int64_t off_in,
                                     uint64_t len);

/**
 * splicer_copy_file_range() - copy_file_range(2) between regular files.
 * @return bytes copied (0 at end of input), or -errno.
 */
SPLICER_API int64_t splicer_copy_file_range(int fd_in, int64_t off_in,
                                            int fd_out, int64_t off_out,
                                            uint64_t len);

/**
 * splicer_pipe_size() - F_GETPIPE_SZ.
 * @return the pipe's capacity in bytes, or -errno (-EBADF not a pipe).
 */
SPLICER_API int splicer_pipe_size(int pipe_fd);

/**
 * splicer_set_pipe_size() - F_SETPIPE_SZ.
 * @return the capacity the kernel gave (>= @size, rounded to pages), or
 *         -errno (-EPERM above the unprivileged limit, -EBUSY when the pipe
 *         holds more than @size).
 */
SPLICER_API int splicer_set_pipe_size(int pipe_fd, int size);

#ifdef __cplusplus
}
#endif

#endif /* SPLICER_H */
