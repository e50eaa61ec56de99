//! An exclusive `flock` on a lock file beside the data it guards: the stat cache and the
//! cache's running size total are each rewritten by several processes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Open (creating) `path` and wait for an exclusive lock on it, held until the returned
/// file is dropped.
pub fn lock_exclusive(path: &Path) -> io::Result<File> {
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lock)
}
