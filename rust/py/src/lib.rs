//! `artefact._core`: PyO3 glue over `artefact_core`. Only conversion, error mapping and
//! releasing the GIL (`py.detach`) around every call that reads files or hashes.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use artefact_core::add_dir::{AddDirOptions, AddError};
use artefact_core::cache::{self, Placement};
use artefact_core::digest::{self, Algorithm};
use artefact_core::manifest::{Entry, ManifestError};
use artefact_core::{manifest, paths, stage, walk};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::intern;
use pyo3::types::{PyBytes, PyDict, PyString};

mod blob_batch;
mod transfer;
mod logpath;
mod store_packs;
mod png;
mod fetch;
mod signed;
mod packs;
mod added;
use added::AddedFiles;
mod blob_keys;
mod present;

/// The process's stat cache, set from Python (`artefact.config`); None disables it.
static STATCACHE: Mutex<Option<Arc<artefact_core::statcache::StatCache>>> = Mutex::new(None);

fn statcache() -> Option<Arc<artefact_core::statcache::StatCache>> {
    STATCACHE.lock().ok().and_then(|g| g.clone())
}

/// Use the stat cache file at `path` (None turns it off); the previous one is flushed.
#[pyfunction]
#[pyo3(signature = (path, max_entries = 4_000_000))]
fn set_statcache(py: Python<'_>, path: Option<PathBuf>, max_entries: usize) -> PyResult<()> {
    let new = py.detach(|| path.map(|p| Arc::new(artefact_core::statcache::StatCache::open(&p, max_entries))));
    let old = std::mem::replace(&mut *STATCACHE.lock().map_err(|_| PyOSError::new_err("stat cache lock poisoned"))?, new);
    if let Some(old) = old {
        py.detach(|| old.persist()).map_err(io_err)?;
    }
    Ok(())
}

/// Write the stat cache's new records to disk.
#[pyfunction]
fn flush_statcache(py: Python<'_>) -> PyResult<()> {
    match statcache() {
        Some(c) => py.detach(|| c.persist()).map_err(io_err),
        None => Ok(()),
    }
}

fn alg(name: &str) -> PyResult<Algorithm> {
    Algorithm::parse(name).ok_or_else(|| PyValueError::new_err(format!("unknown digest algorithm {name:?}; expected 'MD5' or 'XXH128'")))
}

/// IO errors keep their OSError subclass; bad data (digest mismatches) is a ValueError.
fn io_err(e: io::Error) -> PyErr {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => PyValueError::new_err(e.to_string()),
        io::ErrorKind::Other if e.raw_os_error().is_none() => PyOSError::new_err(e.to_string()),
        _ => PyErr::from(e),
    }
}

/// `e` as Python's exception, with the failing item's `index` as an attribute.
fn indexed_err(py: Python<'_>, index: usize, e: io::Error) -> PyErr {
    let err = io_err(e);
    match err.value(py).setattr("index", index) {
        Ok(()) => err,
        Err(other) => other,
    }
}

fn repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_string())
}

fn invalid_path(py: Python<'_>, norm: &str) -> PyErr {
    match repr(py, norm) {
        Ok(r) => PyValueError::new_err(format!("Invalid artifact path: {r}")),
        Err(e) => e,
    }
}

/// `err` with a `.kind` attribute callers can dispatch on.
fn with_kind(py: Python<'_>, err: PyErr, kind: &str) -> PyErr {
    match err.value(py).setattr("kind", kind) {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn manifest_err(py: Python<'_>, e: ManifestError) -> PyErr {
    match e {
        ManifestError::DuplicatePath(p) => match repr(py, &p) {
            Ok(r) => PyValueError::new_err(format!("Cannot add the same path twice: {r}")),
            Err(e) => e,
        },
        ManifestError::Invalid(m) => PyValueError::new_err(m),
        ManifestError::Corrupt(m) => with_kind(py, PyValueError::new_err(m), "corrupt"),
    }
}

/// Counters a long call updates; read them from another thread while it runs.
#[pyclass(frozen, module = "artefact._core")]
#[derive(Default)]
struct Progress {
    inner: Arc<artefact_core::progress::Progress>,
}

#[pymethods]
impl Progress {
    #[new]
    fn new() -> Self {
        Self::default()
    }
    #[getter]
    fn files(&self) -> u64 {
        self.inner.files.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[getter]
    fn bytes(&self) -> u64 {
        self.inner.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[getter]
    fn total_files(&self) -> u64 {
        self.inner.total_files.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[getter]
    fn total_bytes(&self) -> u64 {
        self.inner.total_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn progress_arc(p: Option<&Bound<'_, Progress>>) -> Option<Arc<artefact_core::progress::Progress>> {
    p.map(|p| Arc::clone(&p.get().inner))
}

/// The caller's progress counters, or fresh ones: every long call needs one to be
/// cancelled through.
fn progress_or_new(p: Option<&Bound<'_, Progress>>) -> Arc<artefact_core::progress::Progress> {
    progress_arc(p).unwrap_or_default()
}

/// Run `work` (with the GIL released) on a helper thread while this thread runs
/// Python's signal handlers every 50 ms, so Ctrl-C works during long core calls: on a
/// KeyboardInterrupt (or any exception a handler raises) `progress` is cancelled, the
/// core stops at its next file or buffer, and the exception is raised once it has.
fn interruptible<T: Send>(py: Python<'_>, progress: &artefact_core::progress::Progress, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let caller = std::thread::current();
        let done = &done;
        let handle = s.spawn(move || {
            let r = work();
            done.store(true, Ordering::Release);
            caller.unpark();
            r
        });
        loop {
            py.detach(|| {
                if !done.load(Ordering::Acquire) {
                    std::thread::park_timeout(std::time::Duration::from_millis(50));
                }
            });
            if done.load(Ordering::Acquire) {
                break;
            }
            if let Err(e) = py.check_signals() {
                progress.cancel();
                let _ = py.detach(|| handle.join());
                return Err(e);
            }
        }
        py.detach(|| handle.join()).map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("artefact core worker panicked"))
    })
}

/// Files at least this large are hashed interruptibly by `hash_file` (smaller ones
/// take less time than the thread it would need).
const INTERRUPTIBLE_MIN: u64 = 32 << 20;

#[pyfunction]
#[pyo3(signature = (path, algorithm = "MD5"))]
fn hash_file(py: Python<'_>, path: PathBuf, algorithm: &str) -> PyResult<(String, u64)> {
    let a = alg(algorithm)?;
    let sc = statcache();
    let hash = || digest::hash_file_cached(&path, a, sc.as_deref()).map_err(|e| walk::with_path(e, &path));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= INTERRUPTIBLE_MIN) {
        let p = artefact_core::progress::Progress::default();
        return interruptible(py, &p, || artefact_core::progress::watching(Some(&p), hash))?.map_err(io_err);
    }
    py.detach(hash).map_err(io_err)
}

#[pyfunction]
#[pyo3(signature = (data, algorithm = "MD5"))]
fn hash_bytes(py: Python<'_>, data: &[u8], algorithm: &str) -> PyResult<String> {
    let a = alg(algorithm)?;
    // `bytes` are immutable: hashed in place, with the GIL released.
    Ok(py.detach(|| digest::hash_bytes(data, a)))
}

/// The MD5 implementation in use ("openssl" or "rust"), the libcrypto it would load (or
/// None), and both measured rates in bytes per second over `size` bytes in memory.
#[pyfunction]
#[pyo3(signature = (size = 64 << 20, rounds = 3))]
fn md5_info(py: Python<'_>, size: usize, rounds: u32) -> (&'static str, Option<&'static str>, f64, f64) {
    py.detach(|| {
        let chosen = digest::md5_backend().name();
        let rust = digest::md5_rate(digest::Md5Backend::Rust, size, rounds);
        let openssl = digest::md5_rate(digest::Md5Backend::OpenSsl, size, rounds);
        (chosen, artefact_core::libcrypto::library(), rust, openssl)
    })
}

#[pyfunction]
#[pyo3(signature = (paths, algorithm = "MD5", progress = None))]
fn hash_files(py: Python<'_>, paths: Vec<PathBuf>, algorithm: &str, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<(String, u64)>> {
    use rayon::prelude::*;
    let a = alg(algorithm)?;
    let p = progress_or_new(progress);
    let sc = statcache();
    interruptible(py, &p, || {
        artefact_core::pool::install(|| {
            paths
                .par_iter()
                .map(|f| {
                    artefact_core::progress::check(Some(&p))?;
                    let r = artefact_core::progress::watching(Some(&p), || digest::hash_file_cached(f, a, sc.as_deref())).map_err(|e| walk::with_path(e, f));
                    if let Ok((_, n)) = &r {
                        p.done(1, *n);
                    }
                    r
                })
                .collect::<io::Result<Vec<_>>>()
        })
    })?
    .map_err(io_err)
}

#[pyfunction]
fn s3_multipart_etag(py: Python<'_>, path: PathBuf, part_size: u64) -> PyResult<String> {
    py.detach(|| digest::s3_multipart_etag(&path, part_size).map_err(|e| walk::with_path(e, &path))).map_err(io_err)
}

#[pyfunction]
fn multipart_part_size(size: u64) -> u64 {
    digest::multipart_part_size(size)
}

#[pyfunction]
fn b64_to_hex(digest: &str) -> PyResult<String> {
    digest::b64_to_hex(digest).ok_or_else(|| PyValueError::new_err(format!("not a base64 digest: {digest:?}")))
}

#[pyfunction]
fn normalize_path(path: &str) -> String {
    paths::normalize(path)
}

#[pyfunction]
fn validate_path(py: Python<'_>, path: &str) -> PyResult<String> {
    paths::validate(path).map_err(|norm| invalid_path(py, &norm))
}

#[pyfunction]
#[pyo3(signature = (root, follow_links = true))]
fn scan_dir(py: Python<'_>, root: PathBuf, follow_links: bool) -> PyResult<Vec<(String, String, u64)>> {
    let files = py.detach(|| walk::scan_dir(&root, follow_links).map_err(|e| walk::with_path(e, &root))).map_err(io_err)?;
    Ok(files.into_iter().map(|f| {
        let size = f.size();
        (f.rel, f.abs.to_string_lossy().into_owned(), size)
    }).collect())
}

#[pyfunction]
#[pyo3(signature = (src, staging_dir, algorithm = "MD5"))]
fn stage_file(py: Python<'_>, src: PathBuf, staging_dir: PathBuf, algorithm: &str) -> PyResult<(String, u64, String)> {
    let a = alg(algorithm)?;
    let (d, n, p) = py.detach(|| stage::copy_and_hash(&src, &staging_dir, a)).map_err(io_err)?;
    Ok((d, n, p.to_string_lossy().into_owned()))
}

type EntryTuple<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<u64>, String, Option<&'a str>, bool);

fn entry_tuple(e: &Entry) -> EntryTuple<'_> {
    (
        &e.path,
        &e.digest,
        e.ref_(),
        e.birth_artifact_id(),
        e.size,
        e.extra().map_or_else(|| "{}".to_owned(), |x| serde_json::to_string(x).unwrap_or_default()),
        e.local_path.as_deref(),
        e.skip_cache,
    )
}

/// wandb's ArtifactManifestV1, held in Rust; entries keep insertion order.
#[pyclass(module = "artefact._core")]
struct Manifest {
    inner: manifest::Manifest,
}

#[pymethods]
impl Manifest {
    #[new]
    #[pyo3(signature = (storage_layout = "V2", storage_region = None))]
    fn new(storage_layout: &str, storage_region: Option<String>) -> Self {
        Self { inner: manifest::Manifest::new(storage_layout, storage_region) }
    }

    #[getter]
    fn storage_layout(&self) -> Option<String> {
        self.inner.storage_layout.clone()
    }

    #[getter]
    fn storage_region(&self) -> Option<String> {
        self.inner.storage_region.clone()
    }

    fn __len__(&self) -> usize {
        self.inner.entries.len()
    }

    fn __contains__(&self, path: &str) -> bool {
        self.inner.entries.contains_key(path)
    }

    fn paths(&self) -> Vec<String> {
        self.inner.entries.keys().map(ToString::to_string).collect()
    }

    fn get(&self, path: &str) -> Option<EntryTuple<'_>> {
        self.inner.entries.get(path).map(entry_tuple)
    }

    fn entries(&self) -> Vec<EntryTuple<'_>> {
        self.inner.entries.values().map(entry_tuple).collect()
    }

    #[pyo3(signature = (path, digest, r#ref = None, birth_artifact_id = None, size = None, extra = "{}", local_path = None, skip_cache = false, overwrite = false))]
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        py: Python<'_>,
        path: String,
        digest: String,
        r#ref: Option<String>,
        birth_artifact_id: Option<String>,
        size: Option<u64>,
        extra: &str,
        local_path: Option<String>,
        skip_cache: bool,
        overwrite: bool,
    ) -> PyResult<()> {
        // "{}" is the common case: skip the parse.
        let extra = if extra == "{}" {
            None
        } else {
            let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(extra) else {
                return Err(PyValueError::new_err(format!("extra must be a JSON object, got {extra:?}")));
            };
            Some(map)
        };
        let mut e = Entry::new(path, digest, size).with_rare(r#ref.map(Into::into), birth_artifact_id.map(Into::into), extra);
        e.local_path = local_path.map(Into::into);
        e.skip_cache = skip_cache;
        self.inner.add_entry(e, overwrite).map_err(|e| manifest_err(py, e))
    }

    fn remove(&mut self, path: &str) -> bool {
        self.inner.remove(path).is_some()
    }

    fn remove_prefix(&mut self, prefix: &str) -> usize {
        self.inner.remove_prefix(prefix)
    }

    #[pyo3(signature = (root, name, algorithm, policy, staging_dir, skip_cache, overwrite, progress = None, precopy_min = None))]
    #[allow(clippy::too_many_arguments)]
    fn add_dir(
        &mut self,
        py: Python<'_>,
        root: PathBuf,
        name: Option<String>,
        algorithm: &str,
        policy: &str,
        staging_dir: Option<PathBuf>,
        skip_cache: bool,
        overwrite: bool,
        progress: Option<&Bound<'_, Progress>>,
        precopy_min: Option<u64>,
    ) -> PyResult<AddedFiles> {
        let a = alg(algorithm)?;
        // Immutable with `precopy_min`: large files are pre-copied into `staging_dir`.
        let precopy_dir = if policy == "immutable" { precopy_min.and(staging_dir.clone()) } else { None };
        let staging = match policy {
            "mutable" => Some(staging_dir.ok_or_else(|| PyValueError::new_err("the mutable policy needs a staging_dir"))?),
            "immutable" => None,
            other => return Err(PyValueError::new_err(format!("Invalid policy {other:?}. Policy may only be `mutable` or `immutable`."))),
        };
        let p = progress_or_new(progress);
        let sc = statcache();
        let inner = &mut self.inner;
        let r = interruptible(py, &p, || {
            let opts = AddDirOptions { name: name.as_deref(), algorithm: a, staging_dir: staging.as_deref(), skip_cache, overwrite, statcache: sc.as_deref() };
            let precopy = precopy_dir.as_deref().zip(precopy_min);
            let r = artefact_core::add_dir::add_dir_precopying(inner, &root, &opts, precopy, Some(&p));
            if let Some(c) = &sc {
                // A failed flush only costs a re-hash next time.
                let _ = c.persist();
            }
            r
        })?;
        match r {
            Ok(v) => Ok(AddedFiles { files: v }),
            Err((added, e)) => {
                let err = match e {
                    AddError::InvalidPath(p) => invalid_path(py, &p),
                    AddError::Duplicate(p) => manifest_err(py, ManifestError::DuplicatePath(p)),
                    AddError::Io(e) => io_err(e),
                };
                // The files that did go in (as in wandb, one failure does not undo them).
                err.value(py).setattr("added", AddedFiles { files: added })?;
                Err(err)
            }
        }
    }

    #[pyo3(signature = (algorithm = "MD5"))]
    fn digest(&self, py: Python<'_>, algorithm: &str) -> PyResult<String> {
        let a = alg(algorithm)?;
        let m = &self.inner;
        Ok(py.detach(|| m.digest(a)))
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    /// The `contents` of `to_manifest_json()` as a dict built directly (no JSON text in
    /// between): path -> {digest, ref, birthArtifactID, size, extra}, defaults omitted.
    fn contents_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let loads = if self.inner.entries.values().any(|e| e.extra().is_some()) {
            Some(py.import("json")?.getattr("loads")?)
        } else {
            None
        };
        for (path, e) in &self.inner.entries {
            let d = PyDict::new(py);
            d.set_item(intern!(py, "digest"), &*e.digest)?;
            if let Some(r) = e.ref_() {
                d.set_item(intern!(py, "ref"), r)?;
            }
            if let Some(b) = e.birth_artifact_id() {
                d.set_item(intern!(py, "birthArtifactID"), b)?;
            }
            if let Some(n) = e.size {
                d.set_item(intern!(py, "size"), n)?;
            }
            if let (Some(extra), Some(loads)) = (e.extra(), &loads) {
                // Rare: Python's own parser keeps its number types exactly.
                let text = serde_json::to_string(extra).map_err(|x| PyValueError::new_err(x.to_string()))?;
                d.set_item(intern!(py, "extra"), loads.call1((text,))?)?;
            }
            out.set_item(&**path, d)?;
        }
        Ok(out)
    }

    /// UTF-8 bytes written straight into the Python object after a counting pass, so
    /// the text exists once (1M entries: 80 MB, not 160).
    fn to_manifest_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let m = &self.inner;
        let len = py.detach(|| {
            let mut n = manifest::ByteCount::default();
            m.write_sdk_json(&mut n);
            n.0
        });
        PyBytes::new_with(py, len, |buf| {
            py.detach(|| m.write_sdk_json(&mut manifest::SliceOut::new(buf)));
            Ok(())
        })
    }

    #[pyo3(signature = (include_local_path = false))]
    fn to_wire_json<'py>(&self, py: Python<'py>, include_local_path: bool) -> Bound<'py, PyBytes> {
        let m = &self.inner;
        let v = py.detach(|| m.to_wire_json(include_local_path));
        PyBytes::new(py, &v)
    }

    /// From JSON text as `bytes` (read from a file, no decode copy) or `str`; with `md5`,
    /// the bytes must hash to it (ValueError, `.kind` "corrupt").
    #[staticmethod]
    #[pyo3(signature = (data, md5 = None))]
    fn from_json(py: Python<'_>, data: &Bound<'_, PyAny>, md5: Option<&str>) -> PyResult<Self> {
        let parsed = if let Ok(b) = data.cast::<PyBytes>() {
            let raw = b.as_bytes();
            match md5 {
                Some(want) => py.detach(|| manifest::Manifest::from_slice_verified(raw, want)),
                None => py.detach(|| manifest::Manifest::from_slice(raw)),
            }
        } else if let Some(want) = md5 {
            let text = data.extract::<String>()?;
            py.detach(|| manifest::Manifest::from_slice_verified(text.as_bytes(), want))
        } else {
            let text = data.extract::<String>()?;
            py.detach(|| manifest::Manifest::from_json(&text))
        };
        parsed.map(|inner| Self { inner }).map_err(|e| manifest_err(py, e))
    }

    /// A stored manifest file, which must hash to `md5` (ValueError, `.kind` "corrupt").
    /// Large ones are parsed in two halves on two cores (see `manifest/read.rs`); one
    /// the stat cache knows unchanged since it matched is not hashed again.
    #[staticmethod]
    fn read(py: Python<'_>, path: PathBuf, md5: &str) -> PyResult<Self> {
        let sc = statcache();
        let read = py.detach(|| manifest::Manifest::read_file(&path, md5, sc.as_deref()).map_err(|e| walk::with_path(e, &path)));
        let parsed = read.map_err(io_err)?;
        parsed.map(|inner| Self { inner }).map_err(|e| manifest_err(py, e))
    }

    fn copy(&self) -> Self {
        Self { inner: self.inner.clone() }
    }

    /// Place the non-reference entries under `root` (see `artefact_core::download`).
    #[pyo3(signature = (root, store_objects, cache_root, prefix = None, mode = "copy", progress = None, present = None, spares = None, packed = None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn download(
        &self,
        py: Python<'_>,
        root: PathBuf,
        store_objects: PathBuf,
        cache_root: Option<PathBuf>,
        prefix: Option<String>,
        mode: &str,
        progress: Option<&Bound<'_, Progress>>,
        present: Option<&[u8]>,
        spares: Option<std::collections::HashMap<String, PathBuf>>,
        packed: Option<Vec<(String, String, PathBuf, u64, u64)>>,
    ) -> PyResult<(Vec<String>, u64, u64, Vec<(String, String)>, u64, u64)> {
        use artefact_core::download::{download, DownloadError, DownloadOptions};
        let placement = placement(mode)?;
        let packed = packed.map(store_packs::by_object).transpose()?;
        let p = progress_or_new(progress);
        let sc = statcache();
        let m = &self.inner;
        let r = interruptible(py, &p, || {
            let opts = DownloadOptions {
                root: &root,
                store_objects: &store_objects,
                cache_root: cache_root.as_deref(),
                prefix: prefix.as_deref(),
                placement,
                statcache: sc.as_deref(),
                known_present: present,
                spares: spares.as_ref(),
                packed: packed.as_ref(),
            };
            let r = download(m, &opts, Some(&p));
            if let Some(c) = &sc {
                let _ = c.persist();
            }
            r
        })?;
        match r {
            Ok(rep) => Ok((rep.references, rep.present, rep.placed, rep.skipped, rep.filled_bytes, rep.linked)),
            Err(e) => {
                let msg = match &e {
                    DownloadError::Escapes(_) => format!("{e} {}", root.display()),
                    _ => e.to_string(),
                };
                let (err, kind) = match e {
                    DownloadError::Escapes(_) | DownloadError::Symlink(_) => (PyValueError::new_err(msg), "escapes"),
                    DownloadError::MissingBlob { .. } => (pyo3::exceptions::PyFileNotFoundError::new_err(msg), "missing"),
                    DownloadError::CorruptBlob { .. } => (PyValueError::new_err(msg), "corrupt"),
                    DownloadError::Io(e) => (io_err(e), "io"),
                };
                Err(with_kind(py, err, kind))
            }
        }
    }
}

fn placement(mode: &str) -> PyResult<Placement> {
    match mode {
        "copy" => Ok(Placement::Copy),
        "hardlink" => Ok(Placement::Hardlink),
        other => Err(PyValueError::new_err(format!("unknown placement {other:?}; expected 'copy' or 'hardlink'"))),
    }
}

#[pyfunction]
#[pyo3(signature = (digest, algorithm = "MD5"))]
fn object_relpath(digest: &str, algorithm: &str) -> PyResult<String> {
    cache::object_relpath(digest, alg(algorithm)?).map_err(io_err)
}

#[pyfunction]
fn etag_relpath(url: &str, etag: &str) -> String {
    cache::etag_relpath(url, etag)
}

#[pyfunction]
#[pyo3(signature = (root, src, digest, algorithm = "MD5", durable = true))]
fn put_object(py: Python<'_>, root: PathBuf, src: PathBuf, digest: &str, algorithm: &str, durable: bool) -> PyResult<(String, bool)> {
    let a = alg(algorithm)?;
    let (p, new) = py.detach(|| cache::put_object(&root, &src, digest, a, durable)).map_err(io_err)?;
    Ok((p.to_string_lossy().into_owned(), new))
}

#[pyfunction]
#[pyo3(signature = (root, items, progress = None))]
fn put_objects(py: Python<'_>, root: PathBuf, items: Vec<(PathBuf, String, String)>, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<bool>> {
    let items = items.into_iter().map(|(p, d, a)| Ok((p, d, alg(&a)?))).collect::<PyResult<Vec<_>>>()?;
    let p = progress_or_new(progress);
    match interruptible(py, &p, || cache::put_objects(&root, &items, Some(&p)))? {
        Ok(v) => Ok(v),
        Err((index, e)) => Err(indexed_err(py, index, e)),
    }
}

#[pyfunction]
#[pyo3(signature = (pairs, mode = "copy", progress = None))]
fn materialize(py: Python<'_>, pairs: Vec<(PathBuf, PathBuf)>, mode: &str, progress: Option<&Bound<'_, Progress>>) -> PyResult<usize> {
    let how = placement(mode)?;
    let p = progress_or_new(progress);
    interruptible(py, &p, || cache::materialize(&pairs, how, Some(&p)))?.map_err(io_err)
}

#[pyfunction]
fn cleanup(py: Python<'_>, root: PathBuf, target_size: u64) -> PyResult<(u64, u64)> {
    py.detach(|| cache::cleanup(&root, target_size)).map_err(io_err)
}

#[pyfunction]
fn enforce_cap(py: Python<'_>, root: PathBuf, cap: u64, added: u64) -> PyResult<(u64, u64)> {
    py.detach(|| cache::enforce_cap(&root, cap, added)).map_err(io_err)
}

#[pyfunction]
#[pyo3(signature = (items, progress = None))]
fn verify_files(py: Python<'_>, items: Vec<(PathBuf, String, String)>, progress: Option<&Bound<'_, Progress>>) -> PyResult<Vec<Option<String>>> {
    let items = items.into_iter().map(|(p, d, a)| Ok((p, d, alg(&a)?))).collect::<PyResult<Vec<_>>>()?;
    let p = progress_or_new(progress);
    interruptible(py, &p, || cache::verify_files(&items, Some(&p)))
}

#[pyfunction]
fn join_inside(root: PathBuf, path: &str) -> PyResult<String> {
    paths::join_inside(&root, path)
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or_else(|| PyValueError::new_err(format!("manifest path {path:?} would escape the download root {}", root.display())))
}

/// Indexes of the `(digest, algorithm)` objects not stored under `objects_root`
/// (checked in parallel, no symlink followed).
#[pyfunction]
fn objects_missing(py: Python<'_>, objects_root: PathBuf, items: Vec<(String, String)>) -> PyResult<Vec<usize>> {
    let items = items.into_iter().map(|(d, a)| Ok((d, alg(&a)?))).collect::<PyResult<Vec<_>>>()?;
    py.detach(|| artefact_core::store_put::missing(&objects_root, &items)).map_err(io_err)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // At import, before any of our threads exist: the descriptor table grows once, cheaply (fdtable.rs).
    artefact_core::fdtable::reserve();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Progress>()?;
    m.add_class::<Manifest>()?;
    m.add_function(wrap_pyfunction!(set_statcache, m)?)?;
    m.add_function(wrap_pyfunction!(flush_statcache, m)?)?;
    m.add_function(wrap_pyfunction!(hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(hash_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(md5_info, m)?)?;
    m.add_function(wrap_pyfunction!(hash_files, m)?)?;
    m.add_function(wrap_pyfunction!(s3_multipart_etag, m)?)?;
    m.add_function(wrap_pyfunction!(multipart_part_size, m)?)?;
    m.add_function(wrap_pyfunction!(b64_to_hex, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_path, m)?)?;
    m.add_function(wrap_pyfunction!(validate_path, m)?)?;
    m.add_function(wrap_pyfunction!(scan_dir, m)?)?;
    m.add_function(wrap_pyfunction!(stage_file, m)?)?;
    m.add_function(wrap_pyfunction!(object_relpath, m)?)?;
    m.add_function(wrap_pyfunction!(etag_relpath, m)?)?;
    m.add_function(wrap_pyfunction!(put_object, m)?)?;
    m.add_function(wrap_pyfunction!(put_objects, m)?)?;
    m.add_function(wrap_pyfunction!(objects_missing, m)?)?;
    m.add_function(wrap_pyfunction!(materialize, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup, m)?)?;
    m.add_function(wrap_pyfunction!(enforce_cap, m)?)?;
    m.add_function(wrap_pyfunction!(verify_files, m)?)?;
    m.add_function(wrap_pyfunction!(join_inside, m)?)?;
    transfer::register(m)?;
    logpath::register(m)?;
    store_packs::register(m)?;
    png::register(m)?;
    fetch::register(m)?;
    blob_batch::register(m)?;
    signed::register(m)?;
    packs::register(m)?;
    present::register(m)?;
    blob_keys::register(m)?;
    m.add_class::<AddedFiles>()?;
    Ok(())
}
