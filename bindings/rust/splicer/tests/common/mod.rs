//! Helpers shared by the integration tests: a temporary file removed on
//! drop, and a connected TCP pair over 127.0.0.1.
#![allow(dead_code)] // every test crate uses its own part of it

use std::fs::{File, OpenOptions};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A file named after the test process and `name`, holding `data`.
    pub fn new(name: &str, data: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!("splicer-rs-{}-{}", std::process::id(), name));
        std::fs::write(&p, data).unwrap();
        TempFile(p)
    }
    pub fn open(&self, read: bool, write: bool) -> File {
        OpenOptions::new().read(read).write(write).open(&self.0).unwrap()
    }
    pub fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (a, b)
}
