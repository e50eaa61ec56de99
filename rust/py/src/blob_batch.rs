//! Bindings of `artefact_core::blob_batch` (a received batch body filed into the
//! server's object root) and `blob_sink` (one streamed blob hashed and written off the
//! receiving thread), with the GIL released.

use std::path::PathBuf;

use artefact_core::blob_batch::{self, Slice};
use artefact_core::blob_sink::Sink;
use pyo3::prelude::*;

use crate::{alg, io_err};

/// File the `(offset, size, algorithm, digest)` blobs of `body` under `root`, each
/// verified (a mismatch refuses the batch: ValueError, nothing written); with
/// `durable`, fsynced with their shard directories before returning. One bool per
/// item: written now (False: already stored).
#[pyfunction]
#[pyo3(signature = (root, body, items, durable = true))]
fn store_blob_batch(
    py: Python<'_>,
    root: PathBuf,
    body: &[u8],
    items: Vec<(usize, usize, String, String)>,
    durable: bool,
) -> PyResult<Vec<bool>> {
    let slices: Vec<Slice> = items
        .into_iter()
        .map(|(offset, len, a, digest)| Ok(Slice { offset, len, digest, alg: alg(&a)? }))
        .collect::<PyResult<_>>()?;
    py.detach(|| blob_batch::store_slices(&root, body, &slices, durable)).map_err(|(_, e)| io_err(e))
}

/// Indices of the `(digest, algorithm, size)` objects that the object root `root`
/// lacks (no regular file of that size), checked in parallel with the GIL released.
#[pyfunction]
fn objects_lacking(py: Python<'_>, root: PathBuf, items: Vec<(String, String, u64)>) -> PyResult<Vec<usize>> {
    let items: Vec<(String, artefact_core::digest::Algorithm, u64)> =
        items.into_iter().map(|(d, a, size)| Ok((d, alg(&a)?, size))).collect::<PyResult<_>>()?;
    py.detach(|| blob_batch::lacking(&root, &items)).map_err(io_err)
}

/// One blob streamed into a new temp file `path`: `write` each chunk as it arrives,
/// then `finish()` gives `(base64 digest, size)`; hashing and writing run on a thread
/// of their own (fsynced at the end when `durable`).
#[pyclass(module = "artefact._core")]
struct BlobSink {
    sink: Sink,
}

#[pymethods]
impl BlobSink {
    #[new]
    #[pyo3(signature = (path, algorithm, durable = true))]
    fn new(path: PathBuf, algorithm: &str, durable: bool) -> PyResult<Self> {
        Ok(Self { sink: Sink::open(&path, alg(algorithm)?, durable).map_err(io_err)? })
    }

    /// Queue one chunk (copied; waits, without the GIL, only while the queue is full).
    fn write(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let chunk = data.to_vec();
        py.detach(|| self.sink.write(chunk)).map_err(io_err)
    }

    /// Wait for the writer: `(base64 digest, bytes written)`.
    fn finish(&mut self, py: Python<'_>) -> PyResult<(String, u64)> {
        py.detach(|| self.sink.finish()).map_err(io_err)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BlobSink>()?;
    m.add_function(wrap_pyfunction!(store_blob_batch, m)?)?;
    m.add_function(wrap_pyfunction!(objects_lacking, m)?)
}
