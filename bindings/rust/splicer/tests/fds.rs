//! No fd outlives its session: counted in /proc/self/fd, alone in this
//! binary so that no other test opens fds meanwhile.  Idle pool pipes are
//! the pool's, not a leak: the pool is trimmed before counting.

use std::fs::File;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn copies(pool: bool) {
    for _ in 0..50 {
        let (r, w) = splicer::raw::pipe().unwrap();
        let mut s = splicer::Session::builder().pool(pool).build().unwrap();
        let (ur, uw) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(uw);
        s.copy(&ur, &w).unwrap(); // socket -> pipe: direct
        s.copy_n(File::open("/dev/zero").unwrap(), File::create("/dev/null").unwrap(), 1 << 16).unwrap(); // staged
        drop((r, w, ur));
    }
}

#[test]
fn sessions_close_their_pipes() {
    let before = open_fds();
    copies(false);
    assert_eq!(open_fds(), before, "sessions with pipes of their own");
    copies(true);
    let idle = splicer::pool::stats().idle;
    assert!(idle >= 1, "the staged copies left their pipe in the pool");
    assert_eq!(open_fds(), before + 2 * idle as usize, "only the pool's idle pipes stay open");
    assert_eq!(splicer::pool::trim() as u64, idle);
    assert_eq!(open_fds(), before);
}
