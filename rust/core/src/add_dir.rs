//! `Artifact.add_dir` in one call: walk, hash (and stage, for the mutable policy) every
//! file in parallel, then insert the batch into the manifest.
//!
//! Logical paths are checked before any byte is read, so a bad `name` fails fast and
//! leaves no staged copies behind.

use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use crate::digest::{hash_file_keyed, Algorithm};
use crate::statcache::StatCache;
use crate::manifest::{Entry, Manifest, ManifestError};
use crate::paths;
use crate::progress::{tick, Progress};
use crate::stage::stage_unless_stored;
use crate::walk::{scan_dir, with_path};

#[derive(Debug)]
pub enum AddError {
    /// The normalised logical path that wandb would refuse.
    InvalidPath(String),
    /// Same path, different digest, no merge.
    Duplicate(String),
    Io(io::Error),
}

impl std::fmt::Display for AddError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidPath(p) => write!(f, "Invalid artifact path: {p:?}"),
            Self::Duplicate(p) => write!(f, "Cannot add the same path twice: {p:?}"),
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AddError {}

impl From<io::Error> for AddError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

pub struct AddDirOptions<'a> {
    /// Prefix inside the artifact (`os.path.join(name or "", rel)`).
    pub name: Option<&'a str>,
    pub algorithm: Algorithm,
    /// Some(dir) for the mutable policy: snapshot each file there while hashing it.
    pub staging_dir: Option<&'a Path>,
    pub skip_cache: bool,
    /// `merge=True`: changed files replace their entries.
    pub overwrite: bool,
    /// Skip reading files whose stat key is unchanged (the mutable policy also skips
    /// staging those whose content the store holds: `stage::set_known_objects`).
    pub statcache: Option<&'a StatCache>,
}

/// Python's `os.path.join(name, rel)` for a relative `rel`.
fn join_name(name: Option<&str>, rel: &str) -> String {
    match name {
        None | Some("") => rel.to_owned(),
        Some(n) if n.ends_with('/') => format!("{n}{rel}"),
        Some(n) => format!("{n}/{rel}"),
    }
}

/// (original file path, logical path) of each file added.
pub type Added = Vec<(PathBuf, String)>;
/// A file's digest, size, and staged copy (mutable policy); None when its path was invalid.
type Hashed = Option<io::Result<(String, u64, Option<PathBuf>)>>;

/// Add every file under `root`. Returns (original file path, logical path) per file.
///
/// As in wandb (one task per file), a file that fails does not stop the others: every
/// file that can be added is added, then the first failure (in path order) is returned
/// with the files that did go in.
///
/// A FIFO, device or socket in the tree (itself or through a symlink, such as a link to
/// `/dev/zero`) is refused before anything is read: wandb 0.31.0 would open it and wait
/// forever (or read forever).
pub fn add_dir(manifest: &mut Manifest, root: &Path, opts: &AddDirOptions<'_>, progress: Option<&Progress>) -> Result<Added, (Added, AddError)> {
    add_dir_precopying(manifest, root, opts, None, progress)
}

/// `add_dir`, and for the immutable policy, with `precopy = Some((staging_dir, min))`,
/// each file of `min` bytes or more that the stat cache does not know is copied into
/// `staging_dir` while it is hashed (`onepass::hash_and_precopy`): the log then renames
/// that copy into the store instead of reading the file a second time.
pub fn add_dir_precopying(
    manifest: &mut Manifest,
    root: &Path,
    opts: &AddDirOptions<'_>,
    precopy: Option<(&Path, u64)>,
    progress: Option<&Progress>,
) -> Result<Added, (Added, AddError)> {
    let files = scan_dir(root, true).map_err(|e| (Vec::new(), AddError::Io(e)))?;
    if let Some(f) = files.iter().find(|f| f.special.is_some()) {
        let what = f.special.unwrap_or("not a regular file");
        let msg = format!("{} is {what}; only regular files can be added (remove it from the directory or add the files one by one)", f.abs.display());
        return Err((Vec::new(), AddError::Io(io::Error::new(io::ErrorKind::InvalidInput, msg))));
    }
    let logical: Vec<Result<String, AddError>> = files
        .iter()
        .map(|f| paths::validate(&paths::normalize(&join_name(opts.name, &f.rel))).map_err(AddError::InvalidPath))
        .collect();
    if let Some(p) = progress {
        p.add_total(files.len() as u64, files.iter().map(crate::walk::FileInfo::size).sum());
    }
    let hashed: Vec<Hashed> = crate::pool::install(|| {
        files
            .par_iter()
            .zip(logical.par_iter())
            .map(|(f, path)| {
                path.as_ref().ok()?;
                if let Err(e) = crate::progress::check(progress) {
                    return Some(Err(e));
                }
                let r = crate::progress::watching(progress, || match opts.staging_dir {
                    Some(dir) => stage_unless_stored(&f.abs, f.key, dir, opts.algorithm, opts.statcache),
                    None => match precopy {
                        Some((dir, min)) if f.size() >= min => {
                            crate::onepass::hash_and_precopy(&f.abs, dir, min, opts.algorithm, opts.statcache).map(|(d, n)| (d, n, None))
                        }
                        // Toward the embedded store: remembered for its commit (onepass.rs).
                        Some(_) => crate::onepass::hash_remembered(&f.abs, f.key, opts.algorithm, opts.statcache).map(|(d, n)| (d, n, None)).map_err(|e| with_path(e, &f.abs)),
                        None => hash_file_keyed(&f.abs, f.key, opts.algorithm, opts.statcache).map(|(d, n)| (d, n, None)).map_err(|e| with_path(e, &f.abs)),
                    },
                });
                if let Ok((_, n, _)) = &r {
                    tick(progress, 1, *n);
                }
                Some(r)
            })
            .collect()
    });
    let mut first_error: Option<AddError> = None;
    let mut out = Vec::with_capacity(files.len());
    manifest.entries.reserve(files.len());
    for ((f, path), hashed) in files.into_iter().zip(logical).zip(hashed) {
        let added = path.and_then(|path| {
            let (digest, size, staged) = hashed.expect("hashed when the path is valid")?;
            let mut extra = serde_json::Map::new();
            if opts.algorithm == Algorithm::Xxh128 {
                extra.insert("alg".into(), Value::String("XXH128".into()));
            }
            let local = staged.as_deref().unwrap_or(&f.abs);
            // The walk's names are UTF-8; the lossy copy is only a fallback (it cost a scan per path).
            let local_path: Box<str> = local.to_str().map_or_else(|| local.to_string_lossy().into(), Into::into);
            let mut entry = Entry::new(path.as_str(), digest, Some(size)).with_rare(None, None, Some(extra));
            entry.local_path = Some(local_path);
            entry.skip_cache = opts.skip_cache;
            manifest.add_entry(entry, opts.overwrite).inspect_err(|_| {
                if let Some(s) = &staged {
                    let _ = std::fs::remove_file(s); // refused: its staged copy must not linger
                }
            }).map_err(|e| match e {
                ManifestError::DuplicatePath(p) => AddError::Duplicate(p),
                ManifestError::Invalid(m) | ManifestError::Corrupt(m) => AddError::Io(io::Error::other(m)),
            })?;
            Ok(path)
        });
        match added {
            Ok(path) => out.push((f.abs, path)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err((out, e)),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn adds_tree_with_prefix_and_staging() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.txt"), b"a").unwrap();
        fs::write(src.join("sub/b.txt"), b"bb").unwrap();
        let staging = d.path().join("staging");
        fs::create_dir_all(&staging).unwrap();
        let mut m = Manifest::new("V2", None);
        let opts = AddDirOptions { name: Some("ds/"), algorithm: Algorithm::Md5, staging_dir: Some(&staging), skip_cache: false, overwrite: false, statcache: None };
        let added = add_dir(&mut m, &src, &opts, None).unwrap();
        assert_eq!(added.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(), ["ds/a.txt", "ds/sub/b.txt"]);
        assert_eq!(m.size(), 3);
        assert!(m.entries["ds/a.txt"].local_path.as_ref().unwrap().starts_with(staging.to_str().unwrap()));
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 2);
    }

    #[test]
    fn immutable_large_files_are_pre_copied_while_hashed_small_ones_only_hashed() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(&src).unwrap();
        let big: Vec<u8> = (0..(3usize << 20)).map(|i| (i % 251) as u8).collect();
        fs::write(src.join("big.bin"), &big).unwrap();
        fs::write(src.join("small.txt"), b"small").unwrap();
        let staging = d.path().join("staging");
        fs::create_dir_all(&staging).unwrap();
        let mut m = Manifest::new("V2", None);
        let opts = AddDirOptions { name: None, algorithm: Algorithm::Md5, staging_dir: None, skip_cache: false, overwrite: false, statcache: None };
        add_dir_precopying(&mut m, &src, &opts, Some((&staging, 1 << 20)), None).unwrap();
        let e = &m.entries["big.bin"];
        assert_eq!(&*e.digest, crate::digest::hash_bytes(&big, Algorithm::Md5).as_str());
        // The entry keeps the user's path (wandb's immutable semantics); the copy waits in staging.
        assert_eq!(e.local_path.as_deref(), Some(src.join("big.bin").to_str().unwrap()));
        let copy = crate::onepass::find(&src.join("big.bin"), &e.digest, Algorithm::Md5).expect("a pre-copy");
        assert_eq!(fs::read(&copy).unwrap(), big);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 1, "the small file is only hashed");
        assert_eq!(crate::onepass::discard([src.join("big.bin").as_path()]), 1);
    }

    #[test]
    fn one_bad_file_does_not_stop_the_others() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.txt"), b"a").unwrap();
        fs::write(d.path().join("a:b"), b"x").unwrap();
        let mut m = Manifest::new("V2", None);
        let opts = AddDirOptions { name: None, algorithm: Algorithm::Md5, staging_dir: None, skip_cache: false, overwrite: false, statcache: None };
        match add_dir(&mut m, d.path(), &opts, None) {
            Err((added, AddError::InvalidPath(p))) => {
                assert_eq!(p, "a:b");
                assert_eq!(added.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.entries.keys().map(|k| &**k).collect::<Vec<_>>(), ["a.txt"]);
    }

    #[test]
    fn bad_name_fails_before_staging_anything() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("x.txt"), b"x").unwrap();
        let staging = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("V2", None);
        let opts = AddDirOptions { name: Some("/abs"), algorithm: Algorithm::Md5, staging_dir: Some(staging.path()), skip_cache: false, overwrite: false, statcache: None };
        match add_dir(&mut m, d.path(), &opts, None) {
            Err((_, AddError::InvalidPath(p))) => assert_eq!(p, "/abs/x.txt"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_dir(staging.path()).unwrap().count(), 0);
    }

    #[test]
    fn merge_overwrites_and_plain_add_refuses_changes() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("x.txt"), b"1").unwrap();
        let mut m = Manifest::new("V2", None);
        let mut opts = AddDirOptions { name: None, algorithm: Algorithm::Xxh128, staging_dir: None, skip_cache: true, overwrite: false, statcache: None };
        add_dir(&mut m, d.path(), &opts, None).unwrap();
        assert_eq!(m.entries["x.txt"].extra().unwrap()["alg"], "XXH128");
        fs::write(d.path().join("x.txt"), b"2").unwrap();
        assert!(matches!(add_dir(&mut m, d.path(), &opts, None), Err((_, AddError::Duplicate(_)))));
        opts.overwrite = true;
        add_dir(&mut m, d.path(), &opts, None).unwrap();
        assert_eq!(&*m.entries["x.txt"].digest, crate::digest::hash_bytes(b"2", Algorithm::Xxh128).as_str());
    }

    #[test]
    fn fifos_and_device_links_are_refused_before_anything_is_read() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.txt"), b"a").unwrap();
        let fifo = d.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let opts = AddDirOptions { name: None, algorithm: Algorithm::Md5, staging_dir: None, skip_cache: false, overwrite: false, statcache: None };
        let mut m = Manifest::new("V2", None);
        match add_dir(&mut m, d.path(), &opts, None) {
            Err((added, AddError::Io(e))) => {
                assert!(added.is_empty());
                assert!(e.to_string().contains("pipe") && e.to_string().contains("FIFO"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        fs::remove_file(&fifo).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.path().join("zero")).unwrap();
        let e = add_dir(&mut m, d.path(), &opts, None).unwrap_err().1;
        assert!(e.to_string().contains("zero") && e.to_string().contains("character device"), "{e}");
        assert!(m.entries.is_empty());
    }
}
