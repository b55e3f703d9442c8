//! Kept descriptors: Session::keep / forget and their errors, and the
//! copy_known calls, which keep an endpoint of a known kind for their open
//! only and never forget what the caller kept.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::thread;

use splicer::{FdKind, KnownKind, Method, Session, KEEP_MAX};

mod common;
use common::{tcp_pair, TempFile};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32 % 31) as u8 ^ seed).collect()
}

/// Reads `peer` to its end on another thread.
fn reader(mut peer: TcpStream) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        peer.read_to_end(&mut v).unwrap();
        v
    })
}

fn errno(r: std::io::Result<()>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

fn is_kept(s: &mut Session<'_>, fd: impl AsFd) -> bool {
    // forget says whether it was kept; keep it again to leave it as it was
    let fd = fd.as_fd();
    match s.forget(fd) {
        Ok(()) => {
            s.keep(fd, FdKind::Unknown).unwrap();
            true
        }
        Err(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            false
        }
    }
}

#[test]
fn fd_kind_raw_values() {
    assert_eq!(FdKind::Unknown.to_raw(), 0);
    assert_eq!(FdKind::Stream { nonblocking: false }.to_raw(), 1);
    assert_eq!(FdKind::Dgram { nonblocking: false }.to_raw(), 2);
    assert_eq!(FdKind::SeqPacket { nonblocking: false }.to_raw(), 3);
    assert_eq!(FdKind::Pipe { nonblocking: false }.to_raw(), 4);
    assert_eq!(FdKind::Pipe { nonblocking: true }.to_raw(), 0x104);
    for raw in [0, 1, 2, 3, 4, 0x101, 0x102, 0x103, 0x104] {
        assert_eq!(FdKind::from_raw(raw).unwrap().to_raw(), raw);
    }
    for bad in [5, -1, 0x100, 0x200, 0x201, i32::MIN] {
        assert_eq!(FdKind::from_raw(bad), None, "{bad:#x}");
    }
    assert!(!FdKind::Stream { nonblocking: false }.is_nonblocking());
    assert!(FdKind::Dgram { nonblocking: true }.is_nonblocking());
    assert_eq!(KEEP_MAX, 8);
}

#[test]
fn known_kinds_of_std_types() {
    let (a, _b) = tcp_pair();
    let (u, _v) = UnixStream::pair().unwrap();
    let (d, _e) = UnixDatagram::pair().unwrap();
    let f = File::open("/dev/null").unwrap();
    assert_eq!(a.fd_kind(), FdKind::Stream { nonblocking: false });
    assert_eq!(<&UnixStream as KnownKind>::fd_kind(&&u), FdKind::Stream { nonblocking: false });
    assert_eq!(d.fd_kind(), FdKind::Dgram { nonblocking: false });
    assert_eq!(f.fd_kind(), FdKind::Unknown);
    assert_eq!(OwnedFd::from(f).fd_kind(), FdKind::Unknown);
    assert_eq!(a.as_fd().fd_kind(), FdKind::Unknown);
}

#[test]
fn keep_enospc_after_keep_max() {
    let files: Vec<File> = (0..KEEP_MAX + 1).map(|_| File::open("/dev/null").unwrap()).collect();
    let mut s = Session::new().unwrap();
    for f in &files[..KEEP_MAX] {
        s.keep(f, FdKind::Unknown).unwrap();
    }
    let err = s.keep(&files[KEEP_MAX], FdKind::Unknown).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(splicer::errname(&err), Some("ENOSPC"));
    // the ninth was not kept
    assert_eq!(errno(s.forget(&files[KEEP_MAX])), Some(libc::ENOENT));
    // keeping a kept fd again replaces it: no new slot
    s.keep(&files[3], FdKind::Unknown).unwrap();
    // a forgotten slot takes another
    s.forget(&files[3]).unwrap();
    s.keep(&files[KEEP_MAX], FdKind::Unknown).unwrap();
    assert_eq!(errno(s.keep(&files[3], FdKind::Unknown)), Some(libc::ENOSPC));
    // forget_all empties the session: all nine fit again... up to KEEP_MAX
    s.forget_all();
    for f in &files[..KEEP_MAX] {
        assert_eq!(errno(s.forget(f)), Some(libc::ENOENT));
    }
    for f in &files[1..] {
        s.keep(f, FdKind::Unknown).unwrap();
    }
}

#[test]
fn forget_enoent() {
    let f = File::open("/dev/null").unwrap();
    let mut s = Session::new().unwrap();
    let err = s.forget(&f).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(err.kind(), ErrorKind::NotFound);
    s.keep(&f, FdKind::Unknown).unwrap();
    s.forget(&f).unwrap();
    assert_eq!(errno(s.forget(&f)), Some(libc::ENOENT));
    s.forget_all(); // nothing kept: still fine
}

#[test]
fn keep_ebadf_for_o_path() {
    let p = OpenOptions::new().read(true).custom_flags(libc::O_PATH).open("/dev/null").unwrap();
    let mut s = Session::new().unwrap();
    let err = s.keep(&p, FdKind::Unknown).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    assert_eq!(splicer::errname(&err), Some("EBADF"));
    // flags read with fcntl show O_PATH too
    assert_eq!(errno(s.keep(&p, FdKind::Pipe { nonblocking: false })), Some(libc::EBADF));
    // nothing was kept
    assert_eq!(errno(s.forget(&p)), Some(libc::ENOENT));
}

#[test]
fn kept_fds_copy_again_and_again() {
    let data = pattern(300_000, 1);
    let t = TempFile::new("again", &data);
    let (sock, peer) = tcp_pair();
    let h = reader(peer);
    let mut s = Session::new().unwrap();
    s.keep(&sock, FdKind::Stream { nonblocking: false }).unwrap();
    for _ in 0..3 {
        let src = t.open(true, false);
        s.keep(&src, FdKind::Unknown).unwrap();
        assert_eq!(s.copy(&src, &sock).unwrap(), data.len() as u64);
        assert_eq!(s.progress().method, Method::Sendfile);
        s.forget(&src).unwrap();
    }
    s.forget(&sock).unwrap();
    drop(sock);
    let got = h.join().unwrap();
    assert_eq!(got.len(), 3 * data.len());
    assert!(got.chunks(data.len()).all(|c| c == data));
}

#[test]
fn copy_known_tcp_to_tcp() {
    let data = pattern(1 << 20, 2);
    let (mut feed, src) = tcp_pair();
    let (dst, peer) = tcp_pair();
    let h = reader(peer);
    let w = {
        let data = data.clone();
        thread::spawn(move || {
            feed.write_all(&data).unwrap();
            // end of file for src
        })
    };
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy_known(&src, &dst).unwrap(), data.len() as u64);
    assert_eq!(s.progress().method, Method::SplicePipe);
    w.join().unwrap();
    // kept only for the open: neither is kept now
    assert!(!is_kept(&mut s, &src));
    assert!(!is_kept(&mut s, &dst));
    drop(dst);
    assert_eq!(h.join().unwrap(), data);
}

#[test]
fn copy_known_file_to_tcp_thread_session() {
    let data = pattern(200_000, 3);
    let t = TempFile::new("thread", &data);
    let (sock, peer) = tcp_pair();
    let h = reader(peer);
    assert_eq!(splicer::copy_known(t.open(true, false), &sock).unwrap(), data.len() as u64);
    let src = t.open(true, false);
    assert_eq!(splicer::copy_known_n(&src, &sock, 1000).unwrap(), 1000);
    drop(sock);
    let got = h.join().unwrap();
    assert_eq!(got.len(), data.len() + 1000);
    assert_eq!(&got[..data.len()], &data[..]);
    assert_eq!(&got[data.len()..], &data[..1000]);
}

#[test]
fn copy_known_uses_the_kind_of_the_type() {
    // A TcpStream made from a pipe's write end says "stream socket" without
    // asking the kernel: a file to it then goes by sendfile(2) (a file to a
    // socket), where the open, classifying the pipe itself, takes splice(2).
    let data = pattern(10_000, 4);
    let t = TempFile::new("kind", &data);
    let (r, w) = splicer::raw::pipe().unwrap();
    let fake = TcpStream::from(w);
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy(t.open(true, false), &fake).unwrap(), data.len() as u64);
    assert_eq!(s.progress().method, Method::Splice);
    assert_eq!(s.copy_known(t.open(true, false), &fake).unwrap(), data.len() as u64);
    assert_ne!(s.progress().method, Method::Splice);
    drop(fake);
    let mut got = Vec::new();
    File::from(r).read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 2 * data.len());
    assert!(got.chunks(data.len()).all(|c| c == data));
}

#[test]
fn user_kept_fd_survives_copy_known() {
    let data = pattern(100_000, 5);
    let t = TempFile::new("survive", &data);
    let (sock, peer) = tcp_pair();
    let h = reader(peer);
    let mut s = Session::new().unwrap();
    s.keep(&sock, FdKind::Stream { nonblocking: false }).unwrap();
    let src = t.open(true, false);
    assert_eq!(s.copy_known(&src, &sock).unwrap(), data.len() as u64);
    // still kept: the copy forgot only what it kept itself (nothing: the
    // file's kind is unknown, the socket was the caller's)
    s.forget(&sock).unwrap();
    assert_eq!(errno(s.forget(&sock)), Some(libc::ENOENT));
    assert_eq!(errno(s.forget(&src)), Some(libc::ENOENT));
    drop(sock);
    assert_eq!(h.join().unwrap(), data);
}

#[test]
fn copy_known_with_every_slot_taken() {
    // The caller keeps KEEP_MAX fds: copy_known cannot keep its ends, the
    // open classifies them, and the caller's fds stay kept.
    let files: Vec<File> = (0..KEEP_MAX).map(|_| File::open("/dev/null").unwrap()).collect();
    let mut s = Session::new().unwrap();
    for f in &files {
        s.keep(f, FdKind::Unknown).unwrap();
    }
    let (mut a, b) = UnixStream::pair().unwrap();
    let (c, mut d) = UnixStream::pair().unwrap();
    a.write_all(b"all slots taken").unwrap();
    drop(a);
    assert_eq!(s.copy_known(&b, &c).unwrap(), 15);
    drop(c);
    let mut got = String::new();
    d.read_to_string(&mut got).unwrap();
    assert_eq!(got, "all slots taken");
    assert!(!is_kept(&mut s, &b));
    for f in &files {
        s.forget(f).unwrap();
    }
}

#[test]
fn forget_right_after_open_is_safe() {
    let data = pattern(50_000, 6);
    let t = TempFile::new("open", &data);
    let src = t.open(true, false);
    let (sock, peer) = tcp_pair();
    let h = reader(peer);
    let mut s = Session::new().unwrap();
    s.keep(&src, FdKind::Unknown).unwrap();
    s.keep(&sock, FdKind::Stream { nonblocking: false }).unwrap();
    s.open(&src, &sock).unwrap();
    s.forget_all();
    assert_eq!(s.run().unwrap(), data.len() as u64);
    drop(s);
    drop(sock);
    assert_eq!(h.join().unwrap(), data);
}

#[test]
fn wrong_given_kind_fails_at_the_step() {
    // a pipe's read end kept as a pipe and used as a destination: the open
    // trusts the kind, the first step is EBADF and nothing was taken
    let t = TempFile::new("wrong", &pattern(1000, 7));
    let src = t.open(true, false);
    let (r, _w) = splicer::raw::pipe().unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&r);
    // SAFETY: flags of an fd we own.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
    let mut s = Session::new().unwrap();
    // without nonblocking the flags are read, and O_RDONLY refused at open
    s.keep(&r, FdKind::Pipe { nonblocking: false }).unwrap();
    assert_eq!(s.open_n(&src, &r, 1000).unwrap_err().raw_os_error(), Some(libc::EBADF));
    // with it no syscall is made: the kind is all the session knows
    s.keep(&r, FdKind::Pipe { nonblocking: true }).unwrap();
    s.open_n(&src, &r, 1000).unwrap();
    assert_eq!(s.run().unwrap_err().raw_os_error(), Some(libc::EBADF));
    assert_eq!(s.progress().consumed, 0);
}

#[cfg(feature = "tokio")]
mod with_tokio {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[test]
    fn tokio_kinds_are_nonblocking() {
        use splicer::tokio::AsyncEndpoint;
        let (r, w) = splicer::raw::pipe().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (a, _b) = pair().await;
            assert_eq!(a.fd_kind(), FdKind::Stream { nonblocking: true });
            assert_eq!(a.endpoint_kind(), FdKind::Stream { nonblocking: true });
            let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(r).unwrap();
            let tx = tokio::net::unix::pipe::Sender::from_owned_fd(w).unwrap();
            assert_eq!(rx.endpoint_kind(), FdKind::Pipe { nonblocking: true });
            assert_eq!(
                <&tokio::net::unix::pipe::Sender as AsyncEndpoint>::endpoint_kind(&&tx),
                FdKind::Pipe { nonblocking: true }
            );
            let (u, _v) = tokio::net::UnixDatagram::pair().unwrap();
            assert_eq!(u.fd_kind(), FdKind::Dgram { nonblocking: true });
            assert_eq!(File::open("/dev/null").unwrap().endpoint_kind(), FdKind::Unknown);
        });
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tokio_copy_keeps_for_the_open_only_and_spares_the_callers() {
        let data = pattern(1 << 20, 8);
        let (mut feed, src) = pair().await;
        let (dst, mut peer) = pair().await;
        let w = {
            let data = data.clone();
            tokio::spawn(async move {
                feed.write_all(&data).await.unwrap();
                feed.shutdown().await.unwrap();
            })
        };
        let r = tokio::spawn(async move {
            let mut v = Vec::new();
            peer.read_to_end(&mut v).await.unwrap();
            v
        });
        let mut s = Session::new().unwrap();
        // the caller keeps the destination; the source is kept by the copy
        s.keep(&dst, FdKind::Stream { nonblocking: true }).unwrap();
        let n = splicer::tokio::copy_with(&mut s, &src, &dst, u64::MAX).await.unwrap();
        assert_eq!(n, data.len() as u64);
        w.await.unwrap();
        assert!(!is_kept(&mut s, &src));
        s.forget(&dst).unwrap();
        drop(s);
        drop(dst);
        assert_eq!(r.await.unwrap(), data);
    }
}
