//! The stat cache: a file whose (device, inode, size, mtime_ns, ctime_ns) has not changed
//! since it was hashed is not read again.
//!
//! Racy files: a write within the same timestamp tick as the hash leaves mtime unchanged.
//! As git does, a file whose mtime or ctime is not safely older than the moment it was
//! hashed is never recorded, so it is always re-hashed. "Safely" is 50 ms on filesystems
//! with sub-second timestamps (Linux's coarse clock ticks every 1-10 ms) and 2 s on
//! those that store whole seconds.
//!
//! A file this process wrote itself (a download placing it) is different: its content
//! is known without reading it. A copy is given an mtime of its own, a stamp safely in
//! the past (`write_stamp`): no later write can leave that mtime, since any write sets it
//! to the clock, so the copy is recorded at once, with no margin to wait out
//! (`record_stamped`). A file it linked instead keeps the linked file's mtime; if the
//! last of those are racy, the download may wait out the margin and stat them again
//! (`settle_written`) rather than leave them to be re-hashed.
//!
//! On disk it is one file: a base of fixed-size records sorted by (device, inode,
//! algorithm) under an XXH3-128 checksum, then batches appended since, each under its
//! own XXH3-64. Writers hold an exclusive `flock`. A process with few new records
//! appends a batch, so a download that re-hashed a handful of files does not rewrite
//! 200k records; once the batches hold more than a quarter of the base, the file is
//! rewritten whole (temp file, rename), merged with what other processes wrote. It is
//! only a hint, so it is not fsynced: a torn base reads as empty and a torn batch ends
//! the file there, never giving wrong digests.
//!
//! `open` loads the file on a background thread, so loading overlaps the caller's own
//! work (a download parses its manifest meanwhile); the first lookup waits for it. The
//! base is mapped, not read, and looked up where it lies, by binary search: building a
//! table of 200k records cost more (CPU, and fresh pages at 2 s/GiB here) than the
//! lookups.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::{b64, Algorithm};
use crate::mapped::Mapped;
use crate::walk::StatKey;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64, Xxh3};

const MAGIC: &[u8; 8] = b"ARTSTAT5";
/// MAGIC and the base's record count.
const HEADER: usize = 16;
const TRAILER: usize = 16;
/// A batch: its record count (u32), the records, an XXH3-64 of both.
const BATCH_OVERHEAD: usize = 4 + 8;
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

/// Whether a file with this key may still change without changing the key, as seen at
/// `now_ns` (then its digest must not be recorded).
fn is_racy(key: &StatKey, now_ns: i64) -> bool {
    let margin = racy_margin(key);
    key.mtime_ns > now_ns - margin || key.ctime_ns > now_ns - margin
}

/// A file this process wrote: (path, stat after the write, algorithm, digest).
pub type Written<'a> = (&'a Path, StatKey, Algorithm, [u8; 16]);

/// What re-hashing a file at a later check costs: an open, read and close, plus MD5 at
/// about 500 MB/s (measured on the reference machine).
const REHASH_FILE_NS: i64 = 20_000;
const REHASH_NS_PER_BYTE: i64 = 2;

/// How long until every file in `racy` is safely old, if waiting costs less than
/// re-hashing them would (None: leave them to be re-hashed). Never past the fine margin.
fn settle_wait(racy: &[Written<'_>], now: i64) -> Option<std::time::Duration> {
    let until = racy.iter().map(|(_, k, ..)| k.mtime_ns.max(k.ctime_ns) + racy_margin(k)).max()?;
    let wait = (until - now).max(0);
    let rehash: i64 = racy.iter().map(|(_, k, ..)| REHASH_FILE_NS.saturating_add((k.size as i64).saturating_mul(REHASH_NS_PER_BYTE))).sum();
    (wait <= RACY_MARGIN_FINE_NS && wait < rehash).then(|| std::time::Duration::from_nanos(wait as u64 + 1))
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

/// The file as read: the sorted base (binary-searched where it lies, mapped) and the
/// records of the batches appended since, sorted, a later batch winning.
#[derive(Default)]
struct Records {
    /// The header, base and trailer.
    bytes: Mapped,
    base: usize,
    journal: Vec<(Key, Value)>,
    /// Bytes up to the end of the last whole batch (0: no valid file).
    valid_len: usize,
    /// The file's own stat key: writers replace it or append to it, never edit it.
    from: Option<StatKey>,
}

fn decode(r: &[u8]) -> (Key, Value) {
    let u = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let alg = if r[40] == alg_tag(Algorithm::Xxh128) { Algorithm::Xxh128 } else { Algorithm::Md5 };
    let raw: [u8; 16] = r[41..57].try_into().expect("16 bytes");
    (Key(u(&r[0..8]), u(&r[8..16]), alg), (u(&r[16..24]), u(&r[24..32]) as i64, u(&r[32..40]) as i64, raw))
}

/// One record in the layout `decode` reads.
fn encode(Key(dev, ino, alg): Key, (size, mtime, ctime, raw): Value) -> [u8; RECORD] {
    let mut r = [0; RECORD];
    for (i, n) in [dev, ino, size, mtime as u64, ctime as u64].into_iter().enumerate() {
        r[i * 8..(i + 1) * 8].copy_from_slice(&n.to_le_bytes());
    }
    r[40] = alg_tag(alg);
    r[41..].copy_from_slice(&raw);
    r
}

impl Records {
    fn at(&self, i: usize) -> (Key, Value) {
        decode(&self.bytes[HEADER + i * RECORD..HEADER + (i + 1) * RECORD])
    }

    fn get(&self, k: &Key) -> Option<Value> {
        let want = k.order();
        if let Ok(i) = self.journal.binary_search_by_key(&want, |(key, _)| key.order()) {
            return Some(self.journal[i].1);
        }
        let (mut lo, mut hi) = (0, self.base);
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

    /// The base's records, in order (the journal is separate).
    fn iter(&self) -> impl Iterator<Item = (Key, Value)> + '_ {
        (0..self.base).map(|i| self.at(i))
    }
}

/// Two runs sorted by key, as one, into `out`; `newer` wins where both have a key.
/// Returns how many records went out.
fn merge_sorted<E>(
    older: impl Iterator<Item = (Key, Value)>,
    newer: &[(Key, Value)],
    mut out: impl FnMut(Key, Value) -> Result<(), E>,
) -> Result<usize, E> {
    let (mut n, mut last) = (0, None);
    let mut newer = newer.iter().copied().peekable();
    for (k, v) in older {
        while let Some(&(nk, nv)) = newer.peek() {
            if nk.order() > k.order() {
                break;
            }
            out(nk, nv)?;
            (n, last) = (n + 1, Some(nk));
            newer.next();
        }
        if last != Some(k) {
            out(k, v)?;
            (n, last) = (n + 1, Some(k));
        }
    }
    for (nk, nv) in newer {
        out(nk, nv)?;
        n += 1;
    }
    Ok(n)
}

/// `merge_sorted` of two runs into one.
fn merged(older: &[(Key, Value)], newer: &[(Key, Value)]) -> Vec<(Key, Value)> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let _ = merge_sorted(older.iter().copied(), newer, |k, v| {
        out.push((k, v));
        Ok::<(), ()>(())
    });
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

/// An mtime for the files a download is about to write (`record_stamped`): a racy margin
/// before now, so that no later write, which sets mtime from the clock, can give a file
/// this mtime again; and never a whole microsecond, so that a filesystem storing coarser
/// times shows a different one (then nothing is recorded).
pub fn write_stamp() -> i64 {
    let t = now_ns() - RACY_MARGIN_FINE_NS;
    if t % 1000 == 0 {
        t - 1
    } else {
        t
    }
}

/// `ns` after the epoch as a time to set on a file.
pub fn system_time(ns: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64)
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

    /// Remember a digest computed at `hashed_at_ns`, unless the file is racily new
    /// (false: not recorded).
    pub fn record(&self, key: &StatKey, alg: Algorithm, raw: [u8; 16], hashed_at_ns: i64) -> bool {
        let ok = !is_racy(key, hashed_at_ns);
        if ok {
            self.insert_fresh(key, alg, raw);
        }
        ok
    }

    /// Remember the digest of a file this process wrote and gave mtime `stamp`
    /// (`write_stamp`), if its mtime is still exactly that: false (not recorded) if it
    /// is not (written again since, or a filesystem that stores coarser times).
    pub fn record_stamped(&self, key: &StatKey, alg: Algorithm, raw: [u8; 16], stamp: i64) -> bool {
        let ok = key.mtime_ns == stamp;
        if ok {
            self.insert_fresh(key, alg, raw);
        }
        ok
    }

    /// Files this process has just written that `record` refused as racy: (path, stat
    /// after the write, algorithm, digest). Waits until they are safely old, when that
    /// is sooner than re-hashing them at the next check would take, then records those
    /// whose stat is unchanged. Call it before handing the files over: an edit made
    /// after that, in the same tick as the write, would leave the stat unchanged.
    pub fn settle_written(&self, racy: &[Written<'_>]) {
        let Some(wait) = settle_wait(racy, now_ns()) else { return };
        std::thread::sleep(wait);
        let now = now_ns();
        for (path, key, alg, raw) in racy {
            if fs::symlink_metadata(path).is_ok_and(|m| StatKey::of(&m) == *key) {
                self.record(key, *alg, *raw, now);
            }
        }
    }

    fn insert_fresh(&self, key: &StatKey, alg: Algorithm, raw: [u8; 16]) {
        let k = Key(key.dev, key.ino, alg);
        let v = (key.size, key.mtime_ns, key.ctime_ns, raw);
        if let Ok(mut f) = self.fresh.write() {
            if self.path.as_os_str().is_empty() && f.len() >= self.max_entries {
                f.clear(); // memory-only (never saved): bounded by starting over, it is only a hint
            }
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
        let lock = crate::lockfile::lock_exclusive(&self.path.with_extension("lock"))?;
        // Unchanged since it was loaded: no need to read it again.
        let on_disk = fs::metadata(&self.path).ok().map(|m| StatKey::of(&m));
        let reread;
        let mut cur = self.loaded();
        if on_disk.is_none() || on_disk != cur.from {
            reread = read_records(&self.path).unwrap_or_default();
            cur = &reread;
        }
        let appendable = cur.valid_len > 0 && cur.base + cur.journal.len() + fresh.len() <= self.max_entries;
        if appendable && cur.journal.len() + fresh.len() <= cur.base / 4 + 1024 {
            let mut file = OpenOptions::new().write(true).open(&self.path)?;
            file.set_len(cur.valid_len as u64)?; // drops a batch torn by a crash, if any
            file.seek(io::SeekFrom::End(0))?;
            let mut batch = Vec::with_capacity(BATCH_OVERHEAD + fresh.len() * RECORD);
            batch.extend_from_slice(&(fresh.len() as u32).to_le_bytes());
            for &(k, v) in &fresh {
                batch.extend_from_slice(&encode(k, v));
            }
            batch.extend_from_slice(&xxh3_64(&batch).to_le_bytes());
            file.write_all(&batch)?;
            drop(lock);
            return Ok(());
        }
        self.rewrite(cur, &fresh)?;
        drop(lock);
        Ok(())
    }

    /// Write `cur` (base and batches) and `fresh` as one sorted base, under the cap.
    fn rewrite(&self, cur: &Records, fresh: &[(Key, Value)]) -> io::Result<()> {
        let mut newer = merged(&cur.journal, fresh);
        let mut base = cur;
        let count = |base: &Records, newer: &[(Key, Value)]| merge_sorted(base.iter(), newer, |_, _| Ok::<(), ()>(())).unwrap_or(0);
        let mut n = count(base, &newer);
        if n > self.max_entries {
            // Over the cap: start again from this run's view rather than grow forever.
            let mut mine: Vec<(Key, Value)> = self.fresh.read().map(|f| f.iter().map(|(k, (v, _))| (*k, *v)).collect()).unwrap_or_default();
            mine.sort_unstable_by_key(|(k, _)| k.order());
            base = self.loaded();
            newer = merged(&base.journal, &mine);
            n = count(base, &newer);
        }
        let keep = n <= self.max_entries;
        // Streamed through a small buffer: no second copy of the whole file in memory.
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let mut w = BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        let mut h = Xxh3::new();
        let mut put = |b: &[u8]| {
            h.update(b);
            w.write_all(b)
        };
        put(MAGIC)?;
        put(&(if keep { n as u64 } else { 0 }).to_le_bytes())?;
        if keep {
            merge_sorted(base.iter(), &newer, |k, v| put(&encode(k, v)))?;
        }
        w.write_all(&h.digest128().to_le_bytes())?;
        w.into_inner().map_err(io::IntoInnerError::into_error)?;
        fs::rename(&tmp, &self.path)
    }
}

/// The base if whole (else an empty cache: start afresh rather than trust it), and
/// every whole batch after it up to the first torn one.
fn read_records(path: &Path) -> io::Result<Records> {
    use std::os::unix::fs::FileExt;
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let from = Some(StatKey::of(&meta));
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    let empty = || Records { from, ..Records::default() };
    let mut header = [0; HEADER];
    if len < HEADER + TRAILER || file.read_exact_at(&mut header, 0).is_err() || &header[..8] != MAGIC {
        return Ok(empty());
    }
    let base = usize::try_from(u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"))).unwrap_or(usize::MAX);
    let Some(base_end) = base.checked_mul(RECORD).and_then(|n| n.checked_add(HEADER)).filter(|&e| e <= len - TRAILER) else {
        return Ok(empty());
    };
    // Mapped, not read: no copy in fresh memory (2 s/GiB here; 200k records are 11 MB).
    // Writers never change a file below the end of its base (they append batches or
    // rename a new file in), so the map stays valid while it is held.
    let map = Mapped::of(&file, base_end + TRAILER)?;
    // A checksum against torn writes, not an adversary: XXH3 is 20x faster than MD5 here.
    if xxh3_128(&map[..base_end]).to_le_bytes() != map[base_end..] {
        return Ok(empty());
    }
    // The batches are read, not mapped: a writer may cut off a torn one at any time.
    let mut tail = vec![0; len - base_end - TRAILER];
    if file.read_exact_at(&mut tail, (base_end + TRAILER) as u64).is_err() {
        tail.clear();
    }
    let (journal, used) = parse_batches(&tail);
    Ok(Records { bytes: map, base, journal, valid_len: base_end + TRAILER + used, from })
}

/// The records of every whole batch in `tail`, sorted (a later batch wins), and the
/// bytes those batches take.
fn parse_batches(tail: &[u8]) -> (Vec<(Key, Value)>, usize) {
    let (mut pos, mut journal) = (0, Vec::new());
    while let Some(count) = tail.get(pos..pos + 4) {
        let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
        let end = pos + 4 + count * RECORD;
        let Some(sum) = tail.get(end..end + 8) else { break };
        if xxh3_64(&tail[pos..end]).to_le_bytes() != sum {
            break;
        }
        journal.extend(tail[pos + 4..end].chunks_exact(RECORD).map(decode));
        pos = end + 8;
    }
    // Stable: among equal keys the later batch comes last, and is the one kept.
    journal.sort_by_key(|(k, _)| k.order());
    let mut kept: Vec<(Key, Value)> = Vec::with_capacity(journal.len());
    for r in journal {
        match kept.last_mut() {
            Some(last) if last.0 == r.0 => *last = r,
            _ => kept.push(r),
        }
    }
    (kept, pos)
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
    fn a_memory_only_cache_starts_over_when_full() {
        let c = StatCache::open(Path::new(""), 2);
        let now = now_ns();
        let old = now - 10_000_000_000;
        let at = |ino: u64| StatKey { dev: 1, ino, size: 5, mtime_ns: old, ctime_ns: old };
        c.record(&at(1), Algorithm::Md5, [1; 16], now);
        c.record(&at(2), Algorithm::Md5, [2; 16], now);
        assert!(c.lookup(&at(1), Algorithm::Md5).is_some());
        c.record(&at(3), Algorithm::Md5, [3; 16], now);
        assert_eq!(c.lookup(&at(1), Algorithm::Md5), None, "forgotten: the bound holds");
        assert_eq!(c.lookup(&at(3), Algorithm::Md5), Some(b64(&[3; 16])));
        let d = tempfile::tempdir().unwrap();
        let saved = StatCache::open(&d.path().join("sc"), 2);
        for ino in 1..=3 {
            saved.record(&at(ino), Algorithm::Md5, [1; 16], now);
        }
        assert!(saved.lookup(&at(1), Algorithm::Md5).is_some(), "a saved cache trims when it saves, not before");
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
    fn a_stamped_file_is_recorded_only_while_its_mtime_is_the_stamp() {
        let d = tempfile::tempdir().unwrap();
        let c = StatCache::open(&d.path().join("sc"), 100);
        let stamp = write_stamp();
        assert!(stamp < now_ns() && stamp % 1000 != 0);
        assert!(c.record_stamped(&key(5, stamp), Algorithm::Md5, [1; 16], stamp), "its own stamp: at once");
        assert_eq!(c.lookup_raw(&key(5, stamp), Algorithm::Md5), Some([1; 16]));
        // Written since (mtime from the clock), or truncated by a coarser filesystem.
        for mtime in [now_ns(), stamp - stamp % 1000] {
            let k = StatKey { ino: 3, ..key(5, mtime) };
            assert!(!c.record_stamped(&k, Algorithm::Md5, [1; 16], stamp));
            assert_eq!(c.lookup_raw(&k, Algorithm::Md5), None);
        }
    }

    #[test]
    fn racy_written_files_are_waited_for_only_when_cheaper_than_rehashing() {
        let now = 1_700_000_000_123_456_789;
        let p = Path::new("f");
        let small = |t: i64| (p, StatKey { dev: 1, ino: 2, size: 1024, mtime_ns: t, ctime_ns: t }, Algorithm::Md5, [0; 16]);
        assert_eq!(settle_wait(&[], now), None);
        assert_eq!(settle_wait(&[small(now), small(now - 1_000)], now), None, "two small files: re-hash them");
        let many = vec![small(now - 10_000_000); 3000];
        assert_eq!(settle_wait(&many, now), Some(std::time::Duration::from_nanos(40_000_001)), "3000 files: wait 40 ms");
        let big = (p, StatKey { size: 1 << 30, ..small(now).1 }, Algorithm::Md5, [0; 16]);
        assert!(settle_wait(&[big], now).is_some(), "1 GiB: wait");
        let coarse = 1_700_000_000_000_000_000;
        assert_eq!(settle_wait(&vec![small(coarse); 100_000], coarse + 1), None, "a 2 s margin is never waited for");
    }

    #[test]
    fn settling_records_the_written_files_whose_stat_is_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let c = StatCache::open(&d.path().join("sc"), 100);
        let (big, changed) = (d.path().join("big"), d.path().join("changed"));
        // Sparse, but 64 MiB to hash: waiting is the cheaper way.
        File::create(&big).unwrap().set_len(64 << 20).unwrap();
        fs::write(&changed, b"placed").unwrap();
        let stat = |p: &Path| StatKey::of(&fs::metadata(p).unwrap());
        let (k1, k2) = (stat(&big), stat(&changed));
        let now = now_ns();
        assert!(!c.record(&k1, Algorithm::Md5, [1; 16], now), "racy when written");
        assert!(!c.record(&k2, Algorithm::Md5, [2; 16], now));
        // Someone else replaces one of them before it settles (same size, new inode).
        let tmp = d.path().join("tmp");
        fs::write(&tmp, b"theirs").unwrap();
        fs::rename(&tmp, &changed).unwrap();
        c.settle_written(&[(&big, k1, Algorithm::Md5, [1; 16]), (&changed, k2, Algorithm::Md5, [2; 16])]);
        assert_eq!(c.lookup_raw(&k1, Algorithm::Md5), Some([1; 16]), "unchanged: recorded");
        assert_eq!(c.lookup_raw(&k2, Algorithm::Md5), None, "replaced: left out");
        assert_eq!(c.lookup_raw(&stat(&changed), Algorithm::Md5), None, "replaced: left out");
        c.persist().unwrap();
        let again = StatCache::open(&d.path().join("sc"), 100);
        assert_eq!(again.lookup_raw(&k1, Algorithm::Md5), Some([1; 16]), "settled records reach the file");
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
        assert_sorted_base(c.loaded());
        for i in 0..2000u64 {
            let ino = (i * 7919) % 2003;
            let want = if (ino, i % 2) == (5, 1) { [0xAB; 16] } else { [ino as u8; 16] };
            assert_eq!(c.lookup_raw(&at(ino, i % 2), Algorithm::Md5), Some(want), "ino {ino}");
            assert_eq!(c.lookup_raw(&at(ino, i % 2), Algorithm::Xxh128), Some([!(ino as u8); 16]));
        }
        assert_eq!(c.lookup_raw(&at(2003, 0), Algorithm::Md5), None);
    }

    #[test]
    fn over_the_cap_a_process_keeps_its_own_view_or_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        let now = now_ns();
        let (a, c) = (StatCache::open(&p, 3), StatCache::open(&p, 3));
        assert_eq!(c.lookup_raw(&at(1), Algorithm::Md5), None); // c has loaded: an empty cache
        for ino in [1, 2] {
            a.record(&at(ino), Algorithm::Md5, [1; 16], now);
        }
        a.persist().unwrap();
        for ino in [3, 4] {
            c.record(&at(ino), Algorithm::Md5, [1; 16], now);
        }
        c.persist().unwrap(); // 4 merged > 3: c's own view (2) is kept
        let d = StatCache::open(&p, 3);
        let found = |s: &StatCache| (1..=8).filter(|&i| s.lookup_raw(&at(i), Algorithm::Md5).is_some()).collect::<Vec<_>>();
        assert_eq!(found(&d), [3, 4]);
        for ino in 5..=8 {
            d.record(&at(ino), Algorithm::Md5, [1; 16], now);
        }
        d.persist().unwrap(); // even its own view is over: an empty, valid file
        assert_eq!(found(&StatCache::open(&p, 3)), Vec::<u64>::new());
        assert_eq!(fs::read(&p).unwrap().len(), HEADER + TRAILER);
    }

    fn assert_sorted_base(recs: &Records) {
        let orders: Vec<_> = recs.iter().map(|(k, _)| k.order()).collect();
        assert!(orders.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
    }

    /// A file unchanged since long ago (not on a whole second: a fine-grained filesystem).
    fn at(ino: u64) -> StatKey {
        const OLD: i64 = 1_700_000_000_000_000_123;
        StatKey { dev: 1, ino, size: 1, mtime_ns: OLD, ctime_ns: OLD }
    }

    /// A cache at `p` holding inodes `inos`, written by its own process.
    fn write_base(p: &Path, inos: std::ops::Range<u64>) -> u64 {
        let a = StatCache::open(p, 1_000_000);
        for ino in inos.clone() {
            a.record(&at(ino), Algorithm::Md5, [1; 16], now_ns());
        }
        a.persist().unwrap();
        let len = fs::metadata(p).unwrap().len();
        assert_eq!(len as usize, HEADER + inos.count() * RECORD + TRAILER, "one sorted base, no batch");
        len
    }

    #[test]
    fn few_new_records_are_appended_and_a_torn_batch_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        let base_len = write_base(&p, 0..8000);
        // Another process re-hashed three files: one batch, the base untouched.
        let b = StatCache::open(&p, 1_000_000);
        for ino in [5, 9000, 9001] {
            b.record(&at(ino), Algorithm::Md5, [2; 16], now_ns());
        }
        b.persist().unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), base_len + (BATCH_OVERHEAD + 3 * RECORD) as u64);
        // A crash mid-append leaves part of a batch: ignored, then cut off by the next append.
        let mut torn = OpenOptions::new().append(true).open(&p).unwrap();
        torn.write_all(&[3, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(torn);
        let c = StatCache::open(&p, 1_000_000);
        assert_eq!(c.lookup_raw(&at(5), Algorithm::Md5), Some([2; 16]), "the later batch wins");
        assert_eq!(c.lookup_raw(&at(9001), Algorithm::Md5), Some([2; 16]));
        assert_eq!(c.lookup_raw(&at(7), Algorithm::Md5), Some([1; 16]));
        c.record(&at(9002), Algorithm::Md5, [3; 16], now_ns());
        c.persist().unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), base_len + (2 * BATCH_OVERHEAD + 4 * RECORD) as u64);
        let d = StatCache::open(&p, 1_000_000);
        for (ino, want) in [(5, [2; 16]), (9002, [3; 16]), (0, [1; 16]), (7999, [1; 16])] {
            assert_eq!(d.lookup_raw(&at(ino), Algorithm::Md5), Some(want), "ino {ino}");
        }
        assert_eq!(d.lookup_raw(&at(8000), Algorithm::Md5), None);
    }

    #[test]
    fn batches_past_a_quarter_of_the_base_are_merged_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        let base_len = write_base(&p, 0..8000);
        let b = StatCache::open(&p, 1_000_000);
        for ino in 10_000..12_000 {
            b.record(&at(ino), Algorithm::Md5, [2; 16], now_ns());
        }
        b.persist().unwrap(); // 2,000 <= 8,000 / 4 + 1,024: appended
        assert_eq!(fs::metadata(&p).unwrap().len(), base_len + (BATCH_OVERHEAD + 2000 * RECORD) as u64);
        let c = StatCache::open(&p, 1_000_000);
        for ino in (20_000..21_500).chain([7]) {
            c.record(&at(ino), Algorithm::Md5, [3; 16], now_ns());
        }
        c.persist().unwrap(); // 3,501 more than that: one base again
        assert_eq!(fs::metadata(&p).unwrap().len() as usize, HEADER + 11_500 * RECORD + TRAILER);
        let d = StatCache::open(&p, 1_000_000);
        assert!(d.loaded().journal.is_empty());
        assert_sorted_base(d.loaded());
        for (ino, want) in [(7, [3; 16]), (6, [1; 16]), (11_999, [2; 16]), (21_499, [3; 16])] {
            assert_eq!(d.lookup_raw(&at(ino), Algorithm::Md5), Some(want), "ino {ino}");
        }
    }

    #[test]
    fn a_loaded_base_stays_readable_while_others_rewrite_and_append() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sc");
        let now = now_ns();
        write_base(&p, 0..100);
        let reader = StatCache::open(&p, 100_000);
        assert_eq!(reader.lookup_raw(&at(5), Algorithm::Md5), Some([1; 16]), "mapped base");
        let writer = StatCache::open(&p, 100_000);
        for ino in 100..2000 {
            writer.record(&at(ino), Algorithm::Md5, [2; 16], now);
        }
        writer.persist().unwrap(); // a rewrite: a new file renamed over the mapped one
        writer.record(&at(5000), Algorithm::Md5, [3; 16], now);
        writer.persist().unwrap(); // an append
        assert_eq!(reader.lookup_raw(&at(5), Algorithm::Md5), Some([1; 16]), "the old map still reads");
        reader.record(&at(6000), Algorithm::Md5, [4; 16], now);
        reader.persist().unwrap();
        let all = StatCache::open(&p, 100_000);
        for (ino, raw) in [(5, 1), (1500, 2), (5000, 3), (6000, 4)] {
            assert_eq!(all.lookup_raw(&at(ino), Algorithm::Md5), Some([raw; 16]), "inode {ino}");
        }
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
