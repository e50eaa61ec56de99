//! Downloads of one blob per signed GET URL, many at once: each streamed into a temp
//! file beside its destination while hashed, renamed into place only if the digest
//! matches (a truncated or corrupted transfer never becomes a cache object).
//!
//! Each blob is hashed on a thread of its own while this one receives and writes.
//! An item may ask for a spare: a second copy, made kernel-side from the temp file as
//! it is written and renamed to its path only once the digest matches, that the
//! download then renames into the root instead of copying the cache object a second
//! time (`DownloadOptions::spares`): the copy overlaps the transfer instead of
//! following it.

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
/// Chunks queued for the hashing thread.
const DEPTH: usize = 8;
/// The spare is copied in steps of this many bytes behind the writes.
const SPARE_STEP: u64 = 16 << 20;

/// One blob to fetch from `url` into `dest`, which must hash to `digest` (base64).
#[derive(Clone, Debug)]
pub struct GetItem {
    pub url: String,
    pub dest: PathBuf,
    pub digest: String,
    pub algorithm: Algorithm,
    /// Where to leave a verified second copy (a fresh name in the cache's `tmp/`), if any.
    pub spare: Option<PathBuf>,
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
            let n = write_pipelined(&mut reader, &item.dest, item.spare.as_deref(), &item.digest, item.algorithm)?;
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
    place_verified(dest, None, digest, |out, _spare, tmp| {
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
/// while this one receives and writes; the spare (if asked for) is copied kernel-side
/// from the temp file on a third, 16 MiB behind the writes: the same CPU as a copy of
/// the whole file after the transfer, but overlapped with it. (Writing the spare from
/// the same buffers on a third thread cost twice the system time here.) Chunks are
/// recycled once hashed: a fresh 1 MiB buffer costs a page fault per 4 KiB.
fn write_pipelined(reader: &mut dyn Read, dest: &Path, spare: Option<&Path>, digest: &str, alg: Algorithm) -> Result<u64, Failure> {
    place_verified(dest, spare, digest, |out, spare_out, tmp| {
        std::thread::scope(|s| {
            let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(DEPTH);
            let hashing = s.spawn(move || {
                let mut hasher = Hasher::new(alg);
                for chunk in rx {
                    hasher.update(&chunk);
                }
                hasher.finish()
            });
            let (spare_tx, spare_copying) = match spare_out {
                Some((f, name)) => {
                    let src = File::open(tmp).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
                    let (stx, srx) = std::sync::mpsc::channel::<u64>();
                    let h = s.spawn(move || -> Result<(), Failure> {
                        let mut done = 0u64;
                        for upto in srx {
                            copy_range(&src, &f, done, upto).map_err(|e| Failure::fatal(format!("{}: {e}", name.display())))?;
                            done = upto;
                        }
                        Ok(())
                    });
                    (Some(stx), Some(h))
                }
                None => (None, None),
            };
            let mut sent: std::collections::VecDeque<Arc<Vec<u8>>> = std::collections::VecDeque::new();
            let mut total = 0u64;
            let received = (|| -> Result<(), Failure> {
                loop {
                    // The oldest chunk if the hashing thread is done with it, else a new one.
                    let mut buf = match sent.front_mut().and_then(Arc::get_mut) {
                        Some(_) => sent.pop_front().and_then(|a| Arc::try_unwrap(a).ok()).expect("held once"),
                        None => vec![0u8; CHUNK],
                    };
                    buf.resize(CHUNK, 0);
                    let mut n = 0;
                    while n < CHUNK {
                        match reader.read(&mut buf[n..])? {
                            0 => break,
                            k => n += k,
                        }
                    }
                    if n == 0 {
                        return Ok(());
                    }
                    buf.truncate(n);
                    let buf = Arc::new(buf);
                    tx.send(Arc::clone(&buf)).map_err(|_| Failure::fatal("the hashing thread stopped".to_string()))?;
                    out.write_all(&buf).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
                    total += n as u64;
                    sent.push_back(buf);
                    if let Some(stx) = &spare_tx {
                        if total.is_multiple_of(SPARE_STEP) {
                            let _ = stx.send(total); // closed: the copier failed, and says why below
                        }
                    }
                }
            })();
            drop(tx);
            if let Some(stx) = spare_tx {
                let _ = stx.send(total);
            }
            let raw = hashing.join().map_err(|_| Failure::fatal("the hashing thread panicked".to_string()))?;
            if let Some(h) = spare_copying {
                h.join().map_err(|_| Failure::fatal("the spare's copying thread panicked".to_string()))??;
            }
            received?;
            Ok((total, raw))
        })
    })
}

/// Copy bytes `from..to` of `src` to the same offsets of `dst`: kernel-side where the
/// filesystem allows (`copy_file_range`), else through a buffer.
fn copy_range(src: &File, dst: &File, from: u64, to: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let mut at = from;
    #[cfg(target_os = "linux")]
    while at < to {
        let (mut off_in, mut off_out) = (at as libc::loff_t, at as libc::loff_t);
        let want = (to - at) as usize;
        // SAFETY: two open descriptors and offsets on this stack frame.
        let n = unsafe { libc::copy_file_range(src.as_raw_fd(), &raw mut off_in, dst.as_raw_fd(), &raw mut off_out, want, 0) };
        if n > 0 {
            at += n as u64;
            continue;
        }
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("copy stopped at {at} of {to} bytes")));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => break,
            _ => return Err(e),
        }
    }
    let mut buf = vec![0u8; CHUNK];
    while at < to {
        let want = ((to - at) as usize).min(CHUNK);
        src.read_exact_at(&mut buf[..want], at)?;
        dst.write_all_at(&buf[..want], at)?;
        at += want as u64;
    }
    Ok(())
}

/// The frame both writers share: `fill` writes into a fresh temp file beside `dest`
/// (and into one beside `spare`, if given) and returns (bytes, raw digest); the temps
/// become `spare` and `dest` only if the digest matches, and are removed on any failure.
fn place_verified(
    dest: &Path,
    spare: Option<&Path>,
    digest: &str,
    fill: impl FnOnce(&mut File, Option<(File, PathBuf)>, &Path) -> Result<(u64, [u8; 16]), Failure>,
) -> Result<u64, Failure> {
    let temp_beside = |p: &Path| -> Result<PathBuf, Failure> {
        let dir = p.parent().ok_or_else(|| Failure::fatal(format!("{}: no parent directory", p.display())))?;
        fs::create_dir_all(dir).map_err(|e| Failure::fatal(format!("{}: {e}", dir.display())))?;
        Ok(dir.join(format!(".{}.part", crate::tmpname::tmp_name())))
    };
    let tmp = temp_beside(dest)?;
    let spare_tmp = spare.map(temp_beside).transpose()?;
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
        let spare_out = match &spare_tmp {
            Some(p) => Some((File::create(p).map_err(|e| Failure::fatal(format!("{}: {e}", p.display())))?, p.clone())),
            None => None,
        };
        let (total, raw) = fill(&mut out, spare_out, &tmp)?;
        let got = b64(&raw);
        if got != digest {
            return Err(Failure::mismatch(format!(
                "{}: downloaded content hashes to {got}, expected {digest}",
                dest.display()
            )));
        }
        drop(out);
        if let (Some(from), Some(to)) = (&spare_tmp, spare) {
            fs::rename(from, to).map_err(|e| Failure::fatal(format!("{}: {e}", to.display())))?;
        }
        fs::rename(&tmp, dest).map_err(|e| Failure::fatal(format!("{}: {e}", dest.display())))?;
        Ok(total)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        if let Some(p) = &spare_tmp {
            let _ = fs::remove_file(p);
        }
        if let Some(p) = spare {
            let _ = fs::remove_file(p);
        }
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
        let item = GetItem { url: serve(data.clone(), 1), dest: d.path().join("a/obj"), digest, algorithm: Algorithm::Md5, spare: None };
        assert_eq!(get_files(&[item.clone()], &Options::default(), None), vec![Ok(())]);
        assert_eq!(fs::read(&item.dest).unwrap(), data);

        let wrong = crate::digest::hash_bytes(b"something else", Algorithm::Md5);
        let dest = d.path().join("b/obj");
        let mut reader: &[u8] = &data;
        let err = write_pipelined(&mut reader, &dest, None, &wrong, Algorithm::Md5).unwrap_err();
        assert_eq!(err.kind, super::super::retry::FailureKind::DigestMismatch);
        assert!(err.message.contains("hashes to"), "{}", err.message);
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(d.path().join("b")).unwrap().count(), 0, "no temp file left");
        let mut short: &[u8] = &data[..100];
        let err = write_verified(&mut short, &dest, &wrong, Algorithm::Md5, Some(200)).unwrap_err();
        assert_eq!(err.kind, super::super::retry::FailureKind::Truncated);
    }

    /// A spare is the same bytes as the placed object, copied from its temp file as it
    /// arrives; a body corrupted in its middle leaves neither (nor any temp file), and a body cut
    /// short by the server is refused the same way.
    #[test]
    fn a_spare_appears_only_beside_a_verified_object() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 * CHUNK + 777) as u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 9) as u8).collect();
        let digest = crate::digest::hash_bytes(&data, Algorithm::Md5);
        let spare = d.path().join("tmp/spare-1");
        let item = GetItem {
            url: serve(data.clone(), 1),
            dest: d.path().join("obj/x"),
            digest: digest.clone(),
            algorithm: Algorithm::Md5,
            spare: Some(spare.clone()),
        };
        assert_eq!(get_files(&[item.clone()], &Options::default(), None), vec![Ok(())]);
        assert_eq!(fs::read(&item.dest).unwrap(), data);
        assert_eq!(fs::read(&spare).unwrap(), data);
        let a = fs::metadata(&item.dest).unwrap();
        let b = fs::metadata(&spare).unwrap();
        assert_ne!(std::os::unix::fs::MetadataExt::ino(&a), std::os::unix::fs::MetadataExt::ino(&b), "two files, not links");

        let mut bad = data.clone();
        bad[CHUNK + 5] ^= 1; // one bit in the second chunk
        let spare2 = d.path().join("tmp2/spare-2");
        let dest2 = d.path().join("obj2/x");
        let item = GetItem { url: serve(bad, 1), dest: dest2.clone(), digest: digest.clone(), algorithm: Algorithm::Md5, spare: Some(spare2.clone()) };
        let opts = Options { retries: 0, ..Options::default() };
        let r = get_files(&[item], &opts, None);
        assert!(r[0].as_ref().unwrap_err().contains("hashes to"), "{r:?}");
        assert!(!dest2.exists() && !spare2.exists());
        assert_eq!(fs::read_dir(d.path().join("obj2")).unwrap().count(), 0, "no temp file left");
        assert_eq!(fs::read_dir(d.path().join("tmp2")).unwrap().count(), 0, "no spare temp left");

        let mut reader: &[u8] = &data[..CHUNK + 3];
        let spare3 = d.path().join("tmp3/spare-3");
        let dest3 = d.path().join("obj3/x");
        assert!(write_pipelined(&mut reader, &dest3, Some(&spare3), &digest, Algorithm::Md5).is_err());
        assert!(!dest3.exists() && !spare3.exists());
        assert_eq!(fs::read_dir(d.path().join("tmp3")).unwrap().count(), 0);
    }
}
