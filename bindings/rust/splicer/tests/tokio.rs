//! The tokio feature: async copy and tee over tokio's sockets, idle costs
//! no CPU, and what dropping the future mid-transfer does.
#![cfg(feature = "tokio")]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
    assert_eq!(s.progress().method, splicer::Method::Sendfile);
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

/// Dropping the future mid-transfer: the transfer stops where it was; the
/// destination has exactly `delivered`, the session holds `pending` until
/// abort() drops them, the source keeps what was never consumed, and
/// nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_mid_transfer() {
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
    let dropped = s.abort();
    assert_eq!(dropped, p.pending);
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
