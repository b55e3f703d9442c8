//! Raw FFI bindings to libsplicer, the C core of
//! [splicer](https://crates.io/crates/splicer): zero-copy transfers between
//! file descriptors on Linux with splice(2), tee(2), vmsplice(2),
//! sendfile(2) and copy_file_range(2).
//!
//! This crate mirrors `splicer.h` one to one: functions return `>= 0` on
//! success and a negative errno value on failure.  Most users want the safe
//! `splicer` crate instead.  The header's doc comments (reproduced on each
//! item) are the precise contract.
//!
//! The C core is vendored and compiled with the `cc` crate, so only a C
//! compiler is needed.  With `SPLICER_NO_VENDOR` set in the environment a
//! system libsplicer is linked instead, found with pkg-config.  The bindings
//! are checked in; the `bindgen` feature regenerates them at build time
//! (that needs libclang).
//!
//! ```
//! let mut s: *mut splicer_sys::splicer_session = std::ptr::null_mut();
//! assert_eq!(unsafe { splicer_sys::splicer_session_new(&mut s) }, 0);
//! unsafe { splicer_sys::splicer_session_free(s) };
//! assert!(unsafe { splicer_sys::splicer_version_number() } >= 100);
//! ```
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, rustdoc::bare_urls)]
#![allow(clippy::all)]

#[cfg(not(feature = "bindgen"))]
include!("bindings.rs");
#[cfg(feature = "bindgen")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// Length meaning "until the source reports end of file" (`UINT64_MAX`,
/// which bindgen cannot evaluate from the header's macro).
///
/// ```
/// assert_eq!(splicer_sys::SPLICER_TO_EOF, u64::MAX);
/// ```
pub const SPLICER_TO_EOF: u64 = u64::MAX;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
