//! Content-addressed object directories (wandb's cache layout), used for both the
//! artifact file cache and the embedded store's blobs:
//!
//! ```text
//! <root>/obj/md5/<2 hex>/<30 hex>      <root>/obj/xxh128/...      <root>/obj/etag/<2>/<62>
//! <root>/tmp/<random>                  writes in progress
//! ```
//!
//! An object is written to `tmp/`, hashed while it is copied, checked against the digest
//! it will be filed under, fsynced, then renamed into place: a reader never sees a
//! partial or wrong object, and a crash leaves only a stray temp file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::digest::{b64, b64_to_hex, hex, Algorithm};
use crate::objdir::ObjDir;
use crate::progress::{tick, Progress};
use crate::stage::copy_hashing;
use crate::walk::with_path;

/// `obj/<alg>/<2 hex>/<30 hex>` for an entry digest.
/// A regular file of this size at `path`, checked without following links (a symlink or
/// directory planted where an object belongs is a miss).
pub fn is_hit(path: &Path, size: u64) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file() && m.len() == size)
}

pub fn object_relpath(digest: &str, alg: Algorithm) -> io::Result<String> {
    let h = b64_to_hex(digest)
        .filter(|h| h.len() >= 3)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("not a base64 file digest: {digest:?}")))?;
    Ok(format!("obj/{}/{}/{}", alg.cache_dir(), &h[..2], &h[2..]))
}

/// `obj/etag/<2>/<62>`: sha256(sha256(url) || sha256(etag)), wandb's key for references.
pub fn etag_relpath(url: &str, etag: &str) -> String {
    let mut h = Sha256::new();
    h.update(Sha256::digest(url.as_bytes()));
    h.update(Sha256::digest(etag.as_bytes()));
    let x = hex(&h.finalize());
    format!("obj/etag/{}/{}", &x[..2], &x[2..])
}

/// Create `<dir>/<tmp name>` with mode 0o666 less the umask (open(2) applies it).
fn create_tmp(dir: &Path) -> io::Result<(File, PathBuf)> {
    let mut made = false;
    loop {
        let p = dir.join(crate::tmpname::tmp_name());
        match OpenOptions::new().write(true).create_new(true).mode(0o666).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            // Made on first need: checking it per object cost two syscalls each.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !made => {
                fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
                made = true;
            }
            Err(e) => return Err(with_path(e, dir)),
        }
    }
}

/// File `src` under `root` by `digest`, verifying it on the way in.
/// Returns (object path, whether it was written now). An existing object is kept; one
/// that is not a regular file (a symlink, a directory) is a miss and is replaced.
pub fn put_object(root: &Path, src: &Path, digest: &str, alg: Algorithm, durable: bool) -> io::Result<(PathBuf, bool)> {
    let rel = object_relpath(digest, alg)?;
    let objs = ObjDir::open(root)?;
    objs.prepare([rel.as_str()])?;
    let expected = fs::metadata(src).map_err(|e| with_path(e, src))?.len();
    if objs.is_hit(&rel, expected) {
        return Ok((objs.join(&rel), false));
    }
    objs.fill(src, &rel, digest, alg, durable)?;
    Ok((objs.join(&rel), true))
}

/// Flush everything written under `dir` to disk: one `syncfs` instead of an fsync per
/// file (the same guarantee for a batch, at a fraction of the cost).
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    let f = File::open(dir)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: syncfs on a descriptor we own.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        f.sync_all()
    }
}

/// Refresh an object's mtime (gc spares recent objects); false if it is gone.
fn touch(path: &Path) -> bool {
    File::options().write(true).open(path).and_then(|f| f.set_modified(std::time::SystemTime::now())).is_ok()
}

/// `put_object` for a batch, durably: every new object is copied to `tmp/` and verified
/// (in parallel), the filesystem is synced once, then all are renamed into place and
/// synced again. Existing objects are kept and touched. Returns, per item, whether it
/// was written; on a bad item, nothing new is placed and its index comes with the error.
pub fn put_objects(root: &Path, items: &[(PathBuf, String, Algorithm)], progress: Option<&Progress>) -> Result<Vec<bool>, (usize, io::Error)> {
    let tmp_dir = root.join("tmp");
    let rels: Vec<String> = items.iter().map(|(_, d, a)| object_relpath(d, *a)).collect::<io::Result<_>>().map_err(|e| (0, e))?;
    let objs = ObjDir::open(root).map_err(|e| (0, e))?;
    objs.prepare(rels.iter().map(String::as_str).chain(["tmp/x"])).map_err(|e| (0, e))?;
    let staged: Vec<io::Result<Option<(PathBuf, PathBuf)>>> = crate::pool::install(|| {
        items
            .par_iter()
            .zip(&rels)
            .map(|((src, digest, alg), rel)| {
                crate::progress::check(progress)?;
                let dest = objs.join(rel);
                let size = fs::metadata(src).map_err(|e| with_path(e, src))?.len();
                if objs.is_hit(rel, size) && touch(&dest) {
                    tick(progress, 1, 0);
                    return Ok(None);
                }
                let mut input = File::open(src).map_err(|e| with_path(e, src))?;
                let (mut out, tmp) = create_tmp(&tmp_dir)?;
                let checked = crate::progress::watching(progress, || copy_hashing(&mut input, &mut out, *alg)).and_then(|(raw, _)| {
                    let found = b64(&raw);
                    if &found == digest {
                        Ok(())
                    } else {
                        Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch for {}: expected {digest}, found {found}", src.display())))
                    }
                });
                if let Err(e) = checked {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
                tick(progress, 1, size);
                Ok(Some((tmp, dest)))
            })
            .collect()
    });
    if let Some(bad) = staged.iter().position(Result::is_err) {
        for (tmp, _) in staged.iter().flatten().flatten() {
            let _ = fs::remove_file(tmp);
        }
        let mut staged = staged;
        return Err((bad, staged.swap_remove(bad).expect_err("error at bad")));
    }
    let moves: Vec<(PathBuf, PathBuf)> = staged.into_iter().flatten().flatten().collect();
    let written: std::collections::HashSet<&Path> = moves.iter().map(|(_, d)| d.as_path()).collect();
    if !moves.is_empty() {
        sync_filesystem(root).map_err(|e| (0, e))?;
        crate::pool::install(|| {
            // Shards were made real directories by `prepare`.
            moves.par_iter().try_for_each(|(tmp, dest)| fs::rename(tmp, dest).map_err(|e| with_path(e, dest)))
        })
        .map_err(|e| (0, e))?;
        sync_filesystem(root).map_err(|e| (0, e))?;
    }
    let mut out = Vec::with_capacity(items.len());
    for rel in &rels {
        out.push(written.contains(objs.join(rel).as_path()));
    }
    Ok(out)
}

/// How `materialize` writes each destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A real copy (`copy_file_range` under `fs::copy`, so the kernel moves the bytes).
    Copy,
    /// A hard link to the source (opt-in: editing the file edits the cache too).
    Hardlink,
}

/// Place `src` at `dst` atomically: temp file beside `dst`, then rename over it.
pub fn place(src: &Path, dst: &Path, how: Placement) -> io::Result<()> {
    let parent = dst.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent).map_err(|e| with_path(e, parent))?;
    let tmp = parent.join(format!(".{}.artefact", crate::tmpname::tmp_name()));
    let r = match how {
        Placement::Hardlink => fs::hard_link(src, &tmp).or_else(|_| fs::copy(src, &tmp).map(|_| ())),
        Placement::Copy => fs::copy(src, &tmp).map(|_| ()),
    }
    .and_then(|()| fs::rename(&tmp, dst));
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::new(e.kind(), format!("{} -> {}: {e}", src.display(), dst.display())));
    }
    Ok(())
}

/// Copy `len` bytes kernel-side with `copy_file_range`: with the length known, no call
/// is spent finding the end, nor on `io::copy`'s probing of both files. Falls back to
/// `io::copy` where the kernel or filesystem cannot. A shorter source is copied whole.
pub(crate) fn copy_len(input: &File, out: &mut File, len: u64) -> io::Result<()> {
    match copy_kernel_at(input, out, 0, len)? {
        Some(_) => Ok(()),
        None => io::copy(&mut &*input, out).map(|_| ()),
    }
}

/// Copy exactly `len` bytes from the start of `input` to `out` at `at` kernel-side: false
/// where the kernel or filesystem cannot (nothing copied; the caller copies through
/// memory), an error if `input` turns out shorter (it changed).
pub(crate) fn copy_exact_at(input: &File, out: &File, at: u64, len: u64) -> io::Result<bool> {
    match copy_kernel_at(input, out, at, len)? {
        Some(n) if n == len => Ok(true),
        Some(n) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("changed while copied: {n} of {len} bytes"))),
        None => Ok(false),
    }
}

/// Up to `len` bytes from the start of `input` to `out` at `at` by `copy_file_range` with
/// explicit offsets (neither file's position moves, so threads may write one `out` at
/// once): the bytes copied (fewer only if `input` is shorter), or None where the kernel
/// or filesystem cannot, before anything was copied.
fn copy_kernel_at(input: &File, out: &File, at: u64, len: u64) -> io::Result<Option<u64>> {
    #[cfg(target_os = "linux")]
    {
        let (mut off_in, mut off_out, mut done) = (0i64, at as i64, 0u64);
        while done < len {
            let want = usize::try_from(len - done).unwrap_or(usize::MAX).min(1 << 30);
            match copy_range_step(input, &mut off_in, out, &mut off_out, want) {
                Ok(0) => break, // the source is shorter than `len`
                Ok(n) => done += n as u64,
                Err(e) if done == 0 && kernel_copy_unsupported(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some(done))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (input, out, at, len);
        Ok(None)
    }
}

/// One `copy_file_range` of up to `want` bytes at explicit offsets, which it advances
/// (neither file's position moves), retried when interrupted: the bytes copied, 0 at the
/// source's end.
#[cfg(target_os = "linux")]
pub(crate) fn copy_range_step(input: &File, off_in: &mut i64, out: &File, off_out: &mut i64, want: usize) -> io::Result<usize> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: two descriptors we own and two offsets the call advances.
        let n = unsafe { libc::copy_file_range(input.as_raw_fd(), off_in, out.as_raw_fd(), off_out, want, 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether a `copy_file_range` error means the kernel or filesystem cannot copy between
/// these files (another filesystem, no support): before any byte is copied, the caller
/// copies through memory instead.
#[cfg(target_os = "linux")]
pub(crate) fn kernel_copy_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL | libc::EPERM))
}

/// `place` every (source, destination) pair in parallel; the number placed.
pub fn materialize(pairs: &[(PathBuf, PathBuf)], how: Placement, progress: Option<&Progress>) -> io::Result<usize> {
    if let Some(p) = progress {
        p.add_total(pairs.len() as u64, 0);
    }
    crate::pool::install(|| {
        pairs.par_iter().try_for_each(|(s, d)| {
            crate::progress::check(progress)?;
            place(s, d, how)?;
            tick(progress, 1, 0);
            Ok::<_, io::Error>(())
        })
    })?;
    Ok(pairs.len())
}

/// The running total of bytes under `obj/`, so that the cap check after a fill scans
/// the cache only when it may be over: rewritten by every count (a cleanup) and raised
/// by every fill that reports what it added, under `usage.lock`. It runs high when
/// objects go behind its back (the next check then scans sooner), and low only by fills
/// of a process that died before reporting them (the cap is a soft one).
const USAGE: &str = "usage";

/// An exclusive lock on the cache's usage total (released on drop); None if the cache
/// does not exist (nothing in it to count).
fn lock_usage(root: &Path) -> io::Result<Option<File>> {
    match crate::lockfile::lock_exclusive(&root.join("usage.lock")) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(with_path(e, root)),
    }
}

fn read_usage(root: &Path) -> Option<u64> {
    fs::read_to_string(root.join(USAGE)).ok()?.trim().parse().ok()
}

/// A temp file removed before its rename (`cache cleanup --remove-temp` elsewhere) is
/// written again; if that keeps happening the total is dropped, so the next check counts.
fn write_usage(root: &Path, total: u64) -> io::Result<()> {
    for _ in 0..4 {
        let (mut f, tmp) = create_tmp(&root.join("tmp"))?;
        let written = f.write_all(format!("{total}\n").as_bytes()).and_then(|()| fs::rename(&tmp, root.join(USAGE)));
        match written {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !tmp.exists() => {}
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(with_path(e, &root.join(USAGE)));
            }
        }
    }
    match fs::remove_file(root.join(USAGE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, &root.join(USAGE))),
        _ => Ok(()),
    }
}

/// Evict objects under `root/obj`, least recently used (atime) first, until at most
/// `target` bytes remain. Returns (bytes freed, bytes remaining).
pub fn cleanup(root: &Path, target: u64) -> io::Result<(u64, u64)> {
    let Some(_lock) = lock_usage(root)? else { return Ok((0, 0)) };
    evict(root, target)
}

/// After a fill that added `added` bytes: `cleanup` down to `cap` if the running total
/// says the cache may be over it (or is unknown); else only the total is raised.
pub fn enforce_cap(root: &Path, cap: u64, added: u64) -> io::Result<(u64, u64)> {
    let Some(_lock) = lock_usage(root)? else { return Ok((0, 0)) };
    if let Some(total) = read_usage(root).map(|t| t.saturating_add(added)) {
        if total <= cap {
            write_usage(root, total)?;
            return Ok((0, total));
        }
    }
    evict(root, cap)
}

/// (atime ns, size, path) of every file under `dir`, one `lstat` each.
/// A directory removed by another process during the scan is simply empty.
fn objects(dir: &Path) -> io::Result<Vec<(i64, u64, PathBuf)>> {
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    let listing = match fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(with_path(e, dir)),
    };
    for ent in listing {
        let Ok(ent) = ent else { continue }; // vanished while listed
        // A file another process removed meanwhile is simply not counted.
        let Ok(m) = ent.metadata() else { continue };
        if m.is_dir() {
            subdirs.push(ent.path());
        } else {
            files.push((m.atime() * 1_000_000_000 + m.atime_nsec(), m.len(), ent.path()));
        }
    }
    let nested: Vec<Vec<_>> = subdirs.par_iter().map(|d| objects(d)).collect::<io::Result<_>>()?;
    files.extend(nested.into_iter().flatten());
    Ok(files)
}

/// Count the objects, evict down to `target`, and make what remains the running total.
/// The caller holds the usage lock.
fn evict(root: &Path, target: u64) -> io::Result<(u64, u64)> {
    let obj = root.join("obj");
    let mut items = if obj.is_dir() { crate::pool::install(|| objects(&obj))? } else { Vec::new() };
    let mut total: u64 = items.iter().map(|i| i.1).sum();
    if total <= target {
        write_usage(root, total)?;
        return Ok((0, total));
    }
    items.sort_unstable_by_key(|i| i.0);
    let mut freed = 0;
    for (_, size, path) in items {
        if total <= target {
            break;
        }
        // A file another process removed first is already gone: count it as freed.
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(e, &path)),
        }
        total -= size;
        freed += size;
    }
    write_usage(root, total)?;
    Ok((freed, total))
}

/// Check each (path, digest, algorithm): None when it matches, else why not.
pub fn verify_files(items: &[(PathBuf, String, Algorithm)], progress: Option<&Progress>) -> Vec<Option<String>> {
    crate::pool::install(|| {
        items
            .par_iter()
            .map(|(p, want, alg)| {
                if crate::progress::check(progress).is_err() {
                    return Some("interrupted".to_owned());
                }
                let r = match crate::progress::watching(progress, || crate::digest::hash_file(p, *alg)) {
                    Ok((found, n)) => {
                        tick(progress, 1, n);
                        (found != *want).then(|| format!("digest mismatch: expected {want}, found {found}"))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Some("missing".to_owned()),
                    Err(e) => Some(e.to_string()),
                };
                r
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn relpaths_match_wandb_cache_vectors() {
        assert_eq!(object_relpath("1B2M2Y8AsgTpgAmY7PhCfg==", Algorithm::Md5).unwrap(), "obj/md5/d4/1d8cd98f00b204e9800998ecf8427e");
        assert_eq!(object_relpath("7vrJ2HEAzRM2suczpUhEJQ==", Algorithm::Xxh128).unwrap(), "obj/xxh128/ee/fac9d87100cd1336b2e733a5484425");
        assert_eq!(
            etag_relpath("s3://bucket/key/file.bin", "d41d8cd98f00b204e9800998ecf8427e"),
            "obj/etag/4d/d126de92699df243d1e67dd4b3dd9a7e7fde457e374faba6c9ed18d2495328"
        );
        assert!(object_relpath("http://x", Algorithm::Md5).is_err());
    }

    #[test]
    fn put_verifies_and_is_create_if_absent() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("f");
        fs::write(&src, b"hello world\n").unwrap();
        let dg = hash_bytes(b"hello world\n", Algorithm::Md5);
        let (p, new) = put_object(&d.path().join("c"), &src, &dg, Algorithm::Md5, true).unwrap();
        assert!(new);
        assert!(p.ends_with("obj/md5/6f/5902ac237024bdd0c176cb93063dc4"));
        assert_eq!(fs::read(&p).unwrap(), b"hello world\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o600, 0o600);
        let (_, again) = put_object(&d.path().join("c"), &src, &dg, Algorithm::Md5, true).unwrap();
        assert!(!again);
    }

    #[test]
    fn batch_put_is_all_or_nothing_and_skips_present_objects() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("c");
        let mut items = vec![];
        for i in 0..20u8 {
            let src = d.path().join(format!("s{i}"));
            fs::write(&src, [i; 100]).unwrap();
            items.push((src, hash_bytes(&[i; 100], Algorithm::Md5), Algorithm::Md5));
        }
        let mut bad = items.clone();
        bad[7].1 = hash_bytes(b"something else", Algorithm::Md5);
        let (at, e) = put_objects(&root, &bad, None).unwrap_err();
        assert_eq!(at, 7);
        assert!(e.to_string().contains("s7"), "{e}");
        assert!(objects(&root.join("obj")).unwrap().is_empty(), "nothing placed");
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        assert!(put_objects(&root, &items, None).unwrap().iter().all(|w| *w));
        assert!(put_objects(&root, &items, None).unwrap().iter().all(|w| !*w));
        let p = root.join(object_relpath(&items[3].1, Algorithm::Md5).unwrap());
        assert_eq!(fs::read(p).unwrap(), [3u8; 100]);
    }

    #[test]
    fn corrupt_source_is_never_placed() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("f");
        fs::write(&src, b"corrupted").unwrap();
        let want = hash_bytes(b"original!", Algorithm::Md5);
        let root = d.path().join("c");
        let e = put_object(&root, &src, &want, Algorithm::Md5, false).unwrap_err();
        assert!(e.to_string().contains("digest mismatch") && e.to_string().contains("/f"), "{e}");
        assert!(!root.join(object_relpath(&want, Algorithm::Md5).unwrap()).exists());
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn materialize_copies_and_links() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("s");
        fs::write(&src, b"abc").unwrap();
        let pairs = vec![(src.clone(), d.path().join("out/a/x")), (src.clone(), d.path().join("out/y"))];
        assert_eq!(materialize(&pairs, Placement::Copy, None).unwrap(), 2);
        assert_eq!(fs::read(d.path().join("out/a/x")).unwrap(), b"abc");
        place(&src, &d.path().join("out/link"), Placement::Hardlink).unwrap();
        assert_eq!(fs::metadata(d.path().join("out/link")).unwrap().ino(), fs::metadata(&src).unwrap().ino());
    }

    /// `data` filed as an object under `root`; its path.
    fn put_bytes(root: &Path, data: &[u8]) -> PathBuf {
        let src = root.join("src");
        fs::write(&src, data).unwrap();
        put_object(root, &src, &hash_bytes(data, Algorithm::Md5), Algorithm::Md5, false).unwrap().0
    }

    /// Set a file's atime (and mtime) to `secs` after the epoch: its place in LRU order.
    fn used_at(path: &Path, secs: u64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let f = File::options().write(true).open(path).unwrap();
        f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t)).unwrap();
    }

    #[test]
    fn cleanup_evicts_least_recently_used_first() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let mut paths = vec![];
        for (i, data) in [b"aaaa", b"bbbb", b"cccc"].iter().enumerate() {
            let p = put_bytes(root, *data);
            used_at(&p, 1_000 + i as u64);
            paths.push(p);
        }
        let (freed, left) = cleanup(root, 8).unwrap();
        assert_eq!((freed, left), (4, 8));
        assert!(!paths[0].exists() && paths[1].exists() && paths[2].exists());
    }

    #[test]
    fn the_cap_check_scans_only_when_the_running_total_may_be_over() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let a = put_bytes(root, b"aaaa");
        assert_eq!(enforce_cap(root, 10, 4).unwrap(), (0, 4), "no total yet: counted");
        // Objects that arrive unreported are not seen until the total says to look.
        let b = put_bytes(root, b"bbbbbb");
        assert_eq!(enforce_cap(root, 10, 0).unwrap(), (0, 4));
        assert!(a.exists() && b.exists());
        used_at(&a, 1_000);
        let c_obj = put_bytes(root, b"cc");
        assert_eq!(enforce_cap(root, 10, 2).unwrap(), (0, 6), "4 + 2 reported: under the cap");
        assert_eq!(enforce_cap(root, 10, 5).unwrap(), (4, 8), "11 may be over: counted, oldest evicted");
        assert!(!a.exists() && b.exists() && c_obj.exists());
        assert_eq!(fs::read_to_string(root.join(USAGE)).unwrap(), "8\n");
    }

    #[test]
    fn verify_reports_mismatch_and_missing() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"x").unwrap();
        let ok = hash_bytes(b"x", Algorithm::Md5);
        let r = verify_files(
            &[(f.clone(), ok.clone(), Algorithm::Md5), (f, "bad".into(), Algorithm::Md5), (d.path().join("no"), ok, Algorithm::Md5)],
            None,
        );
        assert_eq!(r[0], None);
        assert!(r[1].as_ref().unwrap().starts_with("digest mismatch"));
        assert_eq!(r[2].as_deref(), Some("missing"));
    }
}
