//! Placing a manifest's files into a download root in one call: check what is already
//! there, fill the cache from the store (verified), then copy or link into place.
//!
//! Every destination is checked to stay inside the root before anything is written.
//! A file already present with the right content is left alone: its stat key is looked
//! up in the stat cache, or it is re-hashed. References are returned to the caller.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::{fill_object, is_hit, object_relpath, place_direct, Placement};
use crate::digest::{hash_file_keyed, Algorithm};
use crate::dirstat::{DirStat, Found};
use crate::manifest::{Entry, Manifest};
use crate::paths::stays_inside;
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
    /// Bytes this call added to the cache (0: the cache did not grow).
    pub filled_bytes: u64,
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

/// Place every non-reference entry of `manifest` under `opts.root`.
pub fn download(manifest: &Manifest, opts: &DownloadOptions<'_>, progress: Option<&Progress>) -> Result<DownloadReport, DownloadError> {
    let mut report = DownloadReport::default();
    let mut jobs: Vec<&Entry> = Vec::with_capacity(manifest.entries.len());
    for e in manifest.entries.values() {
        if opts.prefix.is_some_and(|p| !e.path.starts_with(p)) {
            continue;
        }
        if !stays_inside(&e.path) {
            return Err(DownloadError::Escapes(e.path.to_string()));
        }
        if e.ref_().is_some() {
            report.references.push(e.path.to_string());
        } else {
            jobs.push(e);
        }
    }
    if let Some(p) = progress {
        p.add_total(jobs.len() as u64, jobs.iter().map(|e| e.size.unwrap_or(0)).sum());
    }
    let blocked = make_parents(&jobs, opts.root);
    // Phase 1: what is already there. Most repeat downloads end here, so this pass
    // allocates nothing per entry, and stats each file relative to its open directory.
    let states: Vec<State> = crate::pool::install(|| {
        jobs.par_iter()
            .map_init(DirStat::default, |dirs, e| {
                let state = if !blocked.is_empty() && blocked.contains(parent_of(&e.path)) {
                    State::Blocked
                } else {
                    check(e, dirs.stat(opts.root, &e.path), opts)
                };
                if state != State::Missing {
                    tick(progress, 1, e.size.unwrap_or(0)); // done with: present or skipped
                }
                state
            })
            .collect()
    });
    // Phase 2: every missing source made ready and verified. A bad store object stops
    // the download here, before anything is placed.
    let missing: Vec<(&Entry, PathBuf)> = jobs
        .iter()
        .zip(&states)
        .filter(|(_, s)| **s == State::Missing)
        .map(|(e, _)| (*e, opts.root.join(&*e.path)))
        .collect();
    let ready: Vec<Result<Ready, DownloadError>> =
        crate::pool::install(|| missing.par_iter().map(|(e, dest)| prepare(e, dest, opts)).collect());
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
    // Phase 3: place them, in parallel, noting each new file's stat key.
    let placed: Vec<io::Result<Option<StatKey>>> = crate::pool::install(|| {
        missing
            .par_iter()
            .zip(ready.par_iter())
            .map(|((e, dest), r)| {
                let out = match r {
                    Ready::Cached { obj, .. } => place_direct(obj, dest, opts.placement).map(|m| Some(StatKey::of(&m))),
                    Ready::Temp(tmp) => fs::rename(tmp, dest).map(|()| fs::metadata(dest).ok().map(|m| StatKey::of(&m))),
                };
                tick(progress, 1, e.size.unwrap_or(0));
                out
            })
            .collect()
    });
    // The files just written have known content: remember them, so that the next
    // download into this root checks them with a stat instead of reading them. Those
    // written in the last moments are racy: the stat cache may settle them.
    let written_by = crate::statcache::now_ns();
    let mut racy = Vec::new();
    for (((e, dest), r), p) in missing.iter().zip(ready).zip(placed) {
        let key = p.map_err(|err| DownloadError::Io(crate::walk::with_path(err, dest)))?;
        if let (Some(cache), Some(key), Some(raw)) = (opts.statcache, key, raw_digest(&e.digest)) {
            if !cache.record(&key, e.algorithm(), raw, written_by) {
                racy.push((dest.as_path(), key, e.algorithm(), raw));
            }
        }
        report.placed += 1;
        if let Ready::Cached { filled: true, .. } = r {
            report.filled_bytes += e.size.unwrap_or(0);
        }
    }
    if let Some(cache) = opts.statcache {
        cache.settle_written(&racy);
    }
    for (e, s) in jobs.iter().zip(&states) {
        let why = match s {
            State::Present => {
                report.present += 1;
                continue;
            }
            State::Missing => continue,
            State::DirInWay => "a directory is in the way",
            State::Blocked => "a file is in the way of its directory",
        };
        report.skipped.push((e.path.to_string(), why.to_owned()));
    }
    Ok(report)
}

/// Parents once, up front: the parallel copies then only create files. Returns those
/// that cannot be made (a file is in the way), whose entries wandb skips with a warning.
fn make_parents<'m>(jobs: &[&'m Entry], root: &Path) -> BTreeSet<&'m str> {
    // Runs of one directory (the usual manifest order) are skipped before the set.
    let mut parents: BTreeSet<&str> = BTreeSet::new();
    let mut last = None;
    for dir in jobs.iter().map(|e| parent_of(&e.path)) {
        if last != Some(dir) {
            parents.insert(dir);
            last = Some(dir);
        }
    }
    parents
        .into_iter()
        .filter(|dir| {
            let full = root.join(dir);
            fs::create_dir_all(&full).is_err() && !full.is_dir()
        })
        .collect()
}

/// The directory part of a manifest path, as written ("" at the top level: the root).
fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn raw_digest(b64: &str) -> Option<[u8; 16]> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()?.try_into().ok()
}

/// What phase 1 found at an entry's destination.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Present,
    Missing,
    /// A directory where the file should be: wandb skips it with a warning.
    DirInWay,
    /// A file where one of its directories should be (skipped likewise).
    Blocked,
}

/// What phase 2 prepared for a missing entry.
#[derive(Debug)]
enum Ready {
    /// The verified cache object to copy or link from; `filled` if this call put it there.
    Cached { obj: PathBuf, filled: bool },
    /// A verified copy beside the destination (`skip_cache`), renamed in phase 3.
    Temp(PathBuf),
}

fn check(e: &Entry, found: io::Result<Found>, opts: &DownloadOptions<'_>) -> State {
    match found {
        Ok(f) if f.is_dir => State::DirInWay,
        Ok(f) if is_present(e, opts.root, f, opts.statcache) => State::Present,
        _ => State::Missing,
    }
}

fn prepare(e: &Entry, dest: &Path, opts: &DownloadOptions<'_>) -> Result<Ready, DownloadError> {
    let alg = e.algorithm();
    let rel = object_relpath(&e.digest, alg).map_err(DownloadError::Io)?;
    let blob = opts.store_objects.join(&rel);
    let store_err = |err: io::Error| match err.kind() {
        io::ErrorKind::NotFound if !blob.exists() => DownloadError::MissingBlob { path: e.path.to_string(), blob: blob.clone() },
        io::ErrorKind::InvalidData => DownloadError::CorruptBlob { path: e.path.to_string(), blob: blob.clone(), reason: err.to_string() },
        _ => DownloadError::Io(err),
    };
    match opts.cache_root {
        Some(cache) => {
            let obj = cache.join(&rel);
            let filled = !is_hit(&obj, e.size.unwrap_or(0));
            if filled {
                fill_object(cache, &blob, &obj, &e.digest, alg, false).map_err(store_err)?;
            }
            Ok(Ready::Cached { obj, filled })
        }
        None => copy_verified(&blob, dest, &e.digest, alg).map(Ready::Temp).map_err(store_err),
    }
}

/// Whether the entry's file under `root` (stat `f`) already has its content: the stat
/// cache answers for an unchanged file (either way), else the file is hashed.
fn is_present(e: &Entry, root: &Path, f: Found, statcache: Option<&StatCache>) -> bool {
    if !f.is_file || f.key.size != e.size.unwrap_or(0) {
        return false;
    }
    let alg = e.algorithm();
    if let (Some(sc), Some(want)) = (statcache, raw_digest(&e.digest)) {
        if let Some(known) = sc.lookup_raw(&f.key, alg) {
            return known == want;
        }
    }
    hash_file_keyed(&root.join(&*e.path), Some(f.key), alg, statcache).is_ok_and(|(d, _)| *d == *e.digest)
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
    use crate::cache::put_object;
    use crate::digest::hash_bytes;

    fn setup(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Manifest) {
        let d = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("V2", None);
        for (path, data) in files {
            let src = d.path().join("src.tmp");
            fs::write(&src, data).unwrap();
            let digest = hash_bytes(data, Algorithm::Md5);
            put_object(&d.path().join("store"), &src, &digest, Algorithm::Md5, false).unwrap();
            let e = Entry::new(*path, digest, Some(data.len() as u64));
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
    fn entries_blocked_by_a_directory_or_a_file_are_skipped_and_named() {
        let (d, m) = setup(&[("a.txt", b"a"), ("x/y/b.txt", b"bb"), ("ok/c.txt", b"c")]);
        let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
        fs::create_dir_all(root.join("a.txt/inside")).unwrap();
        fs::write(root.join("x"), b"a file where a directory should be").unwrap();
        let r = download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
        assert_eq!((r.placed, r.present), (1, 0));
        let skipped: Vec<_> = r.skipped.iter().map(|(p, why)| (p.as_str(), why.as_str())).collect();
        assert_eq!(skipped, [("a.txt", "a directory is in the way"), ("x/y/b.txt", "a file is in the way of its directory")]);
        assert_eq!(fs::read(root.join("ok/c.txt")).unwrap(), b"c");
        assert!(root.join("a.txt/inside").is_dir() && root.join("x").is_file(), "nothing in the way was touched");
    }

    #[test]
    fn escaping_path_writes_nothing() {
        let (d, mut m) = setup(&[("a.txt", b"a")]);
        let digest = m.entries["a.txt"].digest.clone();
        m.add_entry(Entry::new("../../x", digest, Some(1)), false).unwrap();
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
