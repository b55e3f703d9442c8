//! Lazy files (`Opt::LAZY_FILES`): a regular file opened the wrong way
//! round fails the first step instead of the open.  The one-shot calls
//! (`splicer::copy` and its siblings) run on a lazy session, so each case
//! checks that they fail exactly as an eager session's open does, copy
//! nothing, and leave their session fit for the next copy.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;

use splicer::{raw, KnownKind, Method, Opt, Session, TransferError};

mod common;
use common::{tcp_pair, TempFile};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32 % 31) as u8 ^ seed).collect()
}

fn open_with(t: &TempFile, opts: &mut OpenOptions) -> File {
    opts.open(&t.0).unwrap()
}

fn write_only(t: &TempFile) -> File {
    open_with(t, OpenOptions::new().write(true))
}

fn read_only(t: &TempFile) -> File {
    open_with(t, OpenOptions::new().read(true))
}

fn position(f: &File) -> u64 {
    let mut f = f;
    f.stream_position().unwrap()
}

/// Whether a socket or pipe has no byte to read now (its writer still open).
fn nothing_to_read(fd: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut p, 1, 0) };
    assert!(ready >= 0);
    ready == 0
}

/// Every view of two errors a caller may look at is the same.
fn assert_same_error(got: &io::Error, want: &io::Error, call: &str) {
    assert_eq!(got.kind(), want.kind(), "{call}");
    assert_eq!(got.raw_os_error(), want.raw_os_error(), "{call}");
    assert_eq!(splicer::errno(got), splicer::errno(want), "{call}");
    assert_eq!(splicer::errname(got), splicer::errname(want), "{call}");
    assert_eq!(got.to_string(), want.to_string(), "{call}");
    assert_eq!(format!("{got:?}"), format!("{want:?}"), "{call}");
    let (g, w) = (TransferError::of(got).unwrap(), TransferError::of(want).unwrap());
    assert_eq!(
        (g.op(), g.method(), g.delivered(), g.errno()),
        (w.op(), w.method(), w.delivered(), w.errno()),
        "{call}"
    );
}

/// Copies from `src` to `dst` by every one-shot call, and by a session
/// built lazy: each must fail as an eager session's open does (`EBADF`,
/// no method, nothing delivered), with `unmoved` true after each.  Then a
/// good copy on the same thread must work.
fn refused_alike<S, D>(src: &S, dst: &D, unmoved: impl Fn() -> bool)
where
    S: KnownKind + ?Sized,
    D: KnownKind + ?Sized,
{
    let eager = Session::new().unwrap().copy(src, dst).unwrap_err();
    let ctx = TransferError::of(&eager).unwrap();
    assert_eq!((ctx.op(), ctx.method(), ctx.delivered(), ctx.errno()), ("copy", Method::None, 0, libc::EBADF));
    assert!(unmoved(), "eager copy moved bytes");

    let calls: [(&str, &dyn Fn() -> io::Result<u64>); 5] = [
        ("copy", &|| splicer::copy(src, dst)),
        ("copy_n", &|| splicer::copy_n(src, dst, 10)),
        ("copy_known", &|| splicer::copy_known(src, dst)),
        ("copy_known_n", &|| splicer::copy_known_n(src, dst, 10)),
        ("lazy Session::copy", &|| Session::builder().lazy_files(true).build().unwrap().copy(src, dst)),
    ];
    for (call, f) in calls {
        let got = f().unwrap_err();
        let want = if call.ends_with("_n") {
            Session::new().unwrap().copy_n(src, dst, 10).unwrap_err()
        } else {
            Session::new().unwrap().copy(src, dst).unwrap_err()
        };
        assert_same_error(&got, &want, call);
        assert_eq!(got.kind(), io::Error::from_raw_os_error(libc::EBADF).kind(), "{call}");
        assert!(unmoved(), "{call} moved bytes");
    }
    thread_session_still_copies();
}

fn thread_session_still_copies() {
    let data = pattern(5000, 9);
    let a = TempFile::new(&format!("good-a-{:?}", std::thread::current().id()), &data);
    let b = TempFile::new(&format!("good-b-{:?}", std::thread::current().id()), b"");
    assert_eq!(splicer::copy(read_only(&a), write_only(&b)).unwrap(), 5000);
    assert_eq!(b.read(), data);
    let (r, w) = raw::pipe().unwrap();
    assert_eq!(splicer::copy_n(read_only(&a), &w, 100).unwrap(), 100);
    drop(w);
    let mut got = Vec::new();
    File::from(r).read_to_end(&mut got).unwrap();
    assert_eq!(got, data[..100]);
}

#[test]
fn builder_sets_the_option() {
    assert_eq!(Session::new().unwrap().get(Opt::LAZY_FILES).unwrap(), 0);
    let s = Session::builder().lazy_files(true).build().unwrap();
    assert_eq!(s.get(Opt::LAZY_FILES).unwrap(), 1);
    let mut s = Session::builder().lazy_files(true).lazy_files(false).build().unwrap();
    assert_eq!(s.get(Opt::LAZY_FILES).unwrap(), 0);
    assert_eq!(s.set(Opt::LAZY_FILES, 2).unwrap_err().raw_os_error(), Some(libc::EINVAL));
}

#[test]
fn a_lazy_session_fails_the_first_step_with_nothing_moved() {
    let src = TempFile::new("step-src", &pattern(100, 1));
    let dst = TempFile::new("step-dst", b"");
    let (wsrc, rdst) = (write_only(&src), read_only(&dst));
    let mut s = Session::builder().lazy_files(true).build().unwrap();
    s.open(&wsrc, &rdst).unwrap();
    let e = s.step().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF)); // the bare OS error, as any step's

    // the transfer ended as a refused open leaves it: no method, nothing to step
    let p = s.progress();
    assert_eq!((p.method, p.consumed, p.delivered, p.pending, p.finished), (Method::None, 0, 0, 0, false));
    assert_eq!(s.stats().bytes, 0);
    assert_eq!(s.step().unwrap(), 0);
    assert_eq!((position(&wsrc), dst.read().as_slice()), (0, &b""[..]));
    // an eager session refuses the same ends at open
    let mut eager = Session::new().unwrap();
    assert_eq!(eager.open(&wsrc, &rdst).unwrap_err().raw_os_error(), Some(libc::EBADF));
}

#[test]
fn write_only_source_to_file() {
    let src = TempFile::new("wo-file-src", &pattern(1000, 2));
    let dst = TempFile::new("wo-file-dst", b"");
    let (s, d) = (write_only(&src), OpenOptions::new().read(true).write(true).open(&dst.0).unwrap());
    refused_alike(&s, &d, || position(&s) == 0 && position(&d) == 0 && dst.read().is_empty());
}

#[test]
fn file_to_read_only_destination() {
    let src = TempFile::new("ro-dst-src", &pattern(1000, 3));
    let dst = TempFile::new("ro-dst-dst", b"before");
    let (s, d) = (read_only(&src), read_only(&dst));
    refused_alike(&s, &d, || position(&s) == 0 && position(&d) == 0 && dst.read() == b"before");
}

#[test]
fn file_to_read_only_destination_with_an_empty_source() {
    let src = TempFile::new("ro-empty-src", b"");
    let dst = TempFile::new("ro-empty-dst", b"before");
    let (s, d) = (read_only(&src), read_only(&dst));
    refused_alike(&s, &d, || dst.read() == b"before");
}

#[test]
fn write_only_source_to_dev_null() {
    let src = TempFile::new("wo-null-src", &pattern(1000, 4));
    let s = write_only(&src);
    let null = File::create("/dev/null").unwrap();
    refused_alike(&s, &null, || position(&s) == 0);
}

#[test]
fn write_only_source_to_pipe() {
    let src = TempFile::new("wo-pipe-src", &pattern(1000, 5));
    let s = write_only(&src);
    let (r, w) = raw::pipe().unwrap();
    refused_alike(&s, &File::from(w), || position(&s) == 0 && nothing_to_read(&r));
}

#[test]
fn write_only_source_to_tcp_stream() {
    let src = TempFile::new("wo-tcp-src", &pattern(1000, 6));
    let s = write_only(&src);
    let (a, b): (TcpStream, TcpStream) = tcp_pair();
    refused_alike(&s, &a, || position(&s) == 0 && nothing_to_read(&b));
}

#[test]
fn write_only_source_to_unix_stream() {
    let src = TempFile::new("wo-unix-src", &pattern(1000, 7));
    let s = write_only(&src);
    let (a, b) = UnixStream::pair().unwrap();
    refused_alike(&s, &a, || position(&s) == 0 && nothing_to_read(&b));
}

#[test]
fn pipe_to_read_only_file_leaves_the_bytes_in_the_pipe() {
    let dst = TempFile::new("pipe-ro-dst", b"before");
    let d = read_only(&dst);
    let (r, w) = raw::pipe().unwrap();
    File::from(w).write_all(b"pipe bytes").unwrap(); // closes w: end of file follows
    let r = File::from(r);
    refused_alike(&r, &d, || dst.read() == b"before");
    let mut left = Vec::new();
    (&r).read_to_end(&mut left).unwrap();
    assert_eq!(left, b"pipe bytes");
}

#[test]
fn o_path_ends() {
    let src = TempFile::new("path-src", &pattern(1000, 8));
    let dst = TempFile::new("path-dst", b"before");
    let path = |t: &TempFile| OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(&t.0).unwrap();
    let (ps, pd) = (path(&src), path(&dst));
    let (s, d) = (read_only(&src), OpenOptions::new().write(true).open(&dst.0).unwrap());
    refused_alike(&ps, &d, || dst.read() == b"before");
    refused_alike(&s, &pd, || position(&s) == 0 && dst.read() == b"before");
}

#[test]
fn the_thread_session_copies_after_an_error_of_each_kind() {
    // errors at open (a pipe's wrong end: not a regular file) and at the
    // first syscall (a file's) in turn on one thread session
    let src = TempFile::new("turns-src", &pattern(1000, 10));
    let (r, w) = raw::pipe().unwrap();
    let null = File::create("/dev/null").unwrap();
    for _ in 0..3 {
        let e = splicer::copy(&w, &null).unwrap_err();
        assert_eq!(splicer::errno(&e), Some(libc::EBADF));
        thread_session_still_copies();
        let e = splicer::copy(write_only(&src), &null).unwrap_err();
        assert_eq!(splicer::errno(&e), Some(libc::EBADF));
        thread_session_still_copies();
    }
    drop(r);
}

#[test]
fn a_refused_append_destination_still_names_its_method() {
    // without fallback the kernel's EBADF for an O_APPEND destination is a
    // transfer error, lazy or not: its method stays in the context
    let src = TempFile::new("append-src", &pattern(20000, 11));
    let dst = TempFile::new("append-dst", b"before");
    let d = OpenOptions::new().append(true).open(&dst.0).unwrap();
    let mut errs = Vec::new();
    for lazy in [false, true] {
        let mut s = Session::builder().lazy_files(lazy).fallback(false).build().unwrap();
        errs.push(s.copy(read_only(&src), &d).unwrap_err());
    }
    assert_same_error(&errs[1], &errs[0], "append");
    let ctx = TransferError::of(&errs[1]).unwrap();
    assert_ne!(ctx.method(), Method::None);
    assert_eq!(ctx.errno(), libc::EBADF);
    assert_eq!(dst.read(), b"before");
    // stepped by hand: the transfer stays open with its method
    let r = read_only(&src);
    let mut s = Session::builder().lazy_files(true).fallback(false).build().unwrap();
    s.open(&r, &d).unwrap();
    assert_eq!(s.step().unwrap_err().raw_os_error(), Some(libc::EBADF));
    let p = s.progress();
    assert_eq!((p.method, p.consumed, p.finished), (Method::CopyFileRange, 0, false));
    assert_eq!(s.step().unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert_eq!(dst.read(), b"before");
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_copy_with_a_lazy_session_fails_as_an_eager_one() {
    let src = TempFile::new("tokio-src", &pattern(1000, 12));
    let dst = TempFile::new("tokio-dst", b"before");
    let (s, d) = (read_only(&src), read_only(&dst));
    let mut errs = Vec::new();
    for lazy in [false, true] {
        let mut session = Session::builder().lazy_files(lazy).build().unwrap();
        errs.push(splicer::tokio::copy_with(&mut session, &s, &d, u64::MAX).await.unwrap_err());
    }
    assert_same_error(&errs[1], &errs[0], "tokio::copy_with");
    assert_eq!(errs[1].kind(), io::Error::from_raw_os_error(libc::EBADF).kind());
    assert_eq!((position(&s), dst.read().as_slice()), (0, &b"before"[..]));
}
