//! Placing a manifest's files into a download root in one call: check what is already
//! there, fill the cache from the store (verified), then copy or link into place.
//!
//! Every destination is checked to stay inside the root before anything is written.
//! A file already present with the right content is left alone: its stat key is looked
//! up in the stat cache, or it is re-hashed. References are returned to the caller.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::{is_hit, object_relpath, place_direct, put_object, Placement};
use crate::digest::{hash_file_keyed, Algorithm};
use crate::manifest::Manifest;
use crate::paths::join_inside;
use crate::progress::{tick, Progress};
use crate::stage::{copy_hashing, create_temp_in};
use crate::statcache::StatCache;
use crate::walk::StatKey;

pub struct DownloadOptions<'a> {
    pub root: &'a Path,
    /// The store's object dir (holding `obj/md5/...`).
    pub store_objects: &'a Path,
    /// The file cache root; None copies straight from the store (`skip_cache`).
    pub cache_root: Option<&'a Path>,
    /// wandb's `path_prefix`: a raw string prefix of entry paths.
    pub prefix: Option<&'a str>,
    pub placement: Placement,
    pub statcache: Option<&'a StatCache>,
}

#[derive(Debug, Default)]
pub struct DownloadReport {
    /// Paths of reference entries (placed by the caller's scheme handlers).
    pub references: Vec<String>,
    pub present: u64,
    pub placed: u64,
    /// Objects this call added to the cache (0: the cache did not grow).
    pub filled: u64,
    /// (entry path, why) for entries skipped as wandb does: a directory in the way.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum DownloadError {
    /// A manifest path that would land outside the root (nothing was written).
    Escapes(String),
    MissingBlob { path: String, blob: PathBuf },
    CorruptBlob { path: String, blob: PathBuf, reason: String },
    Io(io::Error),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Escapes(p) => write!(f, "manifest path {p:?} would escape the download root"),
            Self::MissingBlob { path, blob } => write!(f, "store object {} for artifact entry '{path}' is missing", blob.display()),
            Self::CorruptBlob { path, blob, reason } => {
                write!(f, "store object {} for artifact entry '{path}' is corrupt ({reason}); nothing was placed", blob.display())
            }
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DownloadError {}

struct Job<'m> {
    path: &'m str,
    digest: &'m str,
    size: u64,
    alg: Algorithm,
    dest: PathBuf,
}

/// Place every non-reference entry of `manifest` under `opts.root`.
pub fn download(manifest: &Manifest, opts: &DownloadOptions<'_>, progress: Option<&Progress>) -> Result<DownloadReport, DownloadError> {
    let mut report = DownloadReport::default();
    let mut jobs = Vec::new();
    for e in manifest.entries.values() {
        if opts.prefix.is_some_and(|p| !e.path.starts_with(p)) {
            continue;
        }
        let dest = join_inside(opts.root, &e.path).ok_or_else(|| DownloadError::Escapes(e.path.to_string()))?;
        if e.ref_.is_some() {
            report.references.push(e.path.to_string());
        } else {
            jobs.push(Job { path: &e.path, digest: &e.digest, size: e.size.unwrap_or(0), alg: e.algorithm(), dest });
        }
    }
    if let Some(p) = progress {
        p.add_total(jobs.len() as u64, jobs.iter().map(|j| j.size).sum());
    }
    // Parents once, up front: the parallel copies then only create files.
    // Keyed by bytes: `Path` compares component by component, slow over 100k entries.
    // Runs of one directory (the usual manifest order) are skipped before the set.
    let mut parents: BTreeSet<&[u8]> = BTreeSet::new();
    let mut last: &[u8] = &[];
    for p in jobs.iter().filter_map(|j| j.dest.parent()).map(|p| p.as_os_str().as_bytes()) {
        if p != last {
            parents.insert(p);
            last = p;
        }
    }
    let parents = parents.into_iter().map(|b| Path::new(std::ffi::OsStr::from_bytes(b)));
    let mut blocked: BTreeSet<&Path> = BTreeSet::new();
    for dir in parents {
        if fs::create_dir_all(dir).is_err() && !dir.is_dir() {
            blocked.insert(dir); // a file where a directory should be: wandb skips with a warning
        }
    }
    // Phase 1: what is present, and every missing source made ready and verified. A bad
    // store object stops the download here, before anything is placed.
    let ready: Vec<Result<Ready, DownloadError>> = crate::pool::install(|| {
        jobs.par_iter()
            .map(|j| {
                if !blocked.is_empty() && j.dest.parent().is_some_and(|p| blocked.contains(p)) {
                    return Ok(Ready::Skipped("a file is in the way of its directory".into()));
                }
                prepare(j, opts)
            })
            .collect()
    });
    if let Some(pos) = ready.iter().position(Result::is_err) {
        for r in &ready {
            if let Ok(Ready::Temp(tmp)) = r {
                let _ = fs::remove_file(tmp);
            }
        }
        let mut ready = ready;
        return Err(ready.swap_remove(pos).expect_err("an error at pos"));
    }
    let ready: Vec<Ready> = ready.into_iter().map(|r| r.expect("no errors left")).collect();
    // Phase 2: place everything, in parallel, noting each new file's stat key.
    let placed: Vec<io::Result<Option<StatKey>>> = crate::pool::install(|| {
        jobs.par_iter()
            .zip(ready.par_iter())
            .map(|(j, r)| {
                let out = match r {
                    Ready::Cached { obj, .. } => place_direct(obj, &j.dest, opts.placement),
                    Ready::Temp(tmp) => fs::rename(tmp, &j.dest),
                    Ready::Present | Ready::Skipped(_) => {
                        tick(progress, 1, j.size);
                        return Ok(None);
                    }
                };
                tick(progress, 1, j.size);
                out.map(|()| fs::metadata(&j.dest).ok().map(|m| StatKey::of(&m)))
            })
            .collect()
    });
    // The files just written have known content: remember them, so that the next
    // download into this root checks them with a stat instead of reading them. The stat
    // cache's racy rule drops those written in the last moments.
    let written_by = crate::statcache::now_ns();
    for ((j, r), p) in jobs.iter().zip(ready).zip(placed) {
        let key = p.map_err(|e| DownloadError::Io(crate::walk::with_path(e, &j.dest)))?;
        if let (Some(cache), Some(key), Some(raw)) = (opts.statcache, key, raw_digest(j.digest)) {
            cache.record(&key, j.alg, raw, written_by);
        }
        match r {
            Ready::Present => report.present += 1,
            Ready::Cached { filled, .. } => {
                report.placed += 1;
                report.filled += u64::from(filled);
            }
            Ready::Temp(_) => report.placed += 1,
            Ready::Skipped(why) => report.skipped.push((j.path.to_owned(), why)),
        }
    }
    Ok(report)
}

fn raw_digest(b64: &str) -> Option<[u8; 16]> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()?.try_into().ok()
}

/// What phase 1 found or prepared for one entry.
#[derive(Debug)]
enum Ready {
    Present,
    /// The verified cache object to copy or link from; `filled` if this call put it there.
    Cached { obj: PathBuf, filled: bool },
    /// A verified copy beside the destination (`skip_cache`), renamed in phase 2.
    Temp(PathBuf),
    Skipped(String),
}

fn prepare(j: &Job<'_>, opts: &DownloadOptions<'_>) -> Result<Ready, DownloadError> {
    match fs::metadata(&j.dest) {
        Ok(m) if m.is_dir() => return Ok(Ready::Skipped("a directory is in the way".into())),
        Ok(m) if is_present(j, &m, opts.statcache) => return Ok(Ready::Present),
        _ => {}
    }
    let rel = object_relpath(j.digest, j.alg).map_err(DownloadError::Io)?;
    let blob = opts.store_objects.join(&rel);
    let store_err = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound if !blob.exists() => DownloadError::MissingBlob { path: j.path.to_owned(), blob: blob.clone() },
        io::ErrorKind::InvalidData => DownloadError::CorruptBlob { path: j.path.to_owned(), blob: blob.clone(), reason: e.to_string() },
        _ => DownloadError::Io(e),
    };
    match opts.cache_root {
        Some(cache) => {
            let obj = cache.join(&rel);
            let filled = !is_hit(&obj, j.size);
            if filled {
                put_object(cache, &blob, j.digest, j.alg, false).map_err(store_err)?;
            }
            Ok(Ready::Cached { obj, filled })
        }
        None => copy_verified(&blob, &j.dest, j.digest, j.alg).map(Ready::Temp).map_err(store_err),
    }
}

/// Whether the file at `j.dest` (stat `m`) already has the entry's content: the stat
/// cache answers for an unchanged file (either way), else the file is hashed.
fn is_present(j: &Job<'_>, m: &fs::Metadata, statcache: Option<&StatCache>) -> bool {
    if !m.is_file() || m.len() != j.size {
        return false;
    }
    let key = StatKey::of(m);
    if let (Some(sc), Some(want)) = (statcache, raw_digest(j.digest)) {
        if let Some(known) = sc.lookup_raw(&key, j.alg) {
            return known == want;
        }
    }
    hash_file_keyed(&j.dest, Some(key), j.alg, statcache).is_ok_and(|(d, _)| d == j.digest)
}

/// Copy `src` to a temp file beside `dest`, refusing content that does not hash to
/// `digest` (the temp file is removed). Returns the temp file, for a later rename.
fn copy_verified(src: &Path, dest: &Path, digest: &str, alg: Algorithm) -> io::Result<PathBuf> {
    let mut input = File::open(src)?;
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    let (mut out, tmp) = create_temp_in(dir)?;
    let r = copy_hashing(&mut input, &mut out, alg).and_then(|(raw, _)| {
        let found = crate::digest::b64(&raw);
        if found != digest {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch: expected {digest}, found {found}")));
        }
        fs::set_permissions(&tmp, fs::metadata(src)?.permissions())
    });
    match r {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;
    use crate::manifest::Entry;

    fn setup(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Manifest) {
        let d = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("V2", None);
        for (path, data) in files {
            let src = d.path().join("src.tmp");
            fs::write(&src, data).unwrap();
            let digest = hash_bytes(data, Algorithm::Md5);
            put_object(&d.path().join("store"), &src, &digest, Algorithm::Md5, false).unwrap();
            let e = Entry { path: (*path).into(), digest: digest.into(), size: Some(data.len() as u64), ..Entry::default() };
            m.add_entry(e, false).unwrap();
        }
        (d, m)
    }

    fn opts<'a>(d: &'a Path, root: &'a Path, cache: Option<&'a Path>) -> DownloadOptions<'a> {
        DownloadOptions { root, store_objects: d, cache_root: cache, prefix: None, placement: Placement::Copy, statcache: None }
    }

    #[test]
    fn cold_then_present() {
        let (d, m) = setup(&[("a.txt", b"a"), ("x/y/b.txt", b"bb")]);
        let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
        let r = download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
        assert_eq!((r.placed, r.present), (2, 0));
        assert_eq!(fs::read(root.join("x/y/b.txt")).unwrap(), b"bb");
        let again = download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
        assert_eq!((again.placed, again.present), (0, 2));
        fs::write(root.join("a.txt"), b"z").unwrap();
        assert_eq!(download(&m, &opts(&store, &root, Some(&cache)), None).unwrap().placed, 1);
        assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"a");
    }

    #[test]
    fn escaping_path_writes_nothing() {
        let (d, mut m) = setup(&[("a.txt", b"a")]);
        let digest = m.entries["a.txt"].digest.clone();
        m.add_entry(Entry { path: "../../x".into(), digest, size: Some(1), ..Entry::default() }, false).unwrap();
        let (store, root) = (d.path().join("store"), d.path().join("r/root"));
        assert!(matches!(download(&m, &opts(&store, &root, None), None), Err(DownloadError::Escapes(_))));
        assert!(!root.exists());
    }

    #[test]
    fn corrupt_blob_is_named_and_nothing_is_placed() {
        let (d, m) = setup(&[("a.txt", b"original"), ("b.txt", b"fine")]);
        let store = d.path().join("store");
        let blob = store.join(object_relpath(&m.entries["a.txt"].digest, Algorithm::Md5).unwrap());
        fs::write(&blob, b"tampered").unwrap();
        let (root, cache) = (d.path().join("root"), d.path().join("cache"));
        for c in [Some(cache.as_path()), None] {
            match download(&m, &opts(&store, &root, c), None) {
                Err(DownloadError::CorruptBlob { blob: b, .. }) => assert_eq!(b, blob),
                other => panic!("{other:?}"),
            }
            assert!(!root.join("a.txt").exists() && !root.join("b.txt").exists());
            assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "no temp files left");
        }
    }
}
