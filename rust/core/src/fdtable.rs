//! Growing this process's file descriptor table once, up front.
//!
//! Linux grows a process's descriptor table by doubling (64, 128, 256, 512, ...) when an
//! open needs a higher number. While the process has more than one thread, each growth
//! waits for an RCU grace period (`synchronize_rcu` in `expand_fdtable`): milliseconds,
//! more on a busy machine. A re-log opens the 256 shard dirs of the cache's objects from
//! the pool's threads (stage.rs), so it paid three growths: 16 ms of a 0.09 s re-log,
//! measured (256 directory opens: 0.5 ms single-threaded, 15.9 ms with a second thread
//! alive, 0.5 ms again with the table grown first). Growing it before the pool's threads
//! exist costs one `fcntl` and one `close`, and the table (8 KiB) never shrinks.

/// The table size asked for: 1024 descriptors (or the soft `RLIMIT_NOFILE`, if lower).
pub const RESERVED: u64 = 1024;

/// Grow the descriptor table to `RESERVED` slots (no descriptor is left open). Cheap
/// when it is already that large; best effort (a failure only leaves it as it was).
pub fn reserve() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we own.
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } == 0 { lim.rlim_cur } else { 256 };
        let top = RESERVED.min(soft).saturating_sub(1);
        if top < 64 {
            return;
        }
        // Duplicate any open descriptor to the lowest free number >= top (never one in
        // use, unlike dup2), then close it: the table now covers `top`.
        for fd in 0..3 {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor number; fails harmlessly if not open.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top as libc::c_int) };
            if dup >= 0 {
                // SAFETY: `dup` is the descriptor fcntl just made, owned only here.
                unsafe { libc::close(dup) };
                return;
            }
        }
        // No stdin/stdout/stderr: a descriptor of our own to duplicate.
        if let Ok(null) = std::fs::File::open("/dev/null") {
            use std::os::fd::AsRawFd;
            // SAFETY: as above, on a descriptor we own for the duration of the call.
            let dup = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top as libc::c_int) };
            if dup >= 0 {
                // SAFETY: the descriptor fcntl just made.
                unsafe { libc::close(dup) };
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn status_field(name: &str) -> u64 {
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in status"));
        line[name.len()..].trim().parse().unwrap()
    }

    #[test]
    fn grows_the_table_and_leaves_no_descriptor_open() {
        // Other tests open files on other threads meanwhile: only the slot `reserve()`
        // duplicates into is checked, not the whole table.
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) }, 0);
        let want = RESERVED.min(lim.rlim_cur);
        for _ in 0..2 {
            reserve(); // a second call changes nothing, leaks nothing
            assert!(status_field("FDSize:") >= want, "FDSize {} < {want}", status_field("FDSize:"));
            let top = libc::c_int::try_from(want - 1).unwrap();
            // SAFETY: F_GETFD on a descriptor number only reads its flags.
            let open = unsafe { libc::fcntl(top, libc::F_GETFD) };
            assert!(open < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF), "reserve() left descriptor {top} open");
        }
    }
}
