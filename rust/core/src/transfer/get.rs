//! Downloads of one blob per signed GET URL, many at once: each streamed into a temp
//! file beside its destination while hashed, renamed into place only if the digest
//! matches (a truncated or corrupted transfer never becomes a cache object).
//!
//! Each blob is hashed on a thread of its own while this one receives and writes.
//! An item may ask for a spare: a second copy, written from the same buffers as the
//! blob arrives and renamed to its path only once the digest matches, that the
//! download then renames into the root instead of copying the cache object a second
//! time (`DownloadOptions::spares`): the copy overlaps the transfer instead of
//! following it.
//!
//! Nothing here is fsynced: the cache is not a durable store (after a crash, a cache
//! object shorter than its entry is fetched again), and the root is the user's copy.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::Arc;

use super::retry::{with_retries, Failure, Options};
use super::{agent, checked, parallel, with_headers};
use crate::digest::{b64, Algorithm, Hasher};
use crate::progress::{tick, Progress};

/// Bytes handed to the hashing thread at a time.
const CHUNK: usize = 1 << 20;
/// Chunks queued for the hashing thread.
const DEPTH: usize = 8;
/// Chunks queued for the cache object's direct writer (more spill through the page cache):
/// with `DEPTH`, a download holds at most `DEPTH + DIRECT_DEPTH + 2` chunks (18 MiB).
const DIRECT_DEPTH: usize = 8;
/// Buffered writes go in steps of this size: a 1 MiB write makes the page cache take
/// 1 MiB folios, which on this kind of VM come from memory handed back to the host and
/// cost 2-4x the system time of 256 KiB ones (1 GiB: 0.5-0.8 s against 0.2 s).
const WRITE_STEP: usize = 256 << 10;

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
/// while this one receives and writes. With a spare, this thread writes the spare (the
/// root's copy, through the page cache as `cp` would) and a third writes the cache
/// object from the same buffers with `O_DIRECT`. The second copy then costs a DMA, not
/// a copy into a second GiB of page cache: made kernel-side from the temp file, it took
/// about as much system time as receiving and writing the first, on the two cores the
/// hash and the endpoint need. Each `O_DIRECT` write waits for the device, so when the
/// direct writer is `DIRECT_DEPTH` chunks behind (other writes queued on the disk) a
/// chunk goes through the page cache at its offset instead of stalling the receive.
/// Chunks are recycled once hashed and written: a fresh 1 MiB buffer costs a page fault
/// per 4 KiB.
fn write_pipelined(reader: &mut dyn Read, dest: &Path, spare: Option<&Path>, digest: &str, alg: Algorithm) -> Result<u64, Failure> {
    place_verified(dest, spare, digest, |out, spare_out, tmp| {
        std::thread::scope(|s| {
            let (tx, rx) = sync_channel::<Arc<Chunk>>(DEPTH);
            let hashing = s.spawn(move || {
                let mut hasher = Hasher::new(alg);
                for chunk in rx {
                    hasher.update(chunk.bytes());
                }
                hasher.finish()
            });
            // With a spare, the cache object goes to the direct writer and this thread
            // writes the spare; else this thread writes the object.
            let (direct_tx, direct_writing, mine) = match spare_out {
                Some((spare_file, spare_name)) => {
                    let direct = DirectFile::open(tmp, out).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
                    let (dtx, drx) = sync_channel::<(u64, Arc<Chunk>)>(DIRECT_DEPTH);
                    let h = s.spawn(move || -> Result<(), Failure> {
                        let mut direct = direct;
                        for (at, chunk) in drx {
                            direct.write_at(chunk.bytes(), at).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
                        }
                        Ok(())
                    });
                    (Some(dtx), Some(h), (spare_file, spare_name))
                }
                None => (None, None, (out.try_clone().map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?, tmp.to_owned())),
            };
            let (mine, mine_name) = mine;
            let mut sent: VecDeque<Arc<Chunk>> = VecDeque::new();
            let mut total = 0u64;
            let received = (|| -> Result<(), Failure> {
                loop {
                    // The oldest chunk if every reader is done with it, else a new one.
                    let mut chunk = match sent.front_mut().and_then(Arc::get_mut) {
                        Some(_) => sent.pop_front().and_then(|a| Arc::try_unwrap(a).ok()).expect("held once"),
                        None => Chunk::new(),
                    };
                    let n = chunk.fill(reader)?;
                    if n == 0 {
                        return Ok(());
                    }
                    let chunk = Arc::new(chunk);
                    tx.send(Arc::clone(&chunk)).map_err(|_| Failure::fatal("the hashing thread stopped".to_string()))?;
                    if let Some(dtx) = &direct_tx {
                        match dtx.try_send((total, Arc::clone(&chunk))) {
                            Ok(()) => {}
                            // The disk is behind (other writes queued before ours): this
                            // chunk goes through the page cache instead of waiting.
                            Err(TrySendError::Full(_)) => {
                                write_in_steps(out, chunk.bytes(), total).map_err(|e| Failure::fatal(format!("{}: {e}", tmp.display())))?;
                            }
                            // The direct writer failed, and says why below.
                            Err(TrySendError::Disconnected(_)) => return Ok(()),
                        }
                    }
                    write_in_steps(&mine, chunk.bytes(), total).map_err(|e| Failure::fatal(format!("{}: {e}", mine_name.display())))?;
                    total += n as u64;
                    sent.push_back(chunk);
                }
            })();
            drop(tx);
            drop(direct_tx);
            let raw = hashing.join().map_err(|_| Failure::fatal("the hashing thread panicked".to_string()))?;
            if let Some(h) = direct_writing {
                h.join().map_err(|_| Failure::fatal("the cache object's writer panicked".to_string()))??;
            }
            received?;
            Ok((total, raw))
        })
    })
}

/// Write `bytes` at offset `at` through the page cache, `WRITE_STEP` bytes at a time.
fn write_in_steps(file: &File, bytes: &[u8], at: u64) -> std::io::Result<()> {
    for (i, piece) in bytes.chunks(WRITE_STEP).enumerate() {
        file.write_all_at(piece, at + (i * WRITE_STEP) as u64)?;
    }
    Ok(())
}

/// Alignment of `O_DIRECT` buffers, offsets and lengths (the largest logical block size
/// in common use).
const ALIGN: usize = 4096;

/// A receive buffer of `CHUNK` bytes starting on an `ALIGN` boundary, and how much of it
/// is filled.
struct Chunk {
    mem: Vec<u8>,
    start: usize,
    len: usize,
}

impl Chunk {
    fn new() -> Self {
        let mem = vec![0u8; CHUNK + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Self { mem, start, len: 0 }
    }

    /// Read from `reader` until the chunk is full or the body ends; the bytes read.
    fn fill(&mut self, reader: &mut dyn Read) -> std::io::Result<usize> {
        let space = &mut self.mem[self.start..self.start + CHUNK];
        let mut n = 0;
        while n < CHUNK {
            match reader.read(&mut space[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.len = n;
        Ok(n)
    }

    fn bytes(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }
}

/// A file written with `O_DIRECT` (bypassing the page cache) while buffers, offsets and
/// lengths stay aligned, buffered from an unaligned write (the tail) on, and buffered
/// throughout where the filesystem refuses `O_DIRECT` (tmpfs, some network filesystems).
struct DirectFile {
    file: File,
    direct: bool,
}

impl DirectFile {
    /// `path` (just created, empty) opened again with `O_DIRECT`, else `fallback`.
    fn open(path: &Path, fallback: &File) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            if let Ok(file) = fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path) {
                return Ok(Self { file, direct: true });
            }
        }
        let _ = path;
        Ok(Self { file: fallback.try_clone()?, direct: false })
    }

    /// Write `bytes` at offset `at`.
    fn write_at(&mut self, bytes: &[u8], at: u64) -> std::io::Result<()> {
        let mut done = 0;
        if self.direct {
            let aligned = bytes.len() & !(ALIGN - 1);
            if aligned > 0 && bytes.as_ptr().align_offset(ALIGN) == 0 && at.is_multiple_of(ALIGN as u64) {
                match self.file.write_all_at(&bytes[..aligned], at) {
                    Ok(()) => done = aligned,
                    // Refused after all (EINVAL: the device's alignment is larger): buffered.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                    Err(e) => return Err(e),
                }
            }
            if done < bytes.len() {
                self.buffered()?;
            }
        }
        write_in_steps(&self.file, &bytes[done..], at + done as u64)
    }

    /// Turn `O_DIRECT` off for the rest of the file.
    fn buffered(&mut self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            // SAFETY: fcntl on a descriptor this struct owns.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        self.direct = false;
        Ok(())
    }
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

    /// A spare is the same bytes as the placed object, written from the same buffers as
    /// it arrives; a body corrupted in its middle leaves neither (nor any temp file), and a body cut
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

    /// The direct writer keeps the bytes whatever their alignment: whole aligned chunks
    /// bypass the page cache, a buffer or offset off the alignment (and everything after
    /// an unaligned tail) goes through it, a chunk spilled through the page cache between
    /// direct ones (the disk was behind) lands at its offset, and the file is the same
    /// bytes either way.
    /// Whether `dir`'s filesystem takes `O_DIRECT` writes of an aligned block (tmpfs does not).
    fn direct_here(dir: &Path) -> bool {
        use std::os::unix::fs::OpenOptionsExt;
        let p = dir.join("probe");
        let Ok(f) = fs::OpenOptions::new().create(true).truncate(true).write(true).custom_flags(libc::O_DIRECT).open(&p) else { return false };
        let mut block = Chunk::new();
        block.len = ALIGN;
        let ok = f.write_all_at(block.bytes(), 0).is_ok();
        let _ = fs::remove_file(&p);
        ok
    }

    #[test]
    fn the_direct_writer_keeps_every_byte_aligned_or_not() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(4 * CHUNK) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let chunk_of = |i: usize| {
            let mut c = Chunk::new();
            let mut src: &[u8] = &data[i * CHUNK..(i + 1) * CHUNK];
            assert_eq!(c.fill(&mut src).unwrap(), CHUNK);
            assert_eq!(c.bytes().as_ptr().align_offset(ALIGN), 0);
            c
        };

        let path = d.path().join("obj");
        let created = File::create(&path).unwrap();
        let mut f = DirectFile::open(&path, &created).unwrap(); // buffered where the filesystem refuses O_DIRECT
        f.write_at(chunk_of(0).bytes(), 0).unwrap();
        f.write_at(chunk_of(2).bytes(), 2 * CHUNK as u64).unwrap(); // ahead of a spilled chunk
        if direct_here(d.path()) {
            // Aligned chunks stayed direct: no silent fallback to the page cache.
            assert!(f.direct, "aligned chunks fell back to buffered writes");
            // SAFETY: F_GETFL on a descriptor the DirectFile owns.
            let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f.file), libc::F_GETFL) };
            assert_ne!(flags & libc::O_DIRECT, 0);
        }
        created.write_all_at(&data[CHUNK..2 * CHUNK], CHUNK as u64).unwrap(); // the spill, buffered
        let odd = data[3 * CHUNK..].to_vec(); // the tail: a buffer of its own, not aligned
        f.write_at(&odd[..CHUNK - 1], 3 * CHUNK as u64).unwrap();
        f.write_at(&odd[CHUNK - 1..], 4 * CHUNK as u64 - 1).unwrap();
        assert!(!f.direct, "an unaligned write turns O_DIRECT off");
        drop(f);
        assert_eq!(fs::read(&path).unwrap(), data);

        // A misaligned buffer at the start: written buffered, the same bytes.
        let path2 = d.path().join("obj2");
        let created = File::create(&path2).unwrap();
        let mut f = DirectFile::open(&path2, &created).unwrap();
        let shifted = [&[0u8][..], &data[..2 * ALIGN]].concat();
        f.write_at(&shifted[1..], 0).unwrap();
        drop(f);
        assert_eq!(fs::read(&path2).unwrap(), &data[..2 * ALIGN]);
    }
}
