//! Throughput and CPU cost of splicer against `std::io::copy` and a plain
//! read/write loop, on the pairs users meet: file -> file, file -> TCP,
//! TCP -> TCP (a proxy), pipe -> pipe and file -> /dev/null.
//!
//! ```text
//! cargo run --release -p splicer-bench -- [--mib 256] [--reps 3] [--dir DIR] [--pair TEXT]
//! ```
//!
//! `--pair TEXT` runs only the pairs whose name contains TEXT.  On TCP -> TCP,
//! the one pair that goes through a pipe of the session's, splicer runs
//! twice: borrowing that pipe from the process-wide pool for each batch
//! (the default) and with a pipe of its own (`Builder::pool(false)`).
//!
//! Every measurement moves `--mib` MiB and the best of `--reps` runs (by
//! wall time) is kept.  CPU time is getrusage(RUSAGE_SELF), user + system,
//! of the whole process: the threads that feed a source (TCP, pipe) or
//! drain a destination run in every contender's measurement alike, so the
//! difference between two rows is the contenders' own cost.  The "chunk"
//! is SPLICER_OPT_CHUNK for splicer and the buffer size of the read/write
//! loop; `std::io::copy` chooses its own syscalls, so it has one row per
//! pair.  The benchmark's own pipes are 1 MiB (F_SETPIPE_SZ) for everyone.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

const CHUNKS: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];
/// What the feeder and drain threads use, whatever the contender.
const HELPER_BUF: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Pair {
    FileFile,
    FileTcp,
    TcpTcp,
    PipePipe,
    FileNull,
}

impl Pair {
    const ALL: [Pair; 5] = [Pair::FileFile, Pair::FileTcp, Pair::TcpTcp, Pair::PipePipe, Pair::FileNull];
    fn name(self) -> &'static str {
        match self {
            Pair::FileFile => "file -> file",
            Pair::FileTcp => "file -> TCP",
            Pair::TcpTcp => "TCP -> TCP (proxy)",
            Pair::PipePipe => "pipe -> pipe",
            Pair::FileNull => "file -> /dev/null",
        }
    }
}

#[derive(Clone, Copy)]
enum Contender {
    Splicer(usize),
    /// A session with pipes of its own instead of the pool's.
    SplicerOwnPipe(usize),
    StdCopy,
    ReadWrite(usize),
}

impl Contender {
    fn name(self) -> String {
        match self {
            Contender::Splicer(c) => format!("splicer Session, chunk {}", human(c)),
            Contender::SplicerOwnPipe(c) => format!("splicer, own pipe, chunk {}", human(c)),
            Contender::StdCopy => "std::io::copy".into(),
            Contender::ReadWrite(c) => format!("read/write loop, {} buffer", human(c)),
        }
    }
}

fn human(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// The transfer under test: `len` bytes from `src` to `dst`.
fn transfer<R, W>(who: Contender, src: &R, dst: &W, len: u64) -> io::Result<u64>
where
    for<'a> &'a R: Read,
    for<'a> &'a W: Write,
    R: std::os::fd::AsFd,
    W: std::os::fd::AsFd,
{
    match who {
        Contender::Splicer(chunk) => {
            let mut s = splicer::Session::builder().chunk(chunk).build()?;
            s.copy_n(src, dst, len)
        }
        Contender::SplicerOwnPipe(chunk) => {
            let mut s = splicer::Session::builder().chunk(chunk).pool(false).build()?;
            s.copy_n(src, dst, len)
        }
        Contender::StdCopy => io::copy(&mut Read::take(src, len), &mut { dst }),
        Contender::ReadWrite(size) => {
            let mut buf = vec![0u8; size];
            let (mut r, mut w, mut done) = (src, dst, 0u64);
            while done < len {
                let want = (len - done).min(size as u64) as usize;
                let n = r.read(&mut buf[..want])?;
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n])?;
                done += n as u64;
            }
            Ok(done)
        }
    }
}

fn feeder(mut w: impl Write + Send + 'static, len: u64) -> JoinHandle<io::Result<()>> {
    std::thread::spawn(move || {
        let buf = pattern(HELPER_BUF);
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            w.write_all(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    })
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<io::Result<u64>> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; HELPER_BUF];
        let mut total = 0u64;
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    })
}

fn pattern(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (s, _) = l.accept()?;
    Ok((c, s))
}

fn pipe() -> io::Result<(File, File)> {
    let (r, w): (OwnedFd, OwnedFd) = splicer::raw::pipe()?;
    splicer::raw::set_pipe_size(&w, 1 << 20)?;
    Ok((File::from(r), File::from(w)))
}

fn other<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

/// One run: (wall seconds, CPU seconds).
fn run_once(pair: Pair, who: Contender, src_file: &Path, dir: &Path, len: u64) -> io::Result<(f64, f64)> {
    let dst_path = dir.join("dst");
    // Set-up that is not measured: fds and connections.
    let (t0, c0);
    let moved = match pair {
        Pair::FileFile | Pair::FileNull => {
            let src = File::open(src_file)?;
            let dst = if pair == Pair::FileFile {
                let _ = std::fs::remove_file(&dst_path);
                OpenOptions::new().write(true).create(true).truncate(true).open(&dst_path)?
            } else {
                OpenOptions::new().write(true).open("/dev/null")?
            };
            (t0, c0) = (Instant::now(), cpu_seconds());
            let n = transfer(who, &src, &dst, len)?;
            // Out of the page cache's hands is not the point: the bytes
            // are in the destination file when the call returns.
            n
        }
        Pair::FileTcp => {
            let src = File::open(src_file)?;
            let (c, s) = tcp_pair()?;
            (t0, c0) = (Instant::now(), cpu_seconds());
            let d = drain(s);
            let n = transfer(who, &src, &c, len)?;
            drop(c);
            d.join().map_err(other)??;
            n
        }
        Pair::TcpTcp => {
            let (a_in, a_out) = tcp_pair()?;
            let (b_in, b_out) = tcp_pair()?;
            (t0, c0) = (Instant::now(), cpu_seconds());
            let f = feeder(a_in, len);
            let d = drain(b_out);
            let n = transfer(who, &a_out, &b_in, len)?;
            drop(b_in);
            f.join().map_err(other)??;
            d.join().map_err(other)??;
            n
        }
        Pair::PipePipe => {
            let (a_r, a_w) = pipe()?;
            let (b_r, b_w) = pipe()?;
            (t0, c0) = (Instant::now(), cpu_seconds());
            let f = feeder(a_w, len);
            let d = drain(b_r);
            let n = transfer(who, &a_r, &b_w, len)?;
            drop(b_w);
            f.join().map_err(other)??;
            d.join().map_err(other)??;
            n
        }
    };
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    if moved != len {
        return Err(other(format!("{}: {} moved {moved} of {len} bytes", pair.name(), who.name())));
    }
    Ok((wall, cpu))
}

struct Row {
    pair: Pair,
    who: Contender,
    gbps: f64,
    gb_per_cpu: f64,
}

fn main() -> io::Result<()> {
    let mut mib = 256u64;
    let mut reps = 3;
    let mut dir = std::env::temp_dir();
    let mut only = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| other(format!("{a} needs a value")));
        match a.as_str() {
            "--mib" => mib = val()?.parse().map_err(other)?,
            "--reps" => reps = val()?.parse().map_err(other)?,
            "--dir" => dir = PathBuf::from(val()?),
            "--pair" => only = val()?,
            _ => {
                eprintln!("usage: splicer-bench [--mib N] [--reps N] [--dir DIR] [--pair TEXT]");
                std::process::exit(2);
            }
        }
    }
    let len = mib << 20;
    let dir = dir.join(format!("splicer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let src_file = dir.join("src");
    {
        let block = pattern(1 << 20);
        let mut f = File::create(&src_file)?;
        for _ in 0..mib {
            f.write_all(&block)?;
        }
        f.sync_all()?;
    }
    // Warm the page cache: every contender reads a cached file.
    io::copy(&mut File::open(&src_file)?, &mut OpenOptions::new().write(true).open("/dev/null")?)?;

    let mut rows = Vec::new();
    for pair in Pair::ALL.into_iter().filter(|p| p.name().contains(&only)) {
        let mut who = vec![Contender::StdCopy];
        for c in CHUNKS {
            who.push(Contender::Splicer(c));
            if pair == Pair::TcpTcp {
                who.push(Contender::SplicerOwnPipe(c));
            }
            who.push(Contender::ReadWrite(c));
        }
        for w in who {
            let mut best = (f64::MAX, 0.0);
            for _ in 0..reps {
                let r = run_once(pair, w, &src_file, &dir, len)?;
                if r.0 < best.0 {
                    best = r;
                }
            }
            let gb = len as f64 / 1e9;
            let row = Row { pair, who: w, gbps: gb / best.0, gb_per_cpu: gb / best.1.max(1e-6) };
            eprintln!("{:<20} {:<34} {:>7.2} GB/s {:>7.2} GB/CPU-s", pair.name(), w.name(), row.gbps, row.gb_per_cpu);
            rows.push(row);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!("| pair | contender | GB/s | GB per CPU-s | GB/s vs std::io::copy |");
    println!("|---|---|---:|---:|---:|");
    for r in &rows {
        let std_row = rows.iter().find(|x| x.pair == r.pair && matches!(x.who, Contender::StdCopy)).unwrap();
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2}x |",
            r.pair.name(),
            r.who.name(),
            r.gbps,
            r.gb_per_cpu,
            r.gbps / std_row.gbps
        );
    }
    Ok(())
}
