//! Transfer methods and sets of them.

use std::ffi::CStr;
use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use splicer_sys as sys;

/// How bytes are moved: the syscall a transfer uses.
///
/// A session picks one per transfer (see [`method_for`](crate::method_for))
/// and falls back to the next when the kernel refuses it before any byte
/// moved.
///
/// ```
/// use splicer::Method;
/// assert_eq!(Method::SplicePipe.name(), "splice_pipe");
/// assert_eq!(Method::from_raw(1), Method::CopyFileRange);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Method {
    /// No transfer yet.
    #[default]
    None,
    /// copy_file_range(2): file to file, in the kernel.
    CopyFileRange,
    /// sendfile(2): file to socket and others.
    Sendfile,
    /// splice(2) when one end is a pipe.
    Splice,
    /// splice(2) through the session's pipe when neither end is a pipe.
    SplicePipe,
    /// tee(2) fan-out.
    Tee,
    /// vmsplice(2) of a sealed [`Buf`](crate::Buf).
    Vmsplice,
    /// The fallback: read(2)/write(2) through a session buffer.
    ReadWrite,
    /// A value this version of the crate does not know.
    Unknown(i32),
}

impl Method {
    /// Every known method, in the C enum's order.
    ///
    /// ```
    /// assert_eq!(splicer::Method::ALL.len(), 7);
    /// ```
    pub const ALL: [Method; 7] = [
        Method::CopyFileRange,
        Method::Sendfile,
        Method::Splice,
        Method::SplicePipe,
        Method::Tee,
        Method::Vmsplice,
        Method::ReadWrite,
    ];

    /// The method for a C `enum splicer_method` value.
    ///
    /// ```
    /// assert_eq!(splicer::Method::from_raw(7), splicer::Method::ReadWrite);
    /// assert_eq!(splicer::Method::from_raw(99), splicer::Method::Unknown(99));
    /// ```
    pub fn from_raw(v: i32) -> Method {
        match v as u32 {
            sys::SPLICER_METHOD_NONE => Method::None,
            sys::SPLICER_METHOD_COPY_FILE_RANGE => Method::CopyFileRange,
            sys::SPLICER_METHOD_SENDFILE => Method::Sendfile,
            sys::SPLICER_METHOD_SPLICE => Method::Splice,
            sys::SPLICER_METHOD_SPLICE_PIPE => Method::SplicePipe,
            sys::SPLICER_METHOD_TEE => Method::Tee,
            sys::SPLICER_METHOD_VMSPLICE => Method::Vmsplice,
            sys::SPLICER_METHOD_READ_WRITE => Method::ReadWrite,
            _ => Method::Unknown(v),
        }
    }

    /// The C `enum splicer_method` value.
    ///
    /// ```
    /// assert_eq!(splicer::Method::Sendfile.to_raw(), 2);
    /// ```
    pub fn to_raw(self) -> i32 {
        (match self {
            Method::None => sys::SPLICER_METHOD_NONE,
            Method::CopyFileRange => sys::SPLICER_METHOD_COPY_FILE_RANGE,
            Method::Sendfile => sys::SPLICER_METHOD_SENDFILE,
            Method::Splice => sys::SPLICER_METHOD_SPLICE,
            Method::SplicePipe => sys::SPLICER_METHOD_SPLICE_PIPE,
            Method::Tee => sys::SPLICER_METHOD_TEE,
            Method::Vmsplice => sys::SPLICER_METHOD_VMSPLICE,
            Method::ReadWrite => sys::SPLICER_METHOD_READ_WRITE,
            Method::Unknown(v) => return v,
        }) as i32
    }

    /// The name the C library gives it: `"copy_file_range"`, `"sendfile"`,
    /// `"splice"`, `"splice_pipe"`, `"tee"`, `"vmsplice"`, `"read_write"`,
    /// `"none"`, or `"unknown"`.
    ///
    /// ```
    /// assert_eq!(splicer::Method::ReadWrite.name(), "read_write");
    /// ```
    pub fn name(self) -> &'static str {
        // SAFETY: splicer_method_name returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(sys::splicer_method_name(self.to_raw())) };
        s.to_str().unwrap_or("unknown")
    }

    /// The method named `name` (as [`name`](Method::name) spells it).
    ///
    /// ```
    /// assert_eq!(splicer::Method::from_name("tee"), Some(splicer::Method::Tee));
    /// ```
    pub fn from_name(name: &str) -> Option<Method> {
        std::iter::once(Method::None).chain(Method::ALL).find(|m| m.name() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of methods a session may use ([`Builder::methods`](crate::Builder::methods)).
///
/// ```
/// use splicer::{Method, Methods};
/// let m = Methods::only(Method::Splice) | Method::ReadWrite;
/// assert!(m.contains(Method::ReadWrite));
/// assert!(!m.contains(Method::Sendfile));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Methods(u32);

impl Methods {
    /// Every method (the default).
    ///
    /// ```
    /// assert!(splicer::Methods::ALL.contains(splicer::Method::Tee));
    /// ```
    pub const ALL: Methods = Methods(((1u32 << sys::SPLICER_METHOD_COUNT) - 1) & !1);

    /// The set holding just `m`.
    ///
    /// ```
    /// let m = splicer::Methods::only(splicer::Method::ReadWrite);
    /// assert_eq!(m.bits(), 1 << 7);
    /// ```
    pub fn only(m: Method) -> Methods {
        Methods(1u32 << m.to_raw())
    }

    /// The set with the C bitmask `bits` (`1 << SPLICER_METHOD_x`, ORed).
    ///
    /// ```
    /// assert_eq!(splicer::Methods::from_bits(1 << 3).bits(), 8);
    /// ```
    pub fn from_bits(bits: u32) -> Methods {
        Methods(bits)
    }

    /// The C bitmask.
    ///
    /// ```
    /// assert_eq!(splicer::Methods::ALL.bits(), 0xfe);
    /// ```
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether `m` is in the set.
    ///
    /// ```
    /// assert!(splicer::Methods::ALL.contains(splicer::Method::Splice));
    /// ```
    pub fn contains(self, m: Method) -> bool {
        self.0 & (1u32 << m.to_raw()) != 0
    }
}

impl Default for Methods {
    fn default() -> Self {
        Methods::ALL
    }
}

impl From<Method> for Methods {
    fn from(m: Method) -> Self {
        Methods::only(m)
    }
}

impl<T: Into<Methods>> BitOr<T> for Methods {
    type Output = Methods;
    fn bitor(self, rhs: T) -> Methods {
        Methods(self.0 | rhs.into().0)
    }
}

impl BitOr for Method {
    type Output = Methods;
    fn bitor(self, rhs: Method) -> Methods {
        Methods::only(self) | rhs
    }
}

impl<T: Into<Methods>> BitOrAssign<T> for Methods {
    fn bitor_assign(&mut self, rhs: T) {
        self.0 |= rhs.into().0;
    }
}
