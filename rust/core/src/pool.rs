//! The thread pool every parallel operation runs on.
//!
//! A pool's threads do not survive `fork()`: a child that used the parent's pool would
//! wait forever (PyTorch DataLoader workers fork). The pool therefore remembers the pid
//! that built it and is rebuilt, never reused, in a forked child.

use std::sync::{Arc, Mutex};

static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Worker count: `ARTEFACT_THREADS`, else one per core, at least 2. Files mostly come
/// from the page cache, so the work is CPU-bound: more threads than cores measured
/// slower (10k x 4 KiB: 73 ms with 2 threads, 110 ms with 4, on 2 cores).
pub fn thread_count() -> usize {
    if let Some(n) = std::env::var("ARTEFACT_THREADS").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        if n > 0 {
            return n;
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
