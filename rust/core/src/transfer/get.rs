//! Downloads of one blob per signed GET URL, many at once: each streamed into a temp
//! file beside its destination while hashed, renamed into place only if the digest
//! matches (a truncated or corrupted transfer never becomes a cache object).
//!
//! Each blob is hashed on a thread of its own while this one receives and writes.
//! (Writing the download root's copy from the same buffers as well, on a third
//! thread, measured 2-3x slower here than the placement's later copy.)

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use super::retry::{with_retries, Failure, Options};
use super::{agent, checked, parallel, with_headers};
use crate::digest::{b64, Algorithm, Hasher};
use crate::progress::{tick, Progress};

/// Bytes handed to the hashing thread at a time.
const CHUNK: usize = 1 << 20;

/// One blob to fetch from `url` into `dest`, which must hash to `digest` (base64).
#[derive(Clone, Debug)]
pub struct GetItem {
    pub url: String,
    pub dest: PathBuf,
    pub digest: String,
    pub algorithm: Algorithm,
}

/// GET every item (up to `opts.concurrency` at once); one result per item, in order.
pub fn get_files(items: &[GetItem], opts: &Options, progress: Option<&Progress>) -> Vec<Result<(), String>> {
    let agent = agent(opts);
    parallel(items.len(), opts.concurrency, |i| {
        let item = &items[i];
        with_retries(opts, || {
            let resp = with_headers(agent.get(&item.url), &opts.headers).call()?;
            let mut resp = checked(resp, &[], || format!("download of {}", item.dest.display()))?;
            let mut reader = resp.body_mut().with_config().reader();
            let n = write_pipelined(&mut reader, &item.dest, &item.digest, item.algorithm)?;
            tick(progress, 1, n);
            Ok(())
        })
    })
}

/// Copy `reader` (exactly `limit` bytes if given, else to its end) into a temp file next
/// to `dest`, hashing; rename it to `dest` if the digest matches. The bytes written.
pub(crate) fn write_verified(
    reader: &mut dyn Read,
    dest: &Path,
    digest: &str,
    alg: Algorithm,
    limit: Option<u64>,
) -> Result<u64, Failure> {
    place_verified(dest, digest, |out, tmp| {
        let mut hasher = Hasher::new(alg);
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let want = match limit {
                Some(l) if l - total < buf.len() as u64 => (l - total) as usize,
                _ => buf.len(),
            };
            if want == 0 {
                break;
            }
            let n = reader.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
            total += n as u64;
        }
        if let Some(l) = limit {
            if total != l {
                return Err(Failure::truncated(format!("{}: truncated at {total} of {l} bytes", dest.display())));
            }
        }
        Ok((total, hasher.finish()))
    })
}

/// As `write_verified` (to the end of `reader`), with the hash on a thread of its own
/// while this one receives and writes.
fn write_pipelined(reader: &mut dyn Read, dest: &Path, digest: &str, alg: Algorithm) -> Result<u64, Failure> {
    place_verified(dest, digest, |out, tmp| {
        std::thread::scope(|s| {
            let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(4);
            let hashing = s.spawn(move || {
                let mut hasher = Hasher::new(alg);
                for chunk in rx {
                    hasher.update(&chunk);
                }
                hasher.finish()
            });
            let mut total = 0u64;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let mut n = 0;
                while n < CHUNK {
                    match reader.read(&mut buf[n..])? {
                        0 => break,
                        k => n += k,
                    }
                }
                if n == 0 {
                    break;
                }
                buf.truncate(n);
                let buf = Arc::new(buf);
                tx.send(Arc::clone(&buf)).map_err(|_| Failure::fatal("the hashing thread stopped".to_string()))?;
                out.write_all(&buf).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
                total += n as u64;
            }
            drop(tx);
            let raw = hashing.join().map_err(|_| Failure::fatal("the hashing thread panicked".to_string()))?;
            Ok((total, raw))
        })
    })
}

/// The frame both writers share: `fill` writes into a fresh temp file beside `dest` and
/// returns (bytes, raw digest); the temp becomes `dest` only if the digest matches, and
/// is removed on any failure.
fn place_verified(
    dest: &Path,
    digest: &str,
    fill: impl FnOnce(&mut File, &Path) -> Result<(u64, [u8; 16]), Failure>,
) -> Result<u64, Failure> {
    let dir = dest.parent().ok_or_else(|| Failure::fatal(format!("{}: no parent directory", dest.display())))?;
    fs::create_dir_all(dir).map_err(|e| Failure::fatal(format!("{}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".{}.part", crate::tmpname::tmp_name()));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
        let (total, raw) = fill(&mut out, &tmp)?;
        let got = b64(&raw);
        if got != digest {
            return Err(Failure::mismatch(format!(
                "{}: downloaded content hashes to {got}, expected {digest}",
                dest.display()
            )));
        }
        drop(out);
        fs::rename(&tmp, dest).map_err(|e| Failure::fatal(format!("{}: {e}", dest.display())))?;
        Ok(total)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    /// A loopback server answering `answers` GETs, one connection each, with `body`.
    fn serve(body: Vec<u8>, answers: usize) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/blob", l.local_addr().unwrap());
        std::thread::spawn(move || {
            for _ in 0..answers {
                let (s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let mut s = s;
                write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
                s.write_all(&body).unwrap();
            }
        });
        url
    }

    /// A body of several chunks (hashed on their own thread) is placed whole; one that
    /// hashes to another digest is not placed, and says so by its kind.
    #[test]
    fn a_multi_chunk_download_is_verified_and_placed() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(5 * CHUNK + 12_345) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        let digest = crate::digest::hash_bytes(&data, Algorithm::Md5);
        let item = GetItem { url: serve(data.clone(), 1), dest: d.path().join("a/obj"), digest, algorithm: Algorithm::Md5 };
        assert_eq!(get_files(&[item.clone()], &Options::default(), None), vec![Ok(())]);
        assert_eq!(fs::read(&item.dest).unwrap(), data);

        let wrong = crate::digest::hash_bytes(b"something else", Algorithm::Md5);
        let dest = d.path().join("b/obj");
        let mut reader: &[u8] = &data;
        let err = write_pipelined(&mut reader, &dest, &wrong, Algorithm::Md5).unwrap_err();
        assert_eq!(err.kind, super::super::retry::FailureKind::DigestMismatch);
        assert!(err.message.contains("hashes to"), "{}", err.message);
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(d.path().join("b")).unwrap().count(), 0, "no temp file left");
        let mut short: &[u8] = &data[..100];
        let err = write_verified(&mut short, &dest, &wrong, Algorithm::Md5, Some(200)).unwrap_err();
        assert_eq!(err.kind, super::super::retry::FailureKind::Truncated);
    }
}
