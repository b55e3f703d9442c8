//! No fd outlives its session: counted in /proc/self/fd, alone in this
//! binary so that no other test opens fds meanwhile.

use std::fs::File;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn sessions_close_their_pipes() {
    let before = open_fds();
    for _ in 0..50 {
        let (r, w) = splicer::raw::pipe().unwrap();
        let mut s = splicer::Session::new().unwrap();
        let (ur, uw) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(uw);
        s.copy(&ur, &w).unwrap(); // socket -> pipe: direct
        s.copy_n(File::open("/dev/zero").unwrap(), File::create("/dev/null").unwrap(), 1 << 16).unwrap(); // staged
        drop((r, w, ur));
    }
    assert_eq!(open_fds(), before);
}
