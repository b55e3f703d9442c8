//! The safe API over every fd pair, the edges (EOF, EPIPE, EAGAIN) and the
//! ownership rules (pending bytes, sealed buffers).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use splicer::{raw, Method, Methods, Session};

mod common;
use common::{tcp_pair, TempFile};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32 % 31) as u8 ^ seed).collect()
}

fn read_all(fd: impl Into<OwnedFd>) -> Vec<u8> {
    let mut v = Vec::new();
    File::from(fd.into()).read_to_end(&mut v).unwrap();
    v
}

#[test]
fn file_to_file_uses_copy_file_range() {
    let data = pattern(3 << 20, 1);
    let a = TempFile::new("ff-a", &data);
    let b = TempFile::new("ff-b", b"");
    let mut s = Session::new().unwrap();
    let n = s.copy(File::open(&a.0).unwrap(), File::create(&b.0).unwrap()).unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(b.read(), data);
    let m = s.progress().method;
    // copy_file_range, or its fallback on a filesystem that refuses it
    assert!(matches!(m, Method::CopyFileRange | Method::Sendfile | Method::SplicePipe | Method::ReadWrite), "{m}");
    assert_eq!(s.stats().bytes, n);
}

#[test]
fn file_to_pipe_and_pipe_to_file() {
    let data = pattern(1 << 20, 2);
    let a = TempFile::new("fp-a", &data);
    let b = TempFile::new("fp-b", b"");
    let (r, w) = raw::pipe().unwrap();
    let reader = std::thread::spawn(move || {
        let out = File::create(&b.0).unwrap();
        let n = splicer::copy(&r, &out).unwrap();
        (n, b.read())
    });
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy(File::open(&a.0).unwrap(), &w).unwrap(), data.len() as u64);
    assert_eq!(s.progress().method, Method::Splice);
    drop(w);
    let (n, got) = reader.join().unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(got, data);
}

#[test]
fn tcp_to_tcp_through_the_session_pipe() {
    let data = pattern(4 << 20, 3);
    let (mut src_w, src_r) = tcp_pair();
    let (dst_w, dst_r) = tcp_pair();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        src_w.write_all(&d2).unwrap();
    });
    let reader = std::thread::spawn(move || read_all(dst_r));
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy(&src_r, &dst_w).unwrap(), data.len() as u64);
    assert_eq!(s.progress().method, Method::SplicePipe);
    writer.join().unwrap();
    drop(dst_w);
    assert_eq!(reader.join().unwrap(), data);
}

#[test]
fn copy_n_leaves_the_rest_in_the_socket() {
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(b"0123456789").unwrap();
    let (r, w) = raw::pipe().unwrap();
    assert_eq!(splicer::copy_n(&b, &w, 4).unwrap(), 4);
    drop(w);
    assert_eq!(read_all(r), b"0123");
    let mut rest = [0u8; 6];
    (&b).read_exact(&mut rest).unwrap();
    assert_eq!(&rest, b"456789");
}

#[test]
fn copy_range_keeps_positions() {
    let a = TempFile::new("cr-a", b"abcdefghij");
    let b = TempFile::new("cr-b", b"..........");
    let mut src = File::open(&a.0).unwrap();
    let mut dst = OpenOptions::new().write(true).open(&b.0).unwrap();
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy_range(&src, 2, &dst, 5, 100).unwrap(), 8);
    assert_eq!(b.read(), b".....cdefghij");
    assert_eq!(src.stream_position().unwrap(), 0);
    assert_eq!(dst.stream_position().unwrap(), 0);
}

#[test]
fn offset_on_a_pipe_is_espipe() {
    let (r, w) = raw::pipe().unwrap();
    let mut s = Session::new().unwrap();
    let err = s.copy_range(&r, 0, &w, 0, 1).unwrap_err();
    assert_eq!(splicer::errname(&err), Some("ESPIPE"));
}

#[test]
fn tee_fans_out_to_pipes_and_a_file() {
    let data = pattern(300_000, 4);
    let src = TempFile::new("tee-src", &data);
    let out = TempFile::new("tee-out", b"");
    let (r1, w1) = raw::pipe().unwrap();
    let (r2, w2) = raw::pipe().unwrap();
    let t1 = std::thread::spawn(move || read_all(r1));
    let t2 = std::thread::spawn(move || read_all(r2));
    let f = File::create(&out.0).unwrap();
    let mut s = Session::new().unwrap();
    let n = s.tee(File::open(&src.0).unwrap(), &[w1.as_fd(), w2.as_fd(), f.as_fd()]).unwrap();
    assert_eq!(n, data.len() as u64);
    drop((w1, w2));
    assert_eq!(t1.join().unwrap(), data);
    assert_eq!(t2.join().unwrap(), data);
    assert_eq!(out.read(), data);
}

#[test]
fn gone_reader_is_epipe_not_sigpipe() {
    let (r, w) = raw::pipe().unwrap();
    drop(r);
    let err = splicer::copy_n(File::open("/dev/zero").unwrap(), &w, 1 << 20).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert_eq!(splicer::errno(&err), Some(libc::EPIPE));
    let ctx = splicer::TransferError::of(&err).unwrap();
    assert_eq!((ctx.op(), ctx.delivered()), ("copy", 0));
    // the thread session is usable again
    let (r, w) = raw::pipe().unwrap();
    assert_eq!(splicer::copy_n(File::open("/dev/zero").unwrap(), &w, 10).unwrap(), 10);
    drop(r);
}

#[test]
fn nonblocking_steps_lose_and_duplicate_nothing() {
    let data = pattern(2 << 20, 5);
    let (mut src_w, src_r) = UnixStream::pair().unwrap();
    let (r, w) = raw::pipe().unwrap();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || src_w.write_all(&d2).unwrap());
    let mut got = Vec::new();
    let mut buf = vec![0u8; 100_000];
    let mut rf = File::from(r);
    let eagain;
    {
        let mut t = Session::builder().nonblocking(true).pipe_size(65536).build().unwrap();
        t.open_n(&src_r, &w, data.len() as u64).unwrap();
        let mut blocked_on_dst = 0;
        loop {
            match t.step() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let wait = t.wait().unwrap();
                    let p = t.progress();
                    assert_eq!(p.consumed, p.delivered + p.pending);
                    if wait.interest == splicer::Interest::Writable {
                        blocked_on_dst += 1;
                        // the reader catches up; pending bytes go first next step
                        let n = rf.read(&mut buf).unwrap();
                        got.extend_from_slice(&buf[..n]);
                    } else {
                        t.poll().unwrap();
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(blocked_on_dst > 0, "the destination pipe never filled");
        assert!(t.progress().finished);
        eagain = t.stats().eagain;
    }
    drop(w);
    rf.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert!(eagain > 0);
}

#[test]
fn pending_bytes_make_open_busy_until_abort() {
    let total = 4 << 20;
    let (mut a, b) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = a.write_all(&pattern(total, 6));
    });
    let (c, d) = UnixStream::pair().unwrap(); // d is never read while stepping
    let (r2, w2) = raw::pipe().unwrap();
    let zero = File::open("/dev/zero").unwrap();
    let mut s = Session::builder().nonblocking(true).build().unwrap();
    s.open(&b, &c).unwrap();
    loop {
        match s.step() {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if s.wait().unwrap().interest == splicer::Interest::Writable {
                    break;
                }
                s.poll().unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    let pending = s.progress().pending;
    assert!(pending > 0);
    // bytes are held: no other transfer may start, none is lost silently
    assert_eq!(s.open_n(&zero, &w2, 10).unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert_eq!(s.abort(), pending);
    let p = s.progress();
    assert_eq!(p.pending, 0);
    s.open_n(&zero, &w2, 10).unwrap();
    assert_eq!(s.run().unwrap(), 10);
    drop(s);
    // the destination got exactly what progress says, the source keeps the rest
    drop(c);
    let got = read_all(d);
    assert_eq!(got.len() as u64, p.delivered);
    assert!(got == pattern(total, 6)[..got.len()]);
    let rest = read_all(b);
    assert_eq!(rest.len() as u64 + p.delivered + pending, total as u64);
    writer.join().unwrap();
    drop(r2);
}

#[test]
fn sealed_buffer_reaches_the_reader() {
    let mut buf = splicer::Buf::new(10_000).unwrap();
    let data = pattern(10_000, 7);
    buf.copy_from_slice(&data);
    let (r, w) = raw::pipe().unwrap();
    let reader = std::thread::spawn(move || read_all(r));
    let mut s = Session::new().unwrap();
    assert_eq!(s.send_buf(buf, 9_000, &w).unwrap(), 9_000);
    assert_eq!(s.progress().method, Method::Vmsplice);
    drop(w);
    assert_eq!(reader.join().unwrap(), &data[..9_000]);
}

#[test]
fn read_write_only_session_falls_back() {
    let (r, w) = raw::pipe().unwrap();
    let mut s = Session::builder().methods(Methods::only(Method::ReadWrite)).build().unwrap();
    assert_eq!(s.copy_n(File::open("/dev/zero").unwrap(), &w, 5000).unwrap(), 5000);
    assert_eq!(s.progress().method, Method::ReadWrite);
    assert_eq!(s.stats().bytes_by(Method::ReadWrite), 5000);
    drop(r);
}

#[test]
fn no_fallback_gives_the_kernel_error() {
    // splice refuses a procfs source? not everywhere; sendfile from a pipe is
    // refused everywhere: allow only sendfile for pipe -> file.
    let (r, w) = raw::pipe().unwrap();
    (&File::from(w)).write_all(b"x").unwrap();
    let null = File::create("/dev/null").unwrap();
    let mut s = Session::builder().fallback(false).methods(Method::Sendfile).build().unwrap();
    let err = s.copy(&r, &null).unwrap_err();
    assert!(matches!(splicer::errname(&err), Some("EOPNOTSUPP") | Some("EINVAL")), "{err}");
}

#[test]
fn session_and_buf_cross_threads() {
    let mut s = Session::new().unwrap();
    let b = splicer::Buf::new(1).unwrap();
    let h = std::thread::spawn(move || {
        let (r, w) = raw::pipe().unwrap();
        let n = s.send_buf(b, 1, &w).unwrap();
        drop(r);
        n
    });
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn raw_wrappers() {
    let (r, w) = raw::pipe().unwrap();
    let (r2, w2) = raw::pipe().unwrap();
    static DATA: [u8; 5] = *b"hello";
    let n = unsafe { raw::vmsplice(&w, &[std::io::IoSlice::new(&DATA)], raw::SpliceFlags::empty()) }.unwrap();
    assert_eq!(n, 5);
    assert_eq!(raw::tee(&r, &w2, 5, raw::SpliceFlags::NONBLOCK).unwrap(), 5);
    drop(w2);
    assert_eq!(read_all(r2), b"hello");
    let err = raw::splice(
        File::open("/dev/zero").unwrap(),
        None,
        File::create("/dev/null").unwrap(),
        None,
        1,
        raw::SpliceFlags::empty(),
    )
    .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(raw::pipe_size(File::open("/dev/null").unwrap()).unwrap_err().raw_os_error(), Some(libc::EBADF));
    drop(w);
    assert_eq!(read_all(r), b"hello");
}
