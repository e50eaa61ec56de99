//! Packs: many small blobs of one log in one file of the embedded store
//! (`<objects>/packs/<name>`), each at an offset the catalog records.
//!
//! One file per 4 KiB blob costs an inode, a directory entry and a flush per blob, more
//! than the bytes (a 10k-file log paid more than `cp -r` plus `sync` of the tree). A pack
//! costs one file and one `fdatasync` for the whole batch, and that flush waits for this
//! batch's data only, never for other processes' dirty data.
//!
//! Writing: every source is stat'ed, offsets are reserved by the sizes (a new pack past
//! `cap` bytes), then each file is read once in parallel and written at its offset
//! (`copy_file_range` where its content is already known: a staged copy, or a file the
//! stat cache or this process's add hashed, unchanged since; else read, hashed against
//! its digest and `pwrite`). The pack is written under `tmp/`, fdatasynced, renamed into
//! `packs/`, and `packs/` is fsynced, all before this returns: only then may the caller
//! commit catalog rows that point into it. A bad file (changed since it was added,
//! unreadable) removes the packs of the batch and names itself; nothing is placed.
//!
//! Reading: a blob is the byte range `offset..offset + length` of its pack, copied out
//! and verified against its digest like any store object.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::digest::{b64, Algorithm, Hasher};
use crate::progress::{tick, Progress};
use crate::statcache::StatCache;
use crate::store_put::Item;
use crate::walk::{with_path, StatKey};

/// The directory of packs below the store's objects dir.
pub const PACKS_DIR: &str = "packs";

/// Where a packed blob went: the pack's file name under `packs/`, offset and length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packed {
    pub pack: String,
    pub offset: u64,
    pub length: u64,
}

/// Write `items` into new packs under `root` (the store's objects dir), each pack at most
/// `cap` bytes (a single larger blob gets a pack of its own). Per item, where it went. On
/// a bad item nothing is left behind and its index comes with the error.
pub fn write_packs(root: &Path, items: &[Item], cap: u64, statcache: Option<&StatCache>, progress: Option<&Progress>) -> Result<Vec<Packed>, (usize, io::Error)> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let tmp_dir = root.join("tmp");
    let packs_dir = root.join(PACKS_DIR);
    for d in [&tmp_dir, &packs_dir] {
        fs::create_dir_all(d).map_err(|e| (0, with_path(e, d)))?;
    }
    let sizes: Vec<io::Result<u64>> = crate::pool::install(|| items.par_iter().map(|it| fs::metadata(&it.src).map(|m| m.len()).map_err(|e| with_path(e, &it.src))).collect());
    if let Some(bad) = sizes.iter().position(Result::is_err) {
        let mut sizes = sizes;
        return Err((bad, sizes.swap_remove(bad).expect_err("an error at bad")));
    }
    let sizes: Vec<u64> = sizes.into_iter().map(|s| s.expect("no errors left")).collect();
    let (group_of, offsets, totals) = layout(&sizes, cap);
    let mut files = Vec::with_capacity(totals.len());
    let mut made: Vec<PathBuf> = Vec::new();
    let cleanup = |made: &[PathBuf]| made.iter().for_each(|p| drop(fs::remove_file(p)));
    for total in &totals {
        match create_pack(&tmp_dir) {
            Ok((f, p)) => {
                made.push(p);
                // Sized up front: the parallel writes then never extend the file.
                if let Err(e) = f.set_len(*total) {
                    cleanup(&made);
                    return Err((0, with_path(e, made.last().expect("just pushed"))));
                }
                files.push(f);
            }
            Err(e) => {
                cleanup(&made);
                return Err((0, e));
            }
        }
    }
    let written: Vec<io::Result<()>> = crate::pool::install(|| {
        items
            .par_iter()
            .enumerate()
            .map(|(i, it)| {
                let r = copy_in(it, sizes[i], &files[group_of[i]], offsets[i], statcache);
                tick(progress, 1, sizes[i]);
                r
            })
            .collect()
    });
    if let Some(bad) = written.iter().position(Result::is_err) {
        cleanup(&made);
        let mut written = written;
        return Err((bad, written.swap_remove(bad).expect_err("an error at bad")));
    }
    let names = match seal_packs(&files, &made, &packs_dir) {
        Ok(n) => n,
        Err(e) => {
            cleanup(&made);
            return Err((0, e));
        }
    };
    Ok((0..items.len()).map(|i| Packed { pack: names[group_of[i]].clone(), offset: offsets[i], length: sizes[i] }).collect())
}

/// Per item its pack (group) and offset, and each pack's total: items in order, a new
/// pack once adding the next would pass `cap` (never an empty pack).
fn layout(sizes: &[u64], cap: u64) -> (Vec<usize>, Vec<u64>, Vec<u64>) {
    let (mut group_of, mut offsets, mut totals) = (Vec::with_capacity(sizes.len()), Vec::with_capacity(sizes.len()), vec![0u64]);
    for &s in sizes {
        let last = totals.last_mut().expect("never empty");
        if *last > 0 && *last + s > cap {
            totals.push(0);
        }
        group_of.push(totals.len() - 1);
        let last = totals.last_mut().expect("never empty");
        offsets.push(*last);
        *last += s;
    }
    (group_of, offsets, totals)
}

/// Flush every pack's data, rename each into `packs/` under a name no other pack has,
/// then flush `packs/` itself: the names of the packs, in order.
fn seal_packs(files: &[File], made: &[PathBuf], packs_dir: &Path) -> io::Result<Vec<String>> {
    crate::pool::install(|| files.par_iter().zip(made).try_for_each(|(f, p)| f.sync_data().map_err(|e| with_path(e, p))))?;
    failpoint("before_pack_rename");
    let mut names = Vec::with_capacity(made.len());
    for tmp in made {
        let name = tmp.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("pack-")).expect("our own temp name").to_owned() + ".pack";
        let dest = packs_dir.join(&name);
        // Never over another pack: the name holds the time, the pid and a counter.
        if dest.exists() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} already exists", dest.display())));
        }
        fs::rename(tmp, &dest).map_err(|e| with_path(e, &dest))?;
        names.push(name);
    }
    File::open(packs_dir).and_then(|d| d.sync_all()).map_err(|e| with_path(e, packs_dir))?;
    if let Some(parent) = packs_dir.parent() {
        File::open(parent).and_then(|d| d.sync_all()).map_err(|e| with_path(e, parent))?;
    }
    Ok(names)
}

/// The crash tests' kill point (python/artefact/store/failpoints.py): SIGKILL this
/// process if `name` is listed in `ARTEFACT_FAILPOINT`.
fn failpoint(name: &str) {
    if std::env::var("ARTEFACT_FAILPOINT").is_ok_and(|v| v.split(',').any(|p| p == name)) {
        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// A new pack under `tmp/`: `pack-<ns since epoch, hex>-<pid>-<n>`.
fn create_pack(tmp_dir: &Path) -> io::Result<(File, PathBuf)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = tmp_dir.join(format!("pack-{ns:x}-{}-{n}", crate::stage::current_pid()));
        match fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o666).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, tmp_dir)),
        }
    }
}

/// Copy one item's `size` bytes into `pack` at `offset`: kernel-side where its content
/// is known, else read once, hashed and checked against its digest, then written.
fn copy_in(it: &Item, size: u64, pack: &File, offset: u64, statcache: Option<&StatCache>) -> io::Result<()> {
    let input = File::open(&it.src).map_err(|e| with_path(e, &it.src))?;
    let meta = input.metadata().map_err(|e| with_path(e, &it.src))?;
    let changed = || io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch for {}: changed while it was stored ({} bytes, was {size})", it.src.display(), meta.len()));
    if meta.len() != size {
        return Err(changed());
    }
    let key = StatKey::of(&meta);
    let known = it.staged
        || statcache
            .and_then(|sc| sc.lookup_raw(&key, it.alg))
            .or_else(|| crate::onepass::hashed_digest(&key, it.alg))
            .is_some_and(|raw| b64(&raw) == it.digest);
    // A rewrite racing the kernel's copy moves the source's ctime, so its stat key then
    // differs: such a file is read and hashed below like an unknown one.
    if known && crate::cache::copy_exact_at(&input, pack, offset, size)? && input.metadata().is_ok_and(|m| StatKey::of(&m) == key) {
        return Ok(());
    }
    let mut buf = vec![0u8; size as usize];
    let n = crate::digest::read_full(&mut &input, &mut buf).map_err(|e| with_path(e, &it.src))?;
    if n as u64 != size {
        return Err(changed());
    }
    let mut h = Hasher::new_small(it.alg);
    h.update(&buf);
    let found = b64(&h.finish());
    if found != it.digest {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch for {}: expected {}, found {found}", it.src.display(), it.digest)));
    }
    pack.write_all_at(&buf, offset)
}

/// A byte range of an open pack read with `pread` (no seek, no descriptor of its own):
/// many threads read their ranges of one pack through one descriptor.
pub struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl<'a> RangeReader<'a> {
    /// `length` bytes at `offset` of `file`, which must hold them (InvalidData naming `pack` if not).
    pub fn new(file: &'a File, pack: &Path, offset: u64, length: u64) -> io::Result<Self> {
        let len = file.metadata()?.len();
        if offset.checked_add(length).is_none_or(|end| end > len) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{}: {length} bytes at {offset} run past its end ({len} bytes)", pack.display())));
        }
        Ok(Self { file, pos: offset, end: offset + length })
    }
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A packed blob's bytes, checked against its digest (InvalidData naming the pack if not).
pub fn read_verified(pack: &Path, offset: u64, length: u64, digest: &str, alg: Algorithm) -> io::Result<Vec<u8>> {
    let f = File::open(pack).map_err(|e| with_path(e, pack))?;
    let mut r = RangeReader::new(&f, pack, offset, length)?;
    let mut buf = Vec::with_capacity(length as usize);
    r.read_to_end(&mut buf)?;
    let found = crate::digest::hash_bytes(&buf, alg);
    if buf.len() as u64 != length || found != digest {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch in {} at {offset}: expected {digest}, found {found}", pack.display())));
    }
    Ok(buf)
}

/// Hash each `(pack, offset, length, digest, alg)` range in parallel: None if it matches,
/// else why not ("missing" for a pack that is gone), as `cache::verify_files` answers.
pub fn verify_ranges(items: &[(PathBuf, u64, u64, String, Algorithm)], progress: Option<&Progress>) -> Vec<Option<String>> {
    crate::pool::install(|| {
        items
            .par_iter()
            .map(|(pack, off, len, digest, alg)| {
                let r = match read_verified(pack, *off, *len, digest, *alg) {
                    Ok(_) => None,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Some("missing".to_owned()),
                    Err(e) => Some(e.to_string()),
                };
                tick(progress, 1, *len);
                r
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    fn item(src: &Path, data: &[u8], staged: bool) -> Item {
        Item { src: src.to_owned(), digest: hash_bytes(data, Algorithm::Md5), alg: Algorithm::Md5, staged }
    }

    #[test]
    fn an_unaligned_mix_of_sizes_lands_at_its_offsets_and_reads_back_verified() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("objects");
        let sizes = [0usize, 1, 4095, 4096, 4097, 7, 65_537, 3, 100_000, 12];
        let mut items = Vec::new();
        let mut datas = Vec::new();
        for (i, s) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..*s).map(|j| ((i * 31 + j) % 251) as u8).collect();
            let src = d.path().join(format!("f{i}"));
            fs::write(&src, &data).unwrap();
            items.push(item(&src, &data, i % 3 == 0));
            datas.push(data);
        }
        let out = write_packs(&root, &items, 1 << 30, None, None).unwrap();
        assert!(out.iter().all(|p| p.pack == out[0].pack), "one pack under the cap");
        let mut expect = 0;
        for (p, data) in out.iter().zip(&datas) {
            assert_eq!((p.offset, p.length), (expect, data.len() as u64));
            expect += data.len() as u64;
            let pack = root.join(PACKS_DIR).join(&p.pack);
            assert_eq!(&read_verified(&pack, p.offset, p.length, &hash_bytes(data, Algorithm::Md5), Algorithm::Md5).unwrap(), data);
        }
        assert_eq!(fs::metadata(root.join(PACKS_DIR).join(&out[0].pack)).unwrap().len(), expect);
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0, "the temp pack was renamed");
        // A range checked against the wrong digest, or past the end, is refused.
        let pack = root.join(PACKS_DIR).join(&out[1].pack);
        assert!(read_verified(&pack, out[2].offset, out[2].length, &hash_bytes(b"x", Algorithm::Md5), Algorithm::Md5).is_err());
        assert!(read_verified(&pack, expect, 1, &hash_bytes(b"x", Algorithm::Md5), Algorithm::Md5).is_err());
        let checks: Vec<_> = out.iter().zip(&datas).map(|(p, data)| (pack.clone(), p.offset, p.length, hash_bytes(data, Algorithm::Md5), Algorithm::Md5)).collect();
        assert!(verify_ranges(&checks, None).iter().all(Option::is_none));
    }

    #[test]
    fn the_cap_starts_new_packs_and_a_big_blob_gets_its_own() {
        let (g, o, t) = layout(&[10, 10, 10, 25, 1], 20);
        assert_eq!(g, [0, 0, 1, 2, 3]);
        assert_eq!(o, [0, 10, 0, 0, 0]);
        assert_eq!(t, [20, 10, 25, 1]);
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("objects");
        let items: Vec<_> = (0..5)
            .map(|i| {
                let data = vec![i as u8; 10];
                let src = d.path().join(format!("f{i}"));
                fs::write(&src, &data).unwrap();
                item(&src, &data, false)
            })
            .collect();
        let out = write_packs(&root, &items, 25, None, None).unwrap();
        let packs: std::collections::BTreeSet<_> = out.iter().map(|p| p.pack.clone()).collect();
        assert_eq!(packs.len(), 3);
        assert_eq!(fs::read_dir(root.join(PACKS_DIR)).unwrap().count(), 3);
    }

    #[test]
    fn a_file_changed_since_it_was_added_places_nothing_and_names_itself() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("objects");
        let mut items = Vec::new();
        for i in 0..40 {
            let src = d.path().join(format!("f{i}"));
            fs::write(&src, format!("file {i}")).unwrap();
            items.push(item(&src, format!("file {i}").as_bytes(), false));
        }
        // Same size, other bytes: only the hash can tell.
        fs::write(&items[17].src, "file X7").unwrap();
        let (index, e) = write_packs(&root, &items, 1 << 20, None, None).unwrap_err();
        assert_eq!(index, 17);
        assert!(e.to_string().contains("f17") && e.to_string().contains("digest mismatch"), "{e}");
        // Grown: its size no longer matches what was reserved.
        fs::write(&items[17].src, "file 17").unwrap();
        fs::write(&items[3].src, "file 3 and more").unwrap();
        let (index, e) = write_packs(&root, &items, 1 << 20, None, None).unwrap_err();
        assert_eq!(index, 3);
        assert!(e.to_string().contains("f3"), "{e}");
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0, "no temp pack left");
        assert_eq!(fs::read_dir(root.join(PACKS_DIR)).unwrap().count(), 0, "no pack placed");
    }

    #[test]
    fn the_pack_is_flushed_and_renamed_before_it_is_named_and_the_temp_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("objects");
        let src = d.path().join("a");
        fs::write(&src, b"alpha").unwrap();
        let out = write_packs(&root, &[item(&src, b"alpha", false)], 1 << 20, None, None).unwrap();
        let placed = root.join(PACKS_DIR).join(&out[0].pack);
        assert!(out[0].pack.ends_with(".pack"));
        assert_eq!(fs::read(&placed).unwrap(), b"alpha");
        assert_eq!(fs::symlink_metadata(&placed).unwrap().len(), 5);
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        // A second batch never reuses a name.
        let again = write_packs(&root, &[item(&src, b"alpha", false)], 1 << 20, None, None).unwrap();
        assert_ne!(again[0].pack, out[0].pack);
    }
}
