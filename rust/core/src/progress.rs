//! Counters a long operation bumps so that another thread can draw a progress bar, and
//! the flag through which the caller stops it (Ctrl-C).

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Progress {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub total_files: AtomicU64,
    pub total_bytes: AtomicU64,
    /// Set by the caller to stop the operation: it returns `ErrorKind::Interrupted`.
    pub cancelled: AtomicBool,
}

impl Progress {
    pub fn add_total(&self, files: u64, bytes: u64) {
        self.total_files.fetch_add(files, Ordering::Relaxed);
        self.total_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn done(&self, files: u64, bytes: u64) {
        self.files.fetch_add(files, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

/// Bump `p` if there is one.
pub fn tick(p: Option<&Progress>, files: u64, bytes: u64) {
    if let Some(p) = p {
        p.done(files, bytes);
    }
}

fn interrupted_error() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "interrupted")
}

/// Err(Interrupted) once the caller has cancelled `p`: checked before each file.
pub fn check(p: Option<&Progress>) -> io::Result<()> {
    match p {
        Some(p) if p.cancelled.load(Ordering::Relaxed) => Err(interrupted_error()),
        _ => Ok(()),
    }
}

thread_local! {
    /// The cancel flag of the operation this thread works for (see `watching`).
    static WATCHED: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
}

/// Run `f` (work on one file) with `p`'s cancel flag visible to `check_current`, so that
/// loops deep inside (hashing a large file a buffer at a time) stop promptly too.
pub fn watching<R>(p: Option<&Progress>, f: impl FnOnce() -> R) -> R {
    let flag = p.map_or(std::ptr::null(), |p| &raw const p.cancelled);
    let before = WATCHED.with(|w| w.replace(flag));
    let r = f();
    WATCHED.with(|w| w.set(before));
    r
}

/// Err(Interrupted) if the operation this thread works for was cancelled.
pub fn check_current() -> io::Result<()> {
    let flag = WATCHED.with(Cell::get);
    // SAFETY: set by `watching` from a reference that outlives the call it wraps, and
    // restored before that call returns.
    if !flag.is_null() && unsafe { &*flag }.load(Ordering::Relaxed) {
        return Err(interrupted_error());
    }
    Ok(())
}
