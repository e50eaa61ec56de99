//! Part MD5s and CRC32s hashed while a large file is staged, for a multipart upload to
//! the server's object store (`artefact server --blobs s3://...`): each part URL is bound
//! to its part's Content-MD5 and `x-amz-checksum-crc32` (the server creates its uploads
//! with CRC32 part checksums, as the AWS SDKs do, so the store completes them from the
//! parts' checksums instead of checksumming the whole object again), and hashing them in
//! the add's copy pass spares the log a second read competing with the upload for the CPU.
//!
//! Off unless the caller says which part size the server uses (`set_part_size`, from
//! the server's `whoami`); then every staged copy of at least `MIN_PARTS` parts is
//! hashed part by part on its own thread, beside the whole-file hash, and remembered by
//! (algorithm, digest, size, part size) for this process (`lookup`). What is hashed is
//! the staged copy itself, the bytes the upload will read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::digest::{b64, Algorithm, Hasher};

/// One file's parts: base64 MD5 and base64 CRC32 (big-endian, as S3 writes it) of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartSums {
    pub md5s: Vec<String>,
    pub crc32s: Vec<String>,
}

/// S3's form of a CRC32: the 4 bytes big-endian, in base64.
pub fn crc32_b64(crc: u32) -> String {
    b64(&crc.to_be_bytes())
}

/// Files of fewer parts go as single PUTs (the server's threshold is 4 default parts).
pub const MIN_PARTS: u64 = 4;
/// How many files' part MD5s are kept (the oldest entries go first past this).
const KEEP: usize = 4096;

static PART_SIZE: AtomicU64 = AtomicU64::new(0);

type Key = (Algorithm, String, u64, u64);

#[derive(Default)]
struct Registry {
    parts: HashMap<Key, PartSums>,
    order: std::collections::VecDeque<Key>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// Hash parts of `part_size` bytes while staging from now on (0: stop).
pub fn set_part_size(part_size: u64) {
    PART_SIZE.store(part_size, Ordering::Relaxed);
}

/// The part size to hash a staged copy of `size` bytes by, if any.
pub fn part_size_for(size: u64) -> Option<u64> {
    let part = PART_SIZE.load(Ordering::Relaxed);
    (part > 0 && size >= MIN_PARTS * part).then_some(part)
}

/// The part MD5s and CRC32s remembered for this blob and part size (None: not staged so).
pub fn lookup_sums(alg: Algorithm, digest: &str, size: u64, part_size: u64) -> Option<PartSums> {
    let reg = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    reg.as_ref()?.parts.get(&(alg, digest.to_owned(), size, part_size)).cloned()
}

pub(crate) fn remember(alg: Algorithm, digest: String, size: u64, part_size: u64, md5s: PartSums) {
    let mut guard = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let reg = guard.get_or_insert_with(Registry::default);
    let key = (alg, digest, size, part_size);
    if reg.parts.insert(key.clone(), md5s).is_none() {
        reg.order.push_back(key);
    }
    while reg.order.len() > KEEP {
        if let Some(old) = reg.order.pop_front() {
            reg.parts.remove(&old);
        }
    }
}

/// Feeds bytes in file order and cuts them into parts of `part_size`: one MD5 and one
/// CRC32 per part (the CRC32 is SIMD, a small fraction of the MD5's time).
pub struct PartHasher {
    part_size: u64,
    in_part: u64,
    md5: Hasher,
    crc: crc32fast::Hasher,
    done: PartSums,
}

impl PartHasher {
    pub fn new(part_size: u64) -> Self {
        Self {
            part_size,
            in_part: 0,
            md5: Hasher::new(Algorithm::Md5),
            crc: crc32fast::Hasher::new(),
            done: PartSums::default(),
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = usize::try_from(self.part_size - self.in_part).unwrap_or(usize::MAX).min(data.len());
            self.md5.update(&data[..take]);
            self.crc.update(&data[..take]);
            self.in_part += take as u64;
            data = &data[take..];
            if self.in_part == self.part_size {
                self.cut();
            }
        }
    }

    fn cut(&mut self) {
        let md5 = std::mem::replace(&mut self.md5, Hasher::new(Algorithm::Md5));
        let crc = std::mem::take(&mut self.crc);
        self.done.md5s.push(b64(&md5.finish()));
        self.done.crc32s.push(crc32_b64(crc.finalize()));
        self.in_part = 0;
    }

    /// The parts' sums (the last part may be shorter).
    pub fn finish(mut self) -> PartSums {
        if self.in_part > 0 || self.done.md5s.is_empty() {
            self.cut();
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    /// The CRC-32 (IEEE) check value, in S3's base64 big-endian form.
    #[test]
    fn crc32_in_s3_form() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32_b64(0xcbf4_3926), "y/Q5Jg==");
    }

    #[test]
    fn parts_cut_across_uneven_updates() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = PartHasher::new(4096);
        for chunk in data.chunks(777) {
            h.update(chunk);
        }
        let want: Vec<String> = data.chunks(4096).map(|c| hash_bytes(c, Algorithm::Md5)).collect();
        let crcs: Vec<String> = data.chunks(4096).map(|c| crc32_b64(crc32fast::hash(c))).collect();
        assert_eq!(h.finish(), PartSums { md5s: want, crc32s: crcs });
        let mut exact = PartHasher::new(5000);
        exact.update(&data);
        assert_eq!(exact.finish().md5s.len(), 2, "no empty part after an exact multiple");
    }

    /// A large staged copy is hashed in parts in the same pass: the parts' MD5s are
    /// remembered under the copy's digest (the pipelined copy needs >= 8 MiB).
    #[test]
    fn staging_a_large_file_remembers_its_part_md5s() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("big");
        let data: Vec<u8> = (0..(9u32 << 20) + 12_345).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let part = 2u64 << 20;
        set_part_size(part);
        let (digest, n, staged) = crate::stage::copy_and_hash(&src, d.path(), Algorithm::Md5).unwrap();
        set_part_size(0);
        assert_eq!(n, data.len() as u64);
        assert_eq!(std::fs::read(&staged).unwrap(), data);
        let want: Vec<String> = data.chunks(part as usize).map(|c| hash_bytes(c, Algorithm::Md5)).collect();
        assert_eq!(want.len(), 5);
        assert_eq!(lookup_sums(Algorithm::Md5, &digest, n, part).map(|s| s.md5s), Some(want));
        let crcs: Vec<String> = data.chunks(part as usize).map(|c| crc32_b64(crc32fast::hash(c))).collect();
        assert_eq!(lookup_sums(Algorithm::Md5, &digest, n, part).unwrap().crc32s, crcs);
        assert_eq!(lookup_sums(Algorithm::Md5, &digest, n, part * 2), None, "only the part size asked for");
    }

    #[test]
    fn registry_keeps_by_blob_and_part_size() {
        let sums = PartSums { md5s: vec!["a".into(); 4], crc32s: vec!["b".into(); 4] };
        remember(Algorithm::Md5, "dGVzdA==".into(), 100, 25, sums);
        assert_eq!(lookup_sums(Algorithm::Md5, "dGVzdA==", 100, 25).unwrap().md5s.len(), 4);
        assert!(lookup_sums(Algorithm::Md5, "dGVzdA==", 100, 50).is_none());
        assert!(lookup_sums(Algorithm::Xxh128, "dGVzdA==", 100, 25).is_none());
    }
}
