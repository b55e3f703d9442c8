//! How splicer reports failures: always as [`std::io::Error`].

use std::ffi::CStr;
use std::fmt;
use std::io;

use crate::Method;

/// Turns a C return value (`>= 0` or `-errno`) into an `io::Result`.
pub(crate) fn check(ret: i64) -> io::Result<u64> {
    if ret < 0 {
        Err(io::Error::from_raw_os_error((-ret) as i32))
    } else {
        Ok(ret as u64)
    }
}

/// Context added to the error of a whole transfer ([`Session::copy`] and
/// friends): which operation, which method was in use, and how many bytes
/// had been delivered when it failed.
///
/// It travels inside an [`io::Error`] whose [`kind`](io::Error::kind) is
/// the OS error's kind; [`errno`] finds the OS error number in either shape.
///
/// [`Session::copy`]: crate::Session::copy
///
/// ```
/// use std::io::ErrorKind;
/// let (r, w) = splicer::raw::pipe()?;
/// drop(r); // nobody will read: writing gives EPIPE
/// let err = splicer::copy_n(std::fs::File::open("/dev/zero")?, &w, 4096).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::BrokenPipe);
/// let ctx = splicer::TransferError::of(&err).unwrap();
/// assert_eq!(ctx.op(), "copy");
/// assert_eq!(ctx.errno(), libc::EPIPE);
/// assert_eq!(splicer::errno(&err), Some(libc::EPIPE));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TransferError {
    op: &'static str,
    method: Method,
    delivered: u64,
    source: io::Error,
}

impl TransferError {
    pub(crate) fn wrap(op: &'static str, method: Method, delivered: u64, source: io::Error) -> io::Error {
        if source.raw_os_error().is_none() {
            return source;
        }
        io::Error::new(source.kind(), TransferError { op, method, delivered, source })
    }

    /// The context of `err`, if it came from a whole-transfer call.
    ///
    /// ```
    /// let err = std::io::Error::from_raw_os_error(libc::EPIPE);
    /// assert!(splicer::TransferError::of(&err).is_none());
    /// ```
    pub fn of(err: &io::Error) -> Option<&TransferError> {
        err.get_ref()?.downcast_ref::<TransferError>()
    }

    /// The operation: `"copy"`, `"tee"`, `"send_buf"`, ...
    ///
    /// ```
    /// # let (r, w) = splicer::raw::pipe()?; drop(r);
    /// # let err = splicer::copy_n(std::fs::File::open("/dev/zero")?, &w, 1).unwrap_err();
    /// assert_eq!(splicer::TransferError::of(&err).unwrap().op(), "copy");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The method that was in use when the transfer failed.
    ///
    /// ```
    /// # let (r, w) = splicer::raw::pipe()?; drop(r);
    /// # let err = splicer::copy_n(std::fs::File::open("/dev/zero")?, &w, 1).unwrap_err();
    /// let m = splicer::TransferError::of(&err).unwrap().method();
    /// assert_eq!(m, splicer::Method::Splice);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn method(&self) -> Method {
        self.method
    }

    /// Bytes delivered to the destination (to every destination, for a tee)
    /// before the failure.
    ///
    /// ```
    /// # let (r, w) = splicer::raw::pipe()?; drop(r);
    /// # let err = splicer::copy_n(std::fs::File::open("/dev/zero")?, &w, 1).unwrap_err();
    /// assert_eq!(splicer::TransferError::of(&err).unwrap().delivered(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The OS error number (`libc::EPIPE`, ...).
    ///
    /// ```
    /// # let (r, w) = splicer::raw::pipe()?; drop(r);
    /// # let err = splicer::copy_n(std::fs::File::open("/dev/zero")?, &w, 1).unwrap_err();
    /// assert_eq!(splicer::TransferError::of(&err).unwrap().errno(), libc::EPIPE);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn errno(&self) -> i32 {
        self.source.raw_os_error().unwrap_or(0)
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "splicer {} ({}) after {} bytes: {}", self.op, self.method, self.delivered, self.source)
    }
}

impl std::error::Error for TransferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The OS error number carried by `err`, whether it is a plain OS error or
/// one with [`TransferError`] context.
///
/// ```
/// let err = std::io::Error::from_raw_os_error(libc::EAGAIN);
/// assert_eq!(splicer::errno(&err), Some(libc::EAGAIN));
/// ```
pub fn errno(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| TransferError::of(err).map(TransferError::errno))
}

/// The symbolic name of the OS error carried by `err` (`"EPIPE"`), as the
/// C library spells it; `None` for an error that carries no OS error.
///
/// ```
/// let err = std::io::Error::from_raw_os_error(libc::EPIPE);
/// assert_eq!(splicer::errname(&err), Some("EPIPE"));
/// ```
pub fn errname(err: &io::Error) -> Option<&'static str> {
    let e = errno(err)?;
    // SAFETY: splicer_errname returns a static NUL-terminated string.
    let name = unsafe { CStr::from_ptr(splicer_sys::splicer_errname(-e)) };
    name.to_str().ok()
}
