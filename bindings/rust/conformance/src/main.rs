//! The Rust conformance runner: every case of tests/cases through the safe
//! `splicer` API (its `raw` module for the raw-wrapper ops), printing the
//! line format of tests/README.md §1.
//!
//! Where the safe API cannot express an argument at all — a negative offset
//! other than "current position", which `Option<u64>` rules out — the step
//! goes through `splicer::sys`, the C binding, so that the case still runs.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use splicer::pool::{self, PoolOpt, PoolStats};
use splicer::{raw, Method, Opt, Session};

fn pattern_byte(seed: u32, i: u64) -> u8 {
    let mut x = seed.wrapping_add((i as u32).wrapping_mul(2654435761));
    x ^= x >> 16;
    ((x ^ (x >> 8)) & 0xff) as u8
}

fn data_of(spec: &Value) -> Vec<u8> {
    let size = spec["size"].as_u64().unwrap_or(0) as usize;
    if spec["zero"].as_bool() == Some(true) {
        return vec![0; size];
    }
    let seed = spec["seed"].as_u64().unwrap_or(1) as u32;
    let off = spec["offset"].as_u64().unwrap_or(0);
    (0..size as u64).map(|i| pattern_byte(seed, off + i)).collect()
}

fn fnv(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &c in b {
        h = (h ^ c as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn errno_of(e: &std::io::Error) -> i64 {
    -(splicer::errno(e).unwrap_or(libc::EIO) as i64)
}

fn res<T: TryInto<i64>>(r: std::io::Result<T>) -> i64 {
    match r {
        Ok(v) => v.try_into().unwrap_or(i64::MAX),
        Err(e) => errno_of(&e),
    }
}

fn errname(n: i64) -> String {
    let e = std::io::Error::from_raw_os_error((-n) as i32);
    splicer::errname(&e).unwrap_or("EUNKNOWN").to_string()
}

fn show(n: i64) -> String {
    if n < 0 {
        errname(n)
    } else {
        n.to_string()
    }
}

/// Does result `got` meet `exp` (an integer, an error name, a range)?
fn meets(exp: &Value, got: i64) -> bool {
    match exp {
        Value::Number(n) => n.as_i64() == Some(got),
        Value::String(s) => got < 0 && errname(got) == *s,
        Value::Object(o) => {
            got >= 0
                && o.get("min").and_then(Value::as_i64).is_none_or(|m| got >= m)
                && o.get("max").and_then(Value::as_i64).is_none_or(|m| got <= m)
        }
        _ => false,
    }
}

fn num_meets(exp: &Value, got: u64) -> bool {
    match exp {
        Value::Number(n) => n.as_u64() == Some(got),
        Value::Object(o) => {
            o.get("min").and_then(Value::as_u64).is_none_or(|m| got >= m)
                && o.get("max").and_then(Value::as_u64).is_none_or(|m| got <= m)
        }
        _ => false,
    }
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

struct Fixture {
    name: String,
    kind: String,
    fd: Option<OwnedFd>,
    /// A number that is never an open fd, for the `invalid` kind: the safe
    /// API takes only open-fd types, so "not an fd" is an fd not open.
    borrowed: Option<RawFd>,
    path: Option<PathBuf>,
    mount: Option<PathBuf>,
}

impl Fixture {
    fn fd(&self) -> BorrowedFd<'_> {
        match &self.fd {
            Some(f) => f.as_fd(),
            // SAFETY: a number far above any open fd; the calls only ask
            // the kernel about it and get EBADF.
            None => unsafe { BorrowedFd::borrow_raw(self.borrowed.unwrap_or(1 << 29)) },
        }
    }
}

/// The fixture's fd as tests/README.md §4 gives it: -1 for `invalid`.
fn raw_fd(f: &Fixture) -> RawFd {
    if f.kind == "invalid" {
        -1
    } else {
        f.fd().as_raw_fd()
    }
}

impl AsFd for Fixture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

struct Peers {
    peer: HashMap<String, OwnedFd>,
    arrived: HashMap<String, Vec<u8>>,
    readers: HashMap<String, JoinHandle<Vec<u8>>>,
    /// Datagram fixtures: their peer receives whole datagrams.
    dgram: HashSet<String>,
    /// The largest datagram each datagram peer received.
    max_datagram: HashMap<String, usize>,
}

fn cvt(r: libc::c_int) -> std::io::Result<libc::c_int> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_nonblock(fd: RawFd) {
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn spawn_reader(peer: OwnedFd, r: &Value) -> JoinHandle<Vec<u8>> {
    let reads: Vec<usize> =
        r["reads"].as_array().map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect()).unwrap_or(vec![65536]);
    let pause = r["pause_ms"].as_u64().unwrap_or(0);
    std::thread::spawn(move || {
        let mut f = File::from(peer);
        let mut got = Vec::new();
        let mut k = 0;
        loop {
            if pause > 0 {
                std::thread::sleep(Duration::from_millis(pause));
            }
            let mut buf = vec![0u8; reads[k % reads.len()]];
            k += 1;
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    })
}

/// Opens `p` with the fixture's `mode`, `append` and `pos`.
fn open_file(fx: &Value, p: &Path) -> std::io::Result<OwnedFd> {
    let mut o = std::fs::OpenOptions::new();
    match fx["mode"].as_str().unwrap_or("rw") {
        "r" => o.read(true),
        "w" => o.write(true),
        _ => o.read(true).write(true),
    };
    if fx["append"].as_bool() == Some(true) {
        o.append(true);
    }
    let file = o.open(p)?;
    unsafe { libc::lseek(file.as_raw_fd(), fx["pos"].as_i64().unwrap_or(0), libc::SEEK_SET) };
    Ok(file.into())
}

/// `sndbuf` on the fixture's socket, `rcvbuf` on its peer.
fn set_bufs(fx: &Value, mine: &OwnedFd, peer: &OwnedFd) {
    let setopt = |fd: RawFd, opt, v: i64| unsafe {
        let v = v as libc::c_int;
        libc::setsockopt(fd, libc::SOL_SOCKET, opt, &v as *const _ as *const libc::c_void, 4);
    };
    if let Some(v) = fx["sndbuf"].as_i64() {
        setopt(mine.as_raw_fd(), libc::SO_SNDBUF, v);
    }
    if let Some(v) = fx["rcvbuf"].as_i64() {
        setopt(peer.as_raw_fd(), libc::SO_RCVBUF, v);
    }
}

/// Bytes readable at `fd` now (FIONREAD).
fn queued(fd: i32) -> Option<usize> {
    let mut n: libc::c_int = 0;
    (unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } >= 0).then_some(n as usize)
}

/// Over loopback a segment can be late (a dropped one waits for a 200 ms
/// retransmission on a loaded machine): wait, up to 5 s, until the bytes the
/// peer wrote are readable at the fixture's fd (tests/README.md section 4).
fn wait_tcp_bytes(fd: i32, before: usize, n: usize) {
    for _ in 0..500 {
        match queued(fd) {
            Some(q) if q < before + n => std::thread::sleep(std::time::Duration::from_millis(10)),
            _ => return,
        }
    }
}

/// ... and after the peer's shutdown, until its FIN has arrived.
fn wait_tcp_fin(fd: i32) {
    const TCP_CLOSE_WAIT: u8 = 8; // include/net/tcp_states.h
    for _ in 0..500 {
        let mut ti: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut ti as *mut _ as *mut libc::c_void, &mut len)
        };
        if r < 0 || ti.tcpi_state == TCP_CLOSE_WAIT {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn setup(fx: &Value, dir: &Path, peers: &mut Peers) -> Result<Fixture, Outcome> {
    let name = fx["name"].as_str().unwrap().to_string();
    let kind = fx["kind"].as_str().unwrap().to_string();
    let fail = |m: String| Outcome::Fail(format!("setup {name}: {m}"));
    let mut f = Fixture { name: name.clone(), kind: kind.clone(), fd: None, borrowed: None, path: None, mount: None };
    let mut peer: Option<OwnedFd> = None;
    match kind.as_str() {
        "file" if fx.get("same_as").is_some() => {
            // another fd of an earlier file fixture's file
            let other = fx["same_as"].as_str().unwrap_or("");
            let p = SAME_AS
                .with(|m| m.borrow().get(other).cloned())
                .ok_or_else(|| fail(format!("same_as {other} is not an earlier file fixture")))?;
            f.fd = Some(open_file(fx, &p).map_err(|e| fail(e.to_string()))?);
            f.path = Some(p);
        }
        "file" => {
            let mut d = dir.to_path_buf();
            if let Some(t) = fx.get("tmpfs") {
                let m = dir.join(format!("tmpfs-{name}"));
                std::fs::create_dir_all(&m).map_err(|e| fail(e.to_string()))?;
                let ok = std::process::Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={}", t["size"]), "tmpfs"])
                    .arg(&m)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !ok {
                    return Err(Outcome::Skip("cannot mount tmpfs".into()));
                }
                f.mount = Some(m.clone());
                d = m;
            }
            let p = d.join(format!("file-{name}"));
            std::fs::write(&p, fx.get("data").map(data_of).unwrap_or_default()).map_err(|e| fail(e.to_string()))?;
            f.fd = Some(open_file(fx, &p).map_err(|e| fail(e.to_string()))?);
            SAME_AS.with(|m| m.borrow_mut().insert(name.clone(), p.clone()));
            f.path = Some(p);
        }
        "memfd" => {
            let fd = cvt(unsafe { libc::memfd_create(c"splicer-conformance".as_ptr(), libc::MFD_CLOEXEC) })
                .map_err(|e| fail(e.to_string()))?;
            let mut file = unsafe { File::from_raw_fd(fd) };
            file.write_all(&fx.get("data").map(data_of).unwrap_or_default()).map_err(|e| fail(e.to_string()))?;
            unsafe { libc::lseek(fd, fx["pos"].as_i64().unwrap_or(0), libc::SEEK_SET) };
            f.fd = Some(file.into());
        }
        "pipe" => {
            let (r, w) = raw::pipe().map_err(|e| fail(e.to_string()))?;
            let (mine, other) = if fx["end"] == "r" { (r, w) } else { (w, r) };
            if let Some(c) = fx["capacity"].as_u64() {
                raw::set_pipe_size(&mine, c as usize).map_err(|e| fail(e.to_string()))?;
            }
            f.fd = Some(mine);
            peer = Some(other);
        }
        "socketpair" | "tcp" => {
            let (a, b): (OwnedFd, OwnedFd) = if kind == "tcp" {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
                let c = std::net::TcpStream::connect(l.local_addr().unwrap()).map_err(|e| fail(e.to_string()))?;
                let (s, _) = l.accept().map_err(|e| fail(e.to_string()))?;
                (c.into(), s.into())
            } else {
                let (a, b) = std::os::unix::net::UnixStream::pair().map_err(|e| fail(e.to_string()))?;
                (a.into(), b.into())
            };
            set_bufs(fx, &a, &b);
            f.fd = Some(a);
            peer = Some(b);
        }
        "udp_pair" | "unix_dgram_pair" => {
            let (a, b): (OwnedFd, OwnedFd) = if kind == "udp_pair" {
                let a = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
                let b = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
                a.connect(b.local_addr().unwrap()).map_err(|e| fail(e.to_string()))?;
                b.connect(a.local_addr().unwrap()).map_err(|e| fail(e.to_string()))?;
                (a.into(), b.into())
            } else {
                let (a, b) = std::os::unix::net::UnixDatagram::pair().map_err(|e| fail(e.to_string()))?;
                (a.into(), b.into())
            };
            set_bufs(fx, &a, &b);
            f.fd = Some(a);
            // datagrams are sent by steps (send_datagram): no data, eof,
            // reader for these kinds
            peers.peer.insert(name.clone(), b);
            peers.dgram.insert(name.clone());
        }
        "dev_null" => f.fd = Some(std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").unwrap().into()),
        "dev_zero" => f.fd = Some(File::open("/dev/zero").unwrap().into()),
        "proc_file" => f.fd = Some(File::open(fx["path"].as_str().unwrap()).map_err(|e| fail(e.to_string()))?.into()),
        "invalid" => {}
        k => return Err(Outcome::Fail(format!("unsupported fixture kind {k}"))),
    }
    let tcp_fd = if kind == "tcp" { f.fd.as_ref().map(|x| x.as_raw_fd()) } else { None };
    if let Some(p) = peer {
        let mut pf = File::from(p);
        if let Some(d) = fx.get("data") {
            let d = data_of(d);
            pf.write_all(&d).map_err(|e| fail(e.to_string()))?;
            if let Some(fd) = tcp_fd {
                wait_tcp_bytes(fd, 0, d.len());
            }
        }
        let p: OwnedFd = pf.into();
        if fx["peer_closed"].as_bool() == Some(true) {
            drop(p);
        } else if fx["eof"].as_bool() == Some(true) {
            if kind == "pipe" {
                drop(p);
            } else {
                unsafe { libc::shutdown(p.as_raw_fd(), libc::SHUT_WR) };
                if let Some(fd) = tcp_fd {
                    wait_tcp_fin(fd);
                }
                peers.peer.insert(name.clone(), p);
            }
        } else if let Some(r) = fx.get("reader") {
            peers.readers.insert(name.clone(), spawn_reader(p, r));
        } else {
            peers.peer.insert(name.clone(), p);
        }
    }
    if fx["nonblock"].as_bool() == Some(true) {
        if let Some(fd) = &f.fd {
            set_nonblock(fd.as_raw_fd());
        }
    }
    Ok(f)
}

fn option(v: &Value) -> Opt {
    match v.as_str() {
        Some("PIPE_SIZE") => Opt::PIPE_SIZE,
        Some("CHUNK") => Opt::CHUNK,
        Some("NONBLOCK") => Opt::NONBLOCK,
        Some("FALLBACK") => Opt::FALLBACK,
        Some("METHODS") => Opt::METHODS,
        Some("SIGPIPE") => Opt::SIGPIPE,
        Some("POOL") => Opt::POOL,
        Some("LAZY_FILES") => Opt::LAZY_FILES,
        _ => Opt(v.as_i64().unwrap_or(-1) as i32),
    }
}

fn pool_option(v: &Value) -> Result<PoolOpt, String> {
    match v.as_str() {
        Some("MAX_PIPES") => Ok(PoolOpt::MAX_PIPES),
        Some("MAX_IDLE") => Ok(PoolOpt::MAX_IDLE),
        Some("PIPE_SIZE") => Ok(PoolOpt::PIPE_SIZE),
        _ => v.as_i64().map(|n| PoolOpt(n as i32)).ok_or_else(|| format!("bad pool option {v}")),
    }
}

/// pool_set through the typed setters where the value is one they take,
/// else through the option-keyed one (a negative value, an unknown option).
fn pool_set(opt: PoolOpt, v: i64) -> std::io::Result<()> {
    match usize::try_from(v) {
        Ok(n) if opt == PoolOpt::MAX_PIPES => pool::set_max_pipes(n),
        Ok(n) if opt == PoolOpt::MAX_IDLE => pool::set_max_idle(n),
        Ok(n) if opt == PoolOpt::PIPE_SIZE => pool::set_pipe_size(n),
        _ => pool::set(opt, v),
    }
}

fn mask(v: &Value) -> i64 {
    match v {
        Value::Array(a) => {
            a.iter().filter_map(|m| Method::from_name(m.as_str()?)).fold(0, |acc, m| acc | (1i64 << m.to_raw()))
        }
        _ => v.as_i64().unwrap_or(0),
    }
}

/// An offset: Ok(None) current position, Ok(Some) an offset, Err(n) a
/// negative number the safe API cannot take.
fn offset(v: &Value) -> Result<Option<u64>, i64> {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|x| x >= 0) => Ok(Some(n.as_u64().unwrap())),
        Value::Number(n) if n.as_i64() == Some(-1) => Ok(None),
        Value::Number(n) => Err(n.as_i64().unwrap()),
        _ => Ok(None),
    }
}

fn raw_off(o: Result<Option<u64>, i64>) -> i64 {
    match o {
        Ok(Some(x)) => x as i64,
        Ok(None) => -1,
        Err(n) => n,
    }
}

fn len(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

fn flags(v: &Value) -> raw::SpliceFlags {
    let mut f = raw::SpliceFlags::empty();
    for x in v.as_array().into_iter().flatten() {
        f |= match x.as_str() {
            Some("MOVE") => raw::SpliceFlags::MOVE,
            Some("NONBLOCK") => raw::SpliceFlags::NONBLOCK,
            Some("MORE") => raw::SpliceFlags::MORE,
            Some("GIFT") => raw::SpliceFlags::GIFT,
            _ => raw::SpliceFlags::empty(),
        };
    }
    f
}

/// One whole datagram the peer can receive within `timeout_ms`: Some(n)
/// (0 for a zero-length datagram), None when nothing came.
fn recv_datagram(peers: &mut Peers, name: &str, timeout_ms: i32) -> Option<usize> {
    let p = peers.peer.get(name)?;
    let mut pf = libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    if unsafe { libc::poll(&mut pf, 1, timeout_ms) } <= 0 {
        return None;
    }
    let mut buf = vec![0u8; 65536];
    let n = unsafe { libc::recv(p.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    let n = n as usize;
    let m = peers.max_datagram.entry(name.to_string()).or_default();
    *m = (*m).max(n);
    peers.arrived.entry(name.to_string()).or_default().extend_from_slice(&buf[..n]);
    Some(n)
}

/// Whole datagrams the peer can receive now, whatever `max` says (a shorter
/// read would cut one): all of them, or the first with `once`.
fn drain_datagrams(peers: &mut Peers, name: &str, once: bool) -> i64 {
    let mut total = 0;
    while let Some(n) = recv_datagram(peers, name, 0) {
        total += n as i64;
        if once {
            break;
        }
    }
    total
}

fn drain_peer(peers: &mut Peers, name: &str, max: usize) -> i64 {
    if peers.dgram.contains(name) {
        return drain_datagrams(peers, name, false);
    }
    let Some(p) = peers.peer.get(name) else { return -(libc::EBADF as i64) };
    let mut buf = vec![0u8; max.min(1 << 24)];
    let mut total = 0;
    while total < buf.len() {
        let n = unsafe {
            libc::recv(p.as_raw_fd(), buf[total..].as_mut_ptr().cast(), buf.len() - total, libc::MSG_DONTWAIT)
        };
        let n = if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
            // a pipe: read without blocking
            set_nonblock(p.as_raw_fd());
            unsafe { libc::read(p.as_raw_fd(), buf[total..].as_mut_ptr().cast(), buf.len() - total) }
        } else {
            n
        };
        if n <= 0 {
            break;
        }
        total += n as usize;
    }
    peers.arrived.entry(name.to_string()).or_default().extend_from_slice(&buf[..total]);
    total as i64
}

fn run_case(case: &Value, dir: &Path) -> Outcome {
    if let Some(r) = case["skip"].as_str() {
        return Outcome::Skip(r.into());
    }
    // every case starts from the pool as the runner found it (§5.4)
    POOL_DEFAULTS.with(|d| {
        for &(opt, v) in d.borrow().iter() {
            let _ = pool::set(opt, v);
        }
    });
    pool::trim();
    POOL_START.with(|p| p.set(pool::stats()));
    SAME_AS.with(|m| m.borrow_mut().clear());
    let mut peers = Peers {
        peer: HashMap::new(),
        arrived: HashMap::new(),
        readers: HashMap::new(),
        dgram: HashSet::new(),
        max_datagram: HashMap::new(),
    };
    let mut fixtures = Vec::new();
    for fx in case["fixtures"].as_array().unwrap() {
        match setup(fx, dir, &mut peers) {
            Ok(f) => fixtures.push(f),
            Err(o) => {
                let paths = cleanup_list(&fixtures);
                drop(fixtures);
                cleanup(paths);
                return o;
            }
        }
    }
    FDS.with(|m| {
        for f in &fixtures {
            if let Some(fd) = &f.fd {
                m.borrow_mut().insert(fd.as_raw_fd(), f.name.clone());
            }
        }
    });
    // Buffers given to raw_vmsplice stay untouched until the case ends.
    let vm_bufs: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
    let result = {
        let byname = |n: &Value| fixtures.iter().find(|f| Some(f.name.as_str()) == n.as_str());
        let mut sessions = Sessions { list: vec![("main".into(), Session::new().unwrap())], current: 0 };
        let mut r = Outcome::Pass;
        for (i, st) in case["steps"].as_array().unwrap().iter().enumerate() {
            let op = st["op"].as_str().unwrap_or("");
            if let Err(m) = step(op, st, &mut sessions, &byname, &mut peers, &vm_bufs) {
                r = Outcome::Fail(format!("step {i} {op}: {m}"));
                break;
            }
        }
        // main first, then the others in the order they were made
        for (_, s) in sessions.list.drain(..) {
            drop(s);
        }
        r
    };
    let mut outcome = result;
    // file contents, then close everything so readers see EOF
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    for f in &fixtures {
        if f.kind == "file" || f.kind == "memfd" {
            let mut v = Vec::new();
            if let Some(p) = &f.path {
                v = std::fs::read(p).unwrap_or_default();
            } else if let Some(fd) = &f.fd {
                let mut buf = vec![0u8; 1 << 16];
                let mut off = 0;
                loop {
                    let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), off) };
                    if n <= 0 {
                        break;
                    }
                    v.extend_from_slice(&buf[..n as usize]);
                    off += n as i64;
                }
            }
            contents.insert(f.name.clone(), v);
        }
    }
    let names: Vec<(String, String)> = fixtures.iter().map(|f| (f.name.clone(), f.kind.clone())).collect();
    // close the fixtures' fds before unlinking and unmounting
    let paths = cleanup_list(&fixtures);
    drop(fixtures);
    cleanup(paths);
    for name in peers.dgram.clone() {
        // no end of file: until nothing arrives for 50 ms
        while recv_datagram(&mut peers, &name, 50).is_some() {}
        peers.peer.remove(&name);
    }
    for (name, p) in std::mem::take(&mut peers.peer) {
        let mut v = Vec::new();
        let mut f = File::from(p);
        unsafe {
            let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
        let _ = f.read_to_end(&mut v);
        peers.arrived.entry(name).or_default().extend_from_slice(&v);
    }
    for (name, h) in std::mem::take(&mut peers.readers) {
        let v = h.join().unwrap_or_default();
        peers.arrived.entry(name).or_default().extend_from_slice(&v);
    }
    drop(vm_bufs);
    if let Outcome::Pass = outcome {
        for a in case["arrived"].as_array().into_iter().flatten() {
            let n = a["fixture"].as_str().unwrap();
            let kind = names.iter().find(|x| x.0 == n).map(|x| x.1.as_str()).unwrap_or("");
            let got = if kind == "file" || kind == "memfd" {
                contents.remove(n).unwrap_or_default()
            } else {
                peers.arrived.remove(n).unwrap_or_default()
            };
            let (size, hash) = (a["size"].as_u64().unwrap(), a["hash"].as_str().unwrap());
            if let Some(max) = a["max_datagram"].as_u64() {
                let largest = peers.max_datagram.get(n).copied().unwrap_or(0) as u64;
                if largest > max {
                    outcome = Outcome::Fail(format!("arrived {n}: a datagram of {largest} bytes, more than {max}"));
                    break;
                }
            }
            if got.len() as u64 != size || fnv(&got) != hash {
                outcome = Outcome::Fail(format!("arrived {n}: want {size} {hash}, got {} {}", got.len(), fnv(&got)));
                break;
            }
        }
    }
    outcome
}

/// The files and mounts to remove once the fixtures' fds are closed.
fn cleanup_list(fixtures: &[Fixture]) -> Vec<(Option<PathBuf>, Option<PathBuf>)> {
    fixtures.iter().map(|f| (f.path.clone(), f.mount.clone())).collect()
}

fn cleanup(list: Vec<(Option<PathBuf>, Option<PathBuf>)>) {
    for (path, mount) in list {
        if let Some(p) = path {
            // a same_as fixture names its file again: the second is a no-op
            let _ = std::fs::remove_file(p);
        }
        if let Some(m) = mount {
            let _ = std::process::Command::new("umount").arg(&m).status();
            let _ = std::fs::remove_dir(&m);
        }
    }
}

/// The case's sessions by name, `main` first, in the order they were made.
struct Sessions<'f> {
    list: Vec<(String, Session<'f>)>,
    current: usize,
}

fn step<'f>(
    op: &str,
    st: &Value,
    sessions: &mut Sessions<'f>,
    byname: &dyn Fn(&Value) -> Option<&'f Fixture>,
    peers: &mut Peers,
    vm_bufs: &RefCell<Vec<Vec<u8>>>,
) -> Result<(), String> {
    let fx = |k: &str| byname(&st[k]).ok_or_else(|| format!("no fixture {}", st[k]));
    let exp = st.get("expect");
    let check = |got: i64| -> Result<(), String> {
        match exp {
            Some(e) if !meets(e, got) => Err(format!("expected {e}, got {}", show(got))),
            _ => Ok(()),
        }
    };
    if op == "use_session" {
        let name = st["name"].as_str().ok_or("name is required")?;
        match sessions.list.iter().position(|(n, _)| n == name) {
            Some(i) => sessions.current = i,
            None => {
                let s = Session::new().map_err(|e| format!("Session::new: {e}"))?;
                sessions.list.push((name.to_string(), s));
                sessions.current = sessions.list.len() - 1;
            }
        }
        return check(0);
    }
    let s = &mut sessions.list[sessions.current].1;
    match op {
        "set" => {
            let o = option(&st["option"]);
            let v = if o == Opt::METHODS { mask(&st["value"]) } else { st["value"].as_i64().unwrap_or(0) };
            check(res(s.set(o, v).map(|_| 0)))
        }
        "get" => {
            let o = option(&st["option"]);
            let got = res(s.get(o));
            match exp {
                Some(e @ Value::Array(_)) => {
                    if got == mask(e) {
                        Ok(())
                    } else {
                        Err(format!("expected {e}, got {}", show(got)))
                    }
                }
                _ => check(got),
            }
        }
        "open" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            let (oi, oo) = (offset(&st["off_in"]), offset(&st["off_out"]));
            let r = match (oi, oo) {
                (Ok(a), Ok(b)) => res(s.open_range(src, a, dst, b, len(&st["len"])).map(|_| 0)),
                // not expressible in the safe API: the C binding
                (a, b) => unsafe {
                    splicer::sys::splicer_open(
                        s.as_ptr(),
                        src.fd().as_raw_fd(),
                        raw_off(a),
                        dst.fd().as_raw_fd(),
                        raw_off(b),
                        len(&st["len"]),
                    ) as i64
                },
            };
            check(r)
        }
        "open_tee" => {
            let src = fx("src")?;
            let mut d = Vec::new();
            for n in st["dsts"].as_array().into_iter().flatten() {
                d.push(byname(n).ok_or("no fixture")?);
            }
            let r = match offset(&st["off_in"]) {
                Ok(o) => res(s.open_tee_range(src, o, &d, len(&st["len"])).map(|_| 0)),
                // an offset < -1 is not expressible in the safe API: the C binding
                Err(o) => unsafe {
                    let fds: Vec<i32> = d.iter().map(|f| f.fd().as_raw_fd()).collect();
                    splicer::sys::splicer_open_tee(
                        s.as_ptr(),
                        src.fd().as_raw_fd(),
                        o,
                        fds.as_ptr(),
                        fds.len(),
                        len(&st["len"]),
                    ) as i64
                },
            };
            check(r)
        }
        "open_buf" => {
            let dst = fx("dst")?;
            let mut b = match splicer::Buf::new(st["size"].as_u64().unwrap_or(0) as usize) {
                Ok(b) => b,
                Err(e) => return check(errno_of(&e)),
            };
            if let Some(d) = st.get("data") {
                let d = data_of(d);
                let n = d.len().min(b.len());
                b[..n].copy_from_slice(&d[..n]);
            }
            let l = st["len"].as_u64().unwrap_or(b.len() as u64) as usize;
            check(res(s.open_buf(b, l, dst).map(|_| 0).map_err(|e| e.error)))
        }
        // the buffer moved into the session: a write to it cannot be written
        "sealed_write" => Ok(()),
        "step" => check(res(s.step())),
        "run" => check(res(s.run())),
        "copy" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            // splicer_copy is open + run; the blocking Session::copy would
            // also poll through EAGAIN, which a case may expect to see.
            let r = match s.open_n(src, dst, len(&st["len"])) {
                Ok(()) => res(s.run()),
                Err(e) => errno_of(&e),
            };
            check(r)
        }
        "abort" => check(s.abort() as i64),
        "wait" => {
            let w = s.wait();
            match (exp, w) {
                (Some(Value::String(e)), Err(err)) if splicer::errname(&err) == Some(e) => Ok(()),
                (Some(Value::Object(o)), Ok(w)) => {
                    let f = byname(&o["fd"]).ok_or("no fixture")?;
                    let ev = if w.interest == splicer::Interest::Readable { "POLLIN" } else { "POLLOUT" };
                    if f.fd().as_raw_fd() == w.fd && o["events"] == ev {
                        Ok(())
                    } else {
                        Err(format!("expected {}, got fd {} {ev}", Value::Object(o.clone()), w.fd))
                    }
                }
                (None, _) => Ok(()),
                (Some(e), w) => Err(format!("expected {e}, got {w:?}")),
            }
        }
        "progress" => {
            let p = s.progress();
            let e = exp.and_then(Value::as_object).ok_or("expect")?;
            for (k, v) in e {
                let ok = match k.as_str() {
                    "consumed" => num_meets(v, p.consumed),
                    "delivered" => num_meets(v, p.delivered),
                    "pending" => num_meets(v, p.pending),
                    "method" => v.as_str() == Some(p.method.name()),
                    "finished" => v.as_bool() == Some(p.finished),
                    _ => false,
                };
                if !ok {
                    return Err(format!("{k}: expected {v}, got {p:?}"));
                }
            }
            Ok(())
        }
        "stats" => {
            let t = s.stats();
            let e = exp.and_then(Value::as_object).ok_or("expect")?;
            for (k, v) in e {
                let ok = match k.as_str() {
                    "bytes" => num_meets(v, t.bytes),
                    "syscalls" => num_meets(v, t.syscalls),
                    "fallbacks" => num_meets(v, t.fallbacks),
                    "eagain" => num_meets(v, t.eagain),
                    "pool_misses" => num_meets(v, t.pool_misses),
                    "pool_spills" => num_meets(v, t.pool_spills),
                    "by_method" => v
                        .as_object()
                        .unwrap()
                        .iter()
                        .all(|(m, n)| Method::from_name(m).is_some_and(|m| num_meets(n, t.bytes_by(m)))),
                    _ => false,
                };
                if !ok {
                    return Err(format!("{k}: expected {v}, got {t:?}"));
                }
            }
            Ok(())
        }
        "method_for" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            let got = match splicer::method_for(src.fd(), dst.fd()) {
                Ok(m) => m.name().to_string(),
                Err(e) => splicer::errname(&e).unwrap_or("?").to_string(),
            };
            match exp {
                Some(Value::String(e)) if *e != got => Err(format!("expected {e}, got {got}")),
                _ => Ok(()),
            }
        }
        "pump" => {
            let reads: Vec<usize> = st["reads"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect())
                .unwrap_or(vec![65536]);
            let (mut total, mut eagains, mut k) = (0i64, 0u64, 0usize);
            let mut result = None;
            for _ in 0..100_000 {
                match s.step() {
                    Ok(0) => {
                        result = Some(total);
                        break;
                    }
                    Ok(n) => total += n as i64,
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                        eagains += 1;
                        let w = s.wait().map_err(|e| format!("pump: wait: {e}"))?;
                        let f = byname_fd(byname, st, w.fd, peers);
                        match (w.interest, f) {
                            (splicer::Interest::Writable, Some(name)) => {
                                let got = if peers.dgram.contains(&name) {
                                    drain_datagrams(peers, &name, true)
                                } else {
                                    drain_peer(peers, &name, reads[k % reads.len()])
                                };
                                k += 1;
                                if got == 0 {
                                    // a stack that moves data on a timer
                                    // (TCP acks) catches up
                                    let p = peers.peer[&name].as_raw_fd();
                                    let mut pf = libc::pollfd { fd: p, events: libc::POLLIN, revents: 0 };
                                    unsafe { libc::poll(&mut pf, 1, 10) };
                                }
                            }
                            _ => return Err("pump: source not readable".into()),
                        }
                    }
                    Err(e) => {
                        result = Some(errno_of(&e));
                        break;
                    }
                }
            }
            let r = result.ok_or("pump: 100000 steps")?;
            check(r)?;
            match st.get("eagain") {
                Some(v) if !num_meets(v, eagains) => Err(format!("eagain: expected {v}, got {eagains}")),
                _ => Ok(()),
            }
        }
        "drain" => {
            let f = fx("fixture")?;
            let max = st["max"].as_u64().unwrap_or(1 << 24) as usize;
            check(drain_peer(peers, &f.name, max))
        }
        "write_peer" => {
            let f = fx("fixture")?;
            let d = data_of(&st["data"]);
            let p = peers.peer.get(&f.name).ok_or("no peer")?;
            let tcp = (f.kind == "tcp").then(|| f.fd().as_raw_fd());
            let before = tcp.and_then(queued);
            let r = (&File::from(p.try_clone().unwrap())).write_all(&d).map(|_| d.len() as i64);
            if let (Some(fd), Some(b)) = (tcp, before) {
                wait_tcp_bytes(fd, b, d.len());
            }
            check(res(r))
        }
        "close_peer" => {
            let f = fx("fixture")?;
            peers.peer.remove(&f.name);
            check(0)
        }
        "position" => {
            let f = fx("fixture")?;
            let r = unsafe { libc::lseek(f.fd().as_raw_fd(), 0, libc::SEEK_CUR) };
            check(if r < 0 { -(std::io::Error::last_os_error().raw_os_error().unwrap() as i64) } else { r })
        }
        "raw_splice" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            let (oi, oo) = (offset(&st["off_in"]), offset(&st["off_out"]));
            let l = len(&st["len"]);
            let r = match (oi, oo) {
                (Ok(a), Ok(b)) => res(raw::splice(src.fd(), a, dst.fd(), b, l as usize, flags(&st["flags"]))),
                (a, b) => unsafe {
                    splicer::sys::splicer_splice(
                        src.fd().as_raw_fd(),
                        raw_off(a),
                        dst.fd().as_raw_fd(),
                        raw_off(b),
                        l,
                        flags(&st["flags"]).bits(),
                    )
                },
            };
            check(r)
        }
        "raw_tee" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            check(res(raw::tee(src.fd(), dst.fd(), len(&st["len"]) as usize, flags(&st["flags"]))))
        }
        "raw_vmsplice" => {
            let dst = fx("dst")?;
            let d = data_of(&st["data"]);
            let n = st["iovecs"].as_u64().unwrap_or(1).max(1) as usize;
            let mut pieces = Vec::new();
            let (q, rem) = (d.len() / n, d.len() % n);
            let mut at = 0;
            for i in 0..n {
                let l = q + usize::from(i < rem);
                pieces.push((at, l));
                at += l;
            }
            let slices: Vec<std::io::IoSlice> =
                pieces.iter().map(|&(a, l)| std::io::IoSlice::new(&d[a..a + l])).collect();
            // SAFETY: d is kept unchanged until the case ends (vm_bufs).
            let r = res(unsafe { raw::vmsplice(dst.fd(), &slices, flags(&st["flags"])) });
            drop(slices);
            vm_bufs.borrow_mut().push(d);
            check(r)
        }
        "raw_sendfile" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            let r = match offset(&st["off_in"]) {
                Ok(o) => res(raw::sendfile(dst.fd(), src.fd(), o, len(&st["len"]) as usize)),
                Err(n) => unsafe {
                    splicer::sys::splicer_sendfile(dst.fd().as_raw_fd(), src.fd().as_raw_fd(), n, len(&st["len"]))
                },
            };
            check(r)
        }
        "raw_copy_file_range" => {
            let (src, dst) = (fx("src")?, fx("dst")?);
            let (oi, oo) = (offset(&st["off_in"]), offset(&st["off_out"]));
            let l = len(&st["len"]);
            let r = match (oi, oo) {
                (Ok(a), Ok(b)) => res(raw::copy_file_range(src.fd(), a, dst.fd(), b, l as usize)),
                (a, b) => unsafe {
                    splicer::sys::splicer_copy_file_range(
                        src.fd().as_raw_fd(),
                        raw_off(a),
                        dst.fd().as_raw_fd(),
                        raw_off(b),
                        l,
                    )
                },
            };
            check(r)
        }
        "pipe_size" => check(res(raw::pipe_size(fx("fixture")?.fd()))),
        "set_pipe_size" => {
            check(res(raw::set_pipe_size(fx("fixture")?.fd(), st["size"].as_u64().unwrap_or(0) as usize)))
        }
        "send_datagram" => {
            let f = fx("fixture")?;
            if !peers.dgram.contains(&f.name) {
                return Err(format!("{} is not a datagram fixture", f.name));
            }
            let d = data_of(&st["data"]);
            let p = peers.peer.get(&f.name).ok_or("no peer")?;
            let n = unsafe { libc::send(p.as_raw_fd(), d.as_ptr().cast(), d.len(), 0) };
            if n < 0 {
                return Err(format!("send: {}", std::io::Error::last_os_error()));
            }
            check(n as i64)
        }
        "pool_set" => {
            let opt = pool_option(&st["option"])?;
            let v = st["value"].as_i64().ok_or("value is required")?;
            check(res(pool_set(opt, v).map(|_| 0)))
        }
        "pool_get" => check(res(pool::get(pool_option(&st["option"])?))),
        "pool_trim" => check(pool::trim() as i64),
        "pool_stats" => {
            let d = pool::stats().since(&POOL_START.with(Cell::get));
            let Some(e) = exp.and_then(Value::as_object) else { return Ok(()) };
            for (k, v) in e {
                let got = match k.as_str() {
                    "borrowed" => d.borrowed,
                    "returned" => d.returned,
                    "created" => d.created,
                    "closed" => d.closed,
                    "misses" => d.misses,
                    "discarded" => d.discarded,
                    "undersized" => d.undersized,
                    "spills" => d.spills,
                    "in_use" => d.in_use,
                    "idle" => d.idle,
                    "peak_in_use" => d.peak_in_use,
                    _ => return Err(format!("unknown pool_stats field {k}")),
                };
                if !num_meets(v, got) {
                    return Err(format!("{k}: expected {v}, got {d:?}"));
                }
            }
            Ok(())
        }
        "keep" => {
            let f = fx("fixture")?;
            let mut kind = match &st["kind"] {
                Value::Null => splicer::FdKind::Unknown.to_raw(),
                Value::String(k) => match k.as_str() {
                    "unknown" => splicer::FdKind::Unknown.to_raw(),
                    "stream" => splicer::FdKind::Stream { nonblocking: false }.to_raw(),
                    "dgram" => splicer::FdKind::Dgram { nonblocking: false }.to_raw(),
                    "seqpacket" => splicer::FdKind::SeqPacket { nonblocking: false }.to_raw(),
                    "pipe" => splicer::FdKind::Pipe { nonblocking: false }.to_raw(),
                    _ => return Err("bad kind".into()),
                },
                v => v.as_i64().and_then(|k| i32::try_from(k).ok()).ok_or("bad kind")?,
            };
            if st["nonblock"].as_bool() == Some(true) {
                kind |= splicer::sys::SPLICER_FD_NONBLOCK as i32;
            }
            let r = match splicer::FdKind::from_raw(kind) {
                Some(k) if f.kind != "invalid" => res(s.keep(f.fd(), k).map(|_| 0)),
                // a kind the C library refuses (5, -1, NONBLOCK with
                // unknown) is no FdKind, and fd -1 no BorrowedFd (a kind
                // with NONBLOCK makes no syscall: only -1 is refused as
                // not an fd): the C binding
                _ => unsafe { splicer::sys::splicer_session_keep(s.as_ptr(), raw_fd(f), kind) as i64 },
            };
            check(r)
        }
        "forget" => {
            if st["all"].as_bool() == Some(true) {
                s.forget_all();
                return check(0);
            }
            let f = fx("fixture")?;
            if f.kind == "invalid" {
                return check(unsafe { splicer::sys::splicer_session_forget(s.as_ptr(), -1) } as i64);
            }
            check(res(s.forget(f.fd()).map(|_| 0)))
        }
        o => Err(format!("unsupported op {o}")),
    }
}

/// The fixture whose fd is `fd` and that has a peer the runner holds.
fn byname_fd<'f>(
    _byname: &dyn Fn(&Value) -> Option<&'f Fixture>,
    _st: &Value,
    fd: RawFd,
    peers: &Peers,
) -> Option<String> {
    FDS.with(|m| m.borrow().get(&fd).cloned()).filter(|n| peers.peer.contains_key(n))
}

thread_local! {
    static FDS: RefCell<HashMap<RawFd, String>> = RefCell::new(HashMap::new());
    /// The paths of the case's file fixtures, for same_as.
    static SAME_AS: RefCell<HashMap<String, PathBuf>> = RefCell::new(HashMap::new());
    /// The pool's counters when the case began.
    static POOL_START: Cell<PoolStats> = Cell::new(PoolStats::default());
    /// The pool's options as the runner found them, restored before each
    /// case; read on the main thread, handed to each case's thread.
    static POOL_DEFAULTS: RefCell<Vec<(PoolOpt, i64)>> = const { RefCell::new(Vec::new()) };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: splicer-conformance DIR|FILE...");
        std::process::exit(2);
    }
    let mut files = Vec::new();
    for a in &args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            v.sort_by(|a, b| a.file_name().unwrap().as_encoded_bytes().cmp(b.file_name().unwrap().as_encoded_bytes()));
            files.extend(v);
        } else {
            files.push(p);
        }
    }
    let pool_defaults: Vec<(PoolOpt, i64)> = [PoolOpt::MAX_PIPES, PoolOpt::MAX_IDLE, PoolOpt::PIPE_SIZE]
        .into_iter()
        .map(|o| (o, pool::get(o).unwrap()))
        .collect();
    let tmp = std::env::var_os("TMPDIR").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
    let dir = tmp.join(format!("splicer-conformance-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut p, mut f, mut sk) = (0, 0, 0);
    let out = std::io::stdout();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let doc: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                std::process::exit(2);
            }
        };
        for case in doc["cases"].as_array().into_iter().flatten() {
            let id = case["id"].as_str().unwrap_or("?").to_string();
            let c = case.clone();
            let d = dir.clone();
            let defaults = pool_defaults.clone();
            // a case that hangs must not stop the run
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                POOL_DEFAULTS.with(|p| *p.borrow_mut() = defaults);
                let _ = tx.send(run_case_fds(&c, &d));
            });
            let o = rx.recv_timeout(Duration::from_secs(20)).unwrap_or(Outcome::Fail("timeout".into()));
            let line = match o {
                Outcome::Pass => {
                    p += 1;
                    format!("{id} PASS")
                }
                Outcome::Fail(m) => {
                    f += 1;
                    format!("{id} FAIL {m}")
                }
                Outcome::Skip(m) => {
                    sk += 1;
                    format!("{id} SKIP {m}")
                }
            };
            writeln!(out.lock(), "{line}").unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{p} passed, {f} failed, {sk} skipped");
    std::process::exit(if f > 0 { 1 } else { 0 });
}

/// run_case with the fd -> fixture-name map that `pump` needs.
fn run_case_fds(case: &Value, dir: &Path) -> Outcome {
    FDS.with(|m| m.borrow_mut().clear());
    run_case(case, dir)
}
