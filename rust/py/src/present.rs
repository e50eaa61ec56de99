//! The remote backend's per-entry passes over a manifest, done here instead of as
//! Python loops over 10,000 tuples: what a download must fetch (`download_plan`) and
//! its references (`reference_entries`), which blobs a log sends with its commit
//! (`stored_blob_summary`), which logged files enter the cache (`local_entries`), and
//! the stored entries a server's commit lacks (`stored_blobs`). Conversion only;
//! the checks run with the GIL released.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use artefact_core::manifest::Entry;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{entry_tuple, statcache, with_kind, EntryTuple, Manifest as PyManifest};

type Blob = (String, String, u64, Option<String>, String);
/// (path, digest, algorithm, size) of a blob a download must fetch.
type Lacking = (String, String, &'static str, u64);
/// (algorithm, digest, size) of a stored entry.
type Stored = (&'static str, String, u64);

/// `(present, lacking)` for downloading `manifest` (entries under `prefix`) into `root`
/// with blobs read from the cache `objects`: `present` has one byte per stored entry
/// (1: already right under the root, found by the stat cache or a re-hash), for
/// `Manifest.download(present=...)`; `lacking` is `(path, digest, algorithm, size)` per
/// blob that neither the root nor the cache holds. Nothing is written. A path that
/// would escape the root is a ValueError (`.kind` "escapes"), as from `download`.
#[pyfunction]
#[pyo3(signature = (manifest, root, objects, prefix = None))]
fn download_plan<'py>(
    py: Python<'py>,
    manifest: PyRef<'py, PyManifest>,
    root: Option<PathBuf>,
    objects: PathBuf,
    prefix: Option<String>,
) -> PyResult<(Bound<'py, PyBytes>, Vec<Lacking>)> {
    let sc = statcache();
    let m = &manifest.inner;
    let plan = py.detach(|| artefact_core::download::plan(m, root.as_deref(), &objects, prefix.as_deref(), sc.as_deref()));
    let plan = plan.map_err(|e| {
        // The message and `.kind` that `Manifest.download` gives the same manifest.
        let at = root.as_deref().map(|r| r.display().to_string()).unwrap_or_default();
        with_kind(py, PyValueError::new_err(format!("{e} {at}")), "escapes")
    })?;
    let lacking = plan.lacking.into_iter().map(|(p, d, a, s)| (p, d, a.name(), s)).collect();
    Ok((PyBytes::new(py, &plan.present), lacking))
}

/// `_stored_blobs` of transfer.py, summed up: (every blob has a local file, total size
/// of the distinct blobs, those whose local file starts with `staged_prefix` as
/// `(algorithm, digest, size, local file, path)`). As there, a blob's first entry with
/// a local file speaks for it.
#[pyfunction]
fn stored_blob_summary(py: Python<'_>, manifest: PyRef<'_, PyManifest>, staged_prefix: &str) -> (bool, u64, Vec<Blob>) {
    let m = &manifest.inner;
    py.detach(|| {
        let mut chosen: HashMap<(&str, &str), &Entry> = HashMap::new();
        let mut order = Vec::new();
        for e in m.entries.values().filter(|e| e.ref_().is_none()) {
            let key = (e.algorithm().name(), &*e.digest);
            match chosen.get(&key) {
                None => {
                    order.push(key);
                    chosen.insert(key, e);
                }
                Some(prev) if prev.local_path.is_none() && e.local_path.as_deref().is_some_and(|l| !l.is_empty()) => {
                    chosen.insert(key, e);
                }
                Some(_) => {}
            }
        }
        let complete = chosen.values().all(|e| e.local_path.is_some());
        let total = chosen.values().map(|e| e.size.unwrap_or(0)).sum();
        let staged = order
            .iter()
            .map(|k| chosen[k])
            .filter(|e| e.local_path.as_deref().is_some_and(|l| l.starts_with(staged_prefix)))
            .map(|e| (e.algorithm().name().to_owned(), e.digest.to_string(), e.size.unwrap_or(0), e.local_path.as_deref().map(str::to_owned), e.path.to_string()))
            .collect();
        (complete, total, staged)
    })
}

/// `(digest, algorithm, size, local file)` of the stored entries with a local file and
/// no `skip_cache`, in manifest order, that are staged copies (the local file starts
/// with `staged_prefix`) or, given `sent`, whose `(algorithm, digest)` is in it (all of
/// them when `sent` is None): what cache_fill.py puts into the cache after a log.
#[pyfunction]
#[pyo3(signature = (manifest, staged_prefix, sent = None))]
fn local_entries(
    py: Python<'_>,
    manifest: PyRef<'_, PyManifest>,
    staged_prefix: &str,
    sent: Option<Vec<(String, String)>>,
) -> Vec<(String, &'static str, u64, String)> {
    let m = &manifest.inner;
    py.detach(|| {
        let sent: Option<HashSet<(&str, &str)>> = sent.as_ref().map(|s| s.iter().map(|(a, d)| (a.as_str(), d.as_str())).collect());
        m.entries
            .values()
            .filter(|e| e.ref_().is_none() && !e.skip_cache)
            .filter_map(|e| {
                let local = e.local_path.as_deref().filter(|l| !l.is_empty())?;
                let alg = e.algorithm().name();
                let wanted = local.starts_with(staged_prefix) || sent.as_ref().is_none_or(|s| s.contains(&(alg, &*e.digest)));
                wanted.then(|| (e.digest.to_string(), alg, e.size.unwrap_or(0), local.to_owned()))
            })
            .collect()
    })
}

/// `(algorithm, digest, size)` of each stored entry (not a reference), in manifest
/// order: what the server's commit names as lacking, with sizes. Its paths were
/// checked already (`manifest_blob_keys`).
#[pyfunction]
fn stored_blobs(manifest: PyRef<'_, PyManifest>) -> Vec<Stored> {
    manifest
        .inner
        .entries
        .values()
        .filter(|e| e.ref_().is_none())
        .map(|e| (e.algorithm().name(), e.digest.to_string(), e.size.unwrap_or(0)))
        .collect()
}

/// The local files of the manifest's entries that are staged copies: directly inside
/// the staging dir (`staged_prefix` ends with a separator), as staging.py's
/// `staged_paths` defines them, in manifest order.
#[pyfunction]
fn staged_local_paths(py: Python<'_>, manifest: PyRef<'_, PyManifest>, staged_prefix: &str) -> Vec<String> {
    let m = &manifest.inner;
    py.detach(|| {
        m.entries
            .values()
            .filter_map(|e| e.local_path.as_deref())
            .filter(|l| l.strip_prefix(staged_prefix).is_some_and(|rest| !rest.contains(std::path::MAIN_SEPARATOR)))
            .map(str::to_owned)
            .collect()
    })
}

/// The reference entries whose path starts with `prefix` (all, with None), as
/// `Manifest.entries()` gives them: a download looks for references without building
/// a tuple for each of 10,000 stored files.
#[pyfunction]
#[pyo3(signature = (manifest, prefix = None))]
fn reference_entries<'py>(py: Python<'py>, manifest: PyRef<'py, PyManifest>, prefix: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
    let found: Vec<EntryTuple<'_>> = manifest
        .inner
        .entries
        .values()
        .filter(|e| e.ref_().is_some() && prefix.is_none_or(|p| e.path.starts_with(p)))
        .map(entry_tuple)
        .collect();
    Ok(found.into_pyobject(py)?.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(download_plan, m)?)?;
    m.add_function(wrap_pyfunction!(stored_blob_summary, m)?)?;
    m.add_function(wrap_pyfunction!(local_entries, m)?)?;
    m.add_function(wrap_pyfunction!(reference_entries, m)?)?;
    m.add_function(wrap_pyfunction!(staged_local_paths, m)?)?;
    m.add_function(wrap_pyfunction!(stored_blobs, m)?)
}
