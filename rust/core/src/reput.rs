//! The re-put of an unchanged directory: when the stat cache knows every file under it,
//! the artifact digest `add_dir` would give is known without reading a byte or staging
//! a copy. `artefact put` then only has to find that digest among the collection's
//! committed versions (wandb's dedupe: the existing version is returned).
//!
//! Anything unusual (a file the cache does not know, a FIFO, an invalid or duplicate
//! path, an unreadable directory) answers None, and the caller takes the ordinary path,
//! which hashes, stages and reports errors as `add_dir` always does.

use std::path::Path;

use rayon::prelude::*;

use crate::digest::Algorithm;
use crate::manifest::digest_of_sorted;
use crate::paths;
use crate::statcache::StatCache;
use crate::walk::{scan_dir, FileInfo};

/// What `add_dir(root)` then `log` would record, for a tree the stat cache knows whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The artifact digest (hex), as `Manifest::digest`.
    pub digest: String,
    /// Total bytes of the files.
    pub size: u64,
    pub files: u64,
}

/// The digest, size and file count `add_dir` of `root` (no name prefix, `alg` for entries
/// and the manifest) would give, if the stat cache knows every file; else None.
pub fn known_dir(root: &Path, alg: Algorithm, cache: &StatCache) -> Option<Known> {
    // All inside the pool: scan_dir's sort would otherwise start rayon's global pool
    // (two more threads and a cgroup read, on a path that lasts ~20 ms in all).
    let (files, digests) = crate::pool::install(|| {
        let files = scan_dir(root, true).ok()?;
        // Lookups in parallel: the base is searched where it is mapped, no lock is taken.
        // add_dir's logical path is `validate(normalize(rel))`; where that is `rel` itself
        // (always, but for odd names, which take the ordinary path), the scan's order (by
        // rel, in bytes) is the manifest's, and no two files share a path.
        let digests: Option<Vec<String>> = files
            .par_iter()
            .map(|f| {
                if f.special.is_some() || !is_own_logical_path(&f.rel) {
                    return None;
                }
                cache.lookup(f.key.as_ref()?, alg)
            })
            .collect();
        Some((files, digests?))
    })?;
    let digest = digest_of_sorted(alg, files.iter().zip(&digests).map(|(f, d)| (f.rel.as_str(), d.as_str())));
    let known = Known { digest, size: files.iter().map(FileInfo::size).sum(), files: files.len() as u64 };
    // Freeing a file's three allocations 100k times is ~5% of this call: the answer
    // need not wait for it (a `put` that exits right after never does it at all).
    let _ = std::thread::Builder::new().spawn(move || drop((files, digests)));
    Some(known)
}

/// The distinct digests (base64) the stat cache knows for the files under `root`, as
/// `add_dir` walks it; unknown files are left out. The mutable add asks the store which
/// of these it holds in packs (`stage::set_known_packed`): the cost follows the tree.
pub fn known_digests(root: &Path, alg: Algorithm, cache: &StatCache) -> Vec<String> {
    crate::pool::install(|| {
        let Ok(files) = scan_dir(root, true) else { return Vec::new() };
        let mut digests: Vec<String> =
            files.par_iter().filter(|f| f.special.is_none()).filter_map(|f| cache.lookup(f.key.as_ref()?, alg)).collect();
        digests.par_sort_unstable();
        digests.dedup();
        digests
    })
}

/// Whether add_dir's logical path for a scanned `rel` is `rel` itself. The scan's names
/// are never empty, `.` or `..`, so only a backslash or a `:` (Windows spellings wandb checks
/// for) can make `validate(normalize(rel))` differ or fail; those ask validate itself.
fn is_own_logical_path(rel: &str) -> bool {
    !rel.contains(['\\', ':']) || paths::validate(rel).is_ok_and(|p| p == rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::add_dir::{add_dir, AddDirOptions};
    use crate::manifest::Manifest;
    use std::fs;

    fn tree(dir: &Path) {
        fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        fs::write(dir.join("a.txt"), b"alpha").unwrap();
        fs::write(dir.join("sub/b.bin"), vec![7u8; 5000]).unwrap();
        fs::write(dir.join("sub/deeper/c"), b"").unwrap();
    }

    fn opts(alg: Algorithm, cache: &StatCache) -> AddDirOptions<'_> {
        AddDirOptions { name: None, algorithm: alg, staging_dir: None, skip_cache: false, overwrite: false, statcache: Some(cache) }
    }

    /// Files the hash just recorded are racy (too new to trust) until the margin passes.
    fn age(dir: &Path) {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        for p in ["a.txt", "sub/b.bin", "sub/deeper/c"] {
            fs::File::options().write(true).open(dir.join(p)).unwrap().set_modified(old).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(120)); // ctime, too
    }

    #[test]
    fn a_known_tree_gives_add_dirs_digest_size_and_count() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("data");
        tree(&root);
        age(&root);
        for alg in [Algorithm::Md5, Algorithm::Xxh128] {
            let cache = StatCache::open(&t.path().join(format!("sc-{alg:?}")), 1000);
            assert_eq!(known_dir(&root, alg, &cache), None, "nothing hashed yet");
            let mut m = Manifest::new("V2", None);
            add_dir(&mut m, &root, &opts(alg, &cache), None).unwrap();
            let known = known_dir(&root, alg, &cache).expect("every file known after add_dir");
            assert_eq!(known, Known { digest: m.digest(alg), size: 5005, files: 3 });
        }
    }

    #[test]
    fn known_digests_are_the_distinct_ones_the_cache_knows() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("data");
        tree(&root);
        fs::write(root.join("sub/twin.txt"), b"alpha").unwrap();
        age(&root);
        fs::File::options().write(true).open(root.join("sub/twin.txt")).unwrap().set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(10)).unwrap();
        let cache = StatCache::open(&t.path().join("sc"), 1000);
        assert!(known_digests(&root, Algorithm::Md5, &cache).is_empty(), "nothing hashed yet");
        let mut m = Manifest::new("V2", None);
        add_dir(&mut m, &root, &opts(Algorithm::Md5, &cache), None).unwrap();
        let mut want: Vec<String> = m.entries.values().map(|e| e.digest.to_string()).collect();
        want.sort();
        want.dedup();
        assert_eq!(want.len(), 3, "a.txt and its twin share a digest");
        assert_eq!(known_digests(&root, Algorithm::Md5, &cache), want);
        fs::write(root.join("new"), b"n").unwrap();
        assert_eq!(known_digests(&root, Algorithm::Md5, &cache), want, "an unknown file is left out");
        assert!(known_digests(&t.path().join("absent"), Algorithm::Md5, &cache).is_empty());
    }

    #[test]
    fn own_logical_paths_are_the_ones_add_dir_keeps_as_they_are() {
        for rel in ["a", "sub/b.bin", "x y/ü.txt", "C:x", "a/C:b", "a\\b", "a\\..\\b", "..\\x", "a/b:c"] {
            let add_dir_path = paths::validate(&paths::normalize(rel));
            assert_eq!(is_own_logical_path(rel), add_dir_path.as_deref() == Ok(rel), "{rel}");
        }
    }

    #[test]
    fn a_changed_or_new_file_is_not_known() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("data");
        tree(&root);
        age(&root);
        let cache = StatCache::open(&t.path().join("sc"), 1000);
        add_dir(&mut Manifest::new("V2", None), &root, &opts(Algorithm::Md5, &cache), None).unwrap();
        assert!(known_dir(&root, Algorithm::Md5, &cache).is_some());
        // Same size, mtime put back: the ctime still changed, so the file is not trusted.
        let mtime = fs::metadata(root.join("a.txt")).unwrap().modified().unwrap();
        fs::write(root.join("a.txt"), b"ALPHA").unwrap();
        fs::File::options().write(true).open(root.join("a.txt")).unwrap().set_modified(mtime).unwrap();
        assert_eq!(known_dir(&root, Algorithm::Md5, &cache), None);
        add_dir(&mut Manifest::new("V2", None), &root, &opts(Algorithm::Md5, &cache), None).unwrap();
        fs::write(root.join("new"), b"n").unwrap();
        assert_eq!(known_dir(&root, Algorithm::Md5, &cache), None);
    }
}
