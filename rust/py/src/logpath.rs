//! Bindings of the log path: files into the embedded store in one write per byte
//! (`artefact_core::store_put`), and the removal of staged copies.

use std::path::PathBuf;

use artefact_core::store_put::{self, Item, SyncMode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::{alg, indexed_err, io_err, progress_arc, Progress};

/// Store `(src, digest, algorithm, staged)` files under the store's objects `root`,
/// durably (`sync`: "auto", "files" or "filesystem"); per item, whether it was written.
/// Staged copies are moved in (or removed, if the store had their content). A bad
/// item raises with its `index` and nothing new is placed.
/// `(src, digest, algorithm, staged)` tuples as the core's items to store or pack.
pub(crate) fn to_items(items: Vec<(PathBuf, String, String, bool)>) -> PyResult<Vec<Item>> {
    items.into_iter().map(|(src, digest, a, staged)| Ok(Item { src, digest, alg: alg(&a)?, staged })).collect()
}

#[pyfunction]
#[pyo3(signature = (root, items, sync = "auto", progress = None))]
fn store_files(py: Python<'_>, root: PathBuf, items: Vec<(PathBuf, String, String, bool)>, sync: &str, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<bool>> {
    let mode = SyncMode::parse(sync).ok_or_else(|| PyValueError::new_err(format!("sync={sync:?}: expected 'auto', 'files', 'filesystem' or 'written'")))?;
    let items = to_items(items)?;
    let p = progress_arc(progress);
    let sc = crate::statcache();
    match py.detach(|| store_put::store_files(&root, &items, mode, sc.as_deref(), p.as_deref())) {
        Ok(v) => Ok(v),
        Err((index, e)) => Err(indexed_err(py, index, e)),
    }
}

/// Remove these files in parallel (a vanished one is fine); how many were removed.
#[pyfunction]
fn remove_files(py: Python<'_>, paths: Vec<PathBuf>) -> usize {
    py.detach(|| artefact_core::pool::install(|| paths.par_iter().filter(|p| std::fs::remove_file(p).is_ok()).count()))
}

/// The embedded store's objects dir (None: no store): the mutable policy does not stage
/// a file the stat cache knows and whose content that store already holds.
#[pyfunction]
#[pyo3(signature = (objects_root = None))]
fn set_known_objects(objects_root: Option<PathBuf>) {
    artefact_core::stage::set_known_objects(objects_root);
}

/// The distinct digests (base64) the stat cache knows for the files under `root` (none
/// without a stat cache): the mutable add asks the store which are packed.
#[pyfunction]
fn known_digests(py: Python<'_>, root: PathBuf, algorithm: &str) -> PyResult<Vec<String>> {
    let a = alg(algorithm)?;
    let Some(sc) = crate::statcache() else { return Ok(Vec::new()) };
    Ok(py.detach(|| artefact_core::reput::known_digests(&root, a, &sc)))
}

/// The `algorithm` digests (base64) the embedded store holds in packs, for the add in
/// progress (None clears them): a file the stat cache knows with one of them is not staged.
#[pyfunction]
#[pyo3(signature = (algorithm, digests = None))]
fn set_known_packed(algorithm: &str, digests: Option<Vec<String>>) -> PyResult<()> {
    artefact_core::stage::set_known_packed(alg(algorithm)?, digests.as_deref());
    Ok(())
}

/// The immutable policy's hash of `path`: (digest, size). A file of `min_size` bytes or
/// more is copied into `staging_dir` while it is hashed, and the log moves that copy
/// into the store (one pass over the file; see onepass.rs). Ctrl-C stops it.
#[pyfunction]
fn hash_and_precopy(py: Python<'_>, path: PathBuf, staging_dir: PathBuf, min_size: u64, algorithm: &str) -> PyResult<(String, u64)> {
    let a = alg(algorithm)?;
    let sc = crate::statcache();
    let p = artefact_core::progress::Progress::default();
    let work = || artefact_core::progress::watching(Some(&p), || artefact_core::onepass::hash_and_precopy(&path, &staging_dir, min_size, a, sc.as_deref()));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() < min_size.max(crate::INTERRUPTIBLE_MIN)) {
        return py.detach(work).map_err(io_err); // short: no watcher thread
    }
    crate::interruptible(py, &p, work)?.map_err(io_err)
}

/// Remove the pre-copies made for these source paths (a log that failed); how many.
#[pyfunction]
fn discard_precopies(py: Python<'_>, paths: Vec<PathBuf>) -> usize {
    py.detach(|| artefact_core::onepass::discard(paths.iter().map(PathBuf::as_path)))
}

/// How many pre-copies this process holds, not yet moved into a store.
#[pyfunction]
fn precopies_pending() -> usize {
    artefact_core::onepass::pending()
}

/// The re-put's question, asked on its own thread so that the caller opens the catalog
/// meanwhile: `KnownDir(root, algorithm)` walks `root` and looks every file up in the
/// stat cache; `result()` gives the (digest, size, file count) `add_dir` of it would
/// give, or None if a file is not known (or there is no stat cache): then hash as usual.
#[pyclass(module = "artefact._core")]
pub struct KnownDir {
    handle: std::sync::Mutex<Option<std::thread::JoinHandle<Option<artefact_core::reput::Known>>>>,
}

#[pymethods]
impl KnownDir {
    #[new]
    fn new(root: PathBuf, algorithm: &str) -> PyResult<Self> {
        let a = alg(algorithm)?;
        let handle = crate::statcache().map(|sc| std::thread::spawn(move || artefact_core::reput::known_dir(&root, a, &sc)));
        Ok(Self { handle: std::sync::Mutex::new(handle) })
    }

    /// Wait for the walk: (digest, size, files), or None (ask only once).
    fn result(&self, py: Python<'_>) -> Option<(String, u64, u64)> {
        let handle = self.handle.lock().ok()?.take()?;
        py.detach(|| handle.join().ok().flatten()).map(|k| (k.digest, k.size, k.files))
    }
}

/// Add this file's functions to `_core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KnownDir>()?;
    m.add_function(wrap_pyfunction!(store_files, m)?)?;
    m.add_function(wrap_pyfunction!(remove_files, m)?)?;
    m.add_function(wrap_pyfunction!(set_known_objects, m)?)?;
    m.add_function(wrap_pyfunction!(known_digests, m)?)?;
    m.add_function(wrap_pyfunction!(set_known_packed, m)?)?;
    m.add_function(wrap_pyfunction!(hash_and_precopy, m)?)?;
    m.add_function(wrap_pyfunction!(discard_precopies, m)?)?;
    m.add_function(wrap_pyfunction!(precopies_pending, m)?)?;
    Ok(())
}
