//! The immutable policy's one pass over a large file: the add copies it into the
//! staging dir while hashing the copy (`stage::copy_and_digest`: kernel copy, the hash
//! on another core), and the log renames that copy into the store instead of copying
//! the file a second time.
//!
//! The entry keeps the user's path as its `local_path` (wandb's immutable semantics);
//! the private copy ("pre-copy") is remembered here, by source path, until `store_put`
//! takes it. It is named and owner-tagged like a staged copy, so a process that dies
//! before logging leaves nothing `gc` cannot clear. A pre-copy holds exactly the bytes
//! its digest was computed from, so moving it in is as safe as moving a staged copy.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::digest::{b64, open_regular, Algorithm};
use crate::stage::{copy_and_digest, create_staged_in, current_pid};
use crate::statcache::StatCache;
use crate::walk::{with_path, StatKey};

struct PreCopy {
    pid: u32,
    digest: String,
    alg: Algorithm,
    copy: PathBuf,
}

/// Source path -> its latest pre-copy (an older one for the same path is removed).
static PRECOPIES: Mutex<Option<HashMap<PathBuf, PreCopy>>> = Mutex::new(None);

fn with_map<R>(f: impl FnOnce(&mut HashMap<PathBuf, PreCopy>) -> R) -> R {
    let mut g = PRECOPIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(g.get_or_insert_with(HashMap::new))
}

/// Hash `src` (digest, size). A file of `min_size` bytes or more that the stat cache
/// does not know is copied into `staging_dir` as it is hashed, and that copy is kept
/// for `take` (the store's commit). Smaller or known files are only hashed (or looked
/// up). The digest is that of the bytes copied: the source changing meanwhile cannot
/// make the stored object disagree with its entry.
pub fn hash_and_precopy(src: &Path, staging_dir: &Path, min_size: u64, alg: Algorithm, statcache: Option<&StatCache>) -> io::Result<(String, u64)> {
    let (mut input, _) = open_regular(src).map_err(|e| with_path(e, src))?;
    let meta = input.metadata().map_err(|e| with_path(e, src))?;
    let key = StatKey::of(&meta);
    if let Some(d) = statcache.and_then(|sc| sc.lookup(&key, alg)) {
        return Ok((d, key.size));
    }
    if key.size < min_size {
        drop(input);
        // Remembered (stat cache, else this process's own record) so that the store's
        // commit need not hash the file a second time.
        return hash_remembered(src, Some(key), alg, statcache).map_err(|e| with_path(e, src));
    }
    let started = crate::statcache::now_ns();
    let (mut out, copy) = create_staged_in(staging_dir)?;
    let result = (|| {
        let (raw, n) = copy_and_digest(&mut input, &mut out, key.size, alg)?;
        crate::stage::seal(&out)?;
        if let Some(sc) = statcache {
            // Only a source that did not change while it was read may be remembered.
            if n == key.size && input.metadata().is_ok_and(|m| StatKey::of(&m) == key) {
                sc.record(&key, alg, raw, started);
            }
        }
        Ok((b64(&raw), n))
    })();
    match result {
        Ok((digest, n)) => {
            let old = with_map(|m| m.insert(src.to_owned(), PreCopy { pid: current_pid(), digest: digest.clone(), alg, copy }));
            if let Some(old) = old {
                let _ = fs::remove_file(old.copy);
            }
            Ok((digest, n))
        }
        Err(e) => {
            let _ = fs::remove_file(&copy);
            Err(with_path(e, src))
        }
    }
}

/// Hash a file the embedded store's commit will copy (`key`: its stat from the walk, if
/// known): the digest is remembered in the stat cache, or where that is off in this
/// process's own record (`hashed_here`), so the commit need not hash it a second time.
pub fn hash_remembered(src: &Path, key: Option<StatKey>, alg: Algorithm, statcache: Option<&StatCache>) -> io::Result<(String, u64)> {
    let remember: &StatCache = match statcache {
        Some(sc) => sc,
        None => hashed_here(),
    };
    crate::digest::hash_file_keyed(src, key, alg, Some(remember))
}

/// Digests of files this process hashed for the immutable policy without pre-copying
/// them: an in-memory stat cache (never saved) with the stat cache's racy rule, used
/// where the persistent one is off. The store's commit copies a file whose stat key is
/// unchanged since without hashing it again (the add read it once already); a changed
/// file has another key and is hashed and checked as ever.
fn hashed_here() -> &'static StatCache {
    const HASHED_HERE_MAX: usize = 1 << 20; // ~64 MiB at most in a process that logs forever
    static HASHED: std::sync::OnceLock<StatCache> = std::sync::OnceLock::new();
    HASHED.get_or_init(|| StatCache::open(Path::new(""), HASHED_HERE_MAX))
}

/// The digest this process computed for a file of this stat key and algorithm (see
/// `hashed_here`), if any.
pub fn hashed_digest(key: &StatKey, alg: Algorithm) -> Option<[u8; 16]> {
    hashed_here().lookup_raw(key, alg)
}

/// The pre-copy of `src` with this digest, if this process made one and it is still
/// there; it stays registered until `forget` (so a failed commit can be retried).
pub fn find(src: &Path, digest: &str, alg: Algorithm) -> Option<PathBuf> {
    let pid = current_pid();
    with_map(|m| m.get(src).filter(|p| p.pid == pid && p.alg == alg && p.digest == digest).map(|p| p.copy.clone()))
}

/// Forget the pre-copy of `src` (it was moved into the store, or removed).
pub fn forget(src: &Path) {
    with_map(|m| m.remove(src));
}

/// Remove the pre-copies of these sources (a log that failed, a put that gave up);
/// how many files were removed.
pub fn discard<'a>(srcs: impl IntoIterator<Item = &'a Path>) -> usize {
    let copies: Vec<PathBuf> = with_map(|m| srcs.into_iter().filter_map(|s| m.remove(s)).map(|p| p.copy).collect());
    copies.iter().filter(|c| fs::remove_file(c).is_ok()).count()
}

/// How many pre-copies this process holds (for tests and diagnostics).
pub fn pending() -> usize {
    with_map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    #[test]
    fn large_files_are_copied_once_while_hashed_small_ones_only_hashed() {
        let d = tempfile::tempdir().unwrap();
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let big = d.path().join("big.bin");
        let data: Vec<u8> = (0..(crate::stage::PIPELINE_MIN as usize + 4321)).map(|i| (i % 253) as u8).collect();
        fs::write(&big, &data).unwrap();
        let small = d.path().join("small.bin");
        fs::write(&small, b"tiny").unwrap();
        let (digest, n) = hash_and_precopy(&big, &staging, 1 << 20, Algorithm::Md5, None).unwrap();
        assert_eq!((digest.as_str(), n), (hash_bytes(&data, Algorithm::Md5).as_str(), data.len() as u64));
        let copy = find(&big, &digest, Algorithm::Md5).expect("a pre-copy");
        assert_eq!(fs::read(&copy).unwrap(), data);
        assert!(copy.starts_with(&staging));
        assert!(find(&big, "other", Algorithm::Md5).is_none(), "only for the digest it was made for");
        let (sd, sn) = hash_and_precopy(&small, &staging, 1 << 20, Algorithm::Md5, None).unwrap();
        assert_eq!((sd, sn), (hash_bytes(b"tiny", Algorithm::Md5), 4));
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 1, "small files are not copied");
        // Adding it again replaces the pre-copy; discard removes it.
        let _ = hash_and_precopy(&big, &staging, 1 << 20, Algorithm::Md5, None).unwrap();
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 1);
        assert_eq!(discard([big.as_path()]), 1);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
        assert!(find(&big, &digest, Algorithm::Md5).is_none());
    }

    #[test]
    fn a_small_files_digest_is_remembered_for_the_commit_unless_racy_or_changed() {
        let d = tempfile::tempdir().unwrap();
        let (staging, store) = (d.path().join("staging"), d.path().join("store"));
        fs::create_dir(&staging).unwrap();
        fs::create_dir(&store).unwrap();
        let small = d.path().join("small.bin");
        fs::write(&small, b"remembered").unwrap();
        let key = || StatKey::of(&fs::metadata(&small).unwrap());
        // Just written: racy, so not remembered (an edit in the same tick would not show).
        let (digest, _) = hash_and_precopy(&small, &staging, 1 << 20, Algorithm::Md5, None).unwrap();
        assert_eq!(digest, hash_bytes(b"remembered", Algorithm::Md5));
        assert!(hashed_digest(&key(), Algorithm::Md5).is_none());
        // Once safely old, hashing it remembers its digest under its stat key.
        let remembered = [100, 2100].iter().any(|ms| {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            hash_and_precopy(&small, &staging, 1 << 20, Algorithm::Md5, None).unwrap();
            hashed_digest(&key(), Algorithm::Md5).is_some()
        });
        assert!(remembered);
        assert_eq!(b64(&hashed_digest(&key(), Algorithm::Md5).unwrap()), digest);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0, "small files are not copied");
        let item = |digest: &str| crate::store_put::Item { src: small.clone(), digest: digest.to_owned(), alg: Algorithm::Md5, staged: false };
        let stored = crate::store_put::store_files(&store, &[item(&digest)], crate::store_put::SyncMode::Files, None, None).unwrap();
        assert_eq!(stored, [true]);
        let obj = store.join(crate::cache::object_relpath(&digest, Algorithm::Md5).unwrap());
        assert_eq!(fs::read(&obj).unwrap(), b"remembered");
        // Changed since (another key): the commit hashes the copy and refuses it.
        fs::write(&small, b"edited!!!!").unwrap();
        assert!(hashed_digest(&key(), Algorithm::Md5).is_none());
        let other = d.path().join("store2");
        fs::create_dir(&other).unwrap();
        let (_, e) = crate::store_put::store_files(&other, &[item(&digest)], crate::store_put::SyncMode::Files, None, None).unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
    }
}
