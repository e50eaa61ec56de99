//! A received batch of small blobs filed into a content-addressed object root in one
//! call (the team server's `POST /api/v1/blobs/batch`).
//!
//! The body is already in memory: every blob's digest is checked there first (one bad
//! blob refuses the batch and nothing is written), then each new blob is written to
//! `tmp/`, fsynced and renamed into place by a few threads (fsyncs wait on the disk, not
//! the CPU, so more threads than cores overlap them), and finally each shard directory
//! that got a new name is fsynced once. When it returns, the batch is durable, so the
//! caller may record that it holds these blobs.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::cache::object_relpath;
use crate::digest::{hash_bytes, Algorithm};
use crate::objdir::ObjDir;
use crate::walk::with_path;

/// One blob of a batch body: `len` bytes at `offset`, expected to hash to `digest`.
#[derive(Clone, Debug)]
pub struct Slice {
    pub offset: usize,
    pub len: usize,
    pub digest: String,
    pub alg: Algorithm,
}

/// Threads writing and fsyncing blobs at once (fsync latency, not CPU, bounds them).
const WRITERS: usize = 16;

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Check every slice's bytes against its digest; the index and error of the first bad one.
pub fn verify(body: &[u8], items: &[Slice]) -> Result<(), (usize, io::Error)> {
    for (i, s) in items.iter().enumerate() {
        let end = s.offset.checked_add(s.len).filter(|&e| e <= body.len());
        if end.is_none() {
            return Err((i, bad(format!("blob {}: {} bytes at {} run past the {}-byte body", s.digest, s.len, s.offset, body.len()))));
        }
    }
    let failed = Mutex::new(None::<(usize, io::Error)>);
    crate::pool::install(|| {
        use rayon::prelude::*;
        items.par_iter().enumerate().for_each(|(i, s)| {
            let got = hash_bytes(&body[s.offset..s.offset + s.len], s.alg);
            if got != s.digest {
                let mut f = failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if f.as_ref().is_none_or(|(j, _)| i < *j) {
                    *f = Some((i, bad(format!("blob content hashes to {got}, not {}: corrupted or wrong file", s.digest))));
                }
            }
        });
    });
    match failed.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn write_tmp(tmp_dir: &Path, data: &[u8], durable: bool) -> io::Result<PathBuf> {
    loop {
        let p = tmp_dir.join(crate::tmpname::tmp_name());
        match OpenOptions::new().write(true).create_new(true).mode(0o666).open(&p) {
            Ok(mut f) => {
                let done = f.write_all(data).and_then(|()| if durable { f.sync_data() } else { Ok(()) });
                if let Err(e) = done {
                    let _ = fs::remove_file(&p);
                    return Err(with_path(e, &p));
                }
                return Ok(p);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, tmp_dir)),
        }
    }
}

/// File every slice of `body` under `root` (`obj/<alg>/<2 hex>/<30 hex>`), verified
/// first; with `durable`, each new object and its shard directory are fsynced before
/// this returns. Returns, per item, whether it was written now (an object already
/// present is kept). On an error, its item's index comes with it; a digest mismatch
/// writes nothing, a later IO error leaves at worst complete, verified objects.
pub fn store_slices(root: &Path, body: &[u8], items: &[Slice], durable: bool) -> Result<Vec<bool>, (usize, io::Error)> {
    verify(body, items)?;
    let rels: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, s)| object_relpath(&s.digest, s.alg).map_err(|e| (i, e)))
        .collect::<Result<_, _>>()?;
    let objs = ObjDir::open(root).map_err(|e| (0, e))?;
    objs.prepare(rels.iter().map(String::as_str).chain(["tmp/x"])).map_err(|e| (0, e))?;
    let tmp_dir = root.join("tmp");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<bool>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= items.len() {
            break;
        }
        let s = &items[i];
        let out = if objs.is_hit(&rels[i], s.len as u64) {
            Ok(false)
        } else {
            write_tmp(&tmp_dir, &body[s.offset..s.offset + s.len], durable).and_then(|tmp| {
                let dest = objs.join(&rels[i]);
                fs::rename(&tmp, &dest).map(|()| true).map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    with_path(e, &dest)
                })
            })
        };
        results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(out);
    };
    std::thread::scope(|scope| {
        for _ in 1..WRITERS.min(items.len()) {
            scope.spawn(work);
        }
        work();
    });
    let results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut written = Vec::with_capacity(items.len());
    for (i, r) in results.into_iter().enumerate() {
        match r.unwrap_or(Ok(false)) {
            Ok(w) => written.push(w),
            Err(e) => return Err((i, e)),
        }
    }
    if durable {
        let shards: BTreeSet<&str> = rels
            .iter()
            .zip(&written)
            .filter(|(_, w)| **w)
            .map(|(r, _)| r.rsplit_once('/').map_or("", |(d, _)| d))
            .collect();
        for shard in shards {
            let dir = objs.join(shard);
            File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| (0, with_path(e, &dir)))?;
        }
    }
    Ok(written)
}

/// Indices of the `(digest, algorithm, size)` objects that `root` lacks (no regular
/// file of that size under `obj/<alg>/...`), looked up in parallel: a client asks this
/// before fetching a version, so a download the cache already holds costs no Python
/// loop over 10,000 `stat`s.
pub fn lacking(root: &Path, items: &[(String, Algorithm, u64)]) -> io::Result<Vec<usize>> {
    use rayon::prelude::*;
    let objs = ObjDir::open(root)?;
    Ok(crate::pool::install(|| {
        items
            .par_iter()
            .enumerate()
            .filter(|(_, (digest, alg, size))| object_relpath(digest, *alg).map_or(true, |rel| !objs.is_hit(&rel, *size)))
            .map(|(i, _)| i)
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    fn batch(blobs: &[&[u8]]) -> (Vec<u8>, Vec<Slice>) {
        let mut body = Vec::new();
        let mut items = Vec::new();
        for b in blobs {
            items.push(Slice { offset: body.len(), len: b.len(), digest: hash_bytes(b, Algorithm::Md5), alg: Algorithm::Md5 });
            body.extend_from_slice(b"junk between");
            items.last_mut().unwrap().offset = body.len();
            body.extend_from_slice(b);
        }
        (body, items)
    }

    #[test]
    fn stores_each_blob_once_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (body, items) = batch(&[b"alpha", b"beta", b"", b"alpha"]);
        let written = store_slices(dir.path(), &body, &items, true).unwrap();
        assert_eq!(written.iter().filter(|w| **w).count() >= 3, true);
        for (s, data) in items.iter().zip([&b"alpha"[..], b"beta", b"", b"alpha"]) {
            let path = dir.path().join(object_relpath(&s.digest, s.alg).unwrap());
            assert_eq!(fs::read(path).unwrap(), data);
        }
        // Again: everything is already there, nothing is written.
        assert_eq!(store_slices(dir.path(), &body, &items, true).unwrap(), vec![false; 4]);
        let wanted: Vec<(String, Algorithm, u64)> = items.iter().map(|s| (s.digest.clone(), s.alg, s.len as u64)).collect();
        assert_eq!(lacking(dir.path(), &wanted).unwrap(), Vec::<usize>::new());
        let other = hash_bytes(b"never stored", Algorithm::Md5);
        let more = [wanted[1].clone(), (other, Algorithm::Md5, 12), (wanted[0].0.clone(), Algorithm::Md5, 99)];
        assert_eq!(lacking(dir.path(), &more).unwrap(), vec![1, 2], "unknown digest, and a stored one of another size");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "no temp file left");
    }

    #[test]
    fn a_large_batch_is_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Vec<Vec<u8>> = (0..100u32).map(|i| format!("blob number {i}").into_bytes()).collect();
        let (body, items) = batch(&blobs.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let written = store_slices(dir.path(), &body, &items, true).unwrap();
        assert!(written.iter().all(|w| *w));
        for (s, data) in items.iter().zip(&blobs) {
            assert_eq!(&fs::read(dir.path().join(object_relpath(&s.digest, s.alg).unwrap())).unwrap(), data);
        }
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "no temp file left");
        assert_eq!(store_slices(dir.path(), &body, &items, true).unwrap(), vec![false; items.len()]);
    }

    #[test]
    fn a_corrupted_blob_refuses_the_batch_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut body, items) = batch(&[b"good one", b"bad one"]);
        let at = items[1].offset;
        body[at] ^= 1;
        let (index, err) = store_slices(dir.path(), &body, &items, true).unwrap_err();
        assert_eq!(index, 1);
        assert!(err.to_string().contains("hashes to"), "{err}");
        assert!(!dir.path().join("obj").exists() || fs::read_dir(dir.path().join("obj/md5")).map_or(true, |d| d.count() == 0));
    }

    #[test]
    fn a_slice_past_the_body_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (body, mut items) = batch(&[b"x"]);
        items[0].len = 10;
        let (index, err) = store_slices(dir.path(), &body, &items, false).unwrap_err();
        assert_eq!(index, 0);
        assert!(err.to_string().contains("run past"), "{err}");
    }
}
