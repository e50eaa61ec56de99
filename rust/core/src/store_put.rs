//! Logging's one write per byte: the files of a version enter the embedded store's
//! content-addressed blobs (`obj/<alg>/<2>/<30>`, as in cache.rs).
//!
//! A staged copy (mutable policy) was written and hashed once when it was added: it is
//! renamed into place, not copied again. Any other file (immutable policy) is copied
//! once, verified while copying, to `tmp/` and renamed into place. Content the store
//! already holds is not written again (a staged duplicate is removed). A staged copy on
//! another filesystem than the store is copied like an immutable file.
//!
//! Durability: nothing is renamed into place before its data is on disk, and the renames
//! are on disk before this returns. Either each written file and each touched directory
//! is fsynced (`SyncMode::Files`), or the store's filesystem is synced once
//! (`SyncMode::Filesystem`, `syncfs`, which also waits for every other process's dirty
//! data on that filesystem), or this batch's files are written out first and then
//! fsynced from many threads (`SyncMode::Written`: the fsyncs share journal commits, and
//! nobody else's dirty data is waited for). `SyncMode::Auto` chooses by the batch's size
//! and the system's dirty data (store_sync.rs).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::object_relpath;
use crate::digest::{b64, Algorithm};
use crate::progress::{tick, Progress};
use crate::stage::copy_and_digest;
use crate::statcache::StatCache;
use crate::walk::StatKey;
use crate::walk::with_path;

pub use crate::store_sync::SyncMode;
use crate::store_sync::{choose, each_of, flush_written, large_batch, sync_filesystem, FEW};

/// One file to store (here, or into a pack: pack.rs): its digest, and whether `src` is a
/// private staged copy that may be moved (and is removed once its content is in the store).
pub struct Item {
    pub src: PathBuf,
    pub digest: String,
    pub alg: Algorithm,
    pub staged: bool,
}

/// What phase 1 did with an item.
enum Plan {
    /// The store already had it.
    Have,
    /// Rename `from` (a staged copy, or a verified copy in `tmp/`) to `dest`.
    Move { from: PathBuf, dest: PathBuf, size: u64 },
}

/// Store every item under `root`; per item, whether it was written now. On a bad item
/// (unreadable, or no longer matching its digest) nothing new is placed and its index
/// comes with the error; staged copies are left as they were, but for their mode.
pub fn store_files(root: &Path, items: &[Item], sync: SyncMode, statcache: Option<&StatCache>, progress: Option<&Progress>) -> Result<Vec<bool>, (usize, io::Error)> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let tmp_dir = root.join("tmp");
    fs::create_dir_all(&tmp_dir).map_err(|e| (0, with_path(e, &tmp_dir)))?;
    let root_dev = fs::metadata(root).map_err(|e| (0, with_path(e, root)))?.dev();
    let mode = object_mode();
    // Copies of a Files-mode batch are fsynced where they are written; a small batch is
    // Files mode whatever the kernel's dirty total.
    let early = match sync {
        SyncMode::Files => true,
        SyncMode::Filesystem | SyncMode::Written => false,
        SyncMode::Auto => items.len() <= FEW,
    };
    let planned: Vec<io::Result<Plan>> = crate::pool::install(|| {
        items.par_iter().map(|it| plan(root, &tmp_dir, root_dev, mode, it, early && !it.staged, statcache, progress)).collect()
    });
    if let Some(bad) = planned.iter().position(Result::is_err) {
        for p in planned.iter().flatten() {
            if let Plan::Move { from, .. } = p {
                if from.starts_with(&tmp_dir) {
                    let _ = fs::remove_file(from); // our copy; a staged one stays staged
                }
            }
        }
        let mut planned = planned;
        return Err((bad, planned.swap_remove(bad).err().expect("an error at bad")));
    }
    let plans: Vec<Plan> = planned.into_iter().map(|p| p.expect("no errors left")).collect();
    let moves: Vec<(&Path, &Path, u64)> = plans
        .iter()
        .filter_map(|p| match p {
            Plan::Move { from, dest, size } => Some((from.as_path(), dest.as_path(), *size)),
            Plan::Have => None,
        })
        .collect();
    if !moves.is_empty() {
        let how = match sync {
            SyncMode::Auto if choose(&moves) => SyncMode::Files,
            SyncMode::Auto => large_batch(moves.iter().map(|m| m.2).sum()),
            other => other,
        };
        commit_moves(root, &tmp_dir, &moves, how, early).map_err(|e| (0, e))?;
    }
    if crate::onepass::pending() > 0 {
        // Pre-copies now in the store are forgotten; any left (stored already, or copied
        // across filesystems) are removed.
        crate::onepass::discard(items.iter().filter(|it| !it.staged).map(|it| it.src.as_path()));
    }
    Ok(plans.iter().map(|p| matches!(p, Plan::Move { .. })).collect())
}

/// Indexes of the `(digest, algorithm)` objects that `root` does not hold as regular
/// files (lstat, in parallel): the commit's last check, under the catalog's write lock,
/// that nothing it references was collected meanwhile.
pub fn missing(root: &Path, items: &[(String, Algorithm)]) -> io::Result<Vec<usize>> {
    let rels = items.iter().map(|(d, a)| object_relpath(d, *a)).collect::<io::Result<Vec<_>>>()?;
    let mut gone: Vec<usize> = crate::pool::install(|| {
        rels.par_iter().enumerate().filter(|(_, rel)| !fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_file())).map(|(i, _)| i).collect()
    });
    gone.sort_unstable();
    Ok(gone)
}

/// A staged copy younger than this is as fresh as a new object to gc's grace period.
const FRESH: std::time::Duration = std::time::Duration::from_secs(10);

#[allow(clippy::too_many_arguments)]
fn plan(root: &Path, tmp_dir: &Path, root_dev: u64, mode: u32, it: &Item, fsync_copy: bool, statcache: Option<&StatCache>, progress: Option<&Progress>) -> io::Result<Plan> {
    if !it.staged {
        // The immutable policy's copy made while hashing (onepass.rs): moved in like a
        // staged copy; gone (a gc, say), the file itself is copied as usual.
        if let Some(copy) = crate::onepass::find(&it.src, &it.digest, it.alg) {
            if fs::symlink_metadata(&copy).is_ok_and(|m| m.is_file()) {
                let pre = Item { src: copy, digest: it.digest.clone(), alg: it.alg, staged: true };
                return plan(root, tmp_dir, root_dev, mode, &pre, fsync_copy, statcache, progress);
            }
            crate::onepass::forget(&it.src);
        }
    }
    let dest = root.join(object_relpath(&it.digest, it.alg)?);
    let meta = match fs::metadata(&it.src) {
        // A staged copy already moved in (by an earlier attempt of this log).
        Err(e) if e.kind() == io::ErrorKind::NotFound && it.staged && touch(&dest) => {
            tick(progress, 1, 0);
            return Ok(Plan::Have);
        }
        other => other.map_err(|e| with_path(e, &it.src))?,
    };
    let size = meta.len();
    if have(&dest, size) {
        if it.staged {
            let _ = fs::remove_file(&it.src); // a duplicate: its content is stored
        }
        tick(progress, 1, 0);
        return Ok(Plan::Have);
    }
    if it.staged && meta.dev() == root_dev {
        // Store objects have the mode a fresh file gets (downloads copy it).
        if meta.permissions().mode() & 0o7777 != mode {
            fs::set_permissions(&it.src, fs::Permissions::from_mode(mode)).map_err(|e| with_path(e, &it.src))?;
        }
        // Its mtime is the staging time: made "now", as a fresh object's, so that gc's
        // grace period spares it until the commit references it (a copy staged moments
        // ago already is: one `utimensat` per file spared).
        if !meta.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age < FRESH) {
            touch(&it.src);
        }
        tick(progress, 1, size);
        return Ok(Plan::Move { from: it.src.clone(), dest, size });
    }
    let mut input = File::open(&it.src).map_err(|e| with_path(e, &it.src))?;
    let (mut out, tmp) = create_tmp(tmp_dir)?;
    // A file the stat cache knows, unchanged since (same key as when it was hashed), is
    // not hashed again: the kernel copies it (the add already read it once).
    // Likewise a small immutable file this process hashed when it was added
    // (`onepass::hashed_digest`, where the stat cache is off).
    let known = input.metadata().ok().map(|m| StatKey::of(&m)).filter(|key| {
        let raw = statcache.and_then(|sc| sc.lookup_raw(key, it.alg)).or_else(|| crate::onepass::hashed_digest(key, it.alg));
        key.size == size && raw.is_some_and(|raw| b64(&raw) == it.digest)
    });
    // A rewrite racing the kernel's copy moves the source's ctime: its stat key differs then.
    let unchanged = |key: StatKey| match input.metadata() {
        Ok(m) if StatKey::of(&m) == key => Ok(()),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch for {}: changed while it was stored", it.src.display()))),
    };
    let copied = if let Some(key) = known {
        copy_all(&input, &out, size).and_then(|()| unchanged(key)).map(|()| ([0u8; 16], size))
    } else if size < crate::stage::PIPELINE_MIN {
        crate::stage::copy_hashing_checked(&mut input, &mut out, it.alg, size)
    } else {
        copy_and_digest(&mut input, &mut out, size, it.alg)
    };
    let checked = copied.and_then(|(raw, _)| {
        if known.is_some() {
            return if fsync_copy { out.sync_all() } else { Ok(()) };
        }
        let found = b64(&raw);
        if found != it.digest {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("digest mismatch for {}: expected {}, found {found}", it.src.display(), it.digest),
            ));
        }
        if fsync_copy {
            out.sync_all()?;
        }
        Ok(())
    });
    if let Err(e) = checked {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    tick(progress, 1, size);
    Ok(Plan::Move { from: tmp, dest, size })
}

/// Copy all of `input` (`size` bytes, from a stat key still matching: it has not grown)
/// to `out` kernel-side (`copy_file_range`), or through userspace where the kernel cannot.
fn copy_all(input: &File, out: &File, size: u64) -> io::Result<()> {
    if crate::cache::copy_exact_at(input, out, 0, size)? {
        return Ok(());
    }
    io::copy(&mut &*input, &mut &*out).map(|_| ())
}

/// Data on disk, renames (parents made once per directory), renames on disk.
fn commit_moves(root: &Path, tmp_dir: &Path, moves: &[(&Path, &Path, u64)], how: SyncMode, copies_synced: bool) -> io::Result<()> {
    match how {
        SyncMode::Files => {
            // Copies written in Files mode were fsynced as written; staged copies were
            // written long before (at add time) and are flushed now.
            let todo: Vec<&Path> = moves.iter().map(|m| m.0).filter(|f| !(copies_synced && f.starts_with(tmp_dir))).collect();
            each_of(&todo, 32, |p| File::open(p).and_then(|f| f.sync_all()).map_err(|e| with_path(e, p)))?;
        }
        SyncMode::Written => {
            let todo: Vec<&Path> = moves.iter().map(|m| m.0).collect();
            flush_written(&todo)?;
        }
        _ => sync_filesystem(root)?,
    }
    let parents: BTreeSet<&Path> = moves.iter().map(|m| m.1.parent().expect("object paths have a parent")).collect();
    for dir in &parents {
        match fs::create_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?,
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(with_path(e, dir)),
            _ => {}
        }
    }
    crate::pool::install(|| moves.par_iter().try_for_each(|(from, dest, _)| fs::rename(from, dest).map_err(|e| with_path(e, dest))))?;
    if how == SyncMode::Files || how == SyncMode::Written {
        let dirs: Vec<&Path> = parents.into_iter().collect();
        each_of(&dirs, 32, |d| File::open(d).and_then(|f| f.sync_all()).map_err(|e| with_path(e, d)))?;
        // New shard directories are entries of their parents: flush those too.
        let grand: BTreeSet<&Path> = dirs.iter().filter_map(|d| d.parent()).collect();
        for g in grand {
            File::open(g).and_then(|f| f.sync_all()).map_err(|e| with_path(e, g))?;
        }
    } else {
        sync_filesystem(root)?;
    }
    Ok(())
}

/// A stored object of this size is there; its mtime is refreshed (one `utimensat`, no
/// open) so that a running gc's grace period spares it until the commit references it.
fn have(dest: &Path, size: u64) -> bool {
    touch(dest) && fs::symlink_metadata(dest).is_ok_and(|m| m.is_file() && m.len() == size)
}

/// Set a file's times to now (not following a symlink); false if it is not there.
fn touch(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid C string; a null `times` means "now" for both times.
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), libc::AT_SYMLINK_NOFOLLOW) == 0 }
}

/// A new temp file in `dir` (mode 0o666 less the umask), named without a system call.
fn create_tmp(dir: &Path) -> io::Result<(File, PathBuf)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!("put-{}-{n:x}", crate::stage::current_pid()));
        match fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o666).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, dir)),
        }
    }
}

/// The mode a new file gets here: 0o666 less the umask.
fn object_mode() -> u32 {
    0o666 & !umask()
}

/// This process's umask (read once, from /proc; 0o022 where unknown).
pub fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_owned())))
            .and_then(|v| u32::from_str_radix(&v, 8).ok())
            .unwrap_or(0o022)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;
    use crate::stage::copy_and_hash;

    fn item(src: &Path, data: &[u8], staged: bool) -> Item {
        Item { src: src.to_owned(), digest: hash_bytes(data, Algorithm::Md5), alg: Algorithm::Md5, staged }
    }

    /// A temp dir holding an empty `store` and `staging`: (the dir, store, staging).
    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let (store, staging) = (d.path().join("store"), d.path().join("staging"));
        fs::create_dir_all(&store).unwrap();
        fs::create_dir_all(&staging).unwrap();
        (d, store, staging)
    }

    #[test]
    fn missing_names_the_objects_not_stored_and_trusts_no_symlink() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("store");
        fs::create_dir_all(&store).unwrap();
        let src = d.path().join("a.bin");
        fs::write(&src, b"alpha").unwrap();
        let stored = item(&src, b"alpha", false);
        store_files(&store, &[stored], SyncMode::Files, None, None).unwrap();
        let (a, b, c) = (hash_bytes(b"alpha", Algorithm::Md5), hash_bytes(b"beta", Algorithm::Md5), hash_bytes(b"gamma", Algorithm::Md5));
        let link = store.join(object_relpath(&c, Algorithm::Md5).unwrap());
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&src, &link).unwrap();
        let items = [(b.clone(), Algorithm::Md5), (a, Algorithm::Md5), (c, Algorithm::Md5), (b, Algorithm::Md5)];
        assert_eq!(missing(&store, &items).unwrap(), [0, 2, 3]);
        assert!(missing(&store, &[("not base64!".into(), Algorithm::Md5)]).is_err());
    }

    #[test]
    fn a_fresh_staged_copy_keeps_its_mtime_an_old_one_is_touched() {
        let (d, store, staging) = dirs();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for (data, age) in [(&b"fresh"[..], None), (&b"stale"[..], Some(hour_ago))] {
            let src = d.path().join("f.bin");
            fs::write(&src, data).unwrap();
            let (_, _, staged) = copy_and_hash(&src, &staging, Algorithm::Md5).unwrap();
            if let Some(t) = age {
                File::options().write(true).open(&staged).unwrap().set_modified(t).unwrap();
            }
            let before = fs::metadata(&staged).unwrap().modified().unwrap();
            store_files(&store, &[item(&staged, data, true)], SyncMode::Files, None, None).unwrap();
            let obj = store.join(object_relpath(&hash_bytes(data, Algorithm::Md5), Algorithm::Md5).unwrap());
            let after = fs::metadata(&obj).unwrap().modified().unwrap();
            assert!(after.elapsed().unwrap() < FRESH, "an object is fresh to gc when its commit comes");
            if age.is_none() {
                assert_eq!(after, before, "no utimensat for a copy staged moments ago");
            }
        }
    }

    #[test]
    fn staged_copies_are_moved_others_copied_known_content_skipped() {
        let (d, store, staging) = dirs();
        let src = d.path().join("a.bin");
        fs::write(&src, b"alpha").unwrap();
        let (_, _, staged) = copy_and_hash(&src, &staging, Algorithm::Md5).unwrap();
        let plain = d.path().join("b.bin");
        fs::write(&plain, b"beta").unwrap();
        for mode in [SyncMode::Files, SyncMode::Filesystem, SyncMode::Written] {
            let s = store.join(format!("{mode:?}"));
            fs::create_dir_all(&s).unwrap();
            let (_, _, staged) = if mode == SyncMode::Files { (String::new(), 0, staged.clone()) } else { copy_and_hash(&src, &staging, Algorithm::Md5).unwrap() };
            let items = [item(&staged, b"alpha", true), item(&plain, b"beta", false)];
            assert_eq!(store_files(&s, &items, mode, None, None).unwrap(), [true, true]);
            assert!(!staged.exists(), "the staged copy became the object");
            assert!(plain.exists(), "an immutable source is left alone");
            let obj = s.join(object_relpath(&items[0].digest, Algorithm::Md5).unwrap());
            assert_eq!(fs::read(&obj).unwrap(), b"alpha");
            assert_eq!(fs::metadata(&obj).unwrap().permissions().mode() & 0o777, object_mode());
            assert_eq!(fs::read_dir(s.join("tmp")).unwrap().count(), 0);
            // Again: nothing is written, and a staged duplicate is removed.
            let (_, _, dup) = copy_and_hash(&src, &staging, Algorithm::Md5).unwrap();
            assert_eq!(store_files(&s, &[item(&dup, b"alpha", true), item(&plain, b"beta", false)], mode, None, None).unwrap(), [false, false]);
            assert!(!dup.exists());
        }
    }

    #[test]
    fn a_file_the_stat_cache_knows_is_copied_unhashed_and_a_changed_one_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("store");
        fs::create_dir_all(&store).unwrap();
        let sc = StatCache::open(&d.path().join("statcache.bin"), 1000);
        let src = d.path().join("f.bin");
        fs::write(&src, b"known content").unwrap();
        let key = StatKey::of(&fs::metadata(&src).unwrap());
        let raw = crate::digest::hash_file_raw(&src, Algorithm::Md5).unwrap().0;
        // Recorded once the file is safely older than the stat cache's racy margin.
        let recorded = [100, 2100].iter().any(|ms| {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            sc.record(&key, Algorithm::Md5, raw, crate::statcache::now_ns())
        });
        assert!(recorded);
        let it = item(&src, b"known content", false);
        assert_eq!(store_files(&store, &[it], SyncMode::Auto, Some(&sc), None).unwrap(), [true]);
        let obj = store.join(object_relpath(&hash_bytes(b"known content", Algorithm::Md5), Algorithm::Md5).unwrap());
        assert_eq!(fs::read(&obj).unwrap(), b"known content");
        // Changed since it was hashed: its key no longer matches, so the copy is verified.
        fs::write(&src, b"other content").unwrap();
        let fresh = d.path().join("store2");
        fs::create_dir_all(&fresh).unwrap();
        let (_, e) = store_files(&fresh, &[item(&src, b"known content", false)], SyncMode::Auto, Some(&sc), None).unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
    }

    #[test]
    fn an_immutable_files_pre_copy_is_moved_in_and_the_file_left_alone() {
        use std::os::unix::fs::MetadataExt;
        let (d, store, staging) = dirs();
        let src = d.path().join("model.bin");
        let data: Vec<u8> = (0..(crate::stage::PIPELINE_MIN as usize + 99)).map(|i| (i % 249) as u8).collect();
        fs::write(&src, &data).unwrap();
        let (digest, _) = crate::onepass::hash_and_precopy(&src, &staging, 1, Algorithm::Md5, None).unwrap();
        let copy = crate::onepass::find(&src, &digest, Algorithm::Md5).unwrap();
        let ino = fs::metadata(&copy).unwrap().ino();
        let it = Item { src: src.clone(), digest: digest.clone(), alg: Algorithm::Md5, staged: false };
        assert_eq!(store_files(&store, &[it], SyncMode::Files, None, None).unwrap(), [true]);
        let obj = store.join(object_relpath(&digest, Algorithm::Md5).unwrap());
        assert_eq!(fs::metadata(&obj).unwrap().ino(), ino, "the pre-copy became the object: no second write");
        assert_eq!(fs::read(&obj).unwrap(), data);
        assert_eq!(fs::metadata(&obj).unwrap().permissions().mode() & 0o777, object_mode());
        assert_eq!(fs::read(&src).unwrap(), data, "the user's file is untouched");
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
        assert!(crate::onepass::find(&src, &digest, Algorithm::Md5).is_none());
        // Again, already stored: the new pre-copy is removed, nothing written.
        let (again, _) = crate::onepass::hash_and_precopy(&src, &staging, 1, Algorithm::Md5, None).unwrap();
        let it = Item { src: src.clone(), digest: again, alg: Algorithm::Md5, staged: false };
        assert_eq!(store_files(&store, &[it], SyncMode::Filesystem, None, None).unwrap(), [false]);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
    }

    #[test]
    fn written_mode_stores_a_batch_larger_than_its_threads() {
        let (d, store, staging) = dirs();
        let n = 519; // more files than threads in either pass, and not a multiple of them
        let mut items = Vec::new();
        for i in 0..n {
            let data = format!("file {i}").into_bytes();
            let src = d.path().join(format!("{i}.bin"));
            fs::write(&src, &data).unwrap();
            // Half staged copies (moved in), half plain files (copied to tmp/ first).
            let it = if i % 2 == 0 { item(&copy_and_hash(&src, &staging, Algorithm::Md5).unwrap().2, &data, true) } else { item(&src, &data, false) };
            items.push((it, data));
        }
        let (its, datas): (Vec<Item>, Vec<Vec<u8>>) = items.into_iter().unzip();
        assert!(store_files(&store, &its, SyncMode::Written, None, None).unwrap().iter().all(|w| *w));
        for (it, data) in its.iter().zip(&datas) {
            assert_eq!(&fs::read(store.join(object_relpath(&it.digest, Algorithm::Md5).unwrap())).unwrap(), data);
        }
        assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0, "every staged copy was moved in");
    }

    #[test]
    fn a_changed_file_places_nothing_and_names_itself() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("store");
        fs::create_dir_all(&store).unwrap();
        let (good, bad) = (d.path().join("good"), d.path().join("bad"));
        fs::write(&good, b"good").unwrap();
        fs::write(&bad, b"changed").unwrap();
        let items = [item(&good, b"good", false), item(&bad, b"original", false)];
        let (index, e) = store_files(&store, &items, SyncMode::Auto, None, None).unwrap_err();
        assert_eq!(index, 1);
        assert!(e.to_string().contains("bad"), "{e}");
        assert!(!store.join("obj").exists(), "nothing placed");
        assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0, "no temp files left");
    }
}
