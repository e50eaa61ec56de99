//! Bindings of `artefact_core::transfer`: conversion only, every transfer with the GIL
//! released. Each function returns one `None` (done) or error message per item.

use std::path::PathBuf;
use std::time::Duration;

use artefact_core::transfer::{self, BatchBlob, GetItem, Options, PutItem};
use pyo3::prelude::*;

use crate::{alg, progress_arc, Progress};

type Outcomes = Vec<Option<String>>;

/// The transfer options every binding builds from its Python arguments.
pub(crate) fn options(concurrency: usize, retries: u32, timeout: f64, headers: Vec<(String, String)>) -> Options {
    Options {
        concurrency: concurrency.max(1),
        retries,
        io_timeout: Duration::from_secs_f64(timeout.max(1.0)),
        headers,
        ..Options::default()
    }
}

fn outcomes(results: Vec<Result<(), String>>) -> Outcomes {
    results.into_iter().map(Result::err).collect()
}

fn blobs(items: Vec<(PathBuf, String, String, u64)>) -> PyResult<Vec<BatchBlob>> {
    items
        .into_iter()
        .map(|(path, a, digest, size)| Ok(BatchBlob { path, algorithm: alg(&a)?, digest, size }))
        .collect()
}

/// PUT `(path, url, size)` items to their signed URLs.
#[pyfunction]
#[pyo3(signature = (items, concurrency = 16, retries = 5, timeout = 300.0, headers = Vec::new(), progress = None))]
fn transfer_put(
    py: Python<'_>,
    items: Vec<(PathBuf, String, u64)>,
    concurrency: usize,
    retries: u32,
    timeout: f64,
    headers: Vec<(String, String)>,
    progress: Option<&Bound<'_, Progress>>,
) -> Outcomes {
    let items: Vec<PutItem> = items.into_iter().map(|(path, url, size)| PutItem { path, url, size }).collect();
    let opts = options(concurrency, retries, timeout, headers);
    let p = progress_arc(progress);
    outcomes(py.detach(|| transfer::put_files(&items, &opts, p.as_deref())))
}

/// GET `(url, dest, digest, algorithm)` items, each verified before it is renamed into place;
/// `spares` (one per item, or None) asks for a verified second copy at that path.
#[pyfunction]
#[pyo3(signature = (items, concurrency = 16, retries = 5, timeout = 300.0, headers = Vec::new(), progress = None, spares = None))]
#[allow(clippy::too_many_arguments)]
fn transfer_get(
    py: Python<'_>,
    items: Vec<(String, PathBuf, String, String)>,
    concurrency: usize,
    retries: u32,
    timeout: f64,
    headers: Vec<(String, String)>,
    progress: Option<&Bound<'_, Progress>>,
    spares: Option<Vec<Option<PathBuf>>>,
) -> PyResult<Outcomes> {
    let mut spares = spares.unwrap_or_default().into_iter();
    let items = items
        .into_iter()
        .map(|(url, dest, digest, a)| Ok(GetItem { url, dest, digest, algorithm: alg(&a)?, spare: spares.next().flatten() }))
        .collect::<PyResult<Vec<_>>>()?;
    let opts = options(concurrency, retries, timeout, headers);
    let p = progress_arc(progress);
    Ok(outcomes(py.detach(|| transfer::get_files(&items, &opts, p.as_deref()))))
}

/// POST `(path, algorithm, digest, size)` blobs to `url`, framed many to a request
/// (at most `max_count` blobs and `max_bytes` bytes each).
#[pyfunction]
#[pyo3(signature = (url, items, max_count = 1000, max_bytes = 16 << 20, concurrency = 4, retries = 5, timeout = 300.0, headers = Vec::new(), progress = None))]
#[allow(clippy::too_many_arguments)]
fn transfer_post_batch(
    py: Python<'_>,
    url: String,
    items: Vec<(PathBuf, String, String, u64)>,
    max_count: usize,
    max_bytes: u64,
    concurrency: usize,
    retries: u32,
    timeout: f64,
    headers: Vec<(String, String)>,
    progress: Option<&Bound<'_, Progress>>,
) -> PyResult<Outcomes> {
    let groups = transfer::group_blobs(blobs(items)?, max_count.max(1), max_bytes);
    let opts = options(concurrency, retries, timeout, headers);
    let p = progress_arc(progress);
    let results = py.detach(|| transfer::post_batch(&url, &groups, &opts, p.as_deref()));
    Ok(groups.iter().zip(results).flat_map(|(g, r)| g.iter().map(move |_| r.clone().err())).collect())
}

/// POST `{"record": <record_json>, "blobs": [[algorithm, digest], ...]}` to `url` per
/// group of `(dest, algorithm, digest, size)` items; place each answered blob, verified.
#[pyfunction]
#[pyo3(signature = (url, record_json, items, max_count = 1000, max_bytes = 16 << 20, concurrency = 4, retries = 5, timeout = 300.0, headers = Vec::new(), progress = None))]
#[allow(clippy::too_many_arguments)]
fn transfer_fetch_batch(
    py: Python<'_>,
    url: String,
    record_json: String,
    items: Vec<(PathBuf, String, String, u64)>,
    max_count: usize,
    max_bytes: u64,
    concurrency: usize,
    retries: u32,
    timeout: f64,
    headers: Vec<(String, String)>,
    progress: Option<&Bound<'_, Progress>>,
) -> PyResult<Outcomes> {
    let groups = transfer::group_blobs(blobs(items)?, max_count.max(1), max_bytes);
    let opts = options(concurrency, retries, timeout, headers);
    let p = progress_arc(progress);
    let request = |bs: &[&BatchBlob]| {
        let list: Vec<String> = bs.iter().map(|b| format!("[\"{}\",\"{}\"]", b.algorithm.name(), b.digest)).collect();
        format!("{{\"record\":{record_json},\"blobs\":[{}]}}", list.join(","))
    };
    let results = py.detach(|| transfer::fetch_batches(&url, &request, &groups, &opts, p.as_deref()));
    Ok(results.into_iter().flat_map(outcomes).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(transfer_put, m)?)?;
    m.add_function(wrap_pyfunction!(transfer_get, m)?)?;
    m.add_function(wrap_pyfunction!(transfer_post_batch, m)?)?;
    m.add_function(wrap_pyfunction!(transfer_fetch_batch, m)?)?;
    Ok(())
}
