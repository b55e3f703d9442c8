//! The process-wide pipe pool through the safe API: statistics around a
//! copy, caps of 0 and of a few pipes shared by many threads, a full
//! destination that spills its pipe back to a short pool, sessions with
//! pipes of their own, pipes holding bytes never lent again, and option
//! errors.
//!
//! The pool is one per process and the tests of this binary run on parallel
//! threads, so every test holds `serial()` for its whole length: it starts
//! from the pool's defaults with no idle pipe, and restores them when done.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use splicer::pool::{self, PoolOpt, PoolStats};
use splicer::{Method, Opt, Session};

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .map(|i| {
            let x = seed.wrapping_add((i as u32).wrapping_mul(2654435761));
            let x = x ^ (x >> 16);
            (x ^ (x >> 8)) as u8
        })
        .collect()
}

static LOCK: Mutex<()> = Mutex::new(());

struct Serial {
    defaults: [(PoolOpt, i64); 3],
    _lock: MutexGuard<'static, ()>,
}

impl Drop for Serial {
    fn drop(&mut self) {
        for (opt, v) in self.defaults {
            pool::set(opt, v).unwrap();
        }
        pool::trim();
    }
}

/// The pool to this test alone, at its defaults, with no idle pipe.
fn serial() -> Serial {
    // a test that failed while holding the lock still restored the pool
    let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let defaults = [PoolOpt::MAX_PIPES, PoolOpt::MAX_IDLE, PoolOpt::PIPE_SIZE].map(|o| (o, pool::get(o).unwrap()));
    pool::trim();
    Serial { defaults, _lock: lock }
}

/// A stream source: the peer writes `data` then shuts down its side.
fn source(data: &[u8]) -> (UnixStream, JoinHandle<()>) {
    let (mine, mut peer) = UnixStream::pair().unwrap();
    let d = data.to_vec();
    let writer = std::thread::spawn(move || {
        peer.write_all(&d).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    (mine, writer)
}

/// A stream destination: the peer reads until end of file.
fn sink() -> (UnixStream, JoinHandle<Vec<u8>>) {
    let (mine, mut peer) = UnixStream::pair().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        peer.read_to_end(&mut v).unwrap();
        v
    });
    (mine, reader)
}

/// Copies `data` socket to socket on `s` and checks every byte arrived.
fn socket_copy(s: &mut Session<'_>, data: &[u8]) {
    let (src, writer) = source(data);
    let (dst, reader) = sink();
    assert_eq!(s.copy(&src, &dst).unwrap(), data.len() as u64);
    drop(dst);
    writer.join().unwrap();
    assert!(reader.join().unwrap() == data, "bytes differ");
}

fn set_sndbuf(fd: &impl AsRawFd, bytes: i32) {
    // SAFETY: a valid socket and an int option.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A non-blocking session stepped until its destination (never read)
/// refuses more: it then holds bytes in a borrowed pool pipe.
fn held<'a>(src: &'a UnixStream, dst: &'a UnixStream) -> Session<'a> {
    let mut s = Session::builder().nonblocking(true).build().unwrap();
    s.open(src, dst).unwrap();
    loop {
        match s.step() {
            Ok(0) => panic!("finished, but the destination is never read"),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if s.wait().unwrap().interest == splicer::Interest::Writable && s.progress().pending > 0 {
                    return s;
                }
                s.poll().unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn stats_move_around_a_socket_to_socket_copy() {
    let _g = serial();
    let data = pattern(1 << 20, 1);
    let before = pool::stats();
    let mut s = Session::new().unwrap();
    socket_copy(&mut s, &data);
    assert_eq!(s.progress().method, Method::SplicePipe);
    let st = s.stats();
    assert_eq!((st.pool_misses, st.pool_spills, st.bytes_by(Method::SplicePipe)), (0, 0, data.len() as u64));
    let d = pool::stats().since(&before);
    // one pipe, borrowed for each batch and given back empty each time
    assert!(d.borrowed >= 4, "1 MiB in batches of at most 256 KiB: {d:?}");
    assert_eq!(d.returned, d.borrowed, "{d:?}");
    assert_eq!((d.created, d.closed, d.misses, d.discarded, d.undersized, d.spills), (1, 0, 0, 0, 0, 0), "{d:?}");
    assert_eq!((d.in_use, d.idle, d.peak_in_use), (0, 1, 1), "{d:?}");
    // a second copy reuses the idle pipe
    socket_copy(&mut Session::new().unwrap(), &pattern(100_000, 2));
    let d = pool::stats().since(&before);
    assert_eq!((d.created, d.in_use, d.idle), (1, 0, 1), "{d:?}");
}

#[test]
fn a_pool_cap_of_zero_loses_nothing() {
    let _g = serial();
    pool::set_max_pipes(0).unwrap();
    assert_eq!(pool::max_pipes(), 0);
    let data = pattern(2 << 20, 3);
    let before = pool::stats();
    let mut s = Session::new().unwrap();
    socket_copy(&mut s, &data);
    // the method chosen stays splice_pipe; each batch missed the pool
    assert_eq!(s.progress().method, Method::SplicePipe);
    let st = s.stats();
    assert!(st.pool_misses >= 1, "{st:?}");
    assert_eq!(st.bytes_by(Method::ReadWrite), data.len() as u64);
    assert_eq!(st.bytes_by(Method::SplicePipe), 0);
    let d = pool::stats().since(&before);
    assert_eq!(d.misses, st.pool_misses, "{d:?}");
    assert_eq!((d.created, d.borrowed, d.in_use, d.idle), (0, 0, 0, 0), "{d:?}");
}

#[test]
fn no_pipe_and_no_read_write_is_enobufs_and_takes_nothing() {
    let _g = serial();
    pool::set_max_pipes(0).unwrap();
    let data = pattern(50_000, 4);
    let (src, writer) = source(&data);
    let (dst, reader) = sink();
    let mut s = Session::builder().methods(Method::SplicePipe).build().unwrap();
    s.open(&src, &dst).unwrap();
    let err = s.step().unwrap_err();
    assert_eq!(splicer::errname(&err), Some("ENOBUFS"));
    let p = s.progress();
    assert_eq!((p.consumed, p.pending), (0, 0));
    // a pipe to lend again: the same transfer goes on, nothing was lost
    pool::set_max_pipes(4).unwrap();
    assert_eq!(s.run().unwrap(), data.len() as u64);
    drop(s);
    drop(dst);
    writer.join().unwrap();
    assert!(reader.join().unwrap() == data);
}

#[test]
fn sixty_four_threads_share_a_pool_of_four_pipes() {
    let _g = serial();
    pool::set_max_pipes(4).unwrap();
    let before = pool::stats();
    let len = 512 * 1024;
    let start = std::sync::Arc::new(std::sync::Barrier::new(64));
    let threads: Vec<_> = (0..64u32)
        .map(|i| {
            let start = start.clone();
            std::thread::spawn(move || {
                let data = pattern(len, 100 + i);
                let (src, writer) = source(&data);
                let (dst, reader) = sink();
                let mut s = Session::builder().chunk(64 * 1024).build().unwrap();
                start.wait();
                let n = s.copy(&src, &dst).unwrap();
                let misses = s.stats().pool_misses;
                drop(dst);
                writer.join().unwrap();
                let got = reader.join().unwrap();
                (n, got == data, misses)
            })
        })
        .collect();
    let mut misses = 0;
    for (i, t) in threads.into_iter().enumerate() {
        let (n, same, m) = t.join().unwrap();
        assert_eq!(n, len as u64, "thread {i}");
        assert!(same, "thread {i}: bytes differ");
        misses += m;
    }
    let d = pool::stats().since(&before);
    assert!(d.peak_in_use <= 4 && d.created <= 4, "the cap holds: {d:?}");
    assert_eq!((d.in_use, d.discarded), (0, 0), "{d:?}");
    assert_eq!(d.returned, d.borrowed, "{d:?}");
    assert_eq!(d.misses, misses, "the sessions' misses are the pool's: {d:?}");
    assert!(d.borrowed > 0, "{d:?}");
}

#[test]
fn a_session_without_the_pool_owns_its_pipe() {
    let _g = serial();
    let before = pool::stats();
    let fds = open_fds();
    let mut s = Session::builder().pool(false).pipe_size(65536).build().unwrap();
    assert_eq!(s.get(Opt::POOL).unwrap(), 0);
    socket_copy(&mut s, &pattern(300_000, 5));
    assert_eq!(s.progress().method, Method::SplicePipe);
    assert_eq!(s.stats().pool_misses, 0);
    // its own pipe, kept between transfers and sized by the kernel
    assert_eq!(open_fds(), fds + 2);
    assert_eq!(s.get(Opt::PIPE_SIZE).unwrap(), 65536);
    socket_copy(&mut s, &pattern(10_000, 6));
    assert_eq!(open_fds(), fds + 2);
    let d = pool::stats().since(&before);
    assert_eq!((d.borrowed, d.created, d.misses, d.in_use, d.idle), (0, 0, 0, 0, 0), "{d:?}");
    drop(s);
    assert_eq!(open_fds(), fds);
    // a pooled session keeps no fd: the pipe is the pool's
    let mut s = Session::new().unwrap();
    socket_copy(&mut s, &pattern(10_000, 7));
    assert_eq!(pool::stats().idle, 1);
    assert_eq!(pool::trim(), 1);
    assert_eq!(open_fds(), fds);
}

#[test]
fn pipe_size_with_the_pool_bounds_a_batch() {
    let _g = serial();
    let data = pattern(50_000, 8);
    let (src, writer) = source(&data);
    writer.join().unwrap(); // all 50,000 bytes wait in the socket
    let (dst, reader) = sink();
    let mut s = Session::builder().pipe_size(20_000).nonblocking(true).build().unwrap();
    assert_eq!(s.get(Opt::PIPE_SIZE).unwrap(), 20_000);
    s.open(&src, &dst).unwrap();
    let mut total = 0;
    loop {
        match s.step() {
            Ok(0) => break,
            Ok(n) => {
                assert!(n <= 20_000, "a batch of {n}");
                total += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => s.poll().unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(total, data.len() as u64);
    // more than the pool's pipes hold: get says what a batch can take
    s.set(Opt::PIPE_SIZE, 1 << 20).unwrap();
    assert_eq!(s.get(Opt::PIPE_SIZE).unwrap(), pool::pipe_size() as i64);
    drop(s);
    drop(dst);
    assert!(reader.join().unwrap() == data);
}

#[test]
fn a_session_dropped_with_bytes_pending_discards_its_pipe() {
    let _g = serial();
    let data = pattern(100_000, 9);
    let (src, writer) = source(&data);
    writer.join().unwrap();
    let (dst, dst_peer) = UnixStream::pair().unwrap();
    set_sndbuf(&dst, 4096);
    let before = pool::stats();
    let s = held(&src, &dst);
    let p = s.progress();
    assert!(p.pending > 0);
    assert_eq!(pool::stats().in_use, 1);
    drop(s);
    let d = pool::stats().since(&before);
    assert_eq!((d.discarded, d.closed, d.returned), (1, 1, 0), "{d:?}");
    assert_eq!((d.in_use, d.idle), (0, 0), "the pipe with bytes is not kept: {d:?}");
    // the next transfer gets a new pipe and only its own bytes
    let fresh = pattern(1000, 10);
    let (src2, writer2) = source(&fresh);
    let out = std::env::temp_dir().join(format!("splicer-rs-pool-{}", std::process::id()));
    let mut s2 = Session::new().unwrap();
    assert_eq!(s2.copy(&src2, File::create(&out).unwrap()).unwrap(), 1000);
    writer2.join().unwrap();
    assert!(std::fs::read(&out).unwrap() == fresh);
    std::fs::remove_file(&out).unwrap();
    assert_eq!(pool::stats().since(&before).created, 2);
    // what reached the destination is a prefix of the source, delivered once
    drop(dst);
    let mut got = Vec::new();
    (&dst_peer).read_to_end(&mut got).unwrap();
    assert_eq!(got.len() as u64, p.delivered);
    assert!(got == data[..got.len()]);
}

#[test]
fn a_full_destination_spills_its_pipe_back_when_the_pool_is_short() {
    let _g = serial();
    pool::set_max_pipes(1).unwrap();
    let data = pattern(100_000, 15);
    let (src, writer) = source(&data);
    writer.join().unwrap();
    let (dst, dst_peer) = UnixStream::pair().unwrap();
    set_sndbuf(&dst, 4096);
    let before = pool::stats();
    let mut s = held(&src, &dst);
    assert!(s.progress().pending > 0);
    // the only pipe was lent to this session: its bytes left went into a
    // buffer and the pipe back to the pool, once
    assert_eq!((s.stats().pool_spills, s.stats().pool_misses), (1, 0));
    let d = pool::stats().since(&before);
    assert_eq!((d.spills, d.in_use, d.idle, d.discarded), (1, 0, 1, 0), "{d:?}");
    // so another session splices through it instead of missing
    let other = pattern(30_000, 16);
    let mut s2 = Session::new().unwrap();
    socket_copy(&mut s2, &other);
    let st2 = s2.stats();
    assert_eq!((st2.pool_misses, st2.bytes_by(Method::SplicePipe)), (0, other.len() as u64), "{st2:?}");
    // and the spilled transfer delivers every byte, once
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        (&dst_peer).read_to_end(&mut v).unwrap();
        v
    });
    loop {
        match s.step() {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => s.poll().unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(s.progress().delivered, data.len() as u64);
    drop(s);
    drop(dst);
    assert!(reader.join().unwrap() == data);
    let d = pool::stats().since(&before);
    assert_eq!((d.in_use, d.discarded), (0, 0), "{d:?}");
}

#[test]
fn abort_with_bytes_held_closes_the_pipe_and_pool_option_is_busy() {
    let _g = serial();
    let data = pattern(100_000, 11);
    let (src, writer) = source(&data);
    writer.join().unwrap();
    let (dst, _dst_peer) = UnixStream::pair().unwrap();
    set_sndbuf(&dst, 4096);
    let before = pool::stats();
    let mut s = held(&src, &dst);
    let pending = s.progress().pending;
    // the pipe is the transfer's until it is delivered or dropped
    assert_eq!(s.set(Opt::POOL, 0).unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert_eq!(s.set(Opt::PIPE_SIZE, 65536).unwrap_err().raw_os_error(), Some(libc::EBUSY));
    assert_eq!(s.abort(), pending);
    let d = pool::stats().since(&before);
    assert_eq!((d.discarded, d.closed, d.in_use, d.idle), (1, 1, 0, 0), "{d:?}");
    s.set(Opt::POOL, 0).unwrap();
}

#[test]
fn trim_closes_idle_pipes_and_restarts_the_peak() {
    let _g = serial();
    socket_copy(&mut Session::new().unwrap(), &pattern(20_000, 12));
    let before = pool::stats();
    assert_eq!((before.idle, before.peak_in_use), (1, 1));
    assert_eq!(pool::trim(), 1);
    let d = pool::stats().since(&before);
    assert_eq!((d.idle, d.closed, d.peak_in_use, d.in_use), (0, 1, 0, 0), "{d:?}");
    assert_eq!(pool::trim(), 0);
}

#[test]
fn max_idle_and_pipe_size_close_what_they_no_longer_keep() {
    let _g = serial();
    socket_copy(&mut Session::new().unwrap(), &pattern(20_000, 13));
    assert_eq!(pool::stats().idle, 1);
    // a new size: the idle pipe of the old size goes
    let before = pool::stats();
    pool::set_pipe_size(65536).unwrap();
    assert_eq!(pool::pipe_size(), 65536);
    let d = pool::stats().since(&before);
    assert_eq!((d.idle, d.closed), (0, 1), "{d:?}");
    // no idle pipe kept at all: each is closed as it comes back
    pool::set_max_idle(0).unwrap();
    assert_eq!(pool::max_idle(), 0);
    socket_copy(&mut Session::new().unwrap(), &pattern(200_000, 14));
    let d = pool::stats().since(&before);
    assert_eq!(d.idle, 0, "{d:?}");
    assert_eq!(d.closed, 1 + d.created, "{d:?}");
}

#[test]
fn option_errors_are_invalid_input_and_change_nothing() {
    let _g = serial();
    let (pipes, idle, size) = (pool::max_pipes(), pool::max_idle(), pool::pipe_size());
    let einval = |r: std::io::Result<()>| {
        let e = r.unwrap_err();
        assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::InvalidInput, Some(libc::EINVAL)));
    };
    einval(pool::set_max_pipes((1 << 20) + 1));
    // values that do not fit the C API's int64_t are refused, never cut down
    einval(pool::set_max_pipes(usize::MAX));
    einval(pool::set_max_idle((1 << 20) + 1));
    einval(pool::set_max_idle(usize::MAX));
    einval(pool::set_pipe_size(4095));
    einval(pool::set_pipe_size((1 << 30) + 1));
    einval(pool::set_pipe_size(usize::MAX));
    einval(pool::set(PoolOpt::MAX_PIPES, -1));
    einval(pool::set(PoolOpt::MAX_IDLE, -1));
    einval(pool::set(PoolOpt(999), 1));
    assert_eq!(pool::get(PoolOpt(999)).unwrap_err().raw_os_error(), Some(libc::EINVAL));
    assert_eq!((pool::max_pipes(), pool::max_idle(), pool::pipe_size()), (pipes, idle, size));
    // the bounds themselves are accepted
    pool::set_max_pipes(1 << 20).unwrap();
    pool::set_max_idle(0).unwrap();
    pool::set_pipe_size(4096).unwrap();
    pool::set_pipe_size(1 << 30).unwrap();
    // the session option is a boolean
    for v in [2, -1] {
        let e = Session::builder().option(Opt::POOL, v).build().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
    assert_eq!(Session::new().unwrap().get(Opt::POOL).unwrap(), 1);
}

#[test]
fn pool_stats_since_subtracts_counters_and_keeps_gauges() {
    let a = PoolStats::default();
    let b = pool::stats();
    let d = b.since(&a);
    assert_eq!(d, b);
    let d = b.since(&b);
    assert_eq!(
        (d.borrowed, d.returned, d.created, d.closed, d.misses, d.discarded, d.undersized, d.spills),
        (0, 0, 0, 0, 0, 0, 0, 0)
    );
    assert_eq!((d.in_use, d.idle, d.peak_in_use), (b.in_use, b.idle, b.peak_in_use));
}
