//! Placing a manifest's files into a download root in one call: check what is already
//! there, fill the cache from the store (verified), then copy or link into place.
//!
//! Every destination is checked to stay inside the root before anything is written, and
//! every directory inside the root is opened component by component without following
//! symlinks (`beneath`), so nothing planted in the root can redirect a write out of it.
//! Each file is written to a temporary name beside its destination and renamed into
//! place: a file under its final name is always complete (whatever stops the download:
//! a full disk, a kill), and several processes downloading into one root at once each
//! see either the old file or a whole new one (a racing writer of the same content is
//! success). A file already present with the right content is left alone: its stat key
//! is looked up in the stat cache, or it is re-hashed. References are returned.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::beneath::{create_temp_at, cstr, key_of, lstat_at, named, open_regular_at, rename_at, unlink_at, DirError, Root};
use crate::cache::{copy_len, object_relpath, Placement};
use crate::digest::{hash_open_keyed, Algorithm};
use crate::manifest::{Entry, Manifest};
use crate::objdir::{is_temps_removed, ObjDir};
use crate::paths::stays_inside;
use crate::progress::{check, tick, watching, Progress};
use crate::stage::copy_hashing;
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
    /// (entry path, why) for entries skipped as wandb does: a directory in the way of
    /// the file, or a file in the way of one of its directories.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum DownloadError {
    /// A manifest path that would land outside the root (nothing was written).
    Escapes(String),
    /// A symlink inside the root where a directory of an entry should be (never followed).
    Symlink(PathBuf),
    MissingBlob { path: String, blob: PathBuf },
    CorruptBlob { path: String, blob: PathBuf, reason: String },
    Io(io::Error),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Escapes(p) => write!(f, "manifest path {p:?} would escape the download root"),
            Self::Symlink(p) => write!(f, "{} is a symlink inside the download root; refusing to write through it", p.display()),
            Self::MissingBlob { path, blob } => write!(f, "store object {} for artifact entry '{path}' is missing", blob.display()),
            Self::CorruptBlob { path, blob, reason } => {
                write!(f, "store object {} for artifact entry '{path}' is corrupt ({reason}); nothing was placed", blob.display())
            }
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DownloadError {}

impl From<DirError> for DownloadError {
    fn from(e: DirError) -> Self {
        match e {
            DirError::Symlink(p) => Self::Symlink(p),
            other => Self::Io(other.into()),
        }
    }
}

/// Place every non-reference entry of `manifest` under `opts.root`.
#[allow(clippy::too_many_lines)] // the three phases read best in one place
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
    let root = Root::open(opts.root, true).map_err(DownloadError::Io)?;
    let blocked = make_parents(&jobs, &root)?;
    // Phase 1: what is already there. Most repeat downloads end here, so this pass
    // allocates nothing per entry, and stats each file relative to its open directory.
    let states: Vec<State> = crate::pool::install(|| {
        jobs.par_iter()
            .map_init(
                || Cursor::new(&root),
                |cur, e| {
                    if check(progress).is_err() {
                        return State::Missing;
                    }
                    let state = if !blocked.is_empty() && blocked.contains(parent_of(&e.path)) {
                        State::Blocked
                    } else {
                        watching(progress, || check_dest(e, cur, opts.statcache))
                    };
                    if state != State::Missing {
                        tick(progress, 1, e.size.unwrap_or(0)); // done with: present or skipped
                    }
                    state
                },
            )
            .collect()
    });
    check(progress).map_err(DownloadError::Io)?;
    // Phase 2: every missing source made ready and verified. A bad store object stops
    // the download here, before anything is placed.
    let missing: Vec<(&Entry, String)> = jobs
        .iter()
        .zip(&states)
        .filter(|(_, s)| **s == State::Missing)
        .map(|(e, _)| Ok((*e, object_relpath(&e.digest, e.algorithm())?)))
        .collect::<io::Result<_>>()
        .map_err(DownloadError::Io)?;
    let cache = match opts.cache_root {
        Some(c) if !missing.is_empty() => {
            let objs = ObjDir::open(c).map_err(DownloadError::Io)?;
            objs.prepare(missing.iter().map(|(_, rel)| rel.as_str())).map_err(DownloadError::Io)?;
            Some(objs)
        }
        _ => None,
    };
    let ctx = Ctx { root: &root, opts, cache: cache.as_ref(), progress };
    let ready: Vec<Result<Ready, DownloadError>> = crate::pool::install(|| {
        missing.par_iter().map_init(|| Cursor::new(&root), |cur, (e, rel)| watching(progress, || ctx.prepare(e, rel, cur))).collect()
    });
    if let Some(pos) = ready.iter().position(Result::is_err) {
        let mut cur = Cursor::new(&root);
        for ((e, _), r) in missing.iter().zip(&ready) {
            if let (Ok(Ready::Temp(tmp)), Ok(fd)) = (r, cur.dir(parent_of(&e.path))) {
                unlink_at(fd, tmp);
            }
        }
        let mut ready = ready;
        return Err(ready.swap_remove(pos).expect_err("an error at pos"));
    }
    let ready: Vec<Ready> = ready.into_iter().map(|r| r.expect("no errors left")).collect();
    // Phase 3: place them, in parallel, noting each new file's stat key.
    let placed: Vec<Result<Placed, DownloadError>> = crate::pool::install(|| {
        missing
            .par_iter()
            .zip(ready.par_iter())
            .map_init(
                || Cursor::new(&root),
                |cur, ((e, rel), r)| {
                    let out = watching(progress, || ctx.place(e, rel, r, cur));
                    tick(progress, 1, e.size.unwrap_or(0));
                    out
                },
            )
            .collect()
    });
    // The files just written have known content: remember them, so that the next
    // download into this root checks them with a stat instead of reading them. Those
    // written in the last moments are racy: the stat cache may settle them.
    let written_by = crate::statcache::now_ns();
    let dests: Vec<PathBuf> = missing.iter().map(|(e, _)| opts.root.join(&*e.path)).collect();
    let mut racy = Vec::new();
    let mut first_error = None;
    for (((e, _), dest), p) in missing.iter().zip(&dests).zip(placed) {
        match p {
            Ok(Placed::File { key, filled }) => {
                if let (Some(cache), Some(key), Some(raw)) = (opts.statcache, key, raw_digest(&e.digest)) {
                    if !cache.record(&key, e.algorithm(), raw, written_by) {
                        racy.push((dest.as_path(), key, e.algorithm(), raw));
                    }
                }
                report.placed += 1;
                if filled {
                    report.filled_bytes += e.size.unwrap_or(0);
                }
            }
            Ok(Placed::Skipped(why)) => report.skipped.push((e.path.to_string(), why.to_owned())),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
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
            State::DirInWay => DIR_IN_WAY,
            State::Blocked => FILE_IN_WAY,
        };
        report.skipped.push((e.path.to_string(), why.to_owned()));
    }
    Ok(report)
}

const DIR_IN_WAY: &str = "a directory is in the way";
const FILE_IN_WAY: &str = "a file is in the way of its directory";

/// Parents once, up front: the parallel copies then only create files. Returns those
/// that cannot be made because a file is in the way, whose entries wandb skips with a
/// warning; any other failure (permission, a name too long, a symlink) is an error.
fn make_parents<'m>(jobs: &[&'m Entry], root: &Root) -> Result<BTreeSet<&'m str>, DownloadError> {
    // Runs of one directory (the usual manifest order) are skipped before the set.
    let mut parents: BTreeSet<&str> = BTreeSet::new();
    let mut last = None;
    for dir in jobs.iter().map(|e| parent_of(&e.path)) {
        if last != Some(dir) {
            parents.insert(dir);
            last = Some(dir);
        }
    }
    let mut blocked = BTreeSet::new();
    for dir in parents {
        match root.open_dir(dir, true) {
            Ok(_) => {}
            Err(DirError::FileInTheWay(_)) => {
                blocked.insert(dir);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(blocked)
}

/// The directory part of a manifest path, as written ("" at the top level: the root).
fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn name_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

fn raw_digest(b64: &str) -> Option<[u8; 16]> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()?.try_into().ok()
}

/// One thread's open directory under the root: consecutive entries of one directory
/// (the usual manifest order) reuse it.
struct Cursor<'r> {
    root: &'r Root,
    open: Option<(String, OwnedFd)>,
}

impl<'r> Cursor<'r> {
    fn new(root: &'r Root) -> Self {
        Self { root, open: None }
    }

    fn dir(&mut self, rel: &str) -> Result<RawFd, DirError> {
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
    /// The cache object (`ObjDir`) to copy or link from; `filled` if this call put it there.
    Cached { filled: bool },
    /// A verified copy (`skip_cache`) beside the destination, under this temp name.
    Temp(CString),
}

/// What phase 3 did with a missing entry.
enum Placed {
    File { key: Option<StatKey>, filled: bool },
    Skipped(&'static str),
}

fn check_dest(e: &Entry, cur: &mut Cursor<'_>, statcache: Option<&StatCache>) -> State {
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

/// What the parallel phases share.
struct Ctx<'a> {
    root: &'a Root,
    opts: &'a DownloadOptions<'a>,
    cache: Option<&'a ObjDir>,
    progress: Option<&'a Progress>,
}

impl Ctx<'_> {
    fn blob(&self, rel: &str) -> PathBuf {
        self.opts.store_objects.join(rel)
    }

    /// A store error for entry `e`, read from `blob`, as the caller should see it.
    fn store_err(e: &Entry, blob: &Path, err: io::Error) -> DownloadError {
        match err.kind() {
            io::ErrorKind::NotFound if !blob.exists() => DownloadError::MissingBlob { path: e.path.to_string(), blob: blob.to_owned() },
            io::ErrorKind::InvalidData => DownloadError::CorruptBlob { path: e.path.to_string(), blob: blob.to_owned(), reason: err.to_string() },
            _ => DownloadError::Io(err),
        }
    }

    /// Copy the store object into the cache, verified: Ok(false) if the cache could not
    /// keep it (its temp files were removed by a cleanup loop each time).
    fn fill(&self, cache: &ObjDir, e: &Entry, rel: &str) -> Result<bool, DownloadError> {
        let blob = self.blob(rel);
        match cache.fill(&blob, rel, &e.digest, e.algorithm(), false) {
            Ok(()) => Ok(true),
            Err(err) if is_temps_removed(&err) => Ok(false),
            Err(err) => Err(Self::store_err(e, &blob, err)),
        }
    }

    fn prepare(&self, e: &Entry, rel: &str, cur: &mut Cursor<'_>) -> Result<Ready, DownloadError> {
        check(self.progress).map_err(DownloadError::Io)?;
        if let Some(cache) = self.cache {
            let missing = !cache.is_hit(rel, e.size.unwrap_or(0));
            // Not kept (a cleanup loop): phase 3 copies it from the store instead.
            let filled = missing && self.fill(cache, e, rel)?;
            return Ok(Ready::Cached { filled });
        }
        let fd = cur.dir(parent_of(&e.path))?;
        let blob = self.blob(rel);
        copy_verified(&blob, fd, &e.digest, e.algorithm())
            .map(Ready::Temp)
            .map_err(|err| Self::store_err(e, &blob, err))
    }

    fn place(&self, e: &Entry, rel: &str, r: &Ready, cur: &mut Cursor<'_>) -> Result<Placed, DownloadError> {
        let dest = || self.root.path().join(&*e.path);
        let fd = match cur.dir(parent_of(&e.path)) {
            Ok(fd) => fd,
            Err(DirError::FileInTheWay(_)) => return Ok(Placed::Skipped(FILE_IN_WAY)), // made since phase 1
            Err(err) => return Err(err.into()),
        };
        let name = cstr(name_of(&e.path).as_bytes()).map_err(DownloadError::Io)?;
        if let Err(err) = check(self.progress) {
            if let Ready::Temp(tmp) = r {
                unlink_at(fd, tmp);
            }
            return Err(DownloadError::Io(err));
        }
        let (tmp, written, filled) = match r {
            Ready::Temp(tmp) => (tmp.clone(), None, false),
            Ready::Cached { filled } => {
                let cache = self.cache.expect("cached entries have a cache");
                let (tmp, file, refilled) = self.write_from_cache(cache, e, rel, fd).map_err(|err| match err {
                    DownloadError::Io(err) => DownloadError::Io(named(err, &dest())),
                    other => other,
                })?;
                (tmp, file, *filled || refilled)
            }
        };
        if let Err(err) = rename_at(fd, &tmp, fd, &name) {
            unlink_at(fd, &tmp);
            return match err.raw_os_error() {
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => Ok(Placed::Skipped(DIR_IN_WAY)),
                _ => Err(DownloadError::Io(named(err, &dest()))),
            };
        }
        if written.is_none() && matches!(r, Ready::Cached { .. }) {
            // A link onto a link of the same object (another process placed it): rename(2)
            // then succeeds without doing anything, and the temp name remains.
            unlink_at(fd, &tmp);
        }
        // The key after the rename (which changes the file's ctime).
        let key = match written {
            Some(f) => f.metadata().ok().map(|m| StatKey::of(&m)),
            None => lstat_at(fd, &name).ok().map(|st| key_of(&st)),
        };
        Ok(Placed::File { key, filled })
    }

    /// A copy (or hard link) of the entry's cache object as a temp file in `dir`: (temp
    /// name, the open copy if one was written, whether the object had to be refilled
    /// because it was evicted or replaced since phase 2).
    fn write_from_cache(&self, cache: &ObjDir, e: &Entry, rel: &str, dir: RawFd) -> Result<(CString, Option<File>, bool), DownloadError> {
        let size = e.size.unwrap_or(0);
        let mut refilled = false;
        let mut attempts = 0;
        let obj = loop {
            match cache.open_object(rel, size).map_err(DownloadError::Io)? {
                Some(f) => break Some(f),
                // Evicted (a cleanup, another process's cap) since it was found: again from the store.
                None if attempts < 3 && self.fill(cache, e, rel)? => {
                    attempts += 1;
                    refilled = true;
                }
                None => break None,
            }
        };
        let Some(obj) = obj else {
            // The cache cannot keep it (cleared in a loop): straight from the store, verified.
            let blob = self.blob(rel);
            let tmp = copy_verified(&blob, dir, &e.digest, e.algorithm()).map_err(|err| Self::store_err(e, &blob, err))?;
            return Ok((tmp, None, false));
        };
        let meta = obj.metadata().map_err(DownloadError::Io)?;
        if self.opts.placement == Placement::Hardlink {
            if let Some(tmp) = link_temp(cache, rel, dir, meta.ino()) {
                return Ok((tmp, None, refilled));
            }
        }
        let mode = meta.permissions().mode() & 0o7777;
        let (mut out, tmp) = create_temp_at(dir, mode).map_err(DownloadError::Io)?;
        // Exactly the source's mode, whatever the umask.
        let copied = out.set_permissions(std::fs::Permissions::from_mode(mode)).and_then(|()| copy_len(&obj, &mut out, meta.len()));
        if let Err(err) = copied {
            unlink_at(dir, &tmp);
            return Err(DownloadError::Io(err));
        }
        Ok((tmp, Some(out), refilled))
    }
}

#[allow(clippy::unnecessary_cast)] // libc's stat field types differ between platforms
/// Hard-link the cache object as a temp name in `dir`, if it is still the regular file
/// `ino` we opened (a symlink swapped in is never linked); None: copy instead.
fn link_temp(cache: &ObjDir, rel: &str, dir: RawFd, ino: u64) -> Option<CString> {
    let tmp = cstr(format!(".artefact-{}", crate::tmpname::tmp_name()).as_bytes()).ok()?;
    cache.link_object(rel, dir, &tmp).ok()?;
    match lstat_at(dir, &tmp) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_ino as u64 == ino => Some(tmp),
        _ => {
            unlink_at(dir, &tmp);
            None
        }
    }
}

/// Copy `src` to a temp file in `dir`, refusing content that does not hash to `digest`
/// (the temp file is removed). Returns the temp name, for a later rename.
fn copy_verified(src: &Path, dir: RawFd, digest: &str, alg: Algorithm) -> io::Result<CString> {
    let mut input = File::open(src)?;
    let mode = input.metadata()?.permissions().mode() & 0o7777;
    let (mut out, tmp) = create_temp_at(dir, 0o600)?;
    let r = copy_hashing(&mut input, &mut out, alg).and_then(|(raw, _)| {
        let found = crate::digest::b64(&raw);
        if found != digest {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch: expected {digest}, found {found}")));
        }
        out.set_permissions(std::fs::Permissions::from_mode(mode))
    });
    match r {
        Ok(()) => Ok(tmp),
        Err(e) => {
            unlink_at(dir, &tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::put_object;
    use std::fs;
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

    #[test]
    fn a_symlinked_directory_in_the_root_is_never_written_through() {
        let (d, m) = setup(&[("sub/a.txt", b"new"), ("b.txt", b"b")]);
        let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("a.txt"), b"precious").unwrap();
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();
        for c in [Some(cache.as_path()), None] {
            match download(&m, &opts(&store, &root, c), None) {
                Err(DownloadError::Symlink(p)) => assert_eq!(p, root.join("sub")),
                other => panic!("{other:?}"),
            }
            assert_eq!(fs::read(outside.join("a.txt")).unwrap(), b"precious");
            assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        }
    }

    #[test]
    fn parents_that_cannot_be_made_are_errors_naming_them() {
        let long = format!("{}/f.txt", "d".repeat(300));
        let (d, m) = setup(&[(long.as_str(), b"x")]);
        let (store, root) = (d.path().join("store"), d.path().join("root"));
        let e = download(&m, &opts(&store, &root, None), None).unwrap_err();
        assert!(e.to_string().contains(&"d".repeat(300)), "{e}");
        let file_root = d.path().join("file");
        fs::write(&file_root, b"x").unwrap();
        let e = download(&m, &opts(&store, &file_root, None), None).unwrap_err();
        assert!(e.to_string().contains(file_root.to_str().unwrap()), "{e}");
    }

    #[test]
    fn a_symlinked_destination_file_is_replaced_not_written_through() {
        let (d, m) = setup(&[("a.txt", b"new")]);
        let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
        let outside = d.path().join("outside.txt");
        fs::write(&outside, b"precious").unwrap();
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a.txt")).unwrap();
        download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
        assert!(fs::symlink_metadata(root.join("a.txt")).unwrap().is_file());
        assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"new");
    }

    #[test]
    fn hardlinks_never_link_a_symlinked_cache_object() {
        let (d, m) = setup(&[("a.txt", b"new")]);
        let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
        let rel = object_relpath(&m.entries["a.txt"].digest, Algorithm::Md5).unwrap();
        let outside = d.path().join("outside.txt");
        fs::write(&outside, b"xyz").unwrap(); // same size as the entry
        fs::create_dir_all(cache.join(&rel).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, cache.join(&rel)).unwrap();
        let mut o = opts(&store, &root, Some(&cache));
        o.placement = Placement::Hardlink;
        download(&m, &o, None).unwrap();
        assert!(fs::symlink_metadata(root.join("a.txt")).unwrap().is_file());
        assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"new");
        assert!(fs::symlink_metadata(cache.join(&rel)).unwrap().is_file(), "the cache object was replaced");
    }
}
