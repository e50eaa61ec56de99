//! Downloads of one blob per signed GET URL, many at once: each streamed into a temp
//! file beside its destination while hashed, renamed into place only if the digest
//! matches (a truncated or corrupted transfer never becomes a cache object).
//!
//! A large blob is hashed on a thread of its own while this one receives and writes,
//! and may be written to a second place from the same buffers (`also`: its file in a
//! download root, as a verified temp copy that the download then renames into place
//! instead of copying the cache object again; see `download::prepared`).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use super::retry::{with_retries, Failure, Options};
use super::{agent, parallel};
use crate::beneath::{create_temp_at, unlink_at, Root};
use crate::digest::{b64, Algorithm, Hasher};
use crate::download::prepared::{self, Prepared};
use crate::progress::{tick, Progress};

/// Bytes handed to the hashing thread at a time.
const CHUNK: usize = 1 << 20;

/// One blob to fetch from `url` into `dest`, which must hash to `digest` (base64).
/// With `also = (root, path)`, a copy is also written as a temp file beside
/// `root/path` (directories opened beneath the root, never through a symlink).
#[derive(Clone, Debug)]
pub struct GetItem {
    pub url: String,
    pub dest: PathBuf,
    pub digest: String,
    pub algorithm: Algorithm,
    pub also: Option<(PathBuf, String)>,
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
            let mut second = item.also.as_ref().and_then(|(root, path)| second_copy(root, path));
            let n = write_pipelined(&mut reader, &item.dest, &item.digest, item.algorithm, second.as_mut().map(|s| &mut s.2));
            match (n, second) {
                (Ok(n), Some((dir, tmp, file))) => {
                    let name = item.also.as_ref().map_or("", |(_, p)| p.rsplit_once('/').map_or(p.as_str(), |(_, n)| n));
                    prepared::offer(name, Prepared { dir, tmp, file, digest: item.digest.clone() });
                    tick(progress, 1, n);
                    Ok(())
                }
                (Ok(n), None) => {
                    tick(progress, 1, n);
                    Ok(())
                }
                (Err(e), second) => {
                    if let Some((dir, tmp, _)) = second {
                        unlink_at(dir.as_raw_fd(), &tmp);
                    }
                    Err(e)
                }
            }
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
    let dir = dest.parent().ok_or_else(|| Failure::fatal(format!("{}: no parent directory", dest.display())))?;
    fs::create_dir_all(dir).map_err(|e| Failure::fatal(format!("{}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".{}.part", crate::tmpname::tmp_name()));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
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
        let got = b64(&hasher.finish());
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

/// A temp file beside `root/path` (its directory made and opened beneath the root);
/// None if it cannot be made there (the download's placement then reports why).
fn second_copy(root: &Path, path: &str) -> Option<(OwnedFd, std::ffi::CString, File)> {
    let root = Root::open(root, true).ok()?;
    let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
    let dir = root.open_dir(parent, true).ok()?;
    let (file, tmp) = create_temp_at(dir.as_raw_fd(), 0o600).ok()?;
    Some((dir, tmp, file))
}

/// As `write_verified` (to the end of `reader`), with the hash on a thread of its own
/// while this one receives and writes, and each buffer also written to `also`.
fn write_pipelined(reader: &mut dyn Read, dest: &Path, digest: &str, alg: Algorithm, mut also: Option<&mut File>) -> Result<u64, Failure> {
    let dir = dest.parent().ok_or_else(|| Failure::fatal(format!("{}: no parent directory", dest.display())))?;
    fs::create_dir_all(dir).map_err(|e| Failure::fatal(format!("{}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".{}.part", crate::tmpname::tmp_name()));
    let result = std::thread::scope(|s| -> Result<u64, Failure> {
        let mut out = File::create(&tmp).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
        let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(4);
        let hashing = s.spawn(move || {
            let mut hasher = Hasher::new(alg);
            for chunk in rx {
                hasher.update(&chunk);
            }
            hasher.finish()
        });
        // The second copy on a thread of its own too: on two cores, the two writes and
        // the hash overlap instead of adding up.
        let (ctx, crx) = sync_channel::<Arc<Vec<u8>>>(4);
        let copying = also.take().map(|f| {
            s.spawn(move || -> std::io::Result<()> {
                for chunk in crx {
                    f.write_all(&chunk)?;
                }
                Ok(())
            })
        });
        let ctx = copying.as_ref().map(|_| ctx);
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
            if let Some(c) = &ctx {
                // (a stopped copier reports its error below)
                let _ = c.send(Arc::clone(&buf));
            }
            out.write_all(&buf).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
            total += n as u64;
        }
        drop(tx);
        drop(ctx);
        if let Some(c) = copying {
            let copied = c.join().map_err(|_| Failure::fatal("the copying thread panicked".to_string()))?;
            copied.map_err(|e| Failure::fatal(format!("a copy of {}: {e}", dest.display())))?;
        }
        let raw = hashing.join().map_err(|_| Failure::fatal("the hashing thread panicked".to_string()))?;
        let got = b64(&raw);
        if got != digest {
            return Err(Failure::transient(format!("{}: downloaded content hashes to {got}, expected {digest}", dest.display())));
        }
        drop(out);
        fs::rename(&tmp, dest).map_err(|e| Failure::fatal(format!("{}: {e}", dest.display())))?;
        Ok(total)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
