//! Phase 1 of a download: which entries already have their content at the destination.

use std::ffi::CString;
use std::os::fd::RawFd;

use crate::beneath::{cstr, key_of, lstat_at, open_regular_at, DirError};
use crate::digest::{hash_open_keyed, raw_digest};
use crate::manifest::Entry;
use crate::statcache::StatCache;
use crate::walk::StatKey;

use super::dirs::{name_of, parent_of, Cursor};

/// What phase 1 found at an entry's destination.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Present,
    Missing,
    /// A directory where the file should be: wandb skips it with a warning.
    DirInWay,
    /// A file where one of its directories should be (skipped likewise).
    Blocked,
}

pub(super) fn check_dest(e: &Entry, cur: &mut Cursor<'_>, statcache: Option<&StatCache>) -> State {
    let fd = match cur.dir(parent_of(&e.path)) {
        Ok(fd) => fd,
        Err(DirError::FileInTheWay(_)) => return State::Blocked,
        Err(_) => return State::Missing, // phase 3 reports it
    };
    let Ok(name) = cstr(name_of(&e.path).as_bytes()) else { return State::Missing };
    match lstat_at(fd, &name) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => State::DirInWay,
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_size as u64 == e.size.unwrap_or(0) => {
            if is_present(e, fd, &name, key_of(&st), statcache) {
                State::Present
            } else {
                State::Missing
            }
        }
        _ => State::Missing,
    }
}

/// Whether the entry's regular file `name` in `dir` (stat key `key`) already has its
/// content: the stat cache answers for an unchanged file (either way), else it is hashed.
fn is_present(e: &Entry, dir: RawFd, name: &CString, key: StatKey, statcache: Option<&StatCache>) -> bool {
    let alg = e.algorithm();
    if let (Some(sc), Some(want)) = (statcache, raw_digest(&e.digest)) {
        if let Some(known) = sc.lookup_raw(&key, alg) {
            return known == want;
        }
    }
    let Ok(Some(f)) = open_regular_at(dir, name) else { return false };
    hash_open_keyed(f, key, alg, statcache).is_ok_and(|(d, _)| *d == *e.digest)
}
