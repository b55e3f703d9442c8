//! The examples, run as a user would: the binaries `cargo test` built next
//! to this one (examples are built before the tests run).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    // `cargo build --examples` (test.sh runs it first) leaves the binary as
    // target/<profile>/examples/<name>.
    if dir.join(name).is_file() {
        return dir.join(name);
    }
    // A plain `cargo test` builds the examples before it runs the tests, as
    // <name>-<hash>: the newest one is the one just built.
    let prefix = format!("{name}-");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run through cargo test)", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix).is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                && e.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("example {name} not built (cargo build --examples --all-features)"))
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h = (*h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
}

/// `n` bytes that differ at every offset, so that a lost, duplicated or
/// reordered chunk changes the hash.
fn data(seed: u32, n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| {
            let x = seed.wrapping_add(i.wrapping_mul(2654435761));
            let x = x ^ (x >> 16);
            (x ^ (x >> 8)) as u8
        })
        .collect()
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf29ce484222325;
    fnv(&mut h, bytes);
    h
}

/// The tokio proxy example (feature `tokio`).
#[cfg(feature = "tokio")]
mod proxy {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use super::{data, example, fnv, hash};

    /// Reads to end of file, hashing.
    fn hash_stream(mut r: impl Read) -> (u64, u64) {
        let (mut h, mut n, mut buf) = (0xcbf29ce484222325, 0u64, vec![0u8; 1 << 16]);
        loop {
            match r.read(&mut buf).unwrap() {
                0 => return (n, h),
                k => {
                    fnv(&mut h, &buf[..k]);
                    n += k as u64;
                }
            }
        }
    }

    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn proxy_moves_both_directions() {
        const UP: usize = 6 << 20;
        const DOWN: usize = 3 << 20;
        // Upstream: hashes what arrives until end of file, then answers.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut results = Vec::new();
            for _ in 0..2 {
                let (mut c, _) = upstream.accept().unwrap();
                results.push(hash_stream(&mut c));
                c.write_all(&data(2, DOWN)).unwrap();
            }
            results
        });
        let mut child = Command::new(example("proxy"))
            .args(["127.0.0.1:0", &up_addr.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let proxy = Kill(child);
        let addr = line.trim().strip_prefix("listening on ").expect("proxy announces its address").to_string();

        // Two connections one after the other: the proxy serves more than one.
        let sent = data(1, UP);
        for _ in 0..2 {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut w = c.try_clone().unwrap();
            let payload = sent.clone();
            let writer = std::thread::spawn(move || {
                w.write_all(&payload).unwrap();
                w.shutdown(Shutdown::Write).unwrap();
            });
            assert_eq!(hash_stream(&mut c), (DOWN as u64, hash(&data(2, DOWN))));
            writer.join().unwrap();
        }
        for got in server.join().unwrap() {
            assert_eq!(got, (UP as u64, hash(&sent)));
        }
        drop(proxy);
    }
}

#[test]
fn cp_copies_bytes_and_mode() {
    let dir = std::env::temp_dir().join(format!("splicer-cp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    let bytes = data(3, (5 << 20) + 123);
    std::fs::write(&src, &bytes).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
    // an existing, longer destination is truncated and gets the mode
    std::fs::write(&dst, vec![7u8; 6 << 20]).unwrap();
    let out = Command::new(example("cp")).arg("--stats").arg(&src).arg(&dst).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(stats.starts_with(&format!("{} bytes", bytes.len())), "{stats}");
    assert!(stats.contains("copy_file_range") || stats.contains("read_write"), "{stats}");
    assert_eq!(hash(&std::fs::read(&dst).unwrap()), hash(&bytes));
    assert_eq!(std::fs::metadata(&dst).unwrap().permissions().mode() & 0o7777, 0o640);
    // errors: a missing source, and usage
    let out = Command::new(example("cp")).arg(dir.join("nope")).arg(&dst).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(Command::new(example("cp")).output().unwrap().status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
