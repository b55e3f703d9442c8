//! `cp [--stats] SRC DST`: copies a file with the fastest method the kernel
//! allows (copy_file_range(2) between files, a reflink where the
//! filesystem can) and gives DST the permission bits of SRC.
//!
//! ```text
//! cargo run --example cp -- --stats big.iso /mnt/usb/big.iso
//! ```
//!
//! `--stats` prints what the session did on stderr: bytes, syscalls,
//! fallbacks and the bytes each method moved.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::ExitCode;

use splicer::{Method, Session};

const METHODS: [Method; 7] = [
    Method::CopyFileRange,
    Method::Sendfile,
    Method::Splice,
    Method::SplicePipe,
    Method::Tee,
    Method::Vmsplice,
    Method::ReadWrite,
];

fn cp(src: &str, dst: &str, stats: bool) -> io::Result<u64> {
    let input = File::open(src)?;
    let mode = input.metadata()?.permissions().mode() & 0o7777;
    // Created with the source's mode (less the umask), so that the bytes
    // are never readable by more people than the result will be.
    let output = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(dst)?;
    let mut s = Session::new()?;
    let n = s.copy(&input, &output)?;
    // The umask and an existing DST do not change the result: set it.
    fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
    if stats {
        let st = s.stats();
        eprintln!("{n} bytes, {} syscalls, {} fallbacks", st.syscalls, st.fallbacks);
        for m in METHODS {
            if st.bytes_by(m) > 0 {
                eprintln!("  {m}: {} bytes", st.bytes_by(m));
            }
        }
    }
    Ok(n)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let stats = args.iter().any(|a| a == "--stats");
    args.retain(|a| a != "--stats");
    let [src, dst] = &args[..] else {
        eprintln!("usage: cp [--stats] SRC DST");
        return ExitCode::from(2);
    };
    match cp(src, dst, stats) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cp: {src} -> {dst}: {e}");
            ExitCode::FAILURE
        }
    }
}
