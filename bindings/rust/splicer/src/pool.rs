//! The process-wide pipe pool.
//!
//! A staged transfer (socket to socket, a tee, a [`Buf`](crate::Buf) to a
//! socket) moves its bytes through a pipe.  Sessions do not keep pipes of
//! their own: each batch borrows one from a pool shared by the whole
//! process and gives it back the moment the destination has every byte of
//! it, so an idle session, or one waiting for its source, holds no pipe and
//! no buffer.  Pipe memory and file descriptors are then bounded by the
//! pool, not by the number of connections.
//!
//! - A pipe that holds bytes never goes back: a session aborted or dropped
//!   with bytes pending closes it ([`PoolStats::discarded`]), so no byte of
//!   one stream can reach another.
//! - When the pool has no pipe to lend (its cap, `EMFILE`, `ENFILE`, or the
//!   kernel's per-user pipe limit spent), that batch goes through read/write
//!   instead: nothing is lost, and it is counted in [`PoolStats::misses`]
//!   and the session's [`Stats::pool_misses`](crate::Stats::pool_misses).
//! - When a destination is full while the pool has no idle pipe and half its
//!   cap or more is lent, the bytes left in the session's pipe are moved into
//!   a buffer and the pipe goes back at once, so that other sessions splice
//!   instead of missing ([`PoolStats::spills`] and the session's
//!   [`Stats::pool_spills`](crate::Stats::pool_spills)).
//! - A session made with [`Builder::pool(false)`](crate::Builder::pool)
//!   creates and keeps pipes of its own, as before the pool existed.
//! - A forked child starts with an empty pool of its own.
//!
//! The pool is thread-safe: every function here may be called while
//! transfers run on other threads.  The C manual page `splicer_pool_set(3)`
//! has the details, including how the default cap is derived from
//! `/proc/sys/fs/pipe-user-pages-soft`.
//!
//! ```
//! use splicer::pool;
//! // a proxy with many connections: at most 64 pipes of 1 MiB, 8 kept idle
//! pool::set_pipe_size(1 << 20)?;
//! pool::set_max_pipes(64)?;
//! pool::set_max_idle(8)?;
//! let st = pool::stats();
//! assert!(st.in_use <= 64);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;

use splicer_sys as sys;

use crate::error::check;

/// A pool option, as `enum splicer_pool_option` names it, for
/// [`set`]/[`get`].  The typed functions ([`set_max_pipes`], ...) are the
/// usual way; this is the C API's shape, for options added later.
///
/// ```
/// use splicer::pool::{self, PoolOpt};
/// assert_eq!(pool::get(PoolOpt::MAX_IDLE)?, pool::max_idle() as i64);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolOpt(pub i32);

impl PoolOpt {
    /// Most pipes in existence, borrowed plus idle (see [`set_max_pipes`]).
    ///
    /// ```
    /// let n = splicer::pool::get(splicer::pool::PoolOpt::MAX_PIPES)?;
    /// assert!(n >= 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const MAX_PIPES: PoolOpt = PoolOpt(sys::SPLICER_POOL_MAX_PIPES as i32);
    /// Most empty pipes kept for reuse (see [`set_max_idle`]).
    ///
    /// ```
    /// assert_eq!(splicer::pool::get(splicer::pool::PoolOpt::MAX_IDLE)?, 32);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const MAX_IDLE: PoolOpt = PoolOpt(sys::SPLICER_POOL_MAX_IDLE as i32);
    /// Bytes asked of `F_SETPIPE_SZ` for each new pipe (see
    /// [`set_pipe_size`]).
    ///
    /// ```
    /// assert_eq!(splicer::pool::get(splicer::pool::PoolOpt::PIPE_SIZE)?, 256 * 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const PIPE_SIZE: PoolOpt = PoolOpt(sys::SPLICER_POOL_PIPE_SIZE as i32);
}

/// Sets a pool option to `value`.
///
/// # Errors
/// `EINVAL` ([`InvalidInput`](io::ErrorKind::InvalidInput)) for an unknown
/// option or a value out of its range; the option is then unchanged.
///
/// ```
/// use splicer::pool::{self, PoolOpt};
/// let err = pool::set(PoolOpt::MAX_IDLE, -1).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set(opt: PoolOpt, value: i64) -> io::Result<()> {
    // SAFETY: plain values; the pool locks for itself.
    check(unsafe { sys::splicer_pool_set(opt.0, value) }.into()).map(drop)
}

/// A pool option's value in effect: for [`PoolOpt::MAX_PIPES`] the derived
/// default until it is set; for [`PoolOpt::PIPE_SIZE`] the size asked,
/// before the kernel's rounding.
///
/// # Errors
/// `EINVAL` for an unknown option.
///
/// ```
/// let err = splicer::pool::get(splicer::pool::PoolOpt(999)).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
/// ```
pub fn get(opt: PoolOpt) -> io::Result<i64> {
    let mut v = 0i64;
    // SAFETY: v is a valid out-pointer.
    check(unsafe { sys::splicer_pool_get(opt.0, &mut v) }.into())?;
    Ok(v)
}

/// A count or size as the C API's `int64_t`: one that does not fit is
/// `EINVAL`, never a truncated value.
fn value(n: usize) -> io::Result<i64> {
    i64::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A known option's value (`splicer_pool_get` fails only for unknown ones).
fn known(opt: PoolOpt) -> usize {
    get(opt).ok().and_then(|v| usize::try_from(v).ok()).unwrap_or(0)
}

/// Caps the pipes in existence, borrowed plus idle, at `n` (0 ..= 2^20).
///
/// 0 disables the pool: every batch goes through read/write.  Lowering the
/// cap below what is borrowed takes effect as pipes come back.  The
/// default is half of `fs.pipe-user-pages-soft` divided by the pages of one
/// pool pipe, within 16 ..= 1024 (128 pipes of 256 KiB under the kernel's
/// default 64 MiB); past that limit the kernel hands out 8 KiB pipes.
///
/// # Errors
/// `EINVAL` ([`InvalidInput`](io::ErrorKind::InvalidInput)) for more than
/// 2^20; the cap is then unchanged.
///
/// ```
/// use splicer::pool;
/// let before = pool::max_pipes();
/// let err = pool::set_max_pipes(usize::MAX).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// assert_eq!(pool::max_pipes(), before);
/// ```
pub fn set_max_pipes(n: usize) -> io::Result<()> {
    set(PoolOpt::MAX_PIPES, value(n)?)
}

/// The cap on pipes in existence (the derived default until it is set).
///
/// ```
/// let n = splicer::pool::max_pipes();
/// assert!((16..=1024).contains(&n));
/// ```
pub fn max_pipes() -> usize {
    known(PoolOpt::MAX_PIPES)
}

/// Keeps at most `n` empty pipes for reuse (0 ..= 2^20; default 32).
/// Lowering it closes the excess at once.
///
/// # Errors
/// `EINVAL` ([`InvalidInput`](io::ErrorKind::InvalidInput)) for more than
/// 2^20; the value is then unchanged.
///
/// ```
/// splicer::pool::set_max_idle(4)?;
/// assert_eq!(splicer::pool::max_idle(), 4);
/// assert!(splicer::pool::set_max_idle(1 << 21).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_max_idle(n: usize) -> io::Result<()> {
    set(PoolOpt::MAX_IDLE, value(n)?)
}

/// The most empty pipes kept for reuse.
///
/// ```
/// assert_eq!(splicer::pool::max_idle(), 32);
/// ```
pub fn max_idle() -> usize {
    known(PoolOpt::MAX_IDLE)
}

/// Bytes asked of `F_SETPIPE_SZ` for each new pool pipe (4096 ..= 2^30;
/// default 256 KiB).  Idle pipes of the old size are closed now, borrowed
/// ones when they come back.  A pooled session's
/// [`Opt::PIPE_SIZE`](crate::Opt::PIPE_SIZE) bounds one batch within this
/// size.  A new pipe the kernel will not give this size (the per-user limit
/// is spent) is closed rather than used small, and counted in
/// [`PoolStats::undersized`].
///
/// # Errors
/// `EINVAL` ([`InvalidInput`](io::ErrorKind::InvalidInput)) outside
/// 4096 ..= 2^30; the size is then unchanged.
///
/// ```
/// use splicer::pool;
/// pool::set_pipe_size(1 << 20)?;
/// assert_eq!(pool::pipe_size(), 1 << 20);
/// assert_eq!(pool::set_pipe_size(4095).unwrap_err().raw_os_error(), Some(libc::EINVAL));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_pipe_size(bytes: usize) -> io::Result<()> {
    set(PoolOpt::PIPE_SIZE, value(bytes)?)
}

/// The size asked for each new pool pipe, before the kernel's rounding.
///
/// ```
/// assert_eq!(splicer::pool::pipe_size(), 256 * 1024);
/// ```
pub fn pipe_size() -> usize {
    known(PoolOpt::PIPE_SIZE)
}

/// Closes every idle pipe (borrowed ones are untouched) and restarts
/// [`PoolStats::peak_in_use`] from the pipes in use now.  Returns how many
/// pipes it closed.
///
/// ```
/// splicer::pool::trim();
/// assert_eq!(splicer::pool::stats().idle, 0);
/// assert_eq!(splicer::pool::trim(), 0);
/// ```
pub fn trim() -> usize {
    // SAFETY: no arguments; the pool locks for itself.
    let n = unsafe { sys::splicer_pool_trim() };
    usize::try_from(n).unwrap_or(0)
}

/// The pool's statistics since the process started.  `in_use`, `idle` and
/// `peak_in_use` are gauges; the rest count events, so the difference of two
/// snapshots ([`PoolStats::since`]) says what happened in between.
///
/// ```
/// use std::io::Write;
/// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
/// b.write_all(b"through a pool pipe")?;
/// b.shutdown(std::net::Shutdown::Write)?;
/// let before = splicer::pool::stats();
/// splicer::copy(&a, std::fs::File::create("/dev/null")?)?;
/// let d = splicer::pool::stats().since(&before);
/// assert!(d.borrowed >= 1 && d.returned == d.borrowed);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Pipes handed to sessions.
    pub borrowed: u64,
    /// Pipes given back empty.
    pub returned: u64,
    /// Pipes made by the pool.
    pub created: u64,
    /// Pipes closed by the pool: over the idle cap, trimmed, of an old size,
    /// discarded or undersized.
    pub closed: u64,
    /// Batches done by read/write because no pipe could be had.
    pub misses: u64,
    /// Pipes borrowed now.
    pub in_use: u64,
    /// Empty pipes kept now.
    pub idle: u64,
    /// Most pipes borrowed at once, since the start or the last [`trim`].
    pub peak_in_use: u64,
    /// Pipes closed because they held bytes (a session aborted or dropped
    /// with bytes pending).
    pub discarded: u64,
    /// New pipes closed because the kernel gave less than the pool's size.
    pub undersized: u64,
    /// Pipes given back early: a session's destination was full while the
    /// pool had no idle pipe (and half its cap or more lent), so the bytes
    /// left in the pipe were moved into a buffer.
    pub spills: u64,
}

impl PoolStats {
    /// What happened since `earlier`: the counters as differences, the
    /// gauges (`in_use`, `idle`, `peak_in_use`) as they are in `self`.
    ///
    /// ```
    /// let a = splicer::pool::stats();
    /// let d = splicer::pool::stats().since(&a);
    /// assert_eq!(d.borrowed, 0);
    /// ```
    #[must_use]
    pub fn since(&self, earlier: &PoolStats) -> PoolStats {
        PoolStats {
            borrowed: self.borrowed.wrapping_sub(earlier.borrowed),
            returned: self.returned.wrapping_sub(earlier.returned),
            created: self.created.wrapping_sub(earlier.created),
            closed: self.closed.wrapping_sub(earlier.closed),
            misses: self.misses.wrapping_sub(earlier.misses),
            discarded: self.discarded.wrapping_sub(earlier.discarded),
            undersized: self.undersized.wrapping_sub(earlier.undersized),
            spills: self.spills.wrapping_sub(earlier.spills),
            ..*self
        }
    }
}

/// A snapshot of the pool's statistics.
///
/// ```
/// let st = splicer::pool::stats();
/// assert!(st.peak_in_use >= st.in_use);
/// ```
pub fn stats() -> PoolStats {
    let mut st = sys::splicer_pool_stats::default();
    // SAFETY: a struct of the size given; the call cannot fail with it.
    unsafe { sys::splicer_pool_stats_get(&mut st, std::mem::size_of_val(&st)) };
    PoolStats {
        borrowed: st.borrowed,
        returned: st.returned,
        created: st.created,
        closed: st.closed,
        misses: st.misses,
        in_use: st.in_use,
        idle: st.idle,
        peak_in_use: st.peak_in_use,
        discarded: st.discarded,
        undersized: st.undersized,
        spills: st.spills,
    }
}
