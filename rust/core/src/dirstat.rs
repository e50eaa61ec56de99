//! Stat-ing many files that share a few directories, each relative to its open parent.
//!
//! A stat by full path walks every component of the root again; relative to an open
//! directory it looks up one name. A repeat download is 100k stats and little else, and
//! that walk was a fifth of its kernel time.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::walk::StatKey;

/// What a stat found (following symlinks, as `fs::metadata` does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub is_dir: bool,
    pub is_file: bool,
    pub key: StatKey,
}

impl Found {
    fn of(m: &fs::Metadata) -> Self {
        Self { is_dir: m.is_dir(), is_file: m.is_file(), key: StatKey::of(m) }
    }
}

/// One thread's open directory: consecutive paths in the same directory reuse it.
#[derive(Default)]
pub struct DirStat {
    dir: Option<(String, OwnedFd)>,
    name: Vec<u8>,
}

impl DirStat {
    /// Stat `root/path`, where `path` is a `/`-separated relative path.
    #[allow(clippy::unnecessary_cast)] // libc's stat field types differ between platforms
    pub fn stat(&mut self, root: &Path, path: &str) -> io::Result<Found> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if matches!(name, "" | "." | "..") {
            return fs::metadata(root.join(path)).map(|m| Found::of(&m));
        }
        if self.dir.as_ref().is_none_or(|(open, _)| open != dir) {
            self.dir = open_dir(&root.join(dir)).ok().map(|fd| (dir.to_owned(), fd));
        }
        let Some((_, fd)) = &self.dir else {
            return fs::metadata(root.join(path)).map(|m| Found::of(&m));
        };
        self.name.clear();
        self.name.extend_from_slice(name.as_bytes());
        self.name.push(0);
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `name` is NUL-terminated and `st` is written by a successful call.
        if unsafe { libc::fstatat(fd.as_raw_fd(), self.name.as_ptr().cast(), st.as_mut_ptr(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let st = unsafe { st.assume_init() };
        let kind = st.st_mode & libc::S_IFMT;
        let ns = |s: libc::time_t, n: i64| s as i64 * 1_000_000_000 + n;
        Ok(Found {
            is_dir: kind == libc::S_IFDIR,
            is_file: kind == libc::S_IFREG,
            key: StatKey {
                dev: st.st_dev as u64,
                ino: st.st_ino as u64,
                size: st.st_size as u64,
                mtime_ns: ns(st.st_mtime, st.st_mtime_nsec as i64),
                ctime_ns: ns(st.st_ctime, st.st_ctime_nsec as i64),
            },
        })
    }
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated path; the fd, if any, is owned from here on.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_a_full_path_stat_finds() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/f"), b"12345").unwrap();
        fs::write(root.join("a/b/g"), b"1").unwrap();
        fs::write(root.join("top"), b"").unwrap();
        std::os::unix::fs::symlink("f", root.join("a/link")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("a/broken")).unwrap();
        let mut s = DirStat::default();
        for path in ["a/f", "a/b/g", "a/f", "top", "a/b", "a/link", "a/", "a/.", "a/b/..", "a/b/g/x", "a/broken", "missing/x", "a/missing"] {
            let want = fs::metadata(root.join(path)).map(|m| Found::of(&m));
            let got = s.stat(root, path);
            match (&want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "{path}"),
                (Err(w), Err(g)) => assert_eq!(w.kind(), g.kind(), "{path}"),
                _ => panic!("{path}: full path {want:?}, relative {got:?}"),
            }
        }
    }
}
