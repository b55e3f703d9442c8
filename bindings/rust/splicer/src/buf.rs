//! Library-owned memory for vmsplice.

use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use splicer_sys as sys;

use crate::error::check;

/// A page-aligned buffer to fill and then hand to a session
/// ([`Session::send_buf`](crate::Session::send_buf),
/// [`Session::open_buf`](crate::Session::open_buf)), which sends it with
/// vmsplice(2).
///
/// vmsplice puts references to these pages, not copies, into a pipe, so a
/// write after the hand-over would change bytes the reader has not read
/// yet.  Handing the buffer over therefore *moves* it: no `&mut` to it can
/// outlive the hand-over, and the C library seals the pages read-only as
/// well.
///
/// ```
/// let mut buf = splicer::Buf::new(10)?;
/// buf.copy_from_slice(b"0123456789");
/// let (r, w) = splicer::raw::pipe()?;
/// splicer::Session::new()?.send_buf(buf, 10, &w)?;
/// // buf[0] = 1; // does not compile: buf was moved
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Buf {
    raw: NonNull<sys::splicer_buf>,
}

// SAFETY: the buffer is plain memory owned by this value.
unsafe impl Send for Buf {}
// SAFETY: shared access only reads.
unsafe impl Sync for Buf {}

impl Buf {
    /// A zeroed buffer of `size` bytes (whole pages are mapped).
    ///
    /// # Errors
    /// `EINVAL` for size 0, `ENOMEM`.
    ///
    /// ```
    /// let b = splicer::Buf::new(100)?;
    /// assert_eq!(b.len(), 100);
    /// assert!(splicer::Buf::new(0).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(size: usize) -> io::Result<Buf> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a valid out-pointer.
        check(unsafe { sys::splicer_buf_new(&mut raw, size) }.into())?;
        let raw = NonNull::new(raw).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Buf { raw })
    }

    /// The usable size.
    ///
    /// ```
    /// assert_eq!(splicer::Buf::new(5000)?.len(), 5000);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        // SAFETY: a live buffer.
        unsafe { sys::splicer_buf_size(self.raw.as_ptr()) }
    }

    /// Whether the buffer has no bytes (never, as made by [`Buf::new`]).
    ///
    /// ```
    /// assert!(!splicer::Buf::new(1)?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn as_raw(&self) -> *mut sys::splicer_buf {
        self.raw.as_ptr()
    }
}

impl Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: data is valid for len bytes while the buffer lives, and
        // not sealed while we own it.
        unsafe { std::slice::from_raw_parts(sys::splicer_buf_data(self.raw.as_ptr()) as *const u8, self.len()) }
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref; &mut self is the only access.
        unsafe { std::slice::from_raw_parts_mut(sys::splicer_buf_data(self.raw.as_ptr()) as *mut u8, self.len()) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: a buffer still owned here was never handed over.
        unsafe { sys::splicer_buf_free(self.raw.as_ptr()) }
    }
}
