//! Bindings of `artefact_core::transfer::fetch_objects` (reference downloads): conversion
//! only; the transfers run with the GIL released, and Ctrl-C cancels them.

use std::path::PathBuf;

use artefact_core::sigv4::Credentials;
use artefact_core::transfer::{self, FetchError, FetchItem, FetchOptions, Fetched};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{interruptible, progress_or_new, Progress};

/// `(url, headers, target, temp_dir, size, md5_hex, etag, part_size, crc32c, label, signed)`.
type Item = (String, Vec<(String, String)>, PathBuf, Option<PathBuf>, Option<u64>, Option<String>, Option<String>, Option<u64>, Option<u32>, String, bool);

/// Download reference objects: one `(kind, status, detail)` per item, where kind is
/// "placed", "status" (detail: the error body), "digest", "failed", "io" (detail: the
/// message) or "skipped" (another item failed first). `s3` is `(access_key,
/// secret_key, session_token, region)` for the items marked signed.
#[pyfunction]
#[pyo3(signature = (items, s3 = None, concurrency = 64, retries = 8, range_threshold = 64 << 20, timeout = 300.0, progress = None))]
#[allow(clippy::too_many_arguments)]
fn fetch_objects(
    py: Python<'_>,
    items: Vec<Item>,
    s3: Option<(String, String, Option<String>, String)>,
    concurrency: usize,
    retries: u32,
    range_threshold: u64,
    timeout: f64,
    progress: Option<&Bound<'_, Progress>>,
) -> PyResult<Vec<(String, u16, Py<PyAny>)>> {
    let items: Vec<FetchItem> = items
        .into_iter()
        .map(|(url, headers, target, temp_dir, size, md5_hex, etag, part_size, crc32c, label, signed)| FetchItem {
            url, headers, target, temp_dir, size, md5_hex, etag, part_size, crc32c, label, signed,
        })
        .collect();
    let opts = FetchOptions {
        transfer: crate::transfer::options(concurrency, retries, timeout, Vec::new()),
        range_threshold: range_threshold.max(1),
        s3: s3.map(|(access_key, secret_key, session_token, region)| Credentials { access_key, secret_key, session_token, region, service: "s3".into() }),
        ..FetchOptions::default()
    };
    let p = progress_or_new(progress);
    let results = interruptible(py, &p, || transfer::fetch_objects(&items, &opts, Some(&p)))?;
    let text = |py: Python<'_>, s: String| s.into_pyobject(py).map(|o| o.into_any().unbind());
    results
        .into_iter()
        .map(|r| {
            Ok(match r {
                Ok(Fetched::Placed) => ("placed".into(), 200, py.None()),
                Ok(Fetched::Status(code, body)) => ("status".into(), code, PyBytes::new(py, &body).into_any().unbind()),
                Err(FetchError::Digest(m)) => ("digest".into(), 0, text(py, m)?),
                Err(FetchError::Failed(m)) => ("failed".into(), 0, text(py, m)?),
                Err(FetchError::Io(m)) => ("io".into(), 0, text(py, m)?),
                Err(FetchError::Interrupted) => ("interrupted".into(), 0, py.None()),
                Err(FetchError::Skipped) => ("skipped".into(), 0, py.None()),
            })
        })
        .collect()
}

/// The partial file a download of `target` (expecting `etag`/`md5_hex`, `size`) resumes from.
#[pyfunction]
#[pyo3(signature = (target, temp_dir = None, size = None, md5_hex = None, etag = None, crc32c = None))]
fn fetch_partial_path(target: PathBuf, temp_dir: Option<PathBuf>, size: Option<u64>, md5_hex: Option<String>, etag: Option<String>, crc32c: Option<u32>) -> PathBuf {
    transfer::partial_path(&FetchItem { target, temp_dir, size, md5_hex, etag, crc32c, ..FetchItem::default() })
}

/// The SigV4 headers (x-amz-date, x-amz-content-sha256, session token, Authorization)
/// of a GET of `url` with `headers`, at Unix time `now`: for tests against botocore.
#[pyfunction]
#[pyo3(signature = (url, headers, access_key, secret_key, session_token, region, now))]
fn sigv4_sign_get(url: &str, headers: Vec<(String, String)>, access_key: String, secret_key: String, session_token: Option<String>, region: String, now: u64) -> Vec<(String, String)> {
    let creds = Credentials { access_key, secret_key, session_token, region, service: "s3".into() };
    artefact_core::sigv4::sign_get(&creds, url, &headers, now)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fetch_objects, m)?)?;
    m.add_function(wrap_pyfunction!(fetch_partial_path, m)?)?;
    m.add_function(wrap_pyfunction!(sigv4_sign_get, m)?)?;
    Ok(())
}
