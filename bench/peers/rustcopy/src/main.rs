//! rustcopy [FILE...]: stdin to stdout (and to each FILE) the way a Rust
//! program moves bytes.  The two fds are taken as `File`s, so that
//! std::io::copy reaches std's Linux specialisation (copy_file_range,
//! sendfile, splice where they apply) as it does for a program that opened
//! its files or sockets itself; locked Stdin/Stdout would go through an
//! 8 KiB buffer instead.  std has no fan-out, so with several destinations
//! it is a read loop with write_all to each.
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::process::exit;

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    // SAFETY: fds 0 and 1 are open for the whole run and never closed here.
    let mut input = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let res = if names.is_empty() {
        io::copy(&mut *input, &mut *out).map(|_| ())
    } else {
        fan_out(&mut *input, &mut *out, &names)
    };
    if let Err(e) = res {
        eprintln!("rustcopy: {e}");
        exit(1);
    }
}

fn fan_out(input: &mut File, out: &mut File, names: &[String]) -> io::Result<()> {
    let mut files = names.iter().map(File::create).collect::<io::Result<Vec<_>>>()?;
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        for f in &mut files {
            f.write_all(&buf[..n])?;
        }
    }
}
