//! How a batch of logged files is made durable before its commit (`SyncMode`), how
//! `Auto` chooses, and the flushes themselves: fsync file by file, one `syncfs`, or
//! `Written`'s writeback of this batch's files only (store_put.rs calls these).

use std::fs::{self, File};
use std::io;
use std::path::Path;

use crate::walk::with_path;

/// How a batch is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// `Files` for a few files, else `Filesystem` or, with much of other processes'
    /// data dirty, `Written` (see `FEW`, `large_batch`).
    Auto,
    /// fsync every written file and every directory a rename touched.
    Files,
    /// One `syncfs` before the renames and one after.
    Filesystem,
    /// Start the writeback of every file of this batch (`sync_file_range`), then
    /// fdatasync each from many threads, rename, fsync each touched directory: as
    /// durable as `Files`, with concurrent fsyncs sharing journal commits and the disk's
    /// cache flushes, and without waiting for other processes' data as `syncfs` does.
    Written,
}

impl SyncMode {
    /// "auto", "files", "filesystem" or "written".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "files" => Some(Self::Files),
            "filesystem" => Some(Self::Filesystem),
            "written" => Some(Self::Written),
            _ => None,
        }
    }
}

/// Up to this many files, a batch is fsynced file by file; above, the filesystem is
/// synced. Measured on a shared 2-core ext4 VM, 10k x 4 KiB immutable put: per-file
/// fsync (32 threads) 10-12 s, syncfs 2.3-9.4 s, and with 2 GB of another process's
/// dirty data syncfs still 2.3-4.6 s against 11-12 s: a journal commit per fsync costs
/// more than writing out others' data. One large file is the other way round: its
/// fsync waits for its own data only, where syncfs would also wait for everyone's.
pub(crate) const FEW: usize = 64;

/// How `Auto` flushes a batch of more than `FEW` files: one `syncfs` while the system
/// holds little dirty data besides this batch's (it then has little else to write), else
/// `Written`, which waits for this batch's data only. Both leave every file and rename
/// on disk. Measured (10k x 4 KiB, flush alone, shared 2-core ext4 VM): clean, syncfs
/// 0.24-0.79 s and `Written` 0.22-0.78 s; with 2 GB of another process's dirty data,
/// syncfs 0.55-0.69 s and `Written` 0.34-0.45 s.
pub(crate) fn large_batch(batch_bytes: u64) -> SyncMode {
    match others_dirty_bytes(batch_bytes) {
        Some(others) if others > OTHERS_DIRTY_MAX.max(batch_bytes) => SyncMode::Written,
        _ => SyncMode::Filesystem,
    }
}

/// Above this much of other processes' dirty data, a `syncfs` would spend longer
/// writing theirs than ours.
const OTHERS_DIRTY_MAX: u64 = 64 << 20;

/// The system's dirty and in-writeback page-cache bytes (/proc/meminfo) beyond this
/// batch's own `batch_bytes` (counted as still dirty); None where unknown.
fn others_dirty_bytes(batch_bytes: u64) -> Option<u64> {
    let info = fs::read_to_string("/proc/meminfo").ok()?;
    Some(dirty_bytes(&info)?.saturating_sub(batch_bytes))
}

/// Dirty + Writeback bytes of a /proc/meminfo text.
fn dirty_bytes(meminfo: &str) -> Option<u64> {
    let kib = |key: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    };
    Some((kib("Dirty:")? + kib("Writeback:")?) * 1024)
}

/// Files mode for a few files, else `large_batch` (see `FEW`).
pub(crate) fn choose(moves: &[(&Path, &Path, u64)]) -> bool {
    moves.len() <= FEW
}

/// Start writing `f`'s dirty pages out without waiting for them (an fdatasync follows).
/// Elsewhere than Linux, nothing: the fdatasync does it all.
pub(crate) fn start_write_out(f: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: a descriptor we own; offset 0 and length 0 mean the whole file.
        if unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let _ = f;
    Ok(())
}

/// `Written`'s flush of this batch's data only, in two passes over its files: two
/// threads open each file and start its writeback (`sync_file_range`), then 64 threads
/// fdatasync them. By the second pass the data is written or in flight, so the
/// fdatasyncs mostly wait for the inode and the disk's cache flush, which concurrent
/// calls share. A second open per file costs less than fdatasyncs waiting on writeback
/// just started (one pass with a channel of descriptors: the flush took 1.2-1.6x as
/// long). Each thread holds at most one descriptor.
pub(crate) fn flush_written(files: &[&Path]) -> io::Result<()> {
    const STARTERS: usize = 2;
    const SYNCERS: usize = 64;
    each_of(files, STARTERS, |p| File::open(p).and_then(|f| start_write_out(&f)).map_err(|e| with_path(e, p)))?;
    each_of(files, SYNCERS, |p| File::open(p).and_then(|f| f.sync_data()).map_err(|e| with_path(e, p)))
}

/// Run blocking `f` over `items` in order from `threads` threads, each taking the next
/// item from a shared counter. An error stops every thread; once all are joined, the
/// error of the lowest-numbered thread that failed is returned.
pub(crate) fn each_of(items: &[&Path], threads: usize, f: impl Fn(&Path) -> io::Result<()> + Sync) -> io::Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    if items.len() <= 1 {
        return items.iter().try_for_each(|p| f(p));
    }
    let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                s.spawn(|| loop {
                    let Some(p) = items.get(next.fetch_add(1, Ordering::Relaxed)) else { return Ok(()) };
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    if let Err(e) = f(p) {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                })
            })
            .collect();
        // Every thread is joined before the first error is returned.
        let results: Vec<io::Result<()>> = handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("fsync thread panicked")))).collect();
        results.into_iter().collect()
    })
}

/// Flush the whole filesystem holding `dir` (`syncfs`; an fsync of `dir` elsewhere).
pub(crate) fn sync_filesystem(dir: &Path) -> io::Result<()> {
    let f = File::open(dir).map_err(|e| with_path(e, dir))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: syncfs on a descriptor we own.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(with_path(io::Error::last_os_error(), dir));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        f.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn auto_reads_the_systems_dirty_bytes_from_meminfo() {
        let info = "MemTotal:       24684132 kB\nDirty:           1482808 kB\nWriteback:          1024 kB\nWritebackTmp:          0 kB\n";
        assert_eq!(dirty_bytes(info), Some((1482808 + 1024) * 1024));
        assert_eq!(dirty_bytes("MemTotal: 1 kB\n"), None);
        // This machine's own meminfo parses; a batch larger than all of it leaves none.
        assert_eq!(others_dirty_bytes(u64::MAX), Some(0));
        assert_eq!(large_batch(u64::MAX), SyncMode::Filesystem);
    }

    #[test]
    fn written_mode_names_a_file_it_cannot_flush() {
        let d = tempfile::tempdir().unwrap();
        let mut paths: Vec<PathBuf> = (0..300).map(|i| d.path().join(format!("{i}.bin"))).collect();
        for p in &paths {
            fs::write(p, b"x").unwrap();
        }
        paths.insert(150, d.path().join("gone.bin"));
        let mut refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let e = flush_written(&refs).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("gone.bin"), "{e}");
        refs.remove(150);
        flush_written(&refs).unwrap();
    }

}
