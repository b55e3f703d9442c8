//! A TCP proxy: every connection to LISTEN is joined to a new connection
//! to UPSTREAM, and the bytes of both directions move inside the kernel
//! (socket -> session pipe -> socket with splice(2)), driven by tokio.
//!
//! ```text
//! cargo run --example proxy --features tokio -- 127.0.0.1:8080 127.0.0.1:9000
//! ```
//!
//! It prints `listening on ADDR` once bound (LISTEN may use port 0), then
//! one line per finished connection on stderr.

use std::io;
use std::os::fd::AsRawFd;

use tokio::net::{TcpListener, TcpStream};

/// Ends the writing side of `s`: the peer reads end of file, while the
/// other direction can still run (a half-closed TCP connection).
fn shutdown_write(s: &TcpStream) {
    // SAFETY: shutdown(2) on an fd that `s` keeps open; it closes nothing.
    // (tokio's shutdown takes `&mut`, but both directions borrow the
    // stream at once.)
    unsafe { libc::shutdown(s.as_raw_fd(), libc::SHUT_WR) };
}

/// Copies `from` to `to` until `from` ends, then passes the end on.
async fn one_way(from: &TcpStream, to: &TcpStream) -> io::Result<u64> {
    // One session per direction: its pipe is reused for every chunk.
    let mut s = splicer::Session::builder().pipe_size(1 << 20).build()?;
    let r = splicer::tokio::copy_with(&mut s, from, to, u64::MAX).await;
    shutdown_write(to);
    r
}

async fn serve(client: TcpStream, upstream: String) -> io::Result<(u64, u64)> {
    let server = TcpStream::connect(&upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (up, down) = tokio::join!(one_way(&client, &server), one_way(&server, &client));
    Ok((up?, down?))
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream] = &args[..] else {
        eprintln!("usage: proxy LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (client, peer) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            match serve(client, upstream).await {
                Ok((up, down)) => eprintln!("{peer}: {up} bytes up, {down} bytes down"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
}
