//! Copies of a download's files written while their blob arrived from the server (the
//! same buffers as the cache object, hashed once: `transfer::get_files` with a second
//! destination), waiting as verified temp files beside their destination for phase 3
//! to rename them into place instead of copying the cache object a second time.
//!
//! Keyed by the destination's directory (device, inode) and file name, so phase 3 only
//! takes a copy that lies in the very directory it opened beneath the root, and only
//! if the temp name there is still the file that was written (same inode). Anything
//! not taken is removed by `discard` (the end of every download, and a failed fetch).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use crate::beneath::{lstat_at, unlink_at};

/// A verified copy waiting beside its destination.
pub struct Prepared {
    pub(crate) dir: OwnedFd,
    pub(crate) tmp: CString,
    pub(crate) file: File,
    pub(crate) digest: String,
}

type Key = (u64, u64, String);

static WAITING: Mutex<Option<HashMap<Key, Prepared>>> = Mutex::new(None);

fn dir_id(dir: RawFd) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is written by a successful fstat of a descriptor the caller holds.
    if unsafe { libc::fstat(dir, st.as_mut_ptr()) } != 0 {
        return None;
    }
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// Remember `p` as the copy for the file `name` in its directory (a copy already
/// waiting there is removed).
pub fn offer(name: &str, p: Prepared) {
    let Some((dev, ino)) = dir_id(p.dir.as_raw_fd()) else {
        unlink_at(p.dir.as_raw_fd(), &p.tmp);
        return;
    };
    let old = WAITING.lock().expect("never poisoned").get_or_insert_with(HashMap::new).insert((dev, ino, name.to_owned()), p);
    if let Some(old) = old {
        unlink_at(old.dir.as_raw_fd(), &old.tmp);
    }
}

/// The waiting copy of `digest` for `name` in the open directory `dir`, as (temp name
/// in `dir`, the open file), if it is still there; else None (copy as usual).
pub(super) fn take(dir: RawFd, name: &str, digest: &str) -> Option<(CString, File)> {
    let (dev, ino) = dir_id(dir)?;
    let p = WAITING.lock().expect("never poisoned").as_mut()?.remove(&(dev, ino, name.to_owned()))?;
    let ours = p.file.metadata().ok().map(|m| m.ino());
    #[allow(clippy::unnecessary_cast)]
    let there = lstat_at(dir, &p.tmp).ok().filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG).map(|st| st.st_ino as u64);
    if p.digest != digest || ours.is_none() || ours != there {
        unlink_at(p.dir.as_raw_fd(), &p.tmp);
        return None;
    }
    Some((p.tmp, p.file))
}

/// Remove every copy still waiting (its download ended without it, or failed).
pub fn discard() {
    let left: Vec<Prepared> = WAITING.lock().expect("never poisoned").as_mut().map(|m| m.drain().map(|(_, p)| p).collect()).unwrap_or_default();
    for p in left {
        unlink_at(p.dir.as_raw_fd(), &p.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beneath::{create_temp_at, Root};
    use std::io::Write;

    fn prepare(root: &Root, digest: &str) -> (CString, u64) {
        let dir = root.open_dir("d", true).unwrap();
        let (mut file, tmp) = create_temp_at(dir.as_raw_fd(), 0o600).unwrap();
        file.write_all(b"content").unwrap();
        let ino = file.metadata().unwrap().ino();
        offer("f", Prepared { dir, tmp: tmp.clone(), file, digest: digest.into() });
        (tmp, ino)
    }

    // One test: the registry is process-wide, and tests run in parallel threads.
    #[test]
    fn only_the_written_file_of_the_same_digest_in_the_same_directory_is_taken() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::open(t.path(), true).unwrap();
        let (_tmp, ino) = prepare(&root, "right");
        let dir = root.open_dir("d", false).unwrap();
        assert!(take(dir.as_raw_fd(), "f", "other").is_none(), "another digest");
        assert_eq!(std::fs::read_dir(t.path().join("d")).unwrap().count(), 0, "the refused copy is removed");

        let (tmp, ino2) = prepare(&root, "right");
        assert_ne!(ino, 0);
        let (taken, file) = take(dir.as_raw_fd(), "f", "right").expect("taken");
        assert_eq!((&taken, file.metadata().unwrap().ino()), (&tmp, ino2));

        // A file swapped in under the temp name is never taken, nor one left to discard.
        let (tmp, _) = prepare(&root, "right");
        let p = t.path().join("d").join(tmp.to_str().unwrap());
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"planted").unwrap();
        assert!(take(dir.as_raw_fd(), "f", "right").is_none());
        prepare(&root, "right");
        discard();
        // Only the copy taken above (its caller renames it) is left.
        let left: Vec<_> = std::fs::read_dir(t.path().join("d")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from(taken.to_str().unwrap())]);
    }
}
