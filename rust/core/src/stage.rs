//! Copy-and-hash in one pass: the "mutable" policy snapshots a file into the staging
//! dir so later edits to the original cannot change what gets logged.
//!
//! The source is read once; every buffer is hashed and written. The staged copy is
//! named `tmpXXXXXXXX` and made read-only (0o400), as wandb does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::digest::{b64, read_full, with_buffer, Algorithm, Hasher};
use crate::walk::with_path;

/// A new, empty, exclusively created file in `dir` with a random `tmpXXXXXXXX` name.
pub fn create_temp_in(dir: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let p = dir.join(crate::tmpname::tmp_name());
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, dir)),
        }
    }
}

/// Copy `src` into `staging_dir`, hashing as it goes: (base64 digest, size, staged path).
pub fn copy_and_hash(src: &Path, staging_dir: &Path, alg: Algorithm) -> io::Result<(String, u64, PathBuf)> {
    let mut input = File::open(src).map_err(|e| with_path(e, src))?;
    let (mut out, staged) = create_temp_in(staging_dir)?;
    let result = (|| {
        let (raw, n) = copy_hashing(&mut input, &mut out, alg)?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o400))?;
        Ok((b64(&raw), n))
    })();
    match result {
        Ok((d, n)) => Ok((d, n, staged)),
        Err(e) => {
            let _ = fs::remove_file(&staged);
            Err(with_path(e, src))
        }
    }
}

/// Stream `input` to `out` while hashing it; returns (raw digest, bytes copied).
pub fn copy_hashing(input: &mut impl Read, out: &mut impl Write, alg: Algorithm) -> io::Result<([u8; 16], u64)> {
    with_buffer(|buf| {
        let mut h = Hasher::new(alg);
        let mut total = 0u64;
        loop {
            let n = read_full(input, buf)?;
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            total += n as u64;
            if n < buf.len() {
                break; // read_full is short only at the end: no read just to see it
            }
        }
        Ok((h.finish(), total))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    #[test]
    fn staged_copy_is_identical_read_only_and_hashed() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.bin");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
        fs::write(&src, &data).unwrap();
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let (digest, n, staged) = copy_and_hash(&src, &staging, Algorithm::Md5).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(digest, hash_bytes(&data, Algorithm::Md5));
        assert_eq!(fs::read(&staged).unwrap(), data);
        assert_eq!(fs::metadata(&staged).unwrap().permissions().mode() & 0o777, 0o400);
        let name = staged.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("tmp") && name.len() == 11, "{name}");
    }

    #[test]
    fn missing_source_names_the_path_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let e = copy_and_hash(&d.path().join("nope"), d.path(), Algorithm::Md5).unwrap_err();
        assert!(e.to_string().contains("nope"));
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
