//! The transfer session and its transfers.

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;

use splicer_sys as sys;

use crate::error::{check, TransferError};
use crate::{Buf, FdKind, KnownKind, Method, Methods, KEEP_MAX};

const OFF_CUR: i64 = sys::SPLICER_OFF_CUR as i64;
const TO_EOF: u64 = sys::SPLICER_TO_EOF;

/// A session option, as `enum splicer_option` names it.  Sticky: it applies
/// to every later transfer of the session.
///
/// ```
/// let mut s = splicer::Session::new()?;
/// s.set(splicer::Opt::CHUNK, 65536)?;
/// assert_eq!(s.get(splicer::Opt::CHUNK)?, 65536);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opt(pub i32);

impl Opt {
    /// The most bytes one batch of a staged transfer takes from the source,
    /// and so the most the session holds pending (default 256 KiB).  With
    /// the [pool](crate::pool) a batch takes the lesser of this and the pool
    /// pipes' size, and `get` returns that lesser value; without it
    /// ([`Opt::POOL`] 0) the session's own pipes are asked for this many
    /// bytes with `F_SETPIPE_SZ`, and `get` returns what the kernel gave.
    ///
    /// ```
    /// let s = splicer::Session::builder().pipe_size(1 << 16).build()?;
    /// assert_eq!(s.get(splicer::Opt::PIPE_SIZE)?, 1 << 16);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const PIPE_SIZE: Opt = Opt(sys::SPLICER_OPT_PIPE_SIZE as i32);
    /// Most bytes one syscall is asked to move (default 1 MiB).
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.get(splicer::Opt::CHUNK)?, 1 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const CHUNK: Opt = Opt(sys::SPLICER_OPT_CHUNK as i32);
    /// 1: never block; a step that cannot progress fails with
    /// [`WouldBlock`](io::ErrorKind::WouldBlock).
    ///
    /// ```
    /// let s = splicer::Session::builder().nonblocking(true).build()?;
    /// assert_eq!(s.get(splicer::Opt::NONBLOCK)?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const NONBLOCK: Opt = Opt(sys::SPLICER_OPT_NONBLOCK as i32);
    /// 1 (default): fall back to the next method when the kernel refuses one.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.get(splicer::Opt::FALLBACK)?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const FALLBACK: Opt = Opt(sys::SPLICER_OPT_FALLBACK as i32);
    /// Bitmask of allowed methods ([`Methods::bits`]).
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.get(splicer::Opt::METHODS)?, splicer::Methods::ALL.bits() as i64);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const METHODS: Opt = Opt(sys::SPLICER_OPT_METHODS as i32);
    /// 1 (default): a gone reader gives `EPIPE` and never kills the process.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.get(splicer::Opt::SIGPIPE)?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const SIGPIPE: Opt = Opt(sys::SPLICER_OPT_SIGPIPE as i32);
    /// 1 (default): staged transfers borrow their pipes from the
    /// process-wide [pool](crate::pool) for each batch; 0: the session
    /// creates and keeps pipes of its own.  Changing it while bytes are
    /// pending is `EBUSY`.
    ///
    /// ```
    /// let s = splicer::Session::builder().pool(false).build()?;
    /// assert_eq!(s.get(splicer::Opt::POOL)?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const POOL: Opt = Opt(sys::SPLICER_OPT_POOL as i32);
    /// 1: a copy's open does not read the status flags of a regular file
    /// that is not [kept](Session::keep) with fcntl(2): one syscall less per
    /// file per open.  The kernel checks the access mode at the transfer's
    /// first syscall, before any byte moves, so a source not open for
    /// reading or a destination not open for writing is `EBADF` from the
    /// first [`step`](Session::step) or [`run`](Session::run) instead of
    /// from the [`open`](Session::open), with nothing moved, and the
    /// transfer ends as a refused open leaves it: [`progress`](Session::progress)
    /// reports no transfer ([`Method::None`]), which tells this `EBADF`
    /// from a failed step's.  The whole-transfer calls ([`Session::copy`],
    /// ...) so return the same error either way.  Fan-outs, buffers, a length of 0 and the opens whose
    /// first method reads the source before it writes check at open
    /// regardless.  0 (default): every check at open.  The per-thread
    /// session of [`copy`](crate::copy) and its siblings has it on.
    ///
    /// ```
    /// let s = splicer::Session::builder().lazy_files(true).build()?;
    /// assert_eq!(s.get(splicer::Opt::LAZY_FILES)?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub const LAZY_FILES: Opt = Opt(sys::SPLICER_OPT_LAZY_FILES as i32);
}

/// A transfer session: moves bytes between file descriptors in the kernel,
/// picking the method, falling back when the kernel refuses one, and holding
/// bytes taken from the source until they are delivered.
///
/// A session borrows the fds it is given and never closes them.  A staged
/// transfer (neither end a pipe) borrows a pipe from the process-wide
/// [pool](crate::pool) for each batch and gives it back once the batch is
/// delivered, so an idle session holds no pipe; with
/// [`Builder::pool(false)`](Builder::pool) it creates pipes of its own
/// instead and keeps them until it is dropped.  Keep one session per
/// connection or per worker rather than one per copy.  It is [`Send`] but
/// not [`Sync`]: one thread at a time uses it.  Dropping it frees it, and
/// drops bytes still pending (a pool pipe holding them is closed, never
/// lent again).
///
/// ```no_run
/// use std::fs::File;
/// let mut s = splicer::Session::new()?;
/// let n = s.copy(File::open("in.bin")?, File::create("out.bin")?)?;
/// println!("{n} bytes via {}", s.progress().method);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Session<'fd> {
    raw: NonNull<sys::splicer_session>,
    /// The fds of a transfer opened with `open*` stay borrowed for 'fd: the
    /// C session keeps their numbers and uses them on every step.
    _fds: PhantomData<BorrowedFd<'fd>>,
    _not_sync: PhantomData<Cell<()>>,
    /// The fds of the open (or last) transfer, the source first: the
    /// endpoints `tokio::resume` must be given.
    ends: Vec<RawFd>,
    /// The fds kept with [`Session::keep`]: the `copy_known` calls keep
    /// the others only for their open, and never forget these.
    kept: Vec<RawFd>,
}

// SAFETY: the C session has no thread affinity; it may be used by one
// thread at a time, which `&mut self` and `!Sync` guarantee.
unsafe impl Send for Session<'_> {}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: raw came from splicer_session_new and is freed once.
        unsafe { sys::splicer_session_free(self.raw.as_ptr()) }
    }
}

/// Sets a session's options before it is made.
///
/// ```
/// use splicer::{Method, Session};
/// let s = Session::builder()
///     .pipe_size(1 << 20)
///     .chunk(1 << 20)
///     .fallback(true)
///     .methods(Method::Splice | Method::SplicePipe | Method::ReadWrite)
///     .build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    opts: Vec<(Opt, i64)>,
}

impl Builder {
    /// A builder with every option at its default.
    ///
    /// ```
    /// let s = splicer::Builder::new().build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The most bytes one batch of a staged transfer takes (4096 ..= 2^30;
    /// see [`Opt::PIPE_SIZE`]).  With the pool it is bounded by the pool
    /// pipes' size ([`pool::set_pipe_size`](crate::pool::set_pipe_size));
    /// without it, it is asked of `F_SETPIPE_SZ` for the session's own
    /// pipes, and the kernel may give less (`/proc/sys/fs/pipe-max-size`):
    /// the session then uses what it got.
    ///
    /// ```
    /// let s = splicer::Session::builder().pipe_size(1 << 20).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pipe_size(self, bytes: usize) -> Builder {
        self.option(Opt::PIPE_SIZE, bytes as i64)
    }

    /// Most bytes one syscall is asked to move.  1 ..= 2^30.
    ///
    /// ```
    /// let s = splicer::Session::builder().chunk(64 * 1024).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn chunk(self, bytes: usize) -> Builder {
        self.option(Opt::CHUNK, bytes as i64)
    }

    /// Never block: a step that cannot progress fails with
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) and [`Session::wait`] says
    /// which fd to poll.  The whole-transfer calls ([`Session::copy`], ...)
    /// still finish: they poll for themselves.
    ///
    /// ```
    /// let s = splicer::Session::builder().nonblocking(true).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nonblocking(self, on: bool) -> Builder {
        self.option(Opt::NONBLOCK, on as i64)
    }

    /// Whether to fall back to the next method (finally read/write) when
    /// the kernel refuses one before any byte moved (default true).
    ///
    /// ```
    /// let s = splicer::Session::builder().fallback(false).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fallback(self, on: bool) -> Builder {
        self.option(Opt::FALLBACK, on as i64)
    }

    /// The methods the session may use (default: all).
    ///
    /// ```
    /// let s = splicer::Session::builder()
    ///     .methods(splicer::Method::ReadWrite)
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn methods(self, methods: impl Into<Methods>) -> Builder {
        self.option(Opt::METHODS, methods.into().bits() as i64)
    }

    /// Whether a gone reader gives `EPIPE` without `SIGPIPE` (default true).
    ///
    /// ```
    /// let s = splicer::Session::builder().sigpipe(true).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sigpipe(self, on: bool) -> Builder {
        self.option(Opt::SIGPIPE, on as i64)
    }

    /// Whether staged transfers borrow their pipes from the process-wide
    /// [pool](crate::pool) (default true).  `false`: the session creates
    /// pipes of its own, sized by [`pipe_size`](Builder::pipe_size), and
    /// keeps them until it is dropped (two fds per pipe for the session's
    /// whole life, but no batch ever waits on the pool or misses it).
    ///
    /// ```
    /// let s = splicer::Session::builder().pool(false).pipe_size(1 << 20).build()?;
    /// assert_eq!(s.get(splicer::Opt::POOL)?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pool(self, on: bool) -> Builder {
        self.option(Opt::POOL, on as i64)
    }

    /// Whether a copy's open leaves a regular file's access mode to the
    /// kernel's check at the first syscall (default false; see
    /// [`Opt::LAZY_FILES`]).  `true` saves one fcntl(2) per regular file
    /// per open, for a program that copies many files once each; the price
    /// is that a file opened the wrong way round (a write-only source, a
    /// read-only destination) fails the first [`step`](Session::step)
    /// with `EBADF` instead of the [`open`](Session::open), nothing moved
    /// and no transfer left.  [`Session::copy`] and the other
    /// whole-transfer calls return the same error either way.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("splicer-doc-lazy-{}", std::process::id()));
    /// std::fs::write(&path, b"data")?;
    /// let src = std::fs::OpenOptions::new().write(true).open(&path)?; // not readable
    /// let null = std::fs::File::create("/dev/null")?;
    /// let mut s = splicer::Session::builder().lazy_files(true).build()?;
    /// s.open(&src, &null)?; // not refused yet
    /// assert_eq!(s.step().unwrap_err().raw_os_error(), Some(libc::EBADF));
    /// let p = s.progress();
    /// assert_eq!((p.method, p.consumed), (splicer::Method::None, 0)); // as a refused open
    /// assert_eq!(s.step()?, 0);
    /// # drop(s);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lazy_files(self, on: bool) -> Builder {
        self.option(Opt::LAZY_FILES, on as i64)
    }

    /// Any option by its key, for options this crate has no method for.
    ///
    /// ```
    /// let s = splicer::Session::builder().option(splicer::Opt::CHUNK, 4096).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn option(mut self, opt: Opt, value: i64) -> Builder {
        self.opts.push((opt, value));
        self
    }

    /// Makes the session.
    ///
    /// # Errors
    /// `ENOMEM`, or `EINVAL` for a value out of range.
    ///
    /// ```
    /// let err = splicer::Session::builder().chunk(0).build().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    /// ```
    pub fn build<'fd>(self) -> io::Result<Session<'fd>> {
        let mut s = Session::new()?;
        for (opt, value) in self.opts {
            s.set(opt, value)?;
        }
        Ok(s)
    }
}

/// Where a transfer stands.  `consumed == delivered + pending` always.
///
/// ```
/// let mut s = splicer::Session::new()?;
/// let (r, w) = splicer::raw::pipe()?;
/// s.copy_n(std::fs::File::open("/dev/zero")?, &w, 1000)?;
/// let p = s.progress();
/// assert_eq!((p.consumed, p.delivered, p.pending, p.finished), (1000, 1000, 0, true));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes taken from the source.
    pub consumed: u64,
    /// Bytes written to the destination (for a tee: the least any
    /// destination received).
    pub delivered: u64,
    /// Bytes consumed but not yet delivered: held by the session.
    pub pending: u64,
    /// The method in use.
    pub method: Method,
    /// The length was reached or the source hit end of file, and nothing is
    /// pending.
    pub finished: bool,
}

/// Cumulative statistics of a session over all its transfers.
///
/// ```
/// let mut s = splicer::Session::new()?;
/// let (r, w) = splicer::raw::pipe()?;
/// s.copy_n(std::fs::File::open("/dev/zero")?, &w, 4096)?;
/// let st = s.stats();
/// assert_eq!(st.bytes, 4096);
/// assert_eq!(st.bytes_by(splicer::Method::Splice), 4096);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes delivered (to every destination, for a tee).
    pub bytes: u64,
    /// Data-moving syscalls made.
    pub syscalls: u64,
    /// Times a method was abandoned for the next one.
    pub fallbacks: u64,
    /// Times a syscall returned `EAGAIN`.
    pub eagain: u64,
    /// Bytes delivered by each method, indexed by [`Method::to_raw`].
    pub bytes_by_method: [u64; sys::SPLICER_METHOD_COUNT as usize],
    /// Batches done by read/write because the [pool](crate::pool) had no
    /// pipe to lend (its cap, `EMFILE`, the per-user pipe limit).
    pub pool_misses: u64,
    /// Batches whose last bytes were moved from a pool pipe into a buffer,
    /// so that the pipe could go back to the [pool](crate::pool) while the
    /// destination was full and the pool short of pipes.
    pub pool_spills: u64,
}

impl Stats {
    /// Bytes delivered by method `m`.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.stats().bytes_by(splicer::Method::Sendfile), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bytes_by(&self, m: Method) -> u64 {
        usize::try_from(m.to_raw()).ok().and_then(|i| self.bytes_by_method.get(i)).copied().unwrap_or(0)
    }
}

/// What to poll for before stepping a transfer again.
///
/// ```
/// use splicer::Interest;
/// assert_eq!(Interest::Readable.poll_events(), libc::POLLIN);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Wait until the fd is readable (`POLLIN`): the source.
    Readable,
    /// Wait until the fd is writable (`POLLOUT`): a destination.
    Writable,
}

impl Interest {
    /// The `poll(2)` event bits.
    ///
    /// ```
    /// assert_eq!(splicer::Interest::Writable.poll_events(), libc::POLLOUT);
    /// ```
    pub fn poll_events(self) -> i16 {
        match self {
            Interest::Readable => libc::POLLIN,
            Interest::Writable => libc::POLLOUT,
        }
    }
}

/// The fd a blocked transfer waits on, and for what ([`Session::wait`]).
///
/// ```
/// # let (r, w) = splicer::raw::pipe()?;
/// let null = std::fs::File::create("/dev/null")?;
/// # let mut s = splicer::Session::builder().nonblocking(true).build()?;
/// s.open(&r, &null)?;
/// assert_eq!(s.step().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
/// let w8 = s.wait()?;
/// assert_eq!(w8.interest, splicer::Interest::Readable);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// The source or one of the destinations.
    pub fd: RawFd,
    /// What to wait for.
    pub interest: Interest,
}

impl<'fd> Session<'fd> {
    /// A session with default options.
    ///
    /// # Errors
    /// `ENOMEM`.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Session<'fd>> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: raw is a valid out-pointer.
        check(unsafe { sys::splicer_session_new(&mut raw) }.into())?;
        let raw = NonNull::new(raw).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Session { raw, _fds: PhantomData, _not_sync: PhantomData, ends: Vec::new(), kept: Vec::new() })
    }

    /// A [`Builder`] to set options.
    ///
    /// ```
    /// let s = splicer::Session::builder().pipe_size(1 << 20).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The C session, for calls into `splicer_sys`.  It stays owned by
    /// `self`.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// let mut v = 0i64;
    /// let r = unsafe { splicer_sys::splicer_session_get(s.as_ptr(), splicer::Opt::CHUNK.0, &mut v) };
    /// assert_eq!((r, v), (0, 1 << 20));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut sys::splicer_session {
        self.raw.as_ptr()
    }

    /// Sets an option.
    ///
    /// # Errors
    /// `EINVAL` (unknown option, value out of range), `EBUSY` (pipe size or
    /// pool while bytes are pending).
    ///
    /// ```
    /// let mut s = splicer::Session::new()?;
    /// s.set(splicer::Opt::NONBLOCK, 1)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set(&mut self, opt: Opt, value: i64) -> io::Result<()> {
        // SAFETY: self.raw is a live session.
        check(unsafe { sys::splicer_session_set(self.raw.as_ptr(), opt.0, value) }.into()).map(drop)
    }

    /// An option's current value.  For [`Opt::PIPE_SIZE`] that is the most
    /// one batch takes: with the pool, the lesser of the option and the pool
    /// pipes' size; without it, what the kernel gave the session's pipe, or
    /// the size asked before a pipe exists.
    ///
    /// # Errors
    /// `EINVAL` for an unknown option.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.get(splicer::Opt::NONBLOCK)?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get(&self, opt: Opt) -> io::Result<i64> {
        let mut v = 0;
        // SAFETY: self.raw is a live session, v a valid out-pointer.
        check(unsafe { sys::splicer_session_get(self.raw.as_ptr(), opt.0, &mut v) }.into())?;
        Ok(v)
    }

    /// Keeps `fd` classified for the later opens of this session: an open
    /// on a kept fd makes no syscall for it, where it otherwise makes
    /// fstat(2) and fcntl(2) per fd (about what a copy of a few KiB costs).
    /// For a program that opens many transfers on the same fds: a proxy
    /// relaying one connection, a server writing many files to one socket.
    ///
    /// `kind` [`FdKind::Unknown`] classifies the fd now, with the checks of
    /// an open; any other kind is trusted as given (see [`FdKind`]).
    /// Keeping a kept fd again replaces what was kept (after its flags
    /// changed, say).  At most [`KEEP_MAX`] fds are kept.  A transfer
    /// already open is not affected by `keep` or [`forget`](Session::forget):
    /// forgetting right after an open is fine.
    ///
    /// **The caller vouches** that until [`forget`](Session::forget) (or
    /// [`forget_all`](Session::forget_all), or the session's drop) the fd
    /// stays open on the same file (no close, no dup2(2) over it) and its
    /// status flags (`O_NONBLOCK`, `O_APPEND`: `set_nonblocking` included)
    /// keep the values they had.  Breaking that is not undefined behaviour,
    /// but the later opens trust what was kept, so their transfers fail
    /// with the kernel's errors instead of the open's.  A kept regular
    /// file may grow or shrink: its size is asked again where it matters.
    ///
    /// # Errors
    /// `EBADF` (the fd is not open, or is `O_PATH`; not asked of the kernel
    /// for a kind with `nonblocking: true`, which makes no syscall),
    /// `ENOSPC` ([`KEEP_MAX`] fds kept already).  Nothing is kept then.
    ///
    /// ```
    /// use splicer::FdKind;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let file = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// s.keep(&file, FdKind::Unknown)?; // classified now, once
    /// s.keep(&a, FdKind::Stream { nonblocking: false })?; // flags read once
    /// for _ in 0..3 {
    ///     s.copy_n(&file, &a, 1000)?; // no syscall for either fd at open
    ///     std::io::Read::read_exact(&mut &b, &mut [0u8; 1000])?;
    /// }
    /// s.forget(&a)?; // before closing it or changing its flags
    /// s.forget_all();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn keep(&mut self, fd: impl AsFd, kind: FdKind) -> io::Result<()> {
        let fd = fd.as_fd().as_raw_fd();
        // SAFETY: a live session; keep only looks at the fd (fstat, fcntl).
        check(unsafe { sys::splicer_session_keep(self.raw.as_ptr(), fd, kind.to_raw()) }.into())?;
        if !self.kept.contains(&fd) {
            self.kept.push(fd);
        }
        Ok(())
    }

    /// Stops keeping `fd` (before closing it or changing its flags).
    ///
    /// # Errors
    /// `ENOENT` when `fd` is not kept.
    ///
    /// ```
    /// let file = std::fs::File::open("/dev/null")?;
    /// let mut s = splicer::Session::new()?;
    /// s.keep(&file, splicer::FdKind::Unknown)?;
    /// s.forget(&file)?;
    /// assert_eq!(s.forget(&file).unwrap_err().raw_os_error(), Some(libc::ENOENT));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn forget(&mut self, fd: impl AsFd) -> io::Result<()> {
        let fd = fd.as_fd().as_raw_fd();
        // SAFETY: a live session.
        let r = check(unsafe { sys::splicer_session_forget(self.raw.as_ptr(), fd) }.into());
        self.kept.retain(|&k| k != fd);
        r.map(drop)
    }

    /// Stops keeping every kept fd.
    ///
    /// ```
    /// let file = std::fs::File::open("/dev/null")?;
    /// let mut s = splicer::Session::new()?;
    /// s.keep(&file, splicer::FdKind::Unknown)?;
    /// s.forget_all();
    /// assert!(s.forget(&file).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn forget_all(&mut self) {
        // SAFETY: a live session; -1 forgets all, and cannot fail then.
        unsafe { sys::splicer_session_forget(self.raw.as_ptr(), -1) };
        self.kept.clear();
    }

    /// Runs `open` with the fds of `ends` whose kind is known kept in the
    /// session, then forgets them: the open makes no fstat(2) for them.
    /// An fd the caller kept with [`keep`](Session::keep) is left as it
    /// was, kept; an fd that cannot be kept (the session keeps
    /// [`KEEP_MAX`] already) is classified by the open as usual.
    pub(crate) fn with_kinds<R>(&mut self, ends: &[(RawFd, FdKind)], open: impl FnOnce(&mut Self) -> R) -> R {
        let mut temp = [-1; KEEP_MAX];
        let mut n = 0;
        for &(fd, kind) in ends {
            if n == KEEP_MAX || kind == FdKind::Unknown || self.kept.contains(&fd) || temp[..n].contains(&fd) {
                continue;
            }
            // SAFETY: a live session; the caller borrows fd for the call.
            if unsafe { sys::splicer_session_keep(self.raw.as_ptr(), fd, kind.to_raw()) } == 0 {
                temp[n] = fd;
                n += 1;
            }
        }
        let r = open(self);
        for &fd in &temp[..n] {
            // SAFETY: a live session; the open copied what was kept.
            unsafe { sys::splicer_session_forget(self.raw.as_ptr(), fd) };
        }
        r
    }

    /// [`copy`](Session::copy) for endpoints whose type tells their kind
    /// ([`KnownKind`]: std's `TcpStream`, `UnixStream`, `UnixDatagram`;
    /// tokio's sockets and pipes): each is kept with its kind for the open
    /// and forgotten right after, so the open makes no fstat(2) for it.
    /// Files and other fds are classified by the open as in `copy`.  An fd
    /// kept with [`keep`](Session::keep) stays kept, with what was kept.
    ///
    /// # Errors
    /// As [`copy`](Session::copy).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let (c, mut d) = std::os::unix::net::UnixStream::pair()?;
    /// a.write_all(b"hello")?;
    /// drop(a); // end of file follows
    /// let mut s = splicer::Session::new()?;
    /// assert_eq!(s.copy_known(&b, &c)?, 5);
    /// drop(c);
    /// let mut got = String::new();
    /// d.read_to_string(&mut got)?;
    /// assert_eq!(got, "hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy_known(&mut self, src: impl KnownKind, dst: impl KnownKind) -> io::Result<u64> {
        self.copy_known_n(src, dst, TO_EOF)
    }

    /// [`copy_n`](Session::copy_n) for endpoints whose type tells their
    /// kind (see [`copy_known`](Session::copy_known)).
    ///
    /// # Errors
    /// As [`copy`](Session::copy).
    ///
    /// ```
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// assert_eq!(s.copy_known_n(&zero, &a, 1000)?, 1000); // zero: classified at open
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy_known_n(&mut self, src: impl KnownKind, dst: impl KnownKind, len: u64) -> io::Result<u64> {
        let (s, d) = (src.as_fd(), dst.as_fd());
        let ends = [(s.as_raw_fd(), src.fd_kind()), (d.as_raw_fd(), dst.fd_kind())];
        // SAFETY: src and dst are borrowed for the whole call.
        let r = self.with_kinds(&ends, |t| unsafe { t.open_fds(s.as_raw_fd(), OFF_CUR, d.as_raw_fd(), OFF_CUR, len) });
        self.finish("copy", r)
    }

    /// Copies from `src` to `dst` until `src` reports end of file, at their
    /// own file positions.
    ///
    /// The call finishes the transfer even when the fds or the session are
    /// non-blocking: on `EAGAIN` it polls the fd the session names.
    ///
    /// # Errors
    /// The OS error (`EPIPE`, `ENOSPC`, `ECONNRESET`, ...) with
    /// [`TransferError`] context.  Bytes taken from the source but not
    /// delivered when it fails are dropped.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let mut s = splicer::Session::new()?;
    /// let (r, w) = splicer::raw::pipe()?;
    /// let (r2, w2) = splicer::raw::pipe()?;
    /// std::fs::File::from(w).write_all(b"hello")?; // closes w: EOF follows
    /// assert_eq!(s.copy(&r, &w2)?, 5);
    /// drop(w2);
    /// let mut out = String::new();
    /// std::fs::File::from(r2).read_to_string(&mut out)?;
    /// assert_eq!(out, "hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy(&mut self, src: impl AsFd, dst: impl AsFd) -> io::Result<u64> {
        self.copy_raw("copy", src.as_fd(), OFF_CUR, dst.as_fd(), OFF_CUR, TO_EOF)
    }

    /// Copies at most `len` bytes from `src` to `dst` at their file
    /// positions; fewer if `src` ends first.  Never reads past `len`: the
    /// rest of a socket's or pipe's data stays there.
    ///
    /// # Errors
    /// As [`copy`](Session::copy).
    ///
    /// ```
    /// let mut s = splicer::Session::new()?;
    /// let (r, w) = splicer::raw::pipe()?;
    /// assert_eq!(s.copy_n(std::fs::File::open("/dev/zero")?, &w, 4096)?, 4096);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy_n(&mut self, src: impl AsFd, dst: impl AsFd, len: u64) -> io::Result<u64> {
        self.copy_raw("copy", src.as_fd(), OFF_CUR, dst.as_fd(), OFF_CUR, len)
    }

    /// Copies at most `len` bytes from offset `src_off` of `src` to offset
    /// `dst_off` of `dst`, leaving both fds' positions alone (`pread`/
    /// `pwrite` style).  Both must be seekable, else `ESPIPE`.
    ///
    /// # Errors
    /// As [`copy`](Session::copy); `ESPIPE` for a pipe or socket.
    ///
    /// ```
    /// let dir = std::env::temp_dir();
    /// let (a, b) = (dir.join("splicer-doc-range-a"), dir.join("splicer-doc-range-b"));
    /// std::fs::write(&a, b"0123456789")?;
    /// let out = std::fs::File::create(&b)?;
    /// let mut s = splicer::Session::new()?;
    /// assert_eq!(s.copy_range(std::fs::File::open(&a)?, 4, &out, 0, 3)?, 3);
    /// assert_eq!(std::fs::read(&b)?, b"456");
    /// # std::fs::remove_file(a)?; std::fs::remove_file(b)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn copy_range(
        &mut self,
        src: impl AsFd,
        src_off: u64,
        dst: impl AsFd,
        dst_off: u64,
        len: u64,
    ) -> io::Result<u64> {
        let (src_off, dst_off) = (offset(src_off)?, offset(dst_off)?);
        self.copy_raw("copy_range", src.as_fd(), src_off, dst.as_fd(), dst_off, len)
    }

    /// Copies `src` to every fd of `dsts` (1 ..= 16 of any kind) until
    /// `src` ends: a fan-out.  Returns the bytes every destination received.
    ///
    /// # Errors
    /// As [`copy`](Session::copy); `EINVAL` for no or too many
    /// destinations.
    ///
    /// ```
    /// let mut s = splicer::Session::new()?;
    /// let (r, w) = splicer::raw::pipe()?;
    /// let (r1, w1) = splicer::raw::pipe()?;
    /// let (r2, w2) = splicer::raw::pipe()?;
    /// std::io::Write::write_all(&mut std::fs::File::from(w), b"fan out")?;
    /// assert_eq!(s.tee(&r, &[&w1, &w2])?, 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tee<D: AsFd>(&mut self, src: impl AsFd, dsts: &[D]) -> io::Result<u64> {
        self.tee_n(src, dsts, TO_EOF)
    }

    /// [`tee`](Session::tee) of at most `len` bytes.
    ///
    /// # Errors
    /// As [`tee`](Session::tee).
    ///
    /// ```
    /// let mut s = splicer::Session::new()?;
    /// let null = std::fs::File::create("/dev/null")?;
    /// let n = s.tee_n(std::fs::File::open("/dev/zero")?, &[&null, &null], 8192)?;
    /// assert_eq!(n, 8192);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tee_n<D: AsFd>(&mut self, src: impl AsFd, dsts: &[D], len: u64) -> io::Result<u64> {
        let fds: Vec<RawFd> = dsts.iter().map(|d| d.as_fd().as_raw_fd()).collect();
        let src = src.as_fd();
        // SAFETY: the fds are borrowed for the whole call.
        let r = unsafe { self.open_tee_fds(src.as_raw_fd(), OFF_CUR, &fds, len) };
        self.finish("tee", r)
    }

    /// [`tee_n`](Session::tee_n) reading `src` from `src_off` (`None`: its
    /// position): an offset leaves the source's position alone.  The
    /// destinations always use their own positions.
    ///
    /// # Errors
    /// As [`tee`](Session::tee); `ESPIPE` for an offset on a pipe or socket.
    ///
    /// ```
    /// use std::io::Write;
    /// let dir = std::env::temp_dir().join(format!("splicer-tee-range-{}", std::process::id()));
    /// std::fs::write(&dir, b"0123456789")?;
    /// let src = std::fs::File::open(&dir)?;
    /// let (r, w) = splicer::raw::pipe()?;
    /// let mut s = splicer::Session::new()?;
    /// assert_eq!(s.tee_range(&src, Some(6), &[&w], 4)?, 4);
    /// let mut got = [0u8; 4];
    /// std::io::Read::read_exact(&mut std::fs::File::from(r), &mut got)?;
    /// assert_eq!(&got, b"6789");
    /// # std::fs::remove_file(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tee_range<D: AsFd>(
        &mut self,
        src: impl AsFd,
        src_off: Option<u64>,
        dsts: &[D],
        len: u64,
    ) -> io::Result<u64> {
        let off = src_off.map_or(Ok(OFF_CUR), offset)?;
        let fds: Vec<RawFd> = dsts.iter().map(|d| d.as_fd().as_raw_fd()).collect();
        let src = src.as_fd();
        // SAFETY: the fds are borrowed for the whole call.
        let r = unsafe { self.open_tee_fds(src.as_raw_fd(), off, &fds, len) };
        self.finish("tee", r)
    }

    /// Sends the first `len` bytes of `buf` to `dst` with vmsplice(2).  The
    /// buffer is sealed (read-only) first and the session frees it when the
    /// transfer ends: handing it over is a move.
    ///
    /// # Errors
    /// As [`copy`](Session::copy); `EINVAL` if `len` exceeds the buffer.
    ///
    /// ```
    /// let mut buf = splicer::Buf::new(4096)?;
    /// buf[..5].copy_from_slice(b"hello");
    /// let (r, w) = splicer::raw::pipe()?;
    /// let mut s = splicer::Session::new()?;
    /// assert_eq!(s.send_buf(buf, 5, &w)?, 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_buf(&mut self, buf: Buf, len: usize, dst: impl AsFd) -> io::Result<u64> {
        // SAFETY: dst is borrowed for the whole call.
        let r = unsafe { self.open_buf_fd(buf, len, dst.as_fd().as_raw_fd()) }.map_err(|e| e.error);
        self.finish("send_buf", r)
    }

    /// Begins a transfer from `src` to `dst` until `src` ends, at their
    /// file positions.  Nothing moves until the session is [stepped](Session::step) or [run](Session::run).
    ///
    /// # Errors
    /// `EBADF` (fd not open, not readable/writable; with
    /// [`Opt::LAZY_FILES`] a regular file's access mode fails the first
    /// step instead), `EINVAL` (same pipe or socket on both ends),
    /// `EOPNOTSUPP` (no allowed method applies).
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// drop(w);
    /// let null = std::fs::File::create("/dev/null")?;
    /// let mut s = splicer::Session::new()?;
    /// s.open(&r, &null)?;
    /// assert_eq!(s.run()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open<S: AsFd + ?Sized, D: AsFd + ?Sized>(&mut self, src: &'fd S, dst: &'fd D) -> io::Result<()> {
        self.open_n(src, dst, TO_EOF)
    }

    /// Begins a transfer of at most `len` bytes at the fds' positions.
    ///
    /// # Errors
    /// As [`open`](Session::open).
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// s.open_n(&zero, &w, 100)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_n<S: AsFd + ?Sized, D: AsFd + ?Sized>(&mut self, src: &'fd S, dst: &'fd D, len: u64) -> io::Result<()> {
        // SAFETY: the fds are borrowed for 'fd, as long as the session.
        unsafe { self.open_fds(src.as_fd().as_raw_fd(), OFF_CUR, dst.as_fd().as_raw_fd(), OFF_CUR, len)? };
        Ok(())
    }

    /// Begins a transfer with explicit offsets: `Some(off)` reads or writes
    /// there and leaves the fd's position alone; `None` uses and advances
    /// the fd's position.
    ///
    /// # Errors
    /// As [`open`](Session::open); `ESPIPE` for an offset on a pipe or
    /// socket.
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let src = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// let err = s.open_range(&r, Some(0), &w, None, 1).unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ESPIPE));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_range<S: AsFd + ?Sized, D: AsFd + ?Sized>(
        &mut self,
        src: &'fd S,
        src_off: Option<u64>,
        dst: &'fd D,
        dst_off: Option<u64>,
        len: u64,
    ) -> io::Result<()> {
        let src_off = src_off.map_or(Ok(OFF_CUR), offset)?;
        let dst_off = dst_off.map_or(Ok(OFF_CUR), offset)?;
        // SAFETY: the fds are borrowed for 'fd, as long as the session.
        unsafe { self.open_fds(src.as_fd().as_raw_fd(), src_off, dst.as_fd().as_raw_fd(), dst_off, len)? };
        Ok(())
    }

    /// Begins a fan-out of at most `len` bytes (`u64::MAX`: until `src`
    /// ends) from `src` to each of `dsts`.
    ///
    /// # Errors
    /// As [`open`](Session::open); `EINVAL` for 0 or more than 16
    /// destinations.
    ///
    /// ```
    /// let null = std::fs::File::create("/dev/null")?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// s.open_tee(&zero, &[&null, &null], 1 << 16)?;
    /// assert_eq!(s.run()?, 1 << 16);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_tee<S: AsFd + ?Sized, D: AsFd + ?Sized>(
        &mut self,
        src: &'fd S,
        dsts: &[&'fd D],
        len: u64,
    ) -> io::Result<()> {
        self.open_tee_range(src, None, dsts, len)
    }

    /// [`open_tee`](Session::open_tee) reading `src` from `src_off`
    /// (`None`: its position).  An offset leaves the source's position
    /// alone; the destinations always use their own positions.
    ///
    /// # Errors
    /// As [`open_tee`](Session::open_tee); `ESPIPE` for an offset on a pipe
    /// or socket.
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let null = std::fs::File::create("/dev/null")?;
    /// let mut s = splicer::Session::new()?;
    /// let err = s.open_tee_range(&r, Some(0), &[&null], 1).unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ESPIPE));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_tee_range<S: AsFd + ?Sized, D: AsFd + ?Sized>(
        &mut self,
        src: &'fd S,
        src_off: Option<u64>,
        dsts: &[&'fd D],
        len: u64,
    ) -> io::Result<()> {
        let off = src_off.map_or(Ok(OFF_CUR), offset)?;
        let fds: Vec<RawFd> = dsts.iter().map(|d| d.as_fd().as_raw_fd()).collect();
        // SAFETY: the fds are borrowed for 'fd, as long as the session.
        unsafe { self.open_tee_fds(src.as_fd().as_raw_fd(), off, &fds, len)? };
        Ok(())
    }

    /// Begins sending the first `len` bytes of `buf` to `dst` with
    /// vmsplice(2).  The buffer is sealed and moves into the session, which
    /// frees it when the transfer ends.  On failure the buffer comes back
    /// in the error.
    ///
    /// # Errors
    /// [`OpenBufError`] holding the OS error (`EINVAL` for `len` larger than
    /// the buffer, `EBADF`, `EBUSY`, `EOPNOTSUPP`) and the buffer.
    ///
    /// ```
    /// let buf = splicer::Buf::new(100)?;
    /// let (r, w) = splicer::raw::pipe()?;
    /// let mut s = splicer::Session::new()?;
    /// let err = s.open_buf(buf, 5000, &w).unwrap_err();
    /// assert_eq!(err.error.raw_os_error(), Some(libc::EINVAL));
    /// let buf = err.buf; // still ours
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_buf<D: AsFd + ?Sized>(&mut self, buf: Buf, len: usize, dst: &'fd D) -> Result<(), OpenBufError> {
        // SAFETY: dst is borrowed for 'fd, as long as the session.
        unsafe { self.open_buf_fd(buf, len, dst.as_fd().as_raw_fd()) }
    }

    /// # Safety
    /// The fd must stay open until the transfer ends or is replaced.
    unsafe fn open_buf_fd(&mut self, buf: Buf, len: usize, fd: RawFd) -> Result<(), OpenBufError> {
        // A buffer owned by a Buf was never handed over.
        match check(sys::splicer_open_buf(self.raw.as_ptr(), buf.as_raw(), len, fd).into()) {
            Ok(_) => {
                // The session owns the buffer now: it seals and frees it.
                std::mem::forget(buf);
                self.set_ends(-1, &[fd]);
                Ok(())
            }
            Err(error) => Err(OpenBufError { error, buf }),
        }
    }

    /// Progress of the open or last transfer.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.progress().method, splicer::Method::None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn progress(&self) -> Progress {
        let mut p = sys::splicer_progress::default();
        // SAFETY: a live session and a struct of the size given.
        unsafe { sys::splicer_progress_get(self.raw.as_ptr(), &mut p, std::mem::size_of_val(&p)) };
        Progress {
            consumed: p.consumed,
            delivered: p.delivered,
            pending: p.pending,
            method: Method::from_raw(p.method),
            finished: p.finished != 0,
        }
    }

    /// Cumulative statistics.
    ///
    /// ```
    /// let s = splicer::Session::new()?;
    /// assert_eq!(s.stats().syscalls, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let mut st = sys::splicer_stats::default();
        // SAFETY: a live session and a struct of the size given.
        unsafe { sys::splicer_stats_get(self.raw.as_ptr(), &mut st, std::mem::size_of_val(&st)) };
        Stats {
            bytes: st.bytes,
            syscalls: st.syscalls,
            fallbacks: st.fallbacks,
            eagain: st.eagain,
            bytes_by_method: st.bytes_by_method,
            pool_misses: st.pool_misses,
            pool_spills: st.pool_spills,
        }
    }

    /// # Safety
    /// The fds must stay open until the transfer ends or is replaced.
    pub(crate) unsafe fn open_fds(
        &mut self,
        fd_in: RawFd,
        off_in: i64,
        fd_out: RawFd,
        off_out: i64,
        len: u64,
    ) -> io::Result<()> {
        check(sys::splicer_open(self.raw.as_ptr(), fd_in, off_in, fd_out, off_out, len).into())?;
        self.set_ends(fd_in, &[fd_out]);
        Ok(())
    }

    /// # Safety
    /// The fds must stay open until the transfer ends or is replaced.
    pub(crate) unsafe fn open_tee_fds(&mut self, fd_in: RawFd, off_in: i64, fds: &[RawFd], len: u64) -> io::Result<()> {
        check(sys::splicer_open_tee(self.raw.as_ptr(), fd_in, off_in, fds.as_ptr(), fds.len(), len).into())?;
        self.set_ends(fd_in, fds);
        Ok(())
    }

    fn set_ends(&mut self, src: RawFd, dsts: &[RawFd]) {
        self.ends.clear();
        self.ends.push(src);
        self.ends.extend_from_slice(dsts);
    }

    /// The fds of the open (or last) transfer, the source first (-1 for a
    /// buffer); empty before the first transfer.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn ends(&self) -> &[RawFd] {
        &self.ends
    }

    pub(crate) fn step_raw(&mut self) -> io::Result<u64> {
        // SAFETY: a live session; the fds of its transfer are borrowed by
        // for 'fd by open*, or for the whole call by copy*.
        check(unsafe { sys::splicer_step(self.raw.as_ptr()) })
    }

    pub(crate) fn wait_raw(&self) -> io::Result<(RawFd, Interest)> {
        let (mut fd, mut ev) = (-1, 0);
        // SAFETY: a live session and valid out-pointers.
        check(unsafe { sys::splicer_wait(self.raw.as_ptr(), &mut fd, &mut ev) }.into())?;
        let interest = if ev & libc::POLLOUT != 0 { Interest::Writable } else { Interest::Readable };
        Ok((fd, interest))
    }

    pub(crate) fn abort_raw(&mut self) -> u64 {
        // SAFETY: a live session; abort touches only the session's pipes.
        unsafe { sys::splicer_abort(self.raw.as_ptr()) }.max(0) as u64
    }

    /// Runs the open transfer to its end, polling on EAGAIN.
    fn finish(&mut self, op: &'static str, opened: io::Result<()>) -> io::Result<u64> {
        if let Err(e) = opened {
            return Err(TransferError::wrap(op, Method::None, 0, e));
        }
        match self.run_polling() {
            Ok(()) => Ok(self.progress().delivered),
            Err(e) => Err(self.fail(op, e)),
        }
    }

    /// The error of a whole-transfer call whose transfer failed after its
    /// open, once what it left pending is dropped (these calls hand no
    /// transfer back, so nobody could deliver it later).  The access-mode
    /// check a lazy open ([`Opt::LAZY_FILES`]) left to the kernel fails the
    /// first step with the transfer ended as a refused open leaves it, so
    /// its progress (no method, nothing delivered) makes the open's error.
    pub(crate) fn fail(&mut self, op: &'static str, e: io::Error) -> io::Error {
        let p = self.progress();
        self.abort_raw();
        TransferError::wrap(op, p.method, p.delivered, e)
    }

    fn run_polling(&mut self) -> io::Result<()> {
        loop {
            // SAFETY: a live session with borrowed fds (see finish's callers).
            let r = unsafe { sys::splicer_run(self.raw.as_ptr()) };
            match check(r) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let (fd, interest) = self.wait_raw()?;
                    poll_fd(fd, interest)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn copy_raw(
        &mut self,
        op: &'static str,
        src: BorrowedFd<'_>,
        off_in: i64,
        dst: BorrowedFd<'_>,
        off_out: i64,
        len: u64,
    ) -> io::Result<u64> {
        // SAFETY: src and dst are borrowed for the whole call.
        let r = unsafe { self.open_fds(src.as_raw_fd(), off_in, dst.as_raw_fd(), off_out, len) };
        self.finish(op, r)
    }
}

/// Waits until `fd` is ready for `interest`, retrying on EINTR.
pub(crate) fn poll_fd(fd: RawFd, interest: Interest) -> io::Result<()> {
    let mut p = libc::pollfd { fd, events: interest.poll_events(), revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn offset(off: u64) -> io::Result<i64> {
    i64::try_from(off).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

impl<'fd> Session<'fd> {
    /// Moves bytes: pending ones first, then at most one chunk more.
    /// Returns the bytes delivered by this step, 0 when the transfer is
    /// finished.
    ///
    /// # Errors
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) in non-blocking use (see
    /// [`wait`](Session::wait)); any other OS error (`EPIPE`, ...), after
    /// which [`progress`](Session::progress) says what was delivered
    /// (`EBADF` with no transfer left, method [`Method::None`], for the
    /// access-mode check a lazy open, [`Opt::LAZY_FILES`], left to the
    /// kernel).
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// s.open_n(&zero, &w, 10)?;
    /// assert_eq!(s.step()?, 10);
    /// assert_eq!(s.step()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn step(&mut self) -> io::Result<u64> {
        self.step_raw()
    }

    /// Steps until finished; returns the bytes delivered by this call.
    ///
    /// # Errors
    /// As [`step`](Session::step); on `WouldBlock` what was delivered so
    /// far is in [`progress`](Session::progress).
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// s.open_n(&zero, &w, 1000)?;
    /// assert_eq!(s.run()?, 1000);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run(&mut self) -> io::Result<u64> {
        // SAFETY: a live session whose fds this transfer borrows.
        check(unsafe { sys::splicer_run(self.raw.as_ptr()) })
    }

    /// After a step failed with `WouldBlock`: the fd to poll, and for what.
    ///
    /// # Errors
    /// `EINVAL` when the last step did not fail with `WouldBlock`.
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let null = std::fs::File::create("/dev/null")?;
    /// let mut s = splicer::Session::builder().nonblocking(true).build()?;
    /// s.open(&r, &null)?;
    /// assert!(s.step().is_err()); // nothing written to the pipe yet
    /// let wait = s.wait()?;
    /// assert_eq!(wait.interest, splicer::Interest::Readable);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self) -> io::Result<Wait> {
        let (fd, interest) = self.wait_raw()?;
        Ok(Wait { fd, interest })
    }

    /// Polls (blocking the thread) until the fd named by
    /// [`wait`](Session::wait) is ready.
    ///
    /// # Errors
    /// As [`wait`](Session::wait), or poll(2)'s error.
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::builder().nonblocking(true).build()?;
    /// s.open_n(&zero, &w, 1 << 20)?;
    /// let mut total = 0;
    /// while total < 1 << 16 {
    ///     match s.step() {
    ///         Ok(n) => total += n,
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break, // pipe full
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll(&self) -> io::Result<()> {
        let (fd, interest) = self.wait_raw()?;
        poll_fd(fd, interest)
    }

    /// Ends the transfer, dropping pending bytes; returns how many.
    ///
    /// ```
    /// let (r, w) = splicer::raw::pipe()?;
    /// let zero = std::fs::File::open("/dev/zero")?;
    /// let mut s = splicer::Session::new()?;
    /// s.open_n(&zero, &w, 10)?;
    /// assert_eq!(s.abort(), 0); // nothing moved yet
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort(&mut self) -> u64 {
        self.abort_raw()
    }
}

/// The error of [`Session::open_buf`]: the OS error, and the buffer, which
/// still belongs to the caller.
///
/// ```
/// # let (r, w) = splicer::raw::pipe()?;
/// # let mut s = splicer::Session::new()?;
/// let err = s.open_buf(splicer::Buf::new(10)?, 11, &w).unwrap_err();
/// let io_err: std::io::Error = err.into();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct OpenBufError {
    /// What went wrong.
    pub error: io::Error,
    /// The buffer, unsealed and still writable.
    pub buf: Buf,
}

impl std::fmt::Display for OpenBufError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "open_buf: {}", self.error)
    }
}

impl std::error::Error for OpenBufError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<OpenBufError> for io::Error {
    fn from(e: OpenBufError) -> io::Error {
        e.error
    }
}
