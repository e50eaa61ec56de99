//! The directories of a download root: made once up front, then opened per thread.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::beneath::{DirError, Root};
use crate::manifest::Entry;

use super::DownloadError;

/// Parents once, up front: the parallel copies then only create files. Returns those
/// that cannot be made because a file is in the way, whose entries wandb skips with a
/// warning (any other failure, permission, a name too long, a symlink, is an error),
/// and those this call made: nothing is there yet to be found present, so their entries
/// need no stat (one that appears meanwhile is replaced by the verified copy, or, a
/// directory, skipped when the copy is renamed into place).
#[allow(clippy::type_complexity)]
pub(super) fn make_parents<'m>(jobs: &[&'m Entry], root: &Root) -> Result<(BTreeSet<&'m str>, BTreeSet<&'m str>), DownloadError> {
    // Runs of one directory (the usual manifest order) are skipped before the set.
    let mut parents: BTreeSet<&str> = BTreeSet::new();
    let mut last = None;
    for dir in jobs.iter().map(|e| parent_of(&e.path)) {
        if last != Some(dir) {
            parents.insert(dir);
            last = Some(dir);
        }
    }
    let (mut blocked, mut made) = (BTreeSet::new(), BTreeSet::new());
    for dir in parents {
        let absent = !dir.is_empty() && matches!(root.open_dir(dir, false), Err(DirError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound);
        match root.open_dir(dir, true) {
            Ok(_) if absent => {
                made.insert(dir);
            }
            Ok(_) => {}
            Err(DirError::FileInTheWay(_)) => {
                blocked.insert(dir);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((blocked, made))
}

/// The directory part of a manifest path, as written ("" at the top level: the root).
pub(super) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

pub(super) fn name_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// One thread's open directory under the root: consecutive entries of one directory
/// (the usual manifest order) reuse it.
pub(super) struct Cursor<'r> {
    root: &'r Root,
    open: Option<(String, OwnedFd)>,
}

impl<'r> Cursor<'r> {
    pub(super) fn new(root: &'r Root) -> Self {
        Self { root, open: None }
    }

    pub(super) fn dir(&mut self, rel: &str) -> Result<RawFd, DirError> {
        if let Some((open, fd)) = &self.open {
            if open == rel {
                return Ok(fd.as_raw_fd());
            }
        }
        let fd = self.root.open_dir(rel, false)?;
        let raw = fd.as_raw_fd();
        self.open = Some((rel.to_owned(), fd));
        Ok(raw)
    }
}
