//! One function per syscall, for callers that want exactly that syscall:
//! EINTR is retried, errors are the OS error, offsets are `Option<u64>`
//! (`None`: use and advance the fd's own position).
//!
//! ```
//! use splicer::raw::{self, SpliceFlags};
//! let (r, w) = raw::pipe()?;
//! let zero = std::fs::File::open("/dev/zero")?;
//! assert_eq!(raw::splice(&zero, None, &w, None, 4096, SpliceFlags::empty())?, 4096);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::io::IoSlice;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use splicer_sys as sys;

use crate::error::check;

/// Flags of [`splice`], [`tee`] and [`vmsplice`] (`SPLICE_F_*`).
///
/// ```
/// use splicer::raw::SpliceFlags;
/// let f = SpliceFlags::MOVE | SpliceFlags::MORE;
/// assert_eq!(f.bits(), 5);
/// assert!(f.contains(SpliceFlags::MORE));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpliceFlags(u32);

impl SpliceFlags {
    /// `SPLICE_F_MOVE`: a hint to move pages rather than copy them.
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::MOVE.bits(), 1);
    /// ```
    pub const MOVE: SpliceFlags = SpliceFlags(sys::SPLICER_F_MOVE);
    /// `SPLICE_F_NONBLOCK`: do not block on the pipe side.
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::NONBLOCK.bits(), 2);
    /// ```
    pub const NONBLOCK: SpliceFlags = SpliceFlags(sys::SPLICER_F_NONBLOCK);
    /// `SPLICE_F_MORE`: more data follows (a hint for sockets).
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::MORE.bits(), 4);
    /// ```
    pub const MORE: SpliceFlags = SpliceFlags(sys::SPLICER_F_MORE);
    /// `SPLICE_F_GIFT` (vmsplice): the pages are given to the kernel.
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::GIFT.bits(), 8);
    /// ```
    pub const GIFT: SpliceFlags = SpliceFlags(sys::SPLICER_F_GIFT);

    /// No flags.
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::empty().bits(), 0);
    /// ```
    pub const fn empty() -> SpliceFlags {
        SpliceFlags(0)
    }

    /// Flags from their C bits; unknown bits are kept (the kernel judges).
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::from_bits(1), splicer::raw::SpliceFlags::MOVE);
    /// ```
    pub const fn from_bits(bits: u32) -> SpliceFlags {
        SpliceFlags(bits)
    }

    /// The C bits.
    ///
    /// ```
    /// assert_eq!(splicer::raw::SpliceFlags::GIFT.bits(), 8);
    /// ```
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    ///
    /// ```
    /// use splicer::raw::SpliceFlags;
    /// assert!(!SpliceFlags::empty().contains(SpliceFlags::MOVE));
    /// ```
    pub const fn contains(self, other: SpliceFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for SpliceFlags {
    type Output = SpliceFlags;
    fn bitor(self, rhs: SpliceFlags) -> SpliceFlags {
        SpliceFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for SpliceFlags {
    fn bitor_assign(&mut self, rhs: SpliceFlags) {
        self.0 |= rhs.0;
    }
}

fn off(o: Option<u64>) -> io::Result<i64> {
    match o {
        None => Ok(sys::SPLICER_OFF_CUR as i64),
        Some(o) => i64::try_from(o).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

fn count(r: i64) -> io::Result<usize> {
    check(r).map(|n| n as usize)
}

/// splice(2): moves up to `len` bytes between a pipe and another fd (one
/// of the two must be a pipe).  Returns the bytes moved, 0 at end of input.
///
/// # Errors
/// The OS error: `EINVAL` (neither end a pipe), `ESPIPE` (an offset on a
/// pipe), `EAGAIN`, ...
///
/// ```
/// use splicer::raw::{self, SpliceFlags};
/// let (r, w) = raw::pipe()?;
/// let zero = std::fs::File::open("/dev/zero")?;
/// let n = raw::splice(&zero, None, &w, None, 100, SpliceFlags::MOVE)?;
/// assert_eq!(n, 100);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn splice(
    fd_in: impl AsFd,
    off_in: Option<u64>,
    fd_out: impl AsFd,
    off_out: Option<u64>,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    let (oi, oo) = (off(off_in)?, off(off_out)?);
    // SAFETY: plain syscall wrapper on borrowed fds.
    count(unsafe {
        sys::splicer_splice(fd_in.as_fd().as_raw_fd(), oi, fd_out.as_fd().as_raw_fd(), oo, len as u64, flags.0)
    })
}

/// tee(2): duplicates up to `len` bytes from pipe `fd_in` into pipe
/// `fd_out` without consuming them.
///
/// # Errors
/// The OS error: `EINVAL` when either is not a pipe, `EAGAIN`, ...
///
/// ```
/// use splicer::raw::{self, SpliceFlags};
/// let (r1, w1) = raw::pipe()?;
/// let (r2, w2) = raw::pipe()?;
/// std::io::Write::write_all(&mut std::fs::File::from(w1), b"abc")?;
/// assert_eq!(raw::tee(&r1, &w2, 3, SpliceFlags::empty())?, 3);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn tee(fd_in: impl AsFd, fd_out: impl AsFd, len: usize, flags: SpliceFlags) -> io::Result<usize> {
    // SAFETY: plain syscall wrapper on borrowed fds.
    count(unsafe { sys::splicer_tee(fd_in.as_fd().as_raw_fd(), fd_out.as_fd().as_raw_fd(), len as u64, flags.0) })
}

/// vmsplice(2): puts references to the memory of `bufs` into pipe
/// `pipe_fd`.  Returns the bytes queued.
///
/// # Safety
/// The pipe refers to these pages, it does not copy them: the memory must
/// stay allocated and unchanged until the reader has consumed the bytes,
/// or the reader sees whatever the memory holds by then.  The borrow of
/// `bufs` ends when this returns, so the compiler cannot check that: use
/// [`Session::send_buf`](crate::Session::send_buf) for a buffer that cannot
/// change.
///
/// # Errors
/// The OS error: `EBADF` (not a pipe's write end), `EAGAIN`, ...
///
/// ```
/// use std::io::IoSlice;
/// use splicer::raw::{self, SpliceFlags};
/// static DATA: [u8; 4] = *b"data"; // never changes, never freed
/// let (r, w) = raw::pipe()?;
/// let n = unsafe { raw::vmsplice(&w, &[IoSlice::new(&DATA)], SpliceFlags::empty())? };
/// assert_eq!(n, 4);
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn vmsplice(pipe_fd: impl AsFd, bufs: &[IoSlice<'_>], flags: SpliceFlags) -> io::Result<usize> {
    // IoSlice is guaranteed ABI-compatible with struct iovec on Unix.
    count(sys::splicer_vmsplice(pipe_fd.as_fd().as_raw_fd(), bufs.as_ptr().cast::<libc::iovec>(), bufs.len(), flags.0))
}

/// sendfile(2): up to `len` bytes of `fd_in` (from `off_in`, leaving its
/// position alone, or from its position with `None`) to `fd_out`.
///
/// # Errors
/// The OS error: `EINVAL` (an input that cannot be mmapped, like a pipe or
/// socket), `EAGAIN`, `EPIPE`, ...
///
/// ```
/// let zero = std::fs::File::open("/dev/zero")?;
/// let null = std::fs::File::create("/dev/null")?;
/// let n = splicer::raw::sendfile(&null, &zero, None, 4096);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sendfile(fd_out: impl AsFd, fd_in: impl AsFd, off_in: Option<u64>, len: usize) -> io::Result<usize> {
    let oi = off(off_in)?;
    // SAFETY: plain syscall wrapper on borrowed fds.
    count(unsafe { sys::splicer_sendfile(fd_out.as_fd().as_raw_fd(), fd_in.as_fd().as_raw_fd(), oi, len as u64) })
}

/// copy_file_range(2) between regular files.  Returns the bytes copied, 0
/// at end of input.
///
/// # Errors
/// The OS error: `EXDEV`, `EINVAL`, `EBADF`, ...
///
/// ```
/// let p = std::env::temp_dir().join("splicer-doc-cfr");
/// std::fs::write(&p, b"xyz")?;
/// let src = std::fs::File::open(&p)?;
/// let dst = std::fs::OpenOptions::new().write(true).open(&p)?;
/// let n = splicer::raw::copy_file_range(&src, Some(0), &dst, Some(3), 3)?;
/// assert_eq!(n, 3);
/// assert_eq!(std::fs::read(&p)?, b"xyzxyz");
/// # std::fs::remove_file(p)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_file_range(
    fd_in: impl AsFd,
    off_in: Option<u64>,
    fd_out: impl AsFd,
    off_out: Option<u64>,
    len: usize,
) -> io::Result<usize> {
    let (oi, oo) = (off(off_in)?, off(off_out)?);
    // SAFETY: plain syscall wrapper on borrowed fds.
    count(unsafe {
        sys::splicer_copy_file_range(fd_in.as_fd().as_raw_fd(), oi, fd_out.as_fd().as_raw_fd(), oo, len as u64)
    })
}

/// The capacity of a pipe in bytes (`F_GETPIPE_SZ`).
///
/// # Errors
/// `EBADF` when `fd` is not a pipe.
///
/// ```
/// let (r, w) = splicer::raw::pipe()?;
/// assert!(splicer::raw::pipe_size(&r)? >= 4096);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe_size(pipe_fd: impl AsFd) -> io::Result<usize> {
    // SAFETY: plain fcntl wrapper on a borrowed fd.
    count(unsafe { sys::splicer_pipe_size(pipe_fd.as_fd().as_raw_fd()) }.into())
}

/// Asks the kernel for a pipe capacity of `size` bytes (`F_SETPIPE_SZ`);
/// returns what it gave (rounded up to pages).
///
/// # Errors
/// `EPERM` above the unprivileged limit, `EBUSY` when the pipe holds more
/// than `size`.
///
/// ```
/// let (r, w) = splicer::raw::pipe()?;
/// assert!(splicer::raw::set_pipe_size(&w, 8192)? >= 8192);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_pipe_size(pipe_fd: impl AsFd, size: usize) -> io::Result<usize> {
    let size = i32::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: plain fcntl wrapper on a borrowed fd.
    count(unsafe { sys::splicer_set_pipe_size(pipe_fd.as_fd().as_raw_fd(), size) }.into())
}

/// A new pipe, `(read end, write end)`, both close-on-exec.
///
/// # Errors
/// `EMFILE`, `ENFILE`.
///
/// ```
/// let (r, w) = splicer::raw::pipe()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: fds has room for two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 made these two fds and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
