//! Binding of `artefact_core::transfer::get_packed`: small blobs read out of packs in
//! the server's S3 store, ranges coalesced, each blob verified, with the GIL released.

use std::path::PathBuf;

use artefact_core::transfer::{self, PackItem};
use pyo3::prelude::*;

use crate::{alg, progress_arc, Progress};

type Item = (String, u64, u64, u64, PathBuf, String, String);

/// GET `(pack url, offset, length, pack size, dest, digest, algorithm)` items: one
/// `None` (placed) or error message per item, in order.
#[pyfunction]
#[pyo3(signature = (items, concurrency = 16, retries = 5, timeout = 300.0, progress = None))]
fn transfer_get_packed(
    py: Python<'_>,
    items: Vec<Item>,
    concurrency: usize,
    retries: u32,
    timeout: f64,
    progress: Option<&Bound<'_, Progress>>,
) -> PyResult<Vec<Option<String>>> {
    let items = items
        .into_iter()
        .map(|(url, offset, length, pack_size, dest, digest, a)| {
            Ok(PackItem { url, offset, length, pack_size, dest, digest, algorithm: alg(&a)? })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let opts = crate::transfer::options(concurrency, retries, timeout, Vec::new());
    let p = progress_arc(progress);
    let results = py.detach(|| transfer::get_packed(&items, &opts, p.as_deref()));
    Ok(results.into_iter().map(Result::err).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(transfer_get_packed, m)?)?;
    Ok(())
}
