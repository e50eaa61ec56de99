//! One incoming blob (the team server's `PUT /blobs/...`), hashed and written by
//! threads of their own while the caller keeps receiving.
//!
//! The caller hands over each received chunk (`write`), which only queues it; one
//! worker thread hashes it while a second appends it to the temp file, starting the
//! disk's writeback of each few MiB as they are written (`sync_file_range`), so the
//! network, MD5 and the disk all work at once and the final fsync finds little left.
//! The bytes are hashed once, as they stream, never read back. `finish` waits for both
//! and returns the digest and size (the file fsynced first when asked), for the caller
//! to check and rename.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::digest::{b64, Algorithm, Hasher};
use crate::walk::with_path;

/// Chunks queued between the receiver and the worker (a few MiB at typical chunk sizes).
const QUEUE: usize = 64;
/// Bytes gathered before one write(2): fewer writes, but not over 256 KiB (on this VM
/// buffered writes of 1 MiB or more cost 2-4x the system time of smaller ones).
const WRITE_BUF: usize = 256 << 10;
/// Bytes written between two starts of writeback.
const WRITEBACK: u64 = 8 << 20;

/// A blob being received into `path` (created by `open`, which must not exist).
pub struct Sink {
    tx: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<io::Result<([u8; 16], u64)>>>,
    path: PathBuf,
}

/// Append each chunk to `file` (through a buffer), starting writeback as it goes;
/// fsync at the end if `durable`. The bytes written.
fn write_all(file: File, chunks: Receiver<Arc<Vec<u8>>>, durable: bool, p: &Path) -> io::Result<u64> {
    let mut out = io::BufWriter::with_capacity(WRITE_BUF, file);
    let (mut total, mut started) = (0u64, 0u64);
    for chunk in chunks {
        out.write_all(&chunk).map_err(|e| with_path(e, p))?;
        total += chunk.len() as u64;
        if durable && total - started >= WRITEBACK {
            out.flush().map_err(|e| with_path(e, p))?;
            start_writeback(out.get_ref(), started, total - started);
            started = total;
        }
    }
    let file = out.into_inner().map_err(|e| with_path(e.into_error(), p))?;
    if durable {
        file.sync_data().map_err(|e| with_path(e, p))?;
    }
    Ok(total)
}

#[cfg(target_os = "linux")]
#[allow(clippy::cast_possible_wrap)]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a descriptor we own; the range was just written. Advisory: errors show at fsync.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

impl Sink {
    /// Create `path` (exclusively) and start the workers.
    pub fn open(path: &Path, alg: Algorithm, durable: bool) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(path).map_err(|e| with_path(e, path))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let p = path.to_path_buf();
        let worker = std::thread::Builder::new().name("blob-sink".into()).spawn(move || {
            let (wtx, wrx) = sync_channel::<Arc<Vec<u8>>>(QUEUE);
            let wp = p.clone();
            let writer = std::thread::Builder::new().name("blob-sink-write".into()).spawn(move || write_all(file, wrx, durable, &wp))?;
            let mut hasher = Hasher::new(alg);
            for chunk in rx {
                let chunk = Arc::new(chunk);
                if wtx.send(Arc::clone(&chunk)).is_err() {
                    break; // the writer failed: its error is the one reported
                }
                hasher.update(&chunk);
            }
            drop(wtx);
            let total = writer.join().map_err(|_| io::Error::other(format!("{}: writer panicked", p.display())))??;
            Ok((hasher.finish(), total))
        })?;
        Ok(Self { tx: Some(tx), worker: Some(worker), path: path.to_path_buf() })
    }

    /// Queue `chunk` (waits only while the queue is full). An error means the worker
    /// stopped; `finish` then says why.
    pub fn write(&self, chunk: Vec<u8>) -> io::Result<()> {
        match &self.tx {
            Some(tx) => tx.send(chunk).map_err(|_| io::Error::other(format!("{}: writer stopped", self.path.display()))),
            None => Err(io::Error::other("blob sink already finished")),
        }
    }

    /// Wait for every queued chunk; `(base64 digest, bytes)` of what was written.
    pub fn finish(&mut self) -> io::Result<(String, u64)> {
        self.tx.take();
        let worker = self.worker.take().ok_or_else(|| io::Error::other("blob sink already finished"))?;
        let (raw, n) = worker.join().map_err(|_| io::Error::other("blob sink worker panicked"))??;
        Ok((b64(&raw), n))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    #[test]
    fn hashes_and_writes_what_it_is_given() {
        // Durable (writeback started as it goes) and not; chunks of odd sizes.
        for (durable, chunks, len) in [(true, 300u32, 65_536u32), (true, 7, 1_000_003), (false, 90, 65_539), (true, 1, 100)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("up");
            let mut sink = Sink::open(&path, Algorithm::Md5, durable).unwrap();
            let mut all = Vec::new();
            for i in 0..chunks {
                let chunk: Vec<u8> = (0..len + i).map(|j| (i ^ j) as u8).collect();
                all.extend_from_slice(&chunk);
                sink.write(chunk).unwrap();
            }
            let (digest, n) = sink.finish().unwrap();
            assert_eq!(n, all.len() as u64);
            assert_eq!(digest, hash_bytes(&all, Algorithm::Md5));
            assert_eq!(std::fs::read(&path).unwrap(), all);
            assert!(Sink::open(&path, Algorithm::Md5, false).is_err(), "never overwrites a file");
        }
    }
}
