//! What a descriptor is, for [`Session::keep`](crate::Session::keep) and
//! the `copy_known` calls.

use std::fs::File;
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};

use splicer_sys as sys;

/// Most fds one session keeps (`SPLICER_KEEP_MAX`).
///
/// ```
/// assert_eq!(splicer::KEEP_MAX, 8);
/// ```
pub const KEEP_MAX: usize = sys::SPLICER_KEEP_MAX as usize;

const NONBLOCK: i32 = sys::SPLICER_FD_NONBLOCK as i32;

/// What [`Session::keep`](crate::Session::keep) is told about an fd
/// (`enum splicer_fd_kind`, with `SPLICER_FD_NONBLOCK`).
///
/// [`Unknown`](FdKind::Unknown) has the session classify the fd itself,
/// once (fstat(2), fcntl(2)).  Any other kind is trusted as given: the
/// session makes no fstat(2) for it, and with `nonblocking: true` (the fd
/// has `O_NONBLOCK` set) no syscall at all; with `nonblocking: false` it
/// reads the fd's flags once with `fcntl(F_GETFL)`.  A kind given wrongly
/// is not unsafe, but the kernel then refuses the transfer's syscalls
/// instead of the open refusing the fd (a pipe's read end kept as a pipe
/// and used as a destination fails with `EBADF` at the first step).
///
/// ```
/// use splicer::FdKind;
/// assert_eq!(FdKind::Stream { nonblocking: true }.to_raw(), 0x101);
/// assert_eq!(FdKind::from_raw(0x104), Some(FdKind::Pipe { nonblocking: true }));
/// assert_eq!(FdKind::default(), FdKind::Unknown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FdKind {
    /// Classify the fd now, with the checks of an open.
    #[default]
    Unknown,
    /// A `SOCK_STREAM` socket (TCP, Unix stream).
    Stream {
        /// `O_NONBLOCK` is set on the fd.
        nonblocking: bool,
    },
    /// A `SOCK_DGRAM` socket.
    Dgram {
        /// `O_NONBLOCK` is set on the fd.
        nonblocking: bool,
    },
    /// A `SOCK_SEQPACKET` socket.
    SeqPacket {
        /// `O_NONBLOCK` is set on the fd.
        nonblocking: bool,
    },
    /// Either end of a pipe or FIFO.
    Pipe {
        /// `O_NONBLOCK` is set on the fd.
        nonblocking: bool,
    },
}

impl FdKind {
    /// The C value: `enum splicer_fd_kind`, ORed with
    /// `SPLICER_FD_NONBLOCK` when `nonblocking`.
    ///
    /// ```
    /// use splicer::FdKind;
    /// assert_eq!(FdKind::Unknown.to_raw(), 0);
    /// assert_eq!(FdKind::Dgram { nonblocking: false }.to_raw(), 2);
    /// ```
    pub const fn to_raw(self) -> i32 {
        let (k, nb) = match self {
            FdKind::Unknown => (sys::SPLICER_FD_UNKNOWN, false),
            FdKind::Stream { nonblocking } => (sys::SPLICER_FD_STREAM, nonblocking),
            FdKind::Dgram { nonblocking } => (sys::SPLICER_FD_DGRAM, nonblocking),
            FdKind::SeqPacket { nonblocking } => (sys::SPLICER_FD_SEQPACKET, nonblocking),
            FdKind::Pipe { nonblocking } => (sys::SPLICER_FD_PIPE, nonblocking),
        };
        k as i32 | if nb { NONBLOCK } else { 0 }
    }

    /// The kind for a C value; `None` for a value the C library refuses
    /// (an unknown kind or flag, or `SPLICER_FD_NONBLOCK` with
    /// `SPLICER_FD_UNKNOWN`).
    ///
    /// ```
    /// use splicer::FdKind;
    /// assert_eq!(FdKind::from_raw(3), Some(FdKind::SeqPacket { nonblocking: false }));
    /// assert_eq!(FdKind::from_raw(5), None);
    /// assert_eq!(FdKind::from_raw(0x100), None);
    /// ```
    pub const fn from_raw(v: i32) -> Option<FdKind> {
        let nonblocking = v & NONBLOCK != 0;
        let kind = match (v & !NONBLOCK) as u32 {
            sys::SPLICER_FD_UNKNOWN if !nonblocking => FdKind::Unknown,
            sys::SPLICER_FD_STREAM => FdKind::Stream { nonblocking },
            sys::SPLICER_FD_DGRAM => FdKind::Dgram { nonblocking },
            sys::SPLICER_FD_SEQPACKET => FdKind::SeqPacket { nonblocking },
            sys::SPLICER_FD_PIPE => FdKind::Pipe { nonblocking },
            _ => return None,
        };
        Some(kind)
    }

    /// Whether the kind says `O_NONBLOCK` is set (never for
    /// [`Unknown`](FdKind::Unknown)).
    ///
    /// ```
    /// assert!(splicer::FdKind::Pipe { nonblocking: true }.is_nonblocking());
    /// ```
    pub const fn is_nonblocking(self) -> bool {
        self.to_raw() & NONBLOCK != 0
    }
}

/// An fd whose [`FdKind`] its type tells, so that
/// [`copy_known`](crate::copy_known) and
/// [`Session::copy_known`](crate::Session::copy_known) can spare the open
/// its fstat(2) for it.
///
/// std's sockets say their socket type but not whether `O_NONBLOCK` is set
/// (`set_nonblocking` can change it at any time), so they give
/// `nonblocking: false` and the session reads the flags once with
/// fcntl(2) instead of fstat(2) + fcntl(2).  tokio's sockets and pipes
/// (feature `tokio`) are non-blocking, as tokio requires of them (a
/// blocking socket given to `from_std` is the caller's mistake there too):
/// their kind makes no syscall.
/// Files, [`OwnedFd`] and [`BorrowedFd`] are [`FdKind::Unknown`]: classified
/// by the open as always.
///
/// A type whose value can be made from any fd (`TcpStream::from(OwnedFd)`)
/// reports its kind without asking the kernel: made from an fd of another
/// kind, its transfers fail at their syscalls rather than at the open.
///
/// ```
/// use splicer::{FdKind, KnownKind};
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// assert_eq!(a.fd_kind(), FdKind::Stream { nonblocking: false });
/// assert_eq!(std::fs::File::open("/dev/null")?.fd_kind(), FdKind::Unknown);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait KnownKind: AsFd {
    /// The kind of this fd ([`FdKind::Unknown`] when the type does not
    /// say).
    ///
    /// ```
    /// use splicer::KnownKind;
    /// let (a, _b) = std::os::unix::net::UnixDatagram::pair()?;
    /// assert_eq!(a.fd_kind(), splicer::FdKind::Dgram { nonblocking: false });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn fd_kind(&self) -> FdKind;
}

macro_rules! known_kind {
    ($kind:expr => $($t:ty),+) => {
        $(impl KnownKind for $t {
            fn fd_kind(&self) -> FdKind {
                $kind
            }
        })+
    };
}

known_kind!(FdKind::Stream { nonblocking: false } => TcpStream, UnixStream);
known_kind!(FdKind::Dgram { nonblocking: false } => UnixDatagram);
known_kind!(FdKind::Unknown => File, OwnedFd, BorrowedFd<'_>);

#[cfg(feature = "tokio")]
known_kind!(FdKind::Stream { nonblocking: true } => ::tokio::net::TcpStream, ::tokio::net::UnixStream);
#[cfg(feature = "tokio")]
known_kind!(FdKind::Dgram { nonblocking: true } => ::tokio::net::UnixDatagram);
#[cfg(feature = "tokio")]
known_kind!(FdKind::Pipe { nonblocking: true } => ::tokio::net::unix::pipe::Sender, ::tokio::net::unix::pipe::Receiver);

impl<T: KnownKind + ?Sized> KnownKind for &T {
    fn fd_kind(&self) -> FdKind {
        (**self).fd_kind()
    }
}

impl<T: KnownKind + ?Sized> KnownKind for &mut T {
    fn fd_kind(&self) -> FdKind {
        (**self).fd_kind()
    }
}
