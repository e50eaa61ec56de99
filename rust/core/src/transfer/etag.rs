//! An S3 ETag computed from bytes as they arrive: the MD5 of the body for a single-part
//! object, or, for a multipart object whose part size is known, the MD5 of the parts'
//! MD5s followed by `-<number of parts>` (as S3 and wandb's manifests write it).

use crate::digest::{hex, Algorithm, Hasher};

pub struct EtagHasher {
    part_size: Option<u64>,
    current: Hasher,
    in_part: u64,
    parts: Vec<[u8; 16]>,
}

impl EtagHasher {
    /// `part_size`: None for a single-part ETag (plain MD5).
    pub fn new(part_size: Option<u64>) -> Self {
        Self { part_size: part_size.filter(|&p| p > 0), current: Hasher::new(Algorithm::Md5), in_part: 0, parts: Vec::new() }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let Some(part) = self.part_size else {
            self.current.update(data);
            return;
        };
        while !data.is_empty() {
            let room = (part - self.in_part) as usize;
            let take = room.min(data.len());
            self.current.update(&data[..take]);
            self.in_part += take as u64;
            data = &data[take..];
            if self.in_part == part {
                let done = std::mem::replace(&mut self.current, Hasher::new(Algorithm::Md5));
                self.parts.push(done.finish());
                self.in_part = 0;
            }
        }
    }

    /// The ETag, lowercase hex, without quotes.
    pub fn finish(mut self) -> String {
        if self.part_size.is_none() {
            return hex(&self.current.finish());
        }
        if self.in_part > 0 || self.parts.is_empty() {
            self.parts.push(self.current.finish());
        }
        multipart_etag(&self.parts)
    }
}

/// `md5(part md5s)-N`, from the parts' raw MD5s in order.
pub fn multipart_etag(parts: &[[u8; 16]]) -> String {
    let mut all = Hasher::new(Algorithm::Md5);
    for p in parts {
        all.update(p);
    }
    format!("{}-{}", hex(&all.finish()), parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_part_is_the_md5() {
        let mut h = EtagHasher::new(None);
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
    }

    #[test]
    fn multipart_matches_the_core_file_etag() {
        let data: Vec<u8> = (0..(3 * 1024 + 17)).map(|i| (i * 7 % 251) as u8).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, &data).expect("write");
        let want = crate::digest::s3_multipart_etag(&path, 1024).expect("etag");
        // fed in odd-sized chunks that straddle part boundaries
        let mut h = EtagHasher::new(Some(1024));
        for chunk in data.chunks(333) {
            h.update(chunk);
        }
        assert_eq!(h.finish(), want);
        assert!(want.ends_with("-4"));
    }
}
