//! Drop-in behaviour next to `std::io::copy`: echo on one socket, a file
//! copied onto itself, datagram sockets at either end.
//!
//! Where std can run the same scenario (a stream socket, files) the test
//! runs it too and compares; where it cannot (`UdpSocket` and
//! `UnixDatagram` are neither `Read` nor `Write`) the test checks what
//! `io::copy`'s Go counterpart does: 32 KiB datagrams, and a zero-length
//! datagram that is not the end of input.  The cases std's own kernel_copy
//! tests check (an `O_APPEND` sink, a limit that is never read past) are
//! mirrored where they apply.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use splicer::{Method, Session};

mod common;
use common::{tcp_pair, TempFile};

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .map(|i| {
            let x = seed.wrapping_add((i as u32).wrapping_mul(2654435761));
            let x = x ^ (x >> 16);
            (x ^ (x >> 8)) as u8
        })
        .collect()
}

fn set_sndbuf(fd: &impl AsRawFd, bytes: i32) {
    // SAFETY: a valid socket and an int option.
    let r = unsafe {
        libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, (&bytes as *const i32).cast(), 4)
    };
    assert_eq!(r, 0);
}

// ---- echo: copy(c, c) on a stream socket ----------------------------------

/// The peer of an echo: sends `data`, shuts down its writing side, and reads
/// back until the echo ends.
fn echo_peer<S>(peer: S, data: Vec<u8>) -> std::thread::JoinHandle<Vec<u8>>
where
    S: Read + Write + Send + 'static + TryCloneShutdown,
{
    let mut reader = peer.try_clone_stream();
    let mut writer = peer;
    let w = std::thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shut_write();
    });
    std::thread::spawn(move || {
        let mut v = Vec::new();
        reader.read_to_end(&mut v).unwrap();
        w.join().unwrap();
        v
    })
}

trait TryCloneShutdown: Sized {
    fn try_clone_stream(&self) -> Self;
    fn shut_write(&self);
}
impl TryCloneShutdown for UnixStream {
    fn try_clone_stream(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shut_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}
impl TryCloneShutdown for TcpStream {
    fn try_clone_stream(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shut_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

#[test]
fn echo_on_a_unix_stream_socket() {
    let data = pattern(1 << 20, 1);
    let (c, peer) = UnixStream::pair().unwrap();
    let back = echo_peer(peer, data.clone());
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy(&c, &c).unwrap(), data.len() as u64);
    assert_eq!(s.progress().method, Method::SplicePipe);
    c.shutdown(Shutdown::Write).unwrap();
    assert!(back.join().unwrap() == data, "everything echoed, once, in order");
}

#[test]
fn echo_on_a_tcp_stream_as_std_does() {
    let data = pattern(1 << 20, 2);
    // std::io::copy(&mut &c, &mut &c): Go's and Rust's echo server
    let (c, peer) = tcp_pair();
    let back = echo_peer(peer, data.clone());
    assert_eq!(std::io::copy(&mut &c, &mut &c).unwrap(), data.len() as u64);
    c.shutdown(Shutdown::Write).unwrap();
    assert!(back.join().unwrap() == data);
    // splicer::copy(&c, &c): the same, through the pool's pipe
    let (c, peer) = tcp_pair();
    let back = echo_peer(peer, data.clone());
    assert_eq!(splicer::copy(&c, &c).unwrap(), data.len() as u64);
    c.shutdown(Shutdown::Write).unwrap();
    assert!(back.join().unwrap() == data);
}

#[test]
fn echo_on_a_nonblocking_session() {
    let data = pattern(300_000, 3);
    let (c, peer) = UnixStream::pair().unwrap();
    c.set_nonblocking(true).unwrap();
    let back = echo_peer(peer, data.clone());
    let mut s = Session::builder().nonblocking(true).build().unwrap();
    s.open(&c, &c).unwrap();
    let mut total = 0;
    loop {
        match s.step() {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => s.poll().unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(total, data.len() as u64);
    let p = s.progress();
    assert_eq!((p.consumed, p.delivered, p.finished), (total, total, true));
    drop(s);
    c.shutdown(Shutdown::Write).unwrap();
    assert!(back.join().unwrap() == data);
}

// ---- a regular file onto itself --------------------------------------------

/// std::io::copy(&mut &f, &mut &f) (Rust 1.95) returns 12 and leaves the
/// file as it was: copy_file_range refuses the overlap and its sendfile
/// fallback writes the bytes over themselves.  Go's io.Copy appends.
/// splicer refuses with EINVAL: the source and destination ranges overlap.
#[test]
fn one_fd_onto_itself_is_einval() {
    let data = pattern(12, 4);
    let t = TempFile::new("self", &data);
    let mut f = t.open(true, true);
    let err = splicer::copy(&f, &f).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(splicer::errno(&err), Some(libc::EINVAL));
    {
        let mut s = Session::new().unwrap();
        assert_eq!(s.open_n(&f, &f, 12).unwrap_err().raw_os_error(), Some(libc::EINVAL));
    }
    assert_eq!(f.stream_position().unwrap(), 0);
    assert_eq!(t.read(), data, "never a success that wrote the bytes over themselves");
}

#[test]
fn two_fds_of_one_file_at_one_position_is_einval() {
    let data = pattern(12, 5);
    let t = TempFile::new("two-same", &data);
    let (mut r, mut w) = (t.open(true, false), t.open(false, true));
    let err = splicer::copy(&r, &w).unwrap_err();
    assert_eq!(splicer::errno(&err), Some(libc::EINVAL));
    assert_eq!((r.stream_position().unwrap(), w.stream_position().unwrap()), (0, 0));
    assert_eq!(t.read(), data);
}

#[test]
fn two_fds_of_one_file_appends_once() {
    let data = pattern(12, 6);
    let t = TempFile::new("two-append", &data);
    let (mut r, mut w) = (t.open(true, false), t.open(false, true));
    w.seek(SeekFrom::End(0)).unwrap();
    // the length is the file's size at open, not a chase of its own output
    assert_eq!(splicer::copy(&r, &w).unwrap(), 12);
    assert_eq!((r.stream_position().unwrap(), w.stream_position().unwrap()), (12, 24));
    assert_eq!(t.read(), [&data[..], &data[..]].concat());
}

#[test]
fn ranges_within_one_file_disjoint_copy_overlapping_einval() {
    let data = pattern(200, 7);
    let t = TempFile::new("ranges", &data);
    let f = t.open(true, true);
    let mut s = Session::new().unwrap();
    for (off_in, off_out, len) in [(0, 50, 100), (50, 0, 100), (0, 0, 1)] {
        let err = s.copy_range(&f, off_in, &f, off_out, len).unwrap_err();
        assert_eq!(splicer::errno(&err), Some(libc::EINVAL), "[{off_in}, +{len}) onto {off_out}");
    }
    // to the end of the file would reach the destination
    let err = s.open_range(&f, Some(0), &f, Some(150), u64::MAX).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(t.read(), data);
    assert_eq!(s.copy_range(&f, 0, &f, 100, 100).unwrap(), 100);
    assert_eq!(t.read(), [&data[..100], &data[..100]].concat());
    // the same fd with disjoint offsets leaves its position alone
    let mut g = t.open(true, true);
    assert_eq!(s.copy_range(&g, 0, &g, 200, 50).unwrap(), 50);
    assert_eq!(g.stream_position().unwrap(), 0);
    assert_eq!(t.read().len(), 250);
}

/// std's `copies_append_mode_sink`: a file onto an O_APPEND file.
#[test]
fn copies_to_an_append_mode_sink() {
    let src = TempFile::new("append-src", b"not empty");
    let sink = TempFile::new("append-sink", b"already ");
    let out = OpenOptions::new().append(true).open(&sink.0).unwrap();
    assert_eq!(splicer::copy(src.open(true, false), &out).unwrap(), 9);
    assert_eq!(sink.read(), b"already not empty");
}

// ---- datagram destinations --------------------------------------------------

fn udp_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    (a, b)
}

/// Receives datagrams until `want` bytes came or none arrives for 2 s.
/// Returns the bytes and the largest datagram.
fn collect_datagrams(recv: impl Fn(&mut [u8]) -> std::io::Result<usize>, want: usize) -> (Vec<u8>, usize) {
    let mut got = Vec::new();
    let mut largest = 0;
    let mut buf = vec![0u8; 65536];
    while got.len() < want {
        match recv(&mut buf) {
            Ok(n) => {
                largest = largest.max(n);
                got.extend_from_slice(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("{e}"),
        }
    }
    (got, largest)
}

fn udp_receiver(peer: UdpSocket, want: usize) -> std::thread::JoinHandle<(Vec<u8>, usize)> {
    // UDP drops what its receive buffer cannot hold: make room for the whole
    // test's datagrams, so that a receiver thread slow to be scheduled on a
    // loaded machine loses nothing (SO_RCVBUFFORCE needs CAP_NET_ADMIN;
    // without it SO_RCVBUF gives what rmem_max allows)
    let bytes: libc::c_int = 4 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid socket and an int option.
        let r = unsafe {
            libc::setsockopt(peer.as_raw_fd(), libc::SOL_SOCKET, opt, (&bytes as *const libc::c_int).cast(), 4)
        };
        if r == 0 {
            break;
        }
    }
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    std::thread::spawn(move || collect_datagrams(|b| peer.recv(b), want))
}

fn unix_receiver(peer: UnixDatagram, want: usize) -> std::thread::JoinHandle<(Vec<u8>, usize)> {
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    std::thread::spawn(move || collect_datagrams(|b| peer.recv(b), want))
}

#[test]
fn stream_socket_to_udp_in_datagrams_of_32_kib() {
    let data = pattern(150_000, 8);
    let (src, mut feed) = UnixStream::pair().unwrap();
    let d = data.clone();
    let writer = std::thread::spawn(move || {
        feed.write_all(&d).unwrap();
        feed.shutdown(Shutdown::Write).unwrap();
    });
    let (dst, peer) = udp_pair();
    let rx = udp_receiver(peer, data.len());
    assert_eq!(splicer::method_for(&src, &dst).unwrap(), Method::ReadWrite);
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy(&src, &dst).unwrap(), data.len() as u64);
    let p = s.progress();
    assert_eq!((p.consumed, p.delivered, p.pending, p.method), (150_000, 150_000, 0, Method::ReadWrite));
    writer.join().unwrap();
    let (got, largest) = rx.join().unwrap();
    assert!(largest <= 32 * 1024, "a datagram of {largest}");
    assert!(got == data, "every byte, none dropped");
}

#[test]
fn tcp_to_udp_drops_nothing() {
    let data = pattern(200_000, 9);
    let (src, mut feed) = tcp_pair();
    let d = data.clone();
    let writer = std::thread::spawn(move || {
        feed.write_all(&d).unwrap();
        feed.shutdown(Shutdown::Write).unwrap();
    });
    let (dst, peer) = udp_pair();
    let rx = udp_receiver(peer, data.len());
    assert_eq!(splicer::copy(&src, &dst).unwrap(), data.len() as u64);
    writer.join().unwrap();
    let (got, largest) = rx.join().unwrap();
    assert!(largest <= 32 * 1024, "a datagram of {largest}");
    assert!(got == data);
}

#[test]
fn file_to_unix_datagram_socket() {
    let data = pattern(70_000, 10);
    let t = TempFile::new("to-dgram", &data);
    let mut f = t.open(true, false);
    let (dst, peer) = UnixDatagram::pair().unwrap();
    let rx = unix_receiver(peer, data.len());
    assert_eq!(splicer::method_for(&f, &dst).unwrap(), Method::ReadWrite);
    assert_eq!(splicer::copy(&f, &dst).unwrap(), 70_000);
    assert_eq!(f.stream_position().unwrap(), 70_000);
    let (got, largest) = rx.join().unwrap();
    assert!(largest <= 32 * 1024, "a datagram of {largest}");
    assert!(got == data);
}

#[test]
fn a_datagram_too_large_for_the_destination_is_sent_smaller() {
    let data = pattern(40_000, 11);
    let t = TempFile::new("emsgsize", &data);
    let (dst, peer) = UnixDatagram::pair().unwrap();
    // a 32 KiB datagram does not fit: EMSGSIZE, then halves
    set_sndbuf(&dst, 8192);
    let rx = unix_receiver(peer, data.len());
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy(t.open(true, false), &dst).unwrap(), 40_000);
    let p = s.progress();
    assert_eq!((p.consumed, p.delivered, p.pending), (40_000, 40_000, 0));
    let (got, largest) = rx.join().unwrap();
    assert!(largest <= 16 * 1024, "a datagram of {largest}");
    assert!(got == data);
}

// ---- datagram sources -------------------------------------------------------

#[test]
fn a_zero_length_unix_datagram_is_not_the_end() {
    let (src, peer) = UnixDatagram::pair().unwrap();
    for d in [&b"abc"[..], b"", b"def"] {
        assert_eq!(peer.send(d).unwrap(), d.len());
    }
    let out = TempFile::new("zero-dgram", b"");
    let mut s = Session::new().unwrap();
    assert_eq!(s.copy_n(&src, out.open(false, true), 6).unwrap(), 6);
    let p = s.progress();
    assert_eq!((p.consumed, p.delivered, p.finished), (6, 6, true));
    assert_eq!(out.read(), b"abcdef");
}

#[test]
fn a_zero_length_udp_datagram_is_not_the_end() {
    let (src, peer) = udp_pair();
    for d in [&b"abc"[..], b"", b"def"] {
        assert_eq!(peer.send(d).unwrap(), d.len());
    }
    let out = TempFile::new("zero-udp", b"");
    assert_eq!(splicer::copy_n(&src, out.open(false, true), 6).unwrap(), 6);
    assert_eq!(out.read(), b"abcdef");
}

#[test]
fn nonblocking_after_a_zero_length_datagram_waits_for_more() {
    let (src, peer) = UnixDatagram::pair().unwrap();
    src.set_nonblocking(true).unwrap();
    peer.send(b"abc").unwrap();
    peer.send(b"").unwrap();
    let out = TempFile::new("zero-nonblock", b"");
    let f = out.open(false, true);
    let mut s = Session::new().unwrap();
    s.open(&src, &f).unwrap();
    assert_eq!(s.step().unwrap(), 3);
    assert_eq!(s.step().unwrap_err().kind(), ErrorKind::WouldBlock);
    let w = s.wait().unwrap();
    assert_eq!((w.fd, w.interest), (src.as_raw_fd(), splicer::Interest::Readable));
    assert!(!s.progress().finished);
    peer.send(b"def").unwrap();
    assert_eq!(s.step().unwrap(), 3);
    assert_eq!(s.step().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(s.abort(), 0);
    assert_eq!(out.read(), b"abcdef");
    // a datagram source is staged like a socket, spliced straight to a pipe
    let (_r, w) = splicer::raw::pipe().unwrap();
    assert_eq!(splicer::method_for(&src, &f).unwrap(), Method::SplicePipe);
    assert_eq!(splicer::method_for(&src, &w).unwrap(), Method::Splice);
}
