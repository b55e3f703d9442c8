//! Async copy and tee for tokio (feature `tokio`).
//!
//! The session runs non-blocking: a step that cannot progress returns
//! `EAGAIN`, the session names the fd and the event it waits for, and the
//! task parks on tokio's reactor until that fd is ready.  An idle
//! connection costs no CPU, and no thread is blocked.
//!
//! Any [`AsyncEndpoint`] can be a source or a destination:
//! [`TcpStream`],
//! [`UnixStream`], tokio's pipes,
//! [`AsyncFd`], and regular files
//! (`std::fs::File`, always ready to the kernel).
//!
//! ```no_run
//! use tokio::net::TcpStream;
//! # async fn f() -> std::io::Result<()> {
//! let client = TcpStream::connect("127.0.0.1:9000").await?;
//! let server = TcpStream::connect("127.0.0.1:9001").await?;
//! let n = splicer::tokio::copy(&client, &server).await?;
//! # Ok(()) }
//! ```
//!
//! # Dropping the future
//! A transfer moves bytes from the source into the session's pipe and from
//! there to the destination.  If the future is dropped (a timeout, a
//! `select!` that chose another branch) the transfer simply stops where it
//! was: the destination has received exactly
//! [`progress().delivered`](crate::Progress) bytes, bytes the session never
//! took stay in the source, and bytes taken but not yet delivered
//! (`progress().pending`) stay in the session.  Nothing is lost or
//! delivered twice.  With [`copy_with`] and [`tee_with`] the session is
//! yours, and the transfer stays open on it:
//!
//! - [`resume`] (or [`resume_tee`]) delivers the pending bytes first and
//!   then carries the transfer on to its end, on the same endpoints;
//! - [`abort`] ends it and drops the pending bytes, returning how many.
//!
//! Until one of them, a new transfer on the session fails with `EBUSY`.
//! With [`copy`] and [`tee`] the session is dropped with the future, and the
//! pending bytes with it.
//!
//! ```no_run
//! # async fn f(src: tokio::net::TcpStream, dst: tokio::net::TcpStream) -> std::io::Result<()> {
//! use std::time::Duration;
//! let mut s = splicer::Session::new()?;
//! let copy = splicer::tokio::copy_with(&mut s, &src, &dst, u64::MAX);
//! if tokio::time::timeout(Duration::from_secs(5), copy).await.is_err() {
//!     if still_wanted() {
//!         // the bytes the session holds first, then the rest
//!         splicer::tokio::resume(&mut s, &src, &dst).await?;
//!     } else {
//!         let dropped = splicer::tokio::abort(&mut s);
//!         println!("gave up: {} delivered, {dropped} dropped", s.progress().delivered);
//!     }
//! }
//! # Ok(()) }
//! # fn still_wanted() -> bool { true }
//! ```

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest as TokioInterest;
use ::tokio::net::unix::pipe;
use ::tokio::net::{TcpStream, UnixStream};

use crate::error::TransferError;
use crate::{FdKind, Interest, KnownKind, Opt, Session};

/// An fd that tokio can wait on.
///
/// `async_io` waits until the fd is ready for `interest`, then runs `f`;
/// when `f` fails with [`WouldBlock`](io::ErrorKind::WouldBlock) the
/// readiness is cleared and it waits again (tokio's `async_io` contract).
/// `f` does the I/O itself, so the readiness tick is only cleared when the
/// fd really was not ready: no wakeup is lost.
///
/// ```
/// use splicer::tokio::AsyncEndpoint;
/// fn takes<E: AsyncEndpoint>(_: &E) {}
/// takes(&std::fs::File::open("/dev/null").unwrap());
/// ```
pub trait AsyncEndpoint: AsFd {
    /// Waits for `interest`, runs `f`, and repeats while `f` would block.
    ///
    /// ```no_run
    /// use splicer::tokio::AsyncEndpoint;
    /// # async fn f(sock: tokio::net::TcpStream) -> std::io::Result<()> {
    /// sock.async_io(tokio::io::Interest::READABLE, || Ok(())).await?;
    /// # Ok(()) }
    /// ```
    fn async_io<R: Send>(
        &self,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<R> + Send,
    ) -> impl Future<Output = io::Result<R>> + Send;

    /// What this fd is, if its type says: the transfers of this module keep
    /// it with that kind for their open (see
    /// [`Session::copy_known`](crate::Session::copy_known)), so that the
    /// open makes no syscall for it.  tokio's sockets and pipes are
    /// non-blocking stream, datagram or pipe fds; the default, for any
    /// other type, is [`FdKind::Unknown`]: classified by the open.
    ///
    /// ```
    /// use splicer::tokio::AsyncEndpoint;
    /// let f = std::fs::File::open("/dev/null")?;
    /// assert_eq!(f.endpoint_kind(), splicer::FdKind::Unknown);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn endpoint_kind(&self) -> FdKind {
        FdKind::Unknown
    }
}

impl AsyncEndpoint for TcpStream {
    fn async_io<R: Send>(
        &self,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<R> + Send,
    ) -> impl Future<Output = io::Result<R>> + Send {
        TcpStream::async_io(self, interest, f)
    }

    fn endpoint_kind(&self) -> FdKind {
        self.fd_kind()
    }
}

impl AsyncEndpoint for UnixStream {
    fn async_io<R: Send>(
        &self,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<R> + Send,
    ) -> impl Future<Output = io::Result<R>> + Send {
        UnixStream::async_io(self, interest, f)
    }

    fn endpoint_kind(&self) -> FdKind {
        self.fd_kind()
    }
}

impl<T: AsRawFd + Sync> AsyncEndpoint for AsyncFd<T> {
    fn async_io<R: Send>(
        &self,
        interest: TokioInterest,
        mut f: impl FnMut() -> io::Result<R> + Send,
    ) -> impl Future<Output = io::Result<R>> + Send {
        AsyncFd::async_io(self, interest, move |_| f())
    }
}

macro_rules! pipe_endpoint {
    ($t:ty) => {
        impl AsyncEndpoint for $t {
            fn async_io<R: Send>(
                &self,
                interest: TokioInterest,
                mut f: impl FnMut() -> io::Result<R> + Send,
            ) -> impl Future<Output = io::Result<R>> + Send {
                async move {
                    loop {
                        self.ready(interest).await?;
                        match self.try_io(&mut f) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            r => return r,
                        }
                    }
                }
            }

            fn endpoint_kind(&self) -> FdKind {
                self.fd_kind()
            }
        }
    };
}
pipe_endpoint!(pipe::Sender);
pipe_endpoint!(pipe::Receiver);

/// Regular files and devices like `/dev/null` never make a transfer wait.
impl AsyncEndpoint for std::fs::File {
    fn async_io<R: Send>(
        &self,
        _interest: TokioInterest,
        mut f: impl FnMut() -> io::Result<R> + Send,
    ) -> impl Future<Output = io::Result<R>> + Send {
        std::future::ready(f())
    }
}

impl<T: AsyncEndpoint + ?Sized> AsyncEndpoint for &T {
    fn async_io<R: Send>(
        &self,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<R> + Send,
    ) -> impl Future<Output = io::Result<R>> + Send {
        (**self).async_io(interest, f)
    }

    fn endpoint_kind(&self) -> FdKind {
        (**self).endpoint_kind()
    }
}

/// Copies `src` to `dst` until `src` reports end of file (for a socket:
/// the peer shut down its writing side), on a new session.  Returns the
/// bytes copied.
///
/// # Errors
/// The OS error with [`TransferError`] context.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let file = std::fs::File::open("index.html")?;
/// let sock = tokio::net::TcpStream::connect("127.0.0.1:8080").await?;
/// splicer::tokio::copy(&file, &sock).await?; // sendfile(2)
/// # Ok(()) }
/// ```
pub async fn copy<S, D>(src: &S, dst: &D) -> io::Result<u64>
where
    S: AsyncEndpoint + Sync + ?Sized,
    D: AsyncEndpoint + Sync + ?Sized,
{
    let mut session = Session::new()?;
    copy_with(&mut session, src, dst, u64::MAX).await
}

/// Copies at most `len` bytes (`u64::MAX`: until end of file) from `src`
/// to `dst` on `session`, which is switched to non-blocking mode and stays
/// so.  Keep one session per connection to reuse its pipe.
///
/// # Errors
/// The OS error with [`TransferError`] context.
///
/// ```no_run
/// # async fn f(a: tokio::net::TcpStream, b: tokio::net::TcpStream) -> std::io::Result<()> {
/// let mut s = splicer::Session::builder().pipe_size(1 << 20).build()?;
/// let n = splicer::tokio::copy_with(&mut s, &a, &b, 1 << 30).await?;
/// # Ok(()) }
/// ```
pub async fn copy_with<'a, S, D>(session: &mut Session<'a>, src: &'a S, dst: &'a D, len: u64) -> io::Result<u64>
where
    S: AsyncEndpoint + Sync + ?Sized,
    D: AsyncEndpoint + Sync + ?Sized,
{
    session.set(Opt::NONBLOCK, 1)?;
    let ends = [(src.as_fd().as_raw_fd(), src.endpoint_kind()), (dst.as_fd().as_raw_fd(), dst.endpoint_kind())];
    session
        .with_kinds(&ends, |s| s.open_n(src, dst, len))
        .map_err(|e| TransferError::wrap("copy", crate::Method::None, 0, e))?;
    drive("copy", session, &CopyEnds::new(src, dst)).await
}

/// Carries on a copy whose future was dropped (see [Dropping the
/// future](self#dropping-the-future)): delivers the bytes the session
/// holds first, then the rest, until the length given to [`copy_with`] or
/// the source's end.  `src` and `dst` are the endpoints the copy was opened
/// with.  Returns the bytes delivered by this call; the transfer's total is
/// [`progress().delivered`](crate::Progress).  A session with no open
/// transfer (finished, aborted, or never opened) gives `Ok(0)`.
///
/// Dropping this future mid-transfer leaves the session as dropping the
/// first one did: it can be resumed again.
///
/// # Errors
/// The OS error with [`TransferError`] context (the pending bytes are then
/// dropped, as a failed [`copy_with`] drops them); `EINVAL`, before
/// anything moves, when `src` and `dst` are not the endpoints of the
/// session's transfer.
///
/// ```no_run
/// # async fn f(src: tokio::net::TcpStream, dst: tokio::net::TcpStream) -> std::io::Result<()> {
/// let mut s = splicer::Session::new()?;
/// let first = tokio::time::timeout(
///     std::time::Duration::from_millis(100),
///     splicer::tokio::copy_with(&mut s, &src, &dst, 1 << 20),
/// )
/// .await;
/// if first.is_err() {
///     splicer::tokio::resume(&mut s, &src, &dst).await?;
/// }
/// println!("{} bytes in all", s.progress().delivered);
/// # Ok(()) }
/// ```
pub async fn resume<'a, S, D>(session: &mut Session<'a>, src: &'a S, dst: &'a D) -> io::Result<u64>
where
    S: AsyncEndpoint + Sync + ?Sized,
    D: AsyncEndpoint + Sync + ?Sized,
{
    same_ends(session, src.as_fd().as_raw_fd(), &[dst.as_fd().as_raw_fd()])?;
    session.set(Opt::NONBLOCK, 1)?;
    drive("resume", session, &CopyEnds::new(src, dst)).await
}

/// Copies `src` to every one of `dsts` (1 ..= 16) until `src` ends, on a
/// new session.  Returns the bytes every destination received.  The
/// slowest destination sets the pace.
///
/// # Errors
/// The OS error with [`TransferError`] context.
///
/// ```no_run
/// # async fn f(src: tokio::net::TcpStream, a: tokio::net::TcpStream, b: tokio::net::TcpStream) -> std::io::Result<()> {
/// let n = splicer::tokio::tee(&src, &[&a, &b]).await?;
/// # Ok(()) }
/// ```
pub async fn tee<S, D>(src: &S, dsts: &[&D]) -> io::Result<u64>
where
    S: AsyncEndpoint + Sync + ?Sized,
    D: AsyncEndpoint + Sync + ?Sized,
{
    let mut session = Session::new()?;
    tee_with(&mut session, src, dsts, u64::MAX).await
}

/// [`tee`] of at most `len` bytes on `session` (switched to non-blocking).
///
/// # Errors
/// The OS error with [`TransferError`] context.
///
/// ```no_run
/// # async fn f(src: tokio::net::TcpStream, a: tokio::net::TcpStream) -> std::io::Result<()> {
/// let mut s = splicer::Session::new()?;
/// let log = std::fs::File::create("capture.bin")?;
/// // a socket is not a file: tee to sockets, then copy the log separately
/// let n = splicer::tokio::tee_with(&mut s, &src, &[&a], 1 << 20).await?;
/// # Ok(()) }
/// ```
pub async fn tee_with<'a, S, D>(session: &mut Session<'a>, src: &'a S, dsts: &[&'a D], len: u64) -> io::Result<u64>
where
    S: AsyncEndpoint + Sync + ?Sized,
    D: AsyncEndpoint + Sync + ?Sized,
{
    session.set(Opt::NONBLOCK, 1)?;
    let src_fd = src.as_fd().as_raw_fd();
    let ends: Vec<(RawFd, FdKind)> = std::iter::once((src_fd, src.endpoint_kind()))
        .chain(dsts.iter().map(|d| (d.as_fd().as_raw_fd(), d.endpoint_kind())))
        .collect();
    session
        .with_kinds(&ends, |s| s.open_tee(src, dsts, len))
        .map_err(|e| TransferError::wrap("tee", crate::Method::None, 0, e))?;
    drive("tee", session, &TeeEnds { src, src_fd, dsts }).await
}

/// [`resume`] for a fan-out opened by [`tee_with`]: `src` and `dsts` are
/// its endpoints.  Every destination gets the bytes it is missing first.
/// Returns the bytes delivered (to every destination) by this call.
///
/// # Errors
/// As [`resume`].
///
/// ```no_run
/// # async fn f(src: tokio::net::TcpStream, a: tokio::net::TcpStream, b: tokio::net::TcpStream) -> std::io::Result<()> {
/// let mut s = splicer::Session::new()?;
/// let dsts = [&a, &b];
/// let tee = splicer::tokio::tee_with(&mut s, &src, &dsts, u64::MAX);
/// if tokio::time::timeout(std::time::Duration::from_secs(1), tee).await.is_err() {
///     splicer::tokio::resume_tee(&mut s, &src, &dsts).await?;
/// }
/// # Ok(()) }
/// ```
pub async fn resume_tee<'a, S, D>(session: &mut Session<'a>, src: &'a S, dsts: &[&'a D]) -> io::Result<u64>
where
    S: AsyncEndpoint + Sync + ?Sized,
    D: AsyncEndpoint + Sync + ?Sized,
{
    let src_fd = src.as_fd().as_raw_fd();
    let fds: Vec<RawFd> = dsts.iter().map(|d| d.as_fd().as_raw_fd()).collect();
    same_ends(session, src_fd, &fds)?;
    session.set(Opt::NONBLOCK, 1)?;
    drive("resume", session, &TeeEnds { src, src_fd, dsts }).await
}

/// A resume must wait on the transfer's own endpoints: checked before any
/// step, so that a mistake costs no byte.
fn same_ends(session: &Session<'_>, src: RawFd, dsts: &[RawFd]) -> io::Result<()> {
    let ends = session.ends();
    if ends.is_empty() || (ends[0] == src && &ends[1..] == dsts) {
        return Ok(());
    }
    let p = session.progress();
    Err(TransferError::wrap("resume", p.method, p.delivered, io::Error::from_raw_os_error(libc::EINVAL)))
}

/// Ends a transfer whose future was dropped, dropping the bytes the session
/// took from the source but did not deliver; returns how many (0 when none
/// was pending or no transfer is open).  What the destination received is
/// still in [`progress().delivered`](crate::Progress), and the session is
/// free for a new transfer.  The pipe that held the dropped bytes is
/// closed, never lent to another transfer.
///
/// It is [`Session::abort`]: ending a transfer never waits.
///
/// ```
/// let mut s = splicer::Session::new()?;
/// assert_eq!(splicer::tokio::abort(&mut s), 0); // nothing open
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn abort(session: &mut Session<'_>) -> u64 {
    session.abort()
}

/// The endpoints of one transfer: waits on whichever the session names.
trait Ends: Sync {
    fn io(
        &self,
        fd: RawFd,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<Outcome> + Send,
    ) -> impl Future<Output = io::Result<Outcome>> + Send;
}

struct CopyEnds<'x, S: ?Sized, D: ?Sized> {
    src: &'x S,
    src_fd: RawFd,
    dst: &'x D,
}

impl<'x, S: AsFd + ?Sized, D: AsFd + ?Sized> CopyEnds<'x, S, D> {
    fn new(src: &'x S, dst: &'x D) -> Self {
        CopyEnds { src, src_fd: src.as_fd().as_raw_fd(), dst }
    }
}

impl<S: AsyncEndpoint + Sync + ?Sized, D: AsyncEndpoint + Sync + ?Sized> Ends for CopyEnds<'_, S, D> {
    async fn io(
        &self,
        fd: RawFd,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<Outcome> + Send,
    ) -> io::Result<Outcome> {
        if fd == self.src_fd {
            self.src.async_io(interest, f).await
        } else {
            self.dst.async_io(interest, f).await
        }
    }
}

struct TeeEnds<'x, S: ?Sized, D: ?Sized> {
    src: &'x S,
    src_fd: RawFd,
    dsts: &'x [&'x D],
}

impl<S: AsyncEndpoint + Sync + ?Sized, D: AsyncEndpoint + Sync + ?Sized> Ends for TeeEnds<'_, S, D> {
    async fn io(
        &self,
        fd: RawFd,
        interest: TokioInterest,
        f: impl FnMut() -> io::Result<Outcome> + Send,
    ) -> io::Result<Outcome> {
        if fd == self.src_fd {
            return self.src.async_io(interest, f).await;
        }
        match self.dsts.iter().find(|d| d.as_fd().as_raw_fd() == fd) {
            Some(d) => d.async_io(interest, f).await,
            None => Err(io::Error::from_raw_os_error(libc::EBADF)),
        }
    }
}

enum Outcome {
    Moved(u64),
    Done,
    Blocked(RawFd, Interest),
}

fn tokio_interest(i: Interest) -> TokioInterest {
    match i {
        Interest::Readable => TokioInterest::READABLE,
        Interest::Writable => TokioInterest::WRITABLE,
    }
}

/// One step, sorted: a step blocked on the very fd and event being awaited
/// is `WouldBlock` (so that `async_io` clears that readiness and waits
/// again); blocked on another one it is `Blocked` (its readiness must not
/// be cleared: nobody observed it).
fn classify(t: &mut Session<'_>, awaited: Option<(RawFd, Interest)>) -> io::Result<Outcome> {
    match t.step() {
        Ok(0) => Ok(Outcome::Done),
        Ok(n) => Ok(Outcome::Moved(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            let w = t.wait()?;
            let now = (w.fd, w.interest);
            if awaited == Some(now) {
                Err(e)
            } else {
                Ok(Outcome::Blocked(now.0, now.1))
            }
        }
        Err(e) => Err(e),
    }
}

async fn drive(op: &'static str, t: &mut Session<'_>, ends: &impl Ends) -> io::Result<u64> {
    let mut total = 0u64;
    let mut blocked: Option<(RawFd, Interest)> = None;
    loop {
        let r = match blocked {
            None => classify(t, None),
            Some((fd, interest)) => ends.io(fd, tokio_interest(interest), || classify(t, Some((fd, interest)))).await,
        };
        match r {
            Ok(Outcome::Moved(n)) => {
                total += n;
                blocked = None;
                // A transfer that never blocks (file to a fast socket) must
                // still let other tasks of this worker run.
                ::tokio::task::coop::consume_budget().await;
            }
            Ok(Outcome::Done) => return Ok(total),
            Ok(Outcome::Blocked(fd, interest)) => blocked = Some((fd, interest)),
            // Like the blocking whole-transfer calls: a failed destination
            // cannot take the pending bytes any more.
            Err(e) => return Err(t.fail(op, e)),
        }
    }
}
