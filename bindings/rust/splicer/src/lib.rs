//! Zero-copy transfers between file descriptors on Linux.
//!
//! splicer moves bytes from one fd to another (or to several) inside the
//! kernel with splice(2), tee(2), vmsplice(2), sendfile(2) and
//! copy_file_range(2), so the CPU does not copy them through user space.
//! A [`Session`] picks the method for each pair of fds, falls back to the
//! next one (finally read/write) when the kernel refuses one, and holds
//! bytes taken from the source until they are delivered, so that nothing is
//! lost or duplicated in non-blocking use.
//!
//! ```no_run
//! use std::fs::File;
//! use std::net::TcpStream;
//!
//! // file -> socket with sendfile(2)
//! let n = splicer::copy(File::open("video.mp4")?, TcpStream::connect("127.0.0.1:8080")?)?;
//!
//! // a session says what it did
//! let mut s = splicer::Session::builder().pipe_size(1 << 20).build()?;
//! s.copy(File::open("a")?, File::create("b")?)?;
//! println!("{:?} {}", s.stats(), s.progress().method);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Pieces
//! - [`copy`], [`copy_n`]: one call, on a per-thread session;
//!   [`copy_known`], [`copy_known_n`] for endpoints whose type tells their
//!   [kind](KnownKind) (std's and tokio's sockets), a cheaper open.
//! - [`Session::keep`], [`Session::forget`]: fds classified once for every
//!   later open of a session ([`FdKind`]).
//! - [`Builder`]: a session's options ([`Opt`]), among them
//!   [`lazy_files`](Builder::lazy_files): a regular file's access mode left
//!   to the kernel's check at the first syscall, one fcntl(2) less per file.
//! - [`Session`]: [`copy`](Session::copy), [`copy_n`](Session::copy_n),
//!   [`copy_range`](Session::copy_range), [`tee`](Session::tee),
//!   [`send_buf`](Session::send_buf); and for event loops, a resumable
//!   transfer: [`open`](Session::open), [`step`](Session::step),
//!   [`wait`](Session::wait), [`abort`](Session::abort),
//!   [`progress`](Session::progress).
//! - [`pool`]: the process-wide pipe pool that staged transfers borrow
//!   from, its limits and statistics.
//! - [`Buf`]: memory for vmsplice whose hand-over is a move.
//! - [`raw`]: the syscalls one by one.
//! - `tokio` (feature `tokio`): async copy and tee driven by the reactor.
//!
//! # Errors
//! Every error is an [`std::io::Error`] carrying the OS error:
//! `err.kind() == ErrorKind::BrokenPipe`, [`errno`] and [`errname`].  The
//! whole-transfer calls add [`TransferError`] context (operation, method,
//! bytes delivered); the step-by-step calls and [`raw`] return the bare OS
//! error ([`io::Error::raw_os_error`]).
//!
//! # Page references
//! Zero-copy hands the kernel references to pages, not copies.  Bytes of a
//! file sent to a pipe or socket still refer to the file's page cache until
//! the peer reads them: rewriting the file in place meanwhile can change
//! what the peer reads.  [`raw::vmsplice`] is `unsafe` for the same reason;
//! [`Buf`] makes the session's vmsplice safe.
//!
//! # What the compiler enforces
//! A session is not `Sync`:
//! ```compile_fail
//! fn shared<T: Sync>(_: &T) {}
//! shared(&splicer::Session::new().unwrap());
//! ```
//! A buffer handed over cannot be written any more:
//! ```compile_fail
//! let mut buf = splicer::Buf::new(10).unwrap();
//! let (r, w) = splicer::raw::pipe().unwrap();
//! splicer::Session::new().unwrap().send_buf(buf, 10, &w).unwrap();
//! buf[0] = 1;
//! ```
//! An fd cannot be closed while an open transfer uses it:
//! ```compile_fail
//! let (r, w) = splicer::raw::pipe().unwrap();
//! let zero = std::fs::File::open("/dev/zero").unwrap();
//! let mut s = splicer::Session::new().unwrap();
//! s.open(&zero, &w).unwrap();
//! drop(w);
//! s.step().unwrap();
//! ```
#![warn(missing_docs)]

use std::cell::RefCell;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

mod buf;
mod error;
mod kind;
mod method;
pub mod pool;
pub mod raw;
mod session;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use buf::Buf;
pub use error::{errname, errno, TransferError};
pub use kind::{FdKind, KnownKind, KEEP_MAX};
pub use method::{Method, Methods};
pub use session::{Builder, Interest, OpenBufError, Opt, Progress, Session, Stats, Wait};

/// The raw C API, re-exported for what this crate does not wrap.
///
/// ```
/// assert_eq!(splicer::sys::SPLICER_VERSION_MAJOR, 0);
/// ```
pub use splicer_sys as sys;

thread_local! {
    static SESSION: RefCell<Option<Session<'static>>> = const { RefCell::new(None) };
}

/// The session of the one-shot calls.  Their callers see one error for open
/// and transfer together, so a file's access mode may as well be left to the
/// kernel's check at the first syscall ([`Opt::LAZY_FILES`]): one fcntl(2)
/// less per regular file, and the same error.
fn thread_session() -> io::Result<Session<'static>> {
    Session::builder().lazy_files(true).build()
}

fn with_thread_session<R>(f: impl FnOnce(&mut Session<'static>) -> io::Result<R>) -> io::Result<R> {
    SESSION.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            if slot.is_none() {
                *slot = Some(thread_session()?);
            }
            f(slot.as_mut().unwrap())
        }
        // Re-entered (from a signal handler or a Drop): use a fresh session.
        Err(_) => f(&mut thread_session()?),
    })
}

/// Copies from `src` to `dst` until `src` ends, at the fds' positions,
/// with the fastest method the kernel allows.  Returns the bytes copied.
///
/// It uses a session kept per thread; a staged transfer borrows its pipe
/// from the [`pool`].  That session leaves a regular file's access mode to
/// the kernel's check at the first syscall ([`Opt::LAZY_FILES`]), one
/// fcntl(2) less per file: a file opened the wrong way round is the same
/// `EBADF`, with nothing copied.
/// It blocks until done even on non-blocking fds (it polls on `EAGAIN`);
/// for an event loop use [`Session::open`] or the `tokio` module.
///
/// # Errors
/// The OS error with [`TransferError`] context.
///
/// ```
/// let (r, w) = splicer::raw::pipe()?;
/// std::io::Write::write_all(&mut std::fs::File::from(w), b"hi")?;
/// assert_eq!(splicer::copy(&r, std::fs::File::create("/dev/null")?)?, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy(src: impl AsFd, dst: impl AsFd) -> io::Result<u64> {
    with_thread_session(|s| s.copy(src, dst))
}

/// [`copy`] for endpoints whose type tells their kind ([`KnownKind`]:
/// std's `TcpStream`, `UnixStream`, `UnixDatagram`; tokio's sockets and
/// pipes).  The open then makes no fstat(2) for them: a socket's flags are
/// read with one fcntl(2) (none for tokio's, always non-blocking), where
/// [`copy`] makes fstat(2) and fcntl(2) for each.  Files and other fds are
/// classified as by [`copy`].  See [`Session::copy_known`].
///
/// # Errors
/// As [`copy`].
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// let (mut a, b) = UnixStream::pair()?;
/// a.write_all(b"hi")?;
/// drop(a);
/// assert_eq!(splicer::copy_known(&b, std::fs::File::create("/dev/null")?)?, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_known(src: impl KnownKind, dst: impl KnownKind) -> io::Result<u64> {
    with_thread_session(|s| s.copy_known(src, dst))
}

/// [`copy_n`] for endpoints whose type tells their kind (see
/// [`copy_known`]).
///
/// # Errors
/// As [`copy`].
///
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let zero = std::fs::File::open("/dev/zero")?;
/// assert_eq!(splicer::copy_known_n(&zero, &a, 4096)?, 4096);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_known_n(src: impl KnownKind, dst: impl KnownKind, len: u64) -> io::Result<u64> {
    with_thread_session(|s| s.copy_known_n(src, dst, len))
}

/// Copies at most `len` bytes from `src` to `dst` (see [`copy`]).
///
/// # Errors
/// As [`copy`].
///
/// ```
/// let zero = std::fs::File::open("/dev/zero")?;
/// let null = std::fs::File::create("/dev/null")?;
/// assert_eq!(splicer::copy_n(&zero, &null, 1 << 20)?, 1 << 20);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_n(src: impl AsFd, dst: impl AsFd, len: u64) -> io::Result<u64> {
    with_thread_session(|s| s.copy_n(src, dst, len))
}

/// The method a transfer from `src` to `dst` would try first.
///
/// # Errors
/// `EBADF` for an fd that is not open.
///
/// ```
/// let (r, w) = splicer::raw::pipe()?;
/// let zero = std::fs::File::open("/dev/zero")?;
/// assert_eq!(splicer::method_for(&zero, &w)?, splicer::Method::Splice);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn method_for(src: impl AsFd, dst: impl AsFd) -> io::Result<Method> {
    // SAFETY: plain query on borrowed fds.
    let r = unsafe { sys::splicer_method_for(src.as_fd().as_raw_fd(), dst.as_fd().as_raw_fd()) };
    error::check(r.into()).map(|m| Method::from_raw(m as i32))
}

/// The version of the C library linked, such as `"0.1.0"`.
///
/// ```
/// assert_eq!(splicer::version(), "0.1.0");
/// ```
pub fn version() -> &'static str {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::splicer_version_string()) }.to_str().unwrap_or("")
}

/// The README's examples (one needs tokio), compiled and run as doc tests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
