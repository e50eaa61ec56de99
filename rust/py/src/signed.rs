//! Bindings of `artefact_core::transfer::{put_ranges, part_md5s, part_sums}`: uploads
//! straight to an object store's presigned URLs (the server's S3 blobs), with the GIL
//! released; and of `artefact_core::sigv4::presign_batch`, which signs those URLs.

use std::path::PathBuf;

use artefact_core::sigv4::{self, Credentials, Presign};
use artefact_core::transfer::{self, RangePut};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::{progress_arc, Progress};

type Range = (PathBuf, u64, u64, u64, String, Vec<(String, String)>);

/// PUT `(path, offset, len, file_size, url, headers)` byte ranges to presigned URLs;
/// per item `(etag, None)` on success or `(None, error)`.
#[pyfunction]
#[pyo3(signature = (items, concurrency = 16, retries = 5, timeout = 300.0, progress = None))]
fn transfer_put_ranges(
    py: Python<'_>,
    items: Vec<Range>,
    concurrency: usize,
    retries: u32,
    timeout: f64,
    progress: Option<&Bound<'_, Progress>>,
) -> Vec<(Option<String>, Option<String>)> {
    let items: Vec<RangePut> = items
        .into_iter()
        .map(|(path, offset, len, file_size, url, headers)| RangePut { path, offset, len, file_size, url, headers })
        .collect();
    let opts = crate::transfer::options(concurrency, retries, timeout, Vec::new());
    let p = progress_arc(progress);
    py.detach(|| transfer::put_ranges(&items, &opts, p.as_deref()))
        .into_iter()
        .map(|r| match r {
            Ok(etag) => (Some(etag), None),
            Err(e) => (None, Some(e)),
        })
        .collect()
}

/// The base64 MD5s and base64 CRC32s (S3's form; empty unless `crc32`) of the given
/// parts (numbered from 1) of `path`, `part_size` each, in one read of each part.
#[pyfunction]
#[pyo3(signature = (path, part_size, parts, threads = 4, crc32 = true))]
fn file_part_sums(
    py: Python<'_>,
    path: PathBuf,
    part_size: u64,
    parts: Vec<u64>,
    threads: usize,
    crc32: bool,
) -> PyResult<(Vec<String>, Vec<String>)> {
    py.detach(|| transfer::part_sums(&path, part_size, &parts, threads.max(1), crc32))
        .map(|s| (s.md5s, s.crc32s))
        .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
}

/// The base64 part MD5s and CRC32s hashed when this blob was staged in parts of
/// `part_size`, if it was.
#[pyfunction]
fn staged_part_sums(algorithm: &str, digest: &str, size: u64, part_size: u64) -> PyResult<Option<(Vec<String>, Vec<String>)>> {
    Ok(artefact_core::stage_parts::lookup_sums(crate::alg(algorithm)?, digest, size, part_size).map(|s| (s.md5s, s.crc32s)))
}

/// From now on, staging a large file (the mutable policy's copy) also hashes it in parts
/// of `part_size` bytes (0: stop), for a multipart upload to the server's object store.
#[pyfunction]
fn set_staging_part_size(part_size: u64) {
    artefact_core::stage_parts::set_part_size(part_size);
}

type PresignItem = (String, String, Vec<(String, String)>, Vec<(String, String)>);

/// Presigned S3 URLs (SigV4 query auth) for `(method, path, query, headers)` requests on
/// `base`, valid `expires` seconds from `now` (Unix seconds), signed in one GIL release.
#[pyfunction]
#[pyo3(signature = (base, items, access_key, secret_key, session_token, region, expires, now, service = "s3".to_string()))]
#[allow(clippy::too_many_arguments)]
fn sigv4_presign_batch(
    py: Python<'_>,
    base: String,
    items: Vec<PresignItem>,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
    region: String,
    expires: u64,
    now: u64,
    service: String,
) -> Vec<String> {
    let creds = Credentials { access_key, secret_key, session_token, region, service };
    let reqs: Vec<Presign> = items
        .into_iter()
        .map(|(method, path, query, headers)| Presign { method, path, query, headers })
        .collect();
    py.detach(|| sigv4::presign_batch(&creds, &base, &reqs, expires, now))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(transfer_put_ranges, m)?)?;
    m.add_function(wrap_pyfunction!(set_staging_part_size, m)?)?;
    m.add_function(wrap_pyfunction!(file_part_sums, m)?)?;
    m.add_function(wrap_pyfunction!(staged_part_sums, m)?)?;
    m.add_function(wrap_pyfunction!(sigv4_presign_batch, m)?)?;
    Ok(())
}
