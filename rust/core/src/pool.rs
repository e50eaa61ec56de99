//! The thread pool every parallel operation runs on.
//!
//! A pool's threads do not survive `fork()`: a child that used the parent's pool would
//! wait forever (PyTorch DataLoader workers fork). The pool therefore remembers the pid
//! that built it and is rebuilt, never reused, in a forked child.

use std::sync::{Arc, Mutex};

static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Ceiling on `ARTEFACT_THREADS`: 100,000 once created ~32,000 threads and exhausted
/// the machine's processes. Python's `settings.MAX_THREADS` is the same number.
pub const MAX_THREADS: usize = 256;

/// Worker count: `ARTEFACT_THREADS` (at most MAX_THREADS; Python refuses 0, negatives
/// and non-numbers before calling in, so here they fall back to the default), else one
/// per core, at least 2. Files mostly come from the page cache, so the work is
/// CPU-bound: more threads than cores measured slower (10k x 4 KiB: 73 ms with 2
/// threads, 110 ms with 4, on 2 cores).
pub fn thread_count() -> usize {
    if let Ok(v) = std::env::var("ARTEFACT_THREADS") {
        let v = v.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && v.bytes().any(|b| b != b'0') {
            // All digits and not zero: anything past the ceiling (even past u64) is the ceiling.
            return v.parse::<usize>().map_or(MAX_THREADS, |n| n.min(MAX_THREADS));
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    cores.clamp(2, 64)
}

/// The pool for this process, built on first use (and again after a fork).
pub fn get() -> Arc<rayon::ThreadPool> {
    let pid = std::process::id();
    let mut guard = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, pool)) = guard.as_ref() {
        if *owner == pid {
            return Arc::clone(pool);
        }
    }
    if let Some((_, stale)) = guard.take() {
        // Its threads exist only in the parent: dropping it here would wait on them.
        std::mem::forget(stale);
    }
    crate::fdtable::reserve(); // before the pool's threads exist (fdtable.rs)
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(thread_count())
            .thread_name(|i| format!("artefact-{i}"))
            .build()
            .expect("building the artefact thread pool"),
    );
    *guard = Some((pid, Arc::clone(&pool)));
    pool
}

/// Run `f` inside this process's pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    get().install(f)
}
