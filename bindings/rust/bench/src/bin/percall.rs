//! percall: what one small copy costs through splicer against
//! `std::io::copy`, which moves the same pairs in the kernel too
//! (copy_file_range, sendfile, splice: std's kernel_copy specialisation).
//!
//! Contenders, on the same descriptors, interleaved round by round with the
//! order rotated every round:
//! - `std::io::copy`;
//! - `splicer::copy` (`copy_n` from a socket or pipe): the thread's session
//!   classifies both fds at every open;
//! - `splicer::copy_known`: the types tell the kinds of sockets
//!   (`KnownKind`), so only their flags are read;
//! - a `Session` that keeps both fds (`Session::keep`): no syscall at open.
//!
//! From a file, every contender copies to the end (the file is `size`
//! bytes); from a socket or pipe, exactly `size` bytes (`take` for std).
//! Only the call is timed; refilling and draining are not.  Prints a
//! Markdown table of the median round in ns per call and the ratio of
//! std's median to each splicer contender's (above 1: splicer is faster).
//!
//! `cargo run --release -p splicer-bench --bin percall [ROUNDS [ITERS]]`

use splicer::{FdKind, Session};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum Pair {
    FileFile,
    FileNull,
    FileTcp,
    TcpTcp,
    PipePipe,
}

impl Pair {
    fn name(self) -> &'static str {
        match self {
            Pair::FileFile => "file → file",
            Pair::FileNull => "file → /dev/null",
            Pair::FileTcp => "file → TCP",
            Pair::TcpTcp => "TCP → TCP",
            Pair::PipePipe => "pipe → pipe",
        }
    }
}

enum End {
    File(File),
    Tcp(TcpStream),
}

impl End {
    fn raw(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match self {
            End::File(f) => f.as_fd(),
            End::Tcp(t) => t.as_fd(),
        }
    }
}

struct Fixture {
    pair: Pair,
    size: usize,
    src: End,
    dst: End,
    feed: Option<End>,  // writes the source socket or pipe
    drain: Option<End>, // reads the destination socket or pipe
    buf: Vec<u8>,
}

fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(l.local_addr()?)?;
    let (b, _) = l.accept()?;
    a.set_nodelay(true)?;
    b.set_nodelay(true)?;
    Ok((a, b))
}

fn pipe() -> io::Result<(File, File)> {
    let (r, w) = splicer::raw::pipe()?;
    Ok((File::from(r), File::from(w)))
}

fn temp_file(fill: usize) -> io::Result<File> {
    let mut path = std::env::temp_dir();
    path.push(format!("splicer-percall-{}-{fill}", std::process::id()));
    let mut f = File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
    std::fs::remove_file(&path)?;
    f.write_all(&vec![b'x'; fill])?;
    f.sync_all()?;
    Ok(f)
}

impl Fixture {
    fn new(pair: Pair, size: usize) -> io::Result<Fixture> {
        let (src, feed) = match pair {
            Pair::TcpTcp => {
                let (a, b) = tcp_pair()?;
                (End::Tcp(a), Some(End::Tcp(b)))
            }
            Pair::PipePipe => {
                let (r, w) = pipe()?;
                (End::File(r), Some(End::File(w)))
            }
            _ => (End::File(temp_file(size)?), None),
        };
        let (dst, drain) = match pair {
            Pair::FileFile => (End::File(temp_file(0)?), None),
            Pair::FileNull => (End::File(File::options().write(true).open("/dev/null")?), None),
            Pair::FileTcp | Pair::TcpTcp => {
                let (a, b) = tcp_pair()?;
                (End::Tcp(a), Some(End::Tcp(b)))
            }
            Pair::PipePipe => {
                let (r, w) = pipe()?;
                (End::File(w), Some(End::File(r)))
            }
        };
        Ok(Fixture { pair, size, src, dst, feed, drain, buf: vec![b'y'; size] })
    }

    fn file_source(&self) -> bool {
        !matches!(self.pair, Pair::TcpTcp | Pair::PipePipe)
    }

    /// Untimed: bytes where the source finds them, files rewound.
    fn before(&mut self) -> io::Result<()> {
        match (&self.feed, &mut self.src) {
            (Some(End::Tcp(t)), End::Tcp(src)) => {
                (&*t).write_all(&self.buf)?;
                // wait until every byte is queued at the source
                let mut q: libc::c_int = 0;
                while unsafe { libc::ioctl(src.as_raw_fd(), libc::FIONREAD, &mut q) } == 0 && (q as usize) < self.size {
                    std::thread::yield_now();
                }
            }
            (Some(End::File(w)), _) => (&*w).write_all(&self.buf)?,
            (_, End::File(f)) => {
                f.seek(SeekFrom::Start(0))?;
            }
            _ => {}
        }
        if let (Pair::FileFile, End::File(f)) = (self.pair, &mut self.dst) {
            f.seek(SeekFrom::Start(0))?;
        }
        Ok(())
    }

    fn after(&mut self) -> io::Result<()> {
        match &self.drain {
            Some(End::Tcp(t)) => (&*t).read_exact(&mut self.buf),
            Some(End::File(f)) => (&*f).read_exact(&mut self.buf),
            None => Ok(()),
        }
    }
}

fn std_copy(f: &Fixture) -> io::Result<u64> {
    let n = f.size as u64;
    match (&f.src, &f.dst) {
        (End::File(s), End::File(d)) if f.file_source() => io::copy(&mut &*s, &mut &*d),
        (End::File(s), End::Tcp(d)) => io::copy(&mut &*s, &mut &*d),
        (End::File(s), End::File(d)) => io::copy(&mut s.take(n), &mut &*d),
        (End::Tcp(s), End::Tcp(d)) => io::copy(&mut s.take(n), &mut &*d),
        (End::Tcp(s), End::File(d)) => io::copy(&mut s.take(n), &mut &*d),
    }
}

fn known(f: &Fixture) -> io::Result<u64> {
    let n = f.size as u64;
    let file = f.file_source();
    match (&f.src, &f.dst) {
        (End::File(s), End::File(d)) if file => splicer::copy_known(s, d),
        (End::File(s), End::Tcp(d)) => splicer::copy_known(s, d),
        (End::File(s), End::File(d)) => splicer::copy_known_n(s, d, n),
        (End::Tcp(s), End::Tcp(d)) => splicer::copy_known_n(s, d, n),
        (End::Tcp(s), End::File(d)) => splicer::copy_known_n(s, d, n),
    }
}

const NAMES: [&str; 4] = ["std::io::copy", "splicer::copy", "copy_known", "kept Session"];

fn call(k: usize, f: &Fixture, kept: &mut Session<'_>) -> io::Result<u64> {
    let n = f.size as u64;
    let file = f.file_source();
    match k {
        0 => std_copy(f),
        1 if file => splicer::copy(f.src.raw(), f.dst.raw()),
        1 => splicer::copy_n(f.src.raw(), f.dst.raw(), n),
        2 => known(f),
        _ if file => kept.copy(f.src.raw(), f.dst.raw()),
        _ => kept.copy_n(f.src.raw(), f.dst.raw(), n),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);
    let iters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    println!("| pair | size | std::io::copy ns | splicer::copy ns | copy_known ns | kept Session ns | std / copy | std / copy_known | std / kept |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for pair in [Pair::FileFile, Pair::FileNull, Pair::FileTcp, Pair::TcpTcp, Pair::PipePipe] {
        for size in [4096usize, 65536] {
            let mut f = Fixture::new(pair, size)?;
            let mut kept = Session::new()?;
            kept.keep(f.src.raw(), FdKind::Unknown)?;
            kept.keep(f.dst.raw(), FdKind::Unknown)?;
            let mut ns = vec![Vec::with_capacity(rounds); NAMES.len()];
            for r in 0..=rounds {
                for i in 0..NAMES.len() {
                    let k = (i + r) % NAMES.len();
                    let n_iter = if r == 0 { iters / 10 + 1 } else { iters }; // round 0 warms up
                    let mut total = 0.0;
                    for _ in 0..n_iter {
                        f.before()?;
                        let t0 = Instant::now();
                        let moved = call(k, &f, &mut kept)?;
                        total += t0.elapsed().as_nanos() as f64;
                        if moved != size as u64 {
                            return Err(io::Error::other(format!(
                                "{} {}: moved {moved} of {size}",
                                pair.name(),
                                NAMES[k]
                            )));
                        }
                        f.after()?;
                    }
                    if r > 0 {
                        ns[k].push(total / n_iter as f64);
                    }
                }
            }
            let m: Vec<f64> = ns.iter_mut().map(|v| median(v)).collect();
            println!(
                "| {} | {} KiB | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}× | {:.2}× | {:.2}× |",
                pair.name(),
                size / 1024,
                m[0],
                m[1],
                m[2],
                m[3],
                m[0] / m[1],
                m[0] / m[2],
                m[0] / m[3]
            );
        }
    }
    Ok(())
}
