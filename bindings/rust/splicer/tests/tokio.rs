//! The tokio feature: async copy and tee over tokio's sockets, idle costs
//! no CPU, and what dropping the future mid-transfer does.
#![cfg(feature = "tokio")]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32 % 31) as u8 ^ seed).collect()
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_to_tcp() {
    let data = pattern(8 << 20, 1);
    let (mut src_w, src_r) = tcp_pair().await;
    let (dst_w, mut dst_r) = tcp_pair().await;
    let d2 = data.clone();
    let writer = tokio::spawn(async move {
        src_w.write_all(&d2).await.unwrap();
        src_w.shutdown().await.unwrap();
    });
    let reader = tokio::spawn(async move {
        let mut v = Vec::new();
        dst_r.read_to_end(&mut v).await.unwrap();
        v
    });
    // spawned: the future is Send
    let copier = tokio::spawn(async move {
        let n = splicer::tokio::copy(&src_r, &dst_w).await;
        drop(dst_w);
        n
    });
    assert_eq!(copier.await.unwrap().unwrap(), data.len() as u64);
    writer.await.unwrap();
    assert!(reader.await.unwrap() == data);
}

#[tokio::test(flavor = "current_thread")]
async fn file_to_tcp_on_one_thread() {
    let data = pattern(3 << 20, 2);
    let p = std::env::temp_dir().join(format!("splicer-rs-tokio-{}", std::process::id()));
    std::fs::write(&p, &data).unwrap();
    let file = std::fs::File::open(&p).unwrap();
    let (dst_w, mut dst_r) = tcp_pair().await;
    let reader = tokio::spawn(async move {
        let mut v = Vec::new();
        dst_r.read_to_end(&mut v).await.unwrap();
        v
    });
    let mut s = splicer::Session::new().unwrap();
    let n = splicer::tokio::copy_with(&mut s, &file, &dst_w, u64::MAX).await.unwrap();
    assert_eq!(n, data.len() as u64);
    // more than 1 MiB of a file to TCP goes through a pool pipe
    assert_eq!(s.progress().method, splicer::Method::SplicePipe);
    drop(s);
    drop(dst_w);
    assert!(reader.await.unwrap() == data);
    std::fs::remove_file(p).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tee_to_two_sockets() {
    let data = pattern(2 << 20, 3);
    let (mut src_w, src_r) = tcp_pair().await;
    let (a_w, mut a_r) = tcp_pair().await;
    let (b_w, mut b_r) = tcp_pair().await;
    let d2 = data.clone();
    tokio::spawn(async move {
        src_w.write_all(&d2).await.unwrap();
    });
    let ra = tokio::spawn(async move {
        let mut v = Vec::new();
        a_r.read_to_end(&mut v).await.unwrap();
        v
    });
    let rb = tokio::spawn(async move {
        let mut v = Vec::new();
        b_r.read_to_end(&mut v).await.unwrap();
        v
    });
    let mut s = splicer::Session::new().unwrap();
    let n = splicer::tokio::tee_with(&mut s, &src_r, &[&a_w, &b_w], data.len() as u64).await.unwrap();
    assert_eq!(n, data.len() as u64);
    drop(s);
    drop((a_w, b_w));
    assert!(ra.await.unwrap() == data);
    assert!(rb.await.unwrap() == data);
}

#[tokio::test(flavor = "current_thread")]
async fn idle_connection_costs_no_cpu() {
    let (_src_w, src_r) = tcp_pair().await;
    let (dst_w, _dst_r) = tcp_pair().await;
    let mut s = splicer::Session::new().unwrap();
    // current_thread: the copy runs on this thread, so this thread's CPU
    // time is the copy's
    let before = cpu_time();
    let r =
        tokio::time::timeout(Duration::from_millis(500), splicer::tokio::copy_with(&mut s, &src_r, &dst_w, u64::MAX))
            .await;
    assert!(r.is_err(), "nothing was sent: the copy must still be waiting");
    let spent = cpu_time() - before;
    assert!(s.stats().syscalls < 5, "{:?}", s.stats());
    // a busy loop would burn the whole 500 ms
    assert!(spent < Duration::from_millis(100), "idle copy used {spent:?} of CPU");
}

fn set_sndbuf(fd: &impl std::os::fd::AsRawFd, bytes: i32) {
    // SAFETY: a valid socket and an int option.
    let r = unsafe {
        libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, (&bytes as *const i32).cast(), 4)
    };
    assert_eq!(r, 0);
}

type Go = std::sync::Arc<tokio::sync::Notify>;

/// A reader that waits for `go`, then reads slowly (small reads, a pause
/// every 256 KiB) to the end.
fn paused_reader<R>(mut r: R, go: Go) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        go.notified().await;
        let mut v = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                return v;
            }
            v.extend_from_slice(&buf[..n]);
            if v.len() % (256 * 1024) < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
}

/// A Unix stream source whose peer writes `data` then shuts down.
fn feeding(data: &[u8]) -> (UnixStream, tokio::task::JoinHandle<()>) {
    let (mut w, r) = UnixStream::pair().unwrap();
    let d = data.to_vec();
    let writer = tokio::spawn(async move {
        w.write_all(&d).await.unwrap();
        w.shutdown().await.unwrap();
    });
    (r, writer)
}

/// A Unix stream destination with a small send buffer, read by a paused
/// reader: until `go`, it takes a few KiB and then refuses, for good.
fn stalled(go: &Go) -> (UnixStream, tokio::task::JoinHandle<Vec<u8>>) {
    let (w, r) = UnixStream::pair().unwrap();
    set_sndbuf(&w, 16 * 1024);
    (w, paused_reader(r, go.clone()))
}

fn go() -> Go {
    std::sync::Arc::new(tokio::sync::Notify::new())
}

/// Dropping the future mid-transfer, then `resume`: the bytes the session
/// held are delivered first, the rest follows, and the reader gets every
/// byte exactly once.  A resume dropped in its turn can be resumed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_the_future_was_dropped() {
    let total = 8 << 20;
    let data = pattern(total, 5);
    let (src, writer) = feeding(&data);
    let go = go();
    let (dst, reader) = stalled(&go);
    let mut s = splicer::Session::new().unwrap();
    let r =
        tokio::time::timeout(Duration::from_millis(200), splicer::tokio::copy_with(&mut s, &src, &dst, u64::MAX)).await;
    assert!(r.is_err(), "the reader has not started: the copy cannot finish");
    let first = s.progress();
    assert!(first.pending > 0, "the session holds bytes the destination refused: {first:?}");
    assert!(!first.finished);
    // in a pool pipe (the tests of this binary run at once: at least ours)
    assert!(splicer::pool::stats().in_use >= 1);
    // resumed while the reader still waits: dropped again, nothing moves
    let again = tokio::time::timeout(Duration::from_millis(100), splicer::tokio::resume(&mut s, &src, &dst)).await;
    assert!(again.is_err());
    let second = s.progress();
    assert_eq!((second.consumed, second.delivered), (first.consumed, first.delivered));
    go.notify_one();
    let n = splicer::tokio::resume(&mut s, &src, &dst).await.unwrap();
    assert_eq!(first.delivered + n, total as u64, "resume returns what it delivered");
    let p = s.progress();
    assert_eq!((p.delivered, p.pending, p.finished), (total as u64, 0, true));
    // finished: resuming again delivers nothing
    assert_eq!(splicer::tokio::resume(&mut s, &src, &dst).await.unwrap(), 0);
    drop(s);
    drop(dst);
    writer.await.unwrap();
    let got = reader.await.unwrap();
    assert_eq!(got.len(), total);
    assert!(got == data, "every byte exactly once, in order");
}

/// The same over TCP with a session that owns its pipe (no pool): the
/// pending bytes sit in the session's own pipe across the drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_over_tcp_with_the_session_own_pipe() {
    let total = 16 << 20;
    let data = pattern(total, 9);
    let (mut src_w, src) = tcp_pair().await;
    let d2 = data.clone();
    let writer = tokio::spawn(async move {
        src_w.write_all(&d2).await.unwrap();
        src_w.shutdown().await.unwrap();
    });
    let (dst, dst_r) = tcp_pair().await;
    let go = go();
    let reader = paused_reader(dst_r, go.clone());
    let mut s = splicer::Session::builder().pool(false).pipe_size(1 << 20).build().unwrap();
    let r =
        tokio::time::timeout(Duration::from_millis(300), splicer::tokio::copy_with(&mut s, &src, &dst, u64::MAX)).await;
    assert!(r.is_err(), "the reader has not started: the copy cannot finish");
    let first = s.progress();
    assert!(first.pending > 0, "{first:?}");
    go.notify_one();
    let n = splicer::tokio::resume(&mut s, &src, &dst).await.unwrap();
    assert_eq!(first.delivered + n, total as u64);
    drop(s);
    drop(dst);
    writer.await.unwrap();
    assert!(reader.await.unwrap() == data, "every byte exactly once, in order");
}

/// Resume on one thread, the reader released while the resumed future
/// waits on the destination.
#[tokio::test(flavor = "current_thread")]
async fn resume_on_a_current_thread_runtime() {
    let total = 3 << 20;
    let data = pattern(total, 6);
    let (src, writer) = feeding(&data);
    let go = go();
    let (dst, reader) = stalled(&go);
    let mut s = splicer::Session::builder().pipe_size(64 * 1024).build().unwrap();
    let r =
        tokio::time::timeout(Duration::from_millis(100), splicer::tokio::copy_with(&mut s, &src, &dst, u64::MAX)).await;
    assert!(r.is_err());
    let before = s.progress();
    assert!(before.pending > 0, "{before:?}");
    let release = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        go.notify_one();
    };
    let (n, ()) = tokio::join!(splicer::tokio::resume(&mut s, &src, &dst), release);
    assert_eq!(before.delivered + n.unwrap(), total as u64);
    drop(s);
    drop(dst);
    writer.await.unwrap();
    assert!(reader.await.unwrap() == data);
}

/// `resume` given endpoints that are not the transfer's is EINVAL before
/// anything moves, and the pending bytes survive the mistake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_other_endpoints_is_einval_and_keeps_the_bytes() {
    let total = 4 << 20;
    let data = pattern(total, 7);
    let (src, writer) = feeding(&data);
    let (wrong_a, _wa) = UnixStream::pair().unwrap();
    let go = go();
    let (dst, reader) = stalled(&go);
    let mut s = splicer::Session::new().unwrap();
    let r =
        tokio::time::timeout(Duration::from_millis(200), splicer::tokio::copy_with(&mut s, &src, &dst, u64::MAX)).await;
    assert!(r.is_err());
    let p = s.progress();
    assert!(p.pending > 0, "{p:?}");
    go.notify_one();
    for (a, b) in [(&wrong_a, &dst), (&src, &wrong_a), (&dst, &src)] {
        let err = splicer::tokio::resume(&mut s, a, b).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(splicer::errno(&err), Some(libc::EINVAL));
        assert_eq!(splicer::TransferError::of(&err).unwrap().op(), "resume");
    }
    let err = splicer::tokio::resume_tee(&mut s, &src, &[&dst, &dst]).await.unwrap_err();
    assert_eq!(splicer::errno(&err), Some(libc::EINVAL));
    let q = s.progress();
    assert_eq!((q.consumed, q.pending, q.delivered), (p.consumed, p.pending, p.delivered), "nothing moved");
    let n = splicer::tokio::resume(&mut s, &src, &dst).await.unwrap();
    assert_eq!(p.delivered + n, total as u64);
    drop(s);
    drop(dst);
    writer.await.unwrap();
    assert!(reader.await.unwrap() == data);
}

/// A fan-out whose future was dropped: `resume_tee` gives each destination
/// what it is missing, then the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_tee_after_the_future_was_dropped() {
    let total = 2 << 20;
    let data = pattern(total, 8);
    let (src, writer) = feeding(&data);
    let (go_a, go_b) = (go(), go());
    let (a, ra) = stalled(&go_a);
    let (b, rb) = stalled(&go_b);
    let mut s = splicer::Session::new().unwrap();
    let r =
        tokio::time::timeout(Duration::from_millis(200), splicer::tokio::tee_with(&mut s, &src, &[&a, &b], u64::MAX))
            .await;
    assert!(r.is_err(), "neither destination is read yet");
    let p = s.progress();
    assert!(p.pending > 0, "{p:?}");
    go_a.notify_one();
    go_b.notify_one();
    let n = splicer::tokio::resume_tee(&mut s, &src, &[&a, &b]).await.unwrap();
    assert_eq!(p.delivered + n, total as u64);
    assert!(s.progress().finished);
    drop(s);
    drop((a, b));
    writer.await.unwrap();
    assert!(ra.await.unwrap() == data);
    assert!(rb.await.unwrap() == data);
}

/// Dropping the future mid-transfer, then `abort`: the transfer stops where
/// it was; the destination has exactly `delivered`, abort drops what the
/// session held and says how many, the source keeps what was never
/// consumed, and nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_the_future_was_dropped() {
    let total = 8 << 20;
    let data = pattern(total, 4);
    let (mut src_w, mut src_r) = tcp_pair().await;
    let (dst_w, mut dst_r) = tcp_pair().await;
    let d2 = data.clone();
    let writer = tokio::spawn(async move {
        src_w.write_all(&d2).await.unwrap();
        src_w.shutdown().await.unwrap();
    });
    let (dst2_w, _dst2_r) = tcp_pair().await;
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let mut s = splicer::Session::builder().pipe_size(1 << 20).build().unwrap();
    // nobody reads dst: the copy fills the socket buffers and parks
    let r =
        tokio::time::timeout(Duration::from_millis(300), splicer::tokio::copy_with(&mut s, &src_r, &dst_w, u64::MAX))
            .await;
    assert!(r.is_err(), "the destination is never read: the copy cannot finish");
    let p = s.progress();
    assert!(p.pending > 0, "the session holds what it took: {p:?}");
    assert!(p.delivered > 0);
    let dropped = splicer::tokio::abort(&mut s);
    assert_eq!(dropped, p.pending);
    assert_eq!(s.progress().delivered, p.delivered, "what was delivered stays readable");
    assert_eq!(splicer::tokio::abort(&mut s), 0, "nothing left to drop");
    // nothing to resume either
    assert_eq!(splicer::tokio::resume(&mut s, &src_r, &dst_w).await.unwrap(), 0);
    // the session is free for the next transfer
    assert_eq!(splicer::tokio::copy_with(&mut s, &zero, &dst2_w, 1000).await.unwrap(), 1000);
    drop(s);
    drop(dst_w);
    let mut got = Vec::new();
    dst_r.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len() as u64, p.delivered);
    assert!(got == data[..got.len()]);
    let mut rest = Vec::new();
    src_r.read_to_end(&mut rest).await.unwrap();
    writer.await.unwrap();
    assert_eq!(p.delivered + dropped + rest.len() as u64, total as u64);
    assert!(rest == data[total - rest.len()..]);
}
