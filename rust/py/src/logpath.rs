//! Bindings of the log path: files into the embedded store in one write per byte
//! (`artefact_core::store_put`), and the removal of staged copies.

use std::path::PathBuf;

use artefact_core::store_put::{self, Item, SyncMode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::{alg, io_err, progress_arc, Progress};

/// Store `(src, digest, algorithm, staged)` files under the store's objects `root`,
/// durably (`sync`: "auto", "files" or "filesystem"); per item, whether it was written.
/// Staged copies are moved in (or removed, if the store had their content). A bad
/// item raises with its `index` and nothing new is placed.
#[pyfunction]
#[pyo3(signature = (root, items, sync = "auto", progress = None))]
fn store_files(py: Python<'_>, root: PathBuf, items: Vec<(PathBuf, String, String, bool)>, sync: &str, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<bool>> {
    let mode = SyncMode::parse(sync).ok_or_else(|| PyValueError::new_err(format!("sync={sync:?}: expected 'auto', 'files' or 'filesystem'")))?;
    let items = items
        .into_iter()
        .map(|(src, digest, a, staged)| Ok(Item { src, digest, alg: alg(&a)?, staged }))
        .collect::<PyResult<Vec<_>>>()?;
    let p = progress_arc(progress);
    let sc = crate::statcache();
    match py.detach(|| store_put::store_files(&root, &items, mode, sc.as_deref(), p.as_deref())) {
        Ok(v) => Ok(v),
        Err((index, e)) => {
            let err = io_err(e);
            err.value(py).setattr("index", index)?;
            Err(err)
        }
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

/// Add this file's functions to `_core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(store_files, m)?)?;
    m.add_function(wrap_pyfunction!(remove_files, m)?)?;
    m.add_function(wrap_pyfunction!(set_known_objects, m)?)?;
    Ok(())
}
