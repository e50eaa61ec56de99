//! Directories and files under a root, opened one component at a time without following
//! any symlink inside the root (`openat` with `O_NOFOLLOW`): a symlink planted in a
//! download root or a cache can never make a write land outside it.
//!
//! The root itself is opened as the caller spelled it (a root that is a symlink is the
//! caller's choice); only what lies inside it is held to these rules.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a directory under the root could not be opened.
#[derive(Debug)]
pub enum DirError {
    /// A non-directory (a regular file, a device) where a directory should be: wandb
    /// skips the entries beneath it with a warning.
    FileInTheWay(PathBuf),
    /// A symlink inside the root where a directory should be: never followed.
    Symlink(PathBuf),
    /// Anything else (permission, name too long, no space), naming the path.
    Io(io::Error),
}

impl std::fmt::Display for DirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FileInTheWay(p) => write!(f, "{}: a file is in the way of a directory", p.display()),
            Self::Symlink(p) => write!(f, "{}: is a symlink inside the root; refusing to follow it out of the root", p.display()),
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl From<DirError> for io::Error {
    fn from(e: DirError) -> Self {
        match e {
            DirError::Io(e) => e,
            DirError::FileInTheWay(_) => io::Error::new(io::ErrorKind::NotADirectory, e.to_string()),
            DirError::Symlink(_) => io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()),
        }
    }
}

/// `e` with `path` in its message (the kind, and the errno where possible, kept).
pub fn named(e: io::Error, path: &Path) -> io::Error {
    match e.raw_os_error() {
        // `from_raw_os_error` keeps errno for Python's OSError subclasses; the path
        // goes in through a custom payload that still reports the kind.
        Some(code) => io::Error::new(io::Error::from_raw_os_error(code).kind(), format!("{}: {}", path.display(), io::Error::from_raw_os_error(code))),
        None => crate::walk::with_path(e, path),
    }
}

pub(crate) fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path component contains NUL"))
}

/// An open root directory.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Open `path` as a root, creating it (and its parents) first if `create`. A root
    /// that is a file, or cannot be made, is an error naming it.
    pub fn open(path: &Path, create: bool) -> io::Result<Self> {
        if create {
            if let Err(e) = std::fs::create_dir_all(path) {
                if !path.is_dir() {
                    return Err(named(e, path));
                }
            }
        }
        let c = cstr(path.as_os_str().as_bytes())?;
        // SAFETY: a NUL-terminated path; the fd, if any, is owned from here on.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(named(io::Error::last_os_error(), path));
        }
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) }, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: borrowed for as long as `self` owns it.
        unsafe { BorrowedFd::borrow_raw(self.fd.as_raw_fd()) }
    }

    /// The directory `rel` (`/`-separated, already checked by `paths::stays_inside`)
    /// under the root, no component followed if it is a symlink; missing ones are made
    /// if `create` (another process making one at the same time is fine).
    pub fn open_dir(&self, rel: &str, create: bool) -> Result<OwnedFd, DirError> {
        let mut cur = dup(self.fd.as_raw_fd()).map_err(|e| DirError::Io(named(e, &self.path)))?;
        let mut at = self.path.clone();
        for comp in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
            at.push(comp);
            let name = cstr(comp.as_bytes()).map_err(DirError::Io)?;
            cur = open_child_dir(&cur, &name, &at, create)?;
        }
        Ok(cur)
    }
}

fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: duplicating a descriptor we hold; the copy is owned by the result.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if d < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(d) })
}

fn open_child_dir(parent: &OwnedFd, name: &CString, at: &Path, create: bool) -> Result<OwnedFd, DirError> {
    for _ in 0..8 {
        // SAFETY: a NUL-terminated name relative to a descriptor we hold.
        let fd = unsafe { libc::openat(parent.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT) if create => {
                // SAFETY: as above.
                if unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o777) } != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(DirError::Io(named(e, at)));
                    }
                }
            }
            Some(libc::ENOTDIR | libc::ELOOP) => match lstat_at(parent.as_raw_fd(), name) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => return Err(DirError::Symlink(at.to_owned())),
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {} // replaced meanwhile: again
                Ok(_) => return Err(DirError::FileInTheWay(at.to_owned())),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {} // removed meanwhile: again
                Err(e) => return Err(DirError::Io(named(e, at))),
            },
            _ => return Err(DirError::Io(named(e, at))),
        }
    }
    Err(DirError::Io(named(io::Error::from_raw_os_error(libc::EAGAIN), at)))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn lstat_at(dir: RawFd, name: &CString) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and `st` is written by a successful call.
    if unsafe { libc::fstatat(dir, name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { st.assume_init() })
}

/// The stat-cache key of a `stat` result.
#[allow(clippy::unnecessary_cast)] // libc's stat field types differ between platforms
pub fn key_of(st: &libc::stat) -> crate::walk::StatKey {
    let ns = |s: libc::time_t, n: i64| s as i64 * 1_000_000_000 + n;
    crate::walk::StatKey {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as u64,
        mtime_ns: ns(st.st_mtime, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime, st.st_ctime_nsec as i64),
    }
}

/// Open `name` in `dir` for reading if it is a regular file, never following a symlink
/// and never blocking on a FIFO or device; None if it is missing or not a regular file.
pub fn open_regular_at(dir: RawFd, name: &CString) -> io::Result<Option<File>> {
    // SAFETY: a NUL-terminated name relative to a descriptor the caller holds.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR | libc::ENXIO) => Ok(None),
            _ => Err(e),
        };
    }
    let f = unsafe { File::from_raw_fd(fd) };
    if !f.metadata()?.is_file() {
        return Ok(None);
    }
    clear_nonblock(&f);
    Ok(Some(f))
}

/// Drop `O_NONBLOCK` (set only so that opening a FIFO cannot hang) for ordinary reads.
pub fn clear_nonblock(f: &File) {
    // SAFETY: flag changes on a descriptor we hold.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
}

/// `unlinkat(dir, name)`, ignoring errors (cleanup of our own temp files).
pub fn unlink_at(dir: RawFd, name: &CString) {
    // SAFETY: as above.
    unsafe { libc::unlinkat(dir, name.as_ptr(), 0) };
}

/// `renameat(dir, from, dir2, to)`.
pub fn rename_at(dir: RawFd, from: &CString, dir2: RawFd, to: &CString) -> io::Result<()> {
    // SAFETY: NUL-terminated names relative to descriptors the caller holds.
    if unsafe { libc::renameat(dir, from.as_ptr(), dir2, to.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Create a new temp file (`.artefact-tmpXXXXXXXX`) in `dir` with `mode`; (file, name).
pub fn create_temp_at(dir: RawFd, mode: u32) -> io::Result<(File, CString)> {
    loop {
        let name = cstr(format!(".artefact-{}", crate::tmpname::tmp_name()).as_bytes())?;
        // SAFETY: as above.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC, mode) };
        if fd >= 0 {
            return Ok((unsafe { File::from_raw_fd(fd) }, name));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn makes_missing_dirs_and_refuses_symlinks_and_files() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(&d.path().join("root"), true).unwrap();
        root.open_dir("a/b/c", true).unwrap();
        assert!(d.path().join("root/a/b/c").is_dir());
        let outside = d.path().join("outside");
        fs::create_dir(&outside).unwrap();
        symlink(&outside, d.path().join("root/a/link")).unwrap();
        assert!(matches!(root.open_dir("a/link/x", true), Err(DirError::Symlink(p)) if p.ends_with("a/link")));
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "nothing made outside");
        fs::write(d.path().join("root/file"), b"x").unwrap();
        assert!(matches!(root.open_dir("file/x", true), Err(DirError::FileInTheWay(_))));
        assert!(matches!(root.open_dir("nope", false), Err(DirError::Io(e)) if e.kind() == io::ErrorKind::NotFound));
        let long = "n".repeat(300);
        match root.open_dir(&long, true) {
            Err(DirError::Io(e)) => assert!(e.to_string().contains(&long), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_root_that_is_a_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"x").unwrap();
        let e = Root::open(&f, true).err().unwrap();
        assert!(e.to_string().contains(f.to_str().unwrap()), "{e}");
    }
}
