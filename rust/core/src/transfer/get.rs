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
use super::{agent, parallel};
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
            let mut req = agent.get(&item.url);
            for (k, v) in &opts.headers {
                req = req.header(k, v);
            }
            let mut resp = req.call()?;
            let code = resp.status().as_u16();
            if !(200..300).contains(&code) {
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                return Err(Failure::status(&format!("download of {}", item.dest.display()), code, &body));
            }
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
                return Err(Failure::transient(format!("{}: truncated at {total} of {l} bytes", dest.display())));
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
            return Err(Failure::transient(format!(
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
