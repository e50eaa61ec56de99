//! The stat cache: a file whose (device, inode, size, mtime_ns, ctime_ns) has not changed
//! since it was hashed is not read again.
//!
//! Racy files: a write within the same timestamp tick as the hash leaves mtime unchanged.
//! As git does, a file whose mtime or ctime is not safely older than the moment it was
//! hashed is never recorded, so it is always re-hashed. "Safely" is 50 ms on filesystems
//! with sub-second timestamps (Linux's coarse clock ticks every 1-10 ms) and 2 s on
//! those that store whole seconds.
//!
//! On disk it is one file of fixed-size records sorted by (device, inode, algorithm) and
//! an XXH3-128 trailer, rewritten whole (temp file, rename) under an exclusive `flock`,
//! merging what other processes wrote meanwhile. It is only a hint, so it is not
//! fsynced: a file torn by a crash fails its trailer check and is read as empty, never
//! as wrong digests.
//!
//! `open` reads the file on a background thread, so loading overlaps the caller's own
//! work (a download parses its manifest meanwhile); the first lookup waits for it. The
//! records are looked up where they were read, by binary search: building a table of
//! 200k records cost more (CPU, and fresh pages at 2 s/GiB here) than the lookups.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::{b64, Algorithm};
use crate::walk::StatKey;
use xxhash_rust::xxh3::xxh3_128;

const MAGIC: &[u8; 8] = b"ARTSTAT4";
const TRAILER: usize = 16;
const RECORD: usize = 8 * 5 + 1 + 16;
/// How much older than the hash a timestamp must be to be trusted.
const RACY_MARGIN_FINE_NS: i64 = 50_000_000;
const RACY_MARGIN_COARSE_NS: i64 = 2_000_000_000;

/// The margin for a file: whole-second timestamps mean a coarse filesystem.
fn racy_margin(key: &StatKey) -> i64 {
    let whole = |ns: i64| ns % 1_000_000_000 == 0;
    if whole(key.mtime_ns) && whole(key.ctime_ns) {
        RACY_MARGIN_COARSE_NS
    } else {
        RACY_MARGIN_FINE_NS
    }
}

/// (device, inode, algorithm).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u64, u64, Algorithm);
type Value = (u64, i64, i64, [u8; 16]);

/// The algorithm's byte in a record.
fn alg_tag(alg: Algorithm) -> u8 {
    u8::from(alg == Algorithm::Xxh128)
}

impl Key {
    /// The on-disk sort order.
    fn order(&self) -> (u64, u64, u8) {
        (self.0, self.1, alg_tag(self.2))
    }
}

/// The file as read: MAGIC, then `RECORD`-byte records sorted by `Key::order`.
#[derive(Default)]
struct Records(Vec<u8>);

impl Records {
    fn len(&self) -> usize {
        self.0.len().saturating_sub(8) / RECORD
    }

    fn at(&self, i: usize) -> (Key, Value) {
        let r = &self.0[8 + i * RECORD..8 + (i + 1) * RECORD];
        let u = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let alg = if r[40] == alg_tag(Algorithm::Xxh128) { Algorithm::Xxh128 } else { Algorithm::Md5 };
        let raw: [u8; 16] = r[41..57].try_into().expect("16 bytes");
        (Key(u(&r[0..8]), u(&r[8..16]), alg), (u(&r[16..24]), u(&r[24..32]) as i64, u(&r[32..40]) as i64, raw))
    }

    /// Append one record in the layout `at` reads.
    fn write(buf: &mut Vec<u8>, Key(dev, ino, alg): Key, (size, mtime, ctime, raw): Value) {
        buf.extend_from_slice(&dev.to_le_bytes());
        buf.extend_from_slice(&ino.to_le_bytes());
        buf.extend_from_slice(&size.to_le_bytes());
        buf.extend_from_slice(&mtime.to_le_bytes());
        buf.extend_from_slice(&ctime.to_le_bytes());
        buf.push(alg_tag(alg));
        buf.extend_from_slice(&raw);
    }

    fn get(&self, k: &Key) -> Option<Value> {
        let want = k.order();
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (key, value) = self.at(mid);
            match key.order().cmp(&want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(value),
            }
        }
        None
    }

    fn iter(&self) -> impl Iterator<Item = (Key, Value)> + '_ {
        (0..self.len()).map(|i| self.at(i))
    }
}

/// Two runs sorted by key, as one; `newer` wins where both have a key.
fn merge_sorted(older: impl Iterator<Item = (Key, Value)>, newer: &[(Key, Value)]) -> Vec<(Key, Value)> {
    let mut out = Vec::with_capacity(newer.len());
    let mut newer = newer.iter().copied().peekable();
    for (k, v) in older {
        while let Some(&(nk, nv)) = newer.peek() {
            if nk.order() > k.order() {
                break;
            }
            out.push((nk, nv));
            newer.next();
        }
        if out.last().is_none_or(|(last, _)| *last != k) {
            out.push((k, v));
        }
    }
    out.extend(newer);
    out
}

pub struct StatCache {
    path: PathBuf,
    max_entries: usize,
    /// What the file held when opened: read-only, so lookups take no lock.
    loaded: OnceLock<Records>,
    /// The background read, and the pid that started it (a forked child has no thread).
    loader: Mutex<Option<(u32, JoinHandle<Records>)>>,
    /// Records made by this process, each with whether it has been written yet. Checked
    /// before `loaded`; lookups from every thread at once take only the read lock.
    fresh: RwLock<HashMap<Key, (Value, bool)>>,
    has_fresh: AtomicBool,
}

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

impl StatCache {
    /// Load `path` (a missing or unreadable file is an empty cache: it is only a hint).
    pub fn open(path: &Path, max_entries: usize) -> Self {
        let owned = path.to_owned();
        let loader = std::thread::Builder::new()
            .name("artefact-statcache".into())
            .spawn(move || read_records(&owned).unwrap_or_default())
            .ok()
            .map(|h| (std::process::id(), h));
        Self {
            path: path.to_owned(),
            max_entries,
            loaded: OnceLock::new(),
            loader: Mutex::new(loader),
            fresh: RwLock::new(HashMap::new()),
            has_fresh: AtomicBool::new(false),
        }
    }

    /// The loaded records, waiting for the background read on first use.
    fn loaded(&self) -> &Records {
        self.loaded.get_or_init(|| {
            let pending = self.loader.lock().ok().and_then(|mut l| l.take());
            let read = match pending {
                Some((pid, h)) if pid == std::process::id() => h.join().ok(),
                Some((_, h)) => {
                    std::mem::forget(h); // the parent's thread: nothing in this process to join
                    None
                }
                None => None,
            };
            read.unwrap_or_else(|| read_records(&self.path).unwrap_or_default())
        })
    }

    /// The base64 digest recorded for a file with exactly this key, if any.
    pub fn lookup(&self, key: &StatKey, alg: Algorithm) -> Option<String> {
        self.lookup_raw(key, alg).map(|raw| b64(&raw))
    }

    /// The raw digest recorded for exactly this key, if any.
    pub fn lookup_raw(&self, key: &StatKey, alg: Algorithm) -> Option<[u8; 16]> {
        let k = Key(key.dev, key.ino, alg);
        let found = if self.has_fresh.load(Ordering::Acquire) {
            self.fresh.read().ok().and_then(|f| f.get(&k).map(|(v, _)| *v))
        } else {
            None
        };
        let (size, mtime, ctime, raw) = found.or_else(|| self.loaded().get(&k))?;
        (size == key.size && mtime == key.mtime_ns && ctime == key.ctime_ns).then_some(raw)
    }

    /// Remember a digest computed at `hashed_at_ns`, unless the file is racily new.
    pub fn record(&self, key: &StatKey, alg: Algorithm, raw: [u8; 16], hashed_at_ns: i64) {
        let margin = racy_margin(key);
        if key.mtime_ns > hashed_at_ns - margin || key.ctime_ns > hashed_at_ns - margin {
            return;
        }
        let k = Key(key.dev, key.ino, alg);
        let v = (key.size, key.mtime_ns, key.ctime_ns, raw);
        if let Ok(mut f) = self.fresh.write() {
            f.insert(k, (v, false));
            self.has_fresh.store(true, Ordering::Release);
        }
    }

    /// Write new records to disk, merged with what is there now. Nothing new: no IO.
    pub fn persist(&self) -> io::Result<()> {
        let mut fresh: Vec<(Key, Value)> = {
            let mut f = self.fresh.write().map_err(|_| io::Error::other("stat cache lock poisoned"))?;
            f.iter_mut()
                .filter(|(_, (_, saved))| !*saved)
                .map(|(k, (v, saved))| {
                    *saved = true;
                    (*k, *v)
                })
                .collect()
        };
        if fresh.is_empty() {
            return Ok(());
        }
        fresh.sort_unstable_by_key(|(k, _)| k.order());
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(self.path.with_extension("lock"))?;
        // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut merged = merge_sorted(read_records(&self.path).unwrap_or_default().iter(), &fresh);
        if merged.len() > self.max_entries {
            // Over the cap: start again from this run's view rather than grow forever.
            let mut mine: Vec<(Key, Value)> = self.fresh.read().map(|f| f.iter().map(|(k, (v, _))| (*k, *v)).collect()).unwrap_or_default();
            mine.sort_unstable_by_key(|(k, _)| k.order());
            merged = merge_sorted(self.loaded().iter(), &mine);
            if merged.len() > self.max_entries {
                merged.clear();
            }
        }
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let mut buf = Vec::with_capacity(8 + merged.len() * RECORD);
        buf.extend_from_slice(MAGIC);
        for &(k, v) in &merged {
            Records::write(&mut buf, k, v);
        }
        buf.extend_from_slice(&xxh3_128(&buf).to_le_bytes());
        File::create(&tmp)?.write_all(&buf)?;
        fs::rename(&tmp, &self.path)?;
        drop(lock);
        Ok(())
    }
}

fn read_records(path: &Path) -> io::Result<Records> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    if data.len() < 8 + TRAILER || &data[..8] != MAGIC || !(data.len() - 8 - TRAILER).is_multiple_of(RECORD) {
        return Ok(Records::default());
    }
    let (body, trailer) = data.split_at(data.len() - TRAILER);
    // A checksum against torn writes, not an adversary: XXH3 is 20x faster than MD5 here.
    if xxh3_128(body).to_le_bytes() != trailer {
        return Ok(Records::default()); // torn or damaged: start afresh rather than trust it
    }
    data.truncate(data.len() - TRAILER);
    Ok(Records(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(size: u64, mtime: i64) -> StatKey {
        StatKey { dev: 1, ino: 2, size, mtime_ns: mtime, ctime_ns: mtime }
    }

    #[test]
    fn hit_only_when_every_part_of_the_key_matches() {
        let d = tempfile::tempdir().unwrap();
        let c = StatCache::open(&d.path().join("sc"), 100);
        let now = now_ns();
        let old = now - 10_000_000_000;
        c.record(&key(5, old), Algorithm::Md5, [7; 16], now);
        assert_eq!(c.lookup(&key(5, old), Algorithm::Md5), Some(b64(&[7; 16])));
        assert_eq!(c.lookup(&key(6, old), Algorithm::Md5), None, "size changed");
        assert_eq!(c.lookup(&key(5, old + 1), Algorithm::Md5), None, "mtime changed by 1 ns");
        let mut k = key(5, old);
        k.ctime_ns += 1;
        assert_eq!(c.lookup(&k, Algorithm::Md5), None, "ctime changed");
        k = key(5, old);
        k.ino = 3;
        assert_eq!(c.lookup(&k, Algorithm::Md5), None, "another inode");
        assert_eq!(c.lookup(&key(5, old), Algorithm::Xxh128), None, "another algorithm");
    }

    #[test]
    fn racily_new_files_are_not_recorded() {
        let d = tempfile::tempdir().unwrap();
        let c = StatCache::open(&d.path().join("sc"), 100);
        let now = 1_700_000_000_123_456_789;
        c.record(&key(5, now - 1_000), Algorithm::Md5, [1; 16], now);
        assert_eq!(c.lookup(&key(5, now - 1_000), Algorithm::Md5), None);
        // Whole-second timestamps: a coarse filesystem, so 1 s is still too new.
        let coarse = 1_700_000_000_000_000_000;
        c.record(&key(6, coarse), Algorithm::Md5, [1; 16], coarse + 1_000_000_000);
        assert_eq!(c.lookup(&key(6, coarse), Algorithm::Md5), None);
        c.record(&key(7, coarse), Algorithm::Md5, [1; 16], coarse + 3_000_000_000);
        assert!(c.lookup(&key(7, coarse), Algorithm::Md5).is_some());
    }

    #[test]
    fn many_records_are_found_after_a_merge_and_newer_ones_win() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        let now = now_ns();
        let old = now - 10_000_000_000;
        let at = |ino: u64, dev: u64| StatKey { dev, ino, size: ino, mtime_ns: old, ctime_ns: old };
        let a = StatCache::open(&p, 100_000);
        // Inodes out of order, on two devices, both algorithms.
        for i in 0..2000u64 {
            let ino = (i * 7919) % 2003;
            a.record(&at(ino, i % 2), Algorithm::Md5, [ino as u8; 16], now);
            a.record(&at(ino, i % 2), Algorithm::Xxh128, [!(ino as u8); 16], now);
        }
        a.persist().unwrap();
        let b = StatCache::open(&p, 100_000);
        b.record(&at(5, 1), Algorithm::Md5, [0xAB; 16], now); // replaces a's record for this key
        b.persist().unwrap();
        let c = StatCache::open(&p, 100_000);
        let recs = c.loaded();
        let orders: Vec<_> = recs.iter().map(|(k, _)| k.order()).collect();
        assert!(orders.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        for i in 0..2000u64 {
            let ino = (i * 7919) % 2003;
            let want = if (ino, i % 2) == (5, 1) { [0xAB; 16] } else { [ino as u8; 16] };
            assert_eq!(c.lookup_raw(&at(ino, i % 2), Algorithm::Md5), Some(want), "ino {ino}");
            assert_eq!(c.lookup_raw(&at(ino, i % 2), Algorithm::Xxh128), Some([!(ino as u8); 16]));
        }
        assert_eq!(c.lookup_raw(&at(2003, 0), Algorithm::Md5), None);
    }

    #[test]
    fn persists_and_merges_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        let now = now_ns();
        let old = now - 10_000_000_000;
        let a = StatCache::open(&p, 100);
        let b = StatCache::open(&p, 100);
        a.record(&key(1, old), Algorithm::Md5, [1; 16], now);
        let mut kb = key(2, old);
        kb.ino = 9;
        b.record(&kb, Algorithm::Md5, [2; 16], now);
        a.persist().unwrap();
        b.persist().unwrap();
        let c = StatCache::open(&p, 100);
        assert!(c.lookup(&key(1, old), Algorithm::Md5).is_some());
        assert!(c.lookup(&kb, Algorithm::Md5).is_some());
        // A damaged file is read as empty, never as other digests.
        let mut data = fs::read(&p).unwrap();
        data[20] ^= 1;
        fs::write(&p, &data).unwrap();
        assert!(StatCache::open(&p, 100).lookup(&key(1, old), Algorithm::Md5).is_none());
    }
}
