//! Bindings of the embedded store's packs (`artefact_core::pack`): small blobs of one
//! log written into one file, and their ranges read back verified. GIL released.

use std::collections::HashMap;
use std::path::PathBuf;

use artefact_core::pack;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{alg, indexed_err, io_err, progress_arc, Progress};

/// A download's `(algorithm, digest, pack, offset, length)` rows keyed by the object path
/// each digest would have loose (what `DownloadOptions::packed` looks them up by).
pub(crate) fn by_object(rows: Vec<(String, String, PathBuf, u64, u64)>) -> PyResult<HashMap<String, (PathBuf, u64, u64)>> {
    rows.into_iter()
        .map(|(a, d, pack, off, len)| Ok((artefact_core::cache::object_relpath(&d, alg(&a)?).map_err(io_err)?, (pack, off, len))))
        .collect()
}

/// Write `(src, digest, algorithm, staged)` files into new packs under the store's objects
/// `root` (at most `cap` bytes each), flushed and renamed into `packs/` before this
/// returns; per item `(pack name, offset, length)`. A bad item raises with its `index`
/// and no pack is left.
#[pyfunction]
#[pyo3(signature = (root, items, cap, progress = None))]
fn write_packs(py: Python<'_>, root: PathBuf, items: Vec<(PathBuf, String, String, bool)>, cap: u64, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<(String, u64, u64)>> {
    let items = crate::logpath::to_items(items)?;
    let p = progress_arc(progress);
    let sc = crate::statcache();
    match py.detach(|| pack::write_packs(&root, &items, cap, sc.as_deref(), p.as_deref())) {
        Ok(v) => Ok(v.into_iter().map(|p| (p.pack, p.offset, p.length)).collect()),
        Err((index, e)) => Err(indexed_err(py, index, e)),
    }
}

/// The `length` bytes at `offset` of `pack`, checked against `digest` (ValueError if not).
#[pyfunction]
#[pyo3(signature = (pack, offset, length, digest, algorithm = "MD5"))]
fn read_packed<'py>(py: Python<'py>, pack: PathBuf, offset: u64, length: u64, digest: &str, algorithm: &str) -> PyResult<Bound<'py, PyBytes>> {
    let a = alg(algorithm)?;
    let data = py.detach(|| pack::read_verified(&pack, offset, length, digest, a)).map_err(io_err)?;
    Ok(PyBytes::new(py, &data))
}

/// Hash each `(pack, offset, length, digest, algorithm)` range in parallel: None where it
/// matches, else why not ("missing" for a pack that is gone).
#[pyfunction]
#[pyo3(signature = (items, progress = None))]
fn verify_packed(py: Python<'_>, items: Vec<(PathBuf, u64, u64, String, String)>, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<Option<String>>> {
    let items = items.into_iter().map(|(p, o, l, d, a)| Ok((p, o, l, d, alg(&a)?))).collect::<PyResult<Vec<_>>>()?;
    let p = progress_arc(progress);
    Ok(py.detach(|| pack::verify_ranges(&items, p.as_deref())))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(write_packs, m)?)?;
    m.add_function(wrap_pyfunction!(read_packed, m)?)?;
    m.add_function(wrap_pyfunction!(verify_packed, m)?)?;
    Ok(())
}
