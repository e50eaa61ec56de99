//! Parallel directory scan with the symlink rules of Python's `os.walk`.
//!
//! `add_dir` walks with `followlinks=True`: symlinked directories are descended and
//! symlinked files are read through. `file://` directory references walk without it:
//! symlinked directories are skipped, symlinked files kept. Broken symlinks are listed
//! as files (opening them fails later, as in wandb). Output is sorted by relative path,
//! so the scan is deterministic whatever the thread timing.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// What identifies a file's content without reading it (the stat-cache key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl StatKey {
    pub fn of(m: &fs::Metadata) -> Self {
        Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FileInfo {
    /// Path relative to the scan root, `/`-separated.
    pub rel: String,
    /// `root/rel` as the caller spelled root (symlinks not resolved, like os.walk).
    pub abs: PathBuf,
    /// None for a broken symlink.
    pub key: Option<StatKey>,
    /// What it is if it is not a regular file (a FIFO, a device, a socket), itself or
    /// through a symlink: `add_dir` refuses these rather than wait on them forever.
    pub special: Option<&'static str>,
}

/// None for a regular file or directory, else what kind of file it is.
pub fn special_kind(ft: fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

impl FileInfo {
    pub fn size(&self) -> u64 {
        self.key.map_or(0, |k| k.size)
    }
}

/// Every file under `root`, sorted by relative path.
pub fn scan_dir(root: &Path, follow_links: bool) -> io::Result<Vec<FileInfo>> {
    let meta = fs::metadata(root)?;
    if !meta.is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("not a directory: {}", root.display())));
    }
    let ancestors = vec![(meta.dev(), meta.ino())];
    let mut out = crate::pool::install(|| scan_rec(root, "", &ancestors, follow_links))?;
    out.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn scan_rec(dir: &Path, rel: &str, ancestors: &[(u64, u64)], follow: bool) -> io::Result<Vec<FileInfo>> {
    let mut files = Vec::new();
    let mut subdirs: Vec<(PathBuf, String, (u64, u64))> = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| with_path(e, dir))?;
    for ent in rd {
        let ent = ent.map_err(|e| with_path(e, dir))?;
        let name = ent.file_name();
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("file name is not valid UTF-8: {}", ent.path().display()))
        })?;
        let child_rel = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
        let path = ent.path();
        let ft = ent.file_type().map_err(|e| with_path(e, &path))?;
        if ft.is_dir() {
            let m = ent.metadata().map_err(|e| with_path(e, &path))?;
            subdirs.push((path, child_rel, (m.dev(), m.ino())));
            continue;
        }
        if ft.is_symlink() {
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    if follow {
                        subdirs.push((path, child_rel, (m.dev(), m.ino())));
                    }
                }
                Ok(m) => files.push(FileInfo { rel: child_rel, abs: path, key: Some(StatKey::of(&m)), special: special_kind(m.file_type()) }),
                Err(_) => files.push(FileInfo { rel: child_rel, abs: path, key: None, special: None }),
            }
            continue;
        }
        let m = ent.metadata().map_err(|e| with_path(e, &path))?;
        files.push(FileInfo { rel: child_rel, abs: path, key: Some(StatKey::of(&m)), special: special_kind(ft) });
    }
    let nested: Vec<Vec<FileInfo>> = subdirs
        .par_iter()
        .map(|(path, child_rel, id)| {
            if ancestors.contains(id) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("symlink loop: {} points back to one of its parents", path.display()),
                ));
            }
            let mut chain = ancestors.to_vec();
            chain.push(*id);
            scan_rec(path, child_rel, &chain, follow)
        })
        .collect::<io::Result<_>>()?;
    for n in nested {
        files.extend(n);
    }
    Ok(files)
}

/// Name the path in an IO error, so the user knows which file failed.
pub fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rels(v: &[FileInfo]) -> Vec<&str> {
        v.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn scans_sorted_with_hidden_and_nested_files() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("b/c")).unwrap();
        fs::create_dir_all(r.join("empty")).unwrap();
        fs::write(r.join("b/c/z.txt"), b"z").unwrap();
        fs::write(r.join(".hidden"), b"h").unwrap();
        fs::write(r.join("a.txt"), b"aa").unwrap();
        let v = scan_dir(r, true).unwrap();
        assert_eq!(rels(&v), [".hidden", "a.txt", "b/c/z.txt"]);
        assert_eq!(v[1].size(), 2);
    }

    #[test]
    fn symlink_rules_follow_and_no_follow() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("root");
        let outside = d.path().join("outside");
        fs::create_dir_all(&r).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("o.txt"), b"o").unwrap();
        fs::write(r.join("f.txt"), b"f").unwrap();
        symlink("f.txt", r.join("lf.txt")).unwrap();
        symlink(&outside, r.join("ldir")).unwrap();
        symlink("missing", r.join("broken")).unwrap();
        let follow = scan_dir(&r, true).unwrap();
        assert_eq!(rels(&follow), ["broken", "f.txt", "ldir/o.txt", "lf.txt"]);
        assert!(follow[0].key.is_none());
        let nofollow = scan_dir(&r, false).unwrap();
        assert_eq!(rels(&nofollow), ["broken", "f.txt", "lf.txt"]);
    }

    #[test]
    fn symlink_loop_is_an_error_not_a_hang() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a")).unwrap();
        symlink("..", d.path().join("a/up")).unwrap();
        let e = scan_dir(d.path(), true).unwrap_err();
        assert!(e.to_string().contains("symlink loop"), "{e}");
        assert!(scan_dir(d.path(), false).unwrap().is_empty());
    }
}
