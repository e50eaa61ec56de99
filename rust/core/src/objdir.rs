//! A content-addressed object directory (the file cache, or the store's blobs) opened
//! for lookups and fills without following symlinks inside it.
//!
//! Anything in the object tree that is not what we put there is never trusted: an object
//! that is a symlink, a directory or a FIFO is a miss (and a fill replaces it), and a
//! shard directory (`obj/md5/ab`) that is a symlink or a file is removed and made again
//! before any object under it is read or written, so fills never land outside the root.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::beneath::{cstr, lstat_at, named, open_regular_at, rename_at, unlink_at, DirError, Root};
use crate::digest::{b64, Algorithm};
use crate::stage::copy_hashing;
use crate::walk::with_path;

/// `fill` gave up: its temp file was removed before every rename (a cleanup loop).
#[derive(Debug)]
pub struct TempsRemoved(pub PathBuf);

impl std::fmt::Display for TempsRemoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: its temp files keep being removed while it is written", self.0.display())
    }
}

impl std::error::Error for TempsRemoved {}

/// Whether `e` is `fill` giving up because its temp files were removed.
pub fn is_temps_removed(e: &io::Error) -> bool {
    e.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<TempsRemoved>)
}

/// An object root (holding `obj/` and `tmp/`), opened.
pub struct ObjDir {
    root: Root,
    tmp: std::sync::OnceLock<OwnedFd>,
}

/// `obj/md5/ab` for `obj/md5/ab/<30 hex>`.
fn shard_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(d, _)| d)
}

impl ObjDir {
    /// Open (creating it if needed) the object root at `path`.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self { root: Root::open(path, true)?, tmp: std::sync::OnceLock::new() })
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// `rel` under the root, as a path (for messages and callers that want one).
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Make each shard directory of the objects `rels` a real directory (see the module).
    pub fn prepare<'a>(&self, rels: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        let shards: BTreeSet<&str> = rels.into_iter().map(shard_of).collect();
        for s in shards {
            self.real_dir(s)?;
        }
        Ok(())
    }

    /// Open the directory `rel`, replacing a symlink or file in the way of it.
    fn real_dir(&self, rel: &str) -> io::Result<OwnedFd> {
        for _ in 0..4 {
            match self.root.open_dir(rel, true) {
                Ok(fd) => return Ok(fd),
                Err(DirError::Symlink(p) | DirError::FileInTheWay(p)) => {
                    // Never ours: remove the link (not what it points to) or the stray file.
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(named(e, &p)),
                    }
                }
                Err(DirError::Io(e)) => return Err(e),
            }
        }
        Err(io::Error::other(format!("{}: keeps being replaced while it is made", self.join(rel).display())))
    }

    fn rel_c(rel: &str) -> io::Result<CString> {
        cstr(rel.as_bytes())
    }

    /// Whether `rel` is a regular file of `size` bytes (lstat: a symlink is a miss).
    /// Its shard must have been `prepare`d.
    pub fn is_hit(&self, rel: &str, size: u64) -> bool {
        let Ok(c) = Self::rel_c(rel) else { return false };
        lstat_at(self.root.fd().as_raw_fd(), &c)
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_size as u64 == size)
    }

    /// `rel` opened for reading if it is a regular file of `size` bytes; None if it is
    /// missing (evicted meanwhile) or anything else. Its shard must have been `prepare`d.
    pub fn open_object(&self, rel: &str, size: u64) -> io::Result<Option<File>> {
        let c = Self::rel_c(rel)?;
        match open_regular_at(self.root.fd().as_raw_fd(), &c).map_err(|e| named(e, &self.join(rel)))? {
            Some(f) if f.metadata().map_err(|e| named(e, &self.join(rel)))?.len() == size => Ok(Some(f)),
            _ => Ok(None),
        }
    }

    /// Hard-link the object `rel` as `name` in the directory `dir`; the link is not
    /// checked here (the caller compares inodes).
    pub fn link_object(&self, rel: &str, dir: std::os::fd::RawFd, name: &CString) -> io::Result<()> {
        let c = Self::rel_c(rel)?;
        // SAFETY: NUL-terminated names relative to descriptors we hold. No
        // AT_SYMLINK_FOLLOW: a symlink would be linked as itself, which the caller refuses.
        if unsafe { libc::linkat(self.root.fd().as_raw_fd(), c.as_ptr(), dir, name.as_ptr(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn tmp_dir(&self) -> io::Result<&OwnedFd> {
        if let Some(fd) = self.tmp.get() {
            return Ok(fd);
        }
        let fd = self.real_dir("tmp")?;
        Ok(self.tmp.get_or_init(|| fd))
    }

    /// Copy `src` to the object `rel` (its shard `prepare`d), verifying its digest on
    /// the way: written in `tmp/`, optionally fsynced, then renamed over whatever is there.
    /// A temp file removed before its rename (`cache cleanup --remove-temp` in another
    /// process) is written again.
    pub fn fill(&self, src: &Path, rel: &str, digest: &str, alg: Algorithm, durable: bool) -> io::Result<()> {
        for _ in 0..4 {
            if self.fill_once(src, rel, digest, alg, durable)? {
                return Ok(());
            }
        }
        Err(io::Error::other(TempsRemoved(self.join(rel))))
    }

    /// One attempt at `fill`: false if the temp file vanished before its rename.
    fn fill_once(&self, src: &Path, rel: &str, digest: &str, alg: Algorithm, durable: bool) -> io::Result<bool> {
        let mut input = File::open(src).map_err(|e| with_path(e, src))?;
        let tmp_dir = self.tmp_dir()?;
        let (mut out, tmp) = crate::beneath::create_temp_at(tmp_dir.as_raw_fd(), 0o666).map_err(|e| named(e, &self.join("tmp")))?;
        let placed = (|| {
            let (raw, _) = copy_hashing(&mut input, &mut out, alg)?;
            let found = b64(&raw);
            if found != digest {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch for {}: expected {digest}, found {found}", src.display())));
            }
            if durable {
                out.sync_all()?;
            }
            let to = Self::rel_c(rel)?;
            let mut renamed = rename_at(tmp_dir.as_raw_fd(), &tmp, self.root.fd().as_raw_fd(), &to);
            if let Err(e) = &renamed {
                if matches!(e.raw_os_error(), Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST)) {
                    // A directory where the object should be: never ours (no symlink is followed).
                    let _ = std::fs::remove_dir_all(self.join(rel));
                    renamed = rename_at(tmp_dir.as_raw_fd(), &tmp, self.root.fd().as_raw_fd(), &to);
                }
            }
            if let Err(e) = renamed {
                if e.raw_os_error() == Some(libc::ENOENT) && lstat_at(tmp_dir.as_raw_fd(), &tmp).is_err() {
                    return Ok(false);
                }
                return Err(named(e, &self.join(rel)));
            }
            if durable {
                File::open(self.join(shard_of(rel)))?.sync_all()?;
            }
            Ok(true)
        })();
        if !matches!(placed, Ok(true)) {
            unlink_at(tmp_dir.as_raw_fd(), &tmp);
        }
        placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinked_objects_and_shards_are_misses_and_fills_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let secret = outside.join("secret");
        fs::write(&secret, b"x").unwrap();
        let root = d.path().join("cache");
        let digest = hash_bytes(b"x", Algorithm::Md5);
        let rel = crate::cache::object_relpath(&digest, Algorithm::Md5).unwrap();
        fs::create_dir_all(root.join(shard_of(&rel))).unwrap();
        symlink(&secret, root.join(&rel)).unwrap();
        let objs = ObjDir::open(&root).unwrap();
        objs.prepare([rel.as_str()]).unwrap();
        assert!(!objs.is_hit(&rel, 1), "a symlinked object is a miss");
        assert!(objs.open_object(&rel, 1).unwrap().is_none());
        // A shard directory that is a symlink out of the cache.
        fs::remove_dir_all(root.join(shard_of(&rel))).unwrap();
        symlink(&outside, root.join(shard_of(&rel))).unwrap();
        objs.prepare([rel.as_str()]).unwrap();
        let src = d.path().join("src");
        fs::write(&src, b"x").unwrap();
        objs.fill(&src, &rel, &digest, Algorithm::Md5, true).unwrap();
        assert!(fs::symlink_metadata(root.join(shard_of(&rel))).unwrap().is_dir());
        assert!(objs.is_hit(&rel, 1));
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1, "nothing written outside");
    }
}
