//! `BlobKeys`: the distinct `(algorithm, digest)` of a manifest's stored entries, kept
//! in Rust. The server checks a commit's 10,000 blobs against what it holds (the blobs
//! the request carried, the collection's previous version) without building a Python
//! tuple per blob: a re-log with one file changed hands Python only the one blob that
//! is new. It stands in for the frozenset the server caches per manifest (`in` works).

use std::collections::HashSet;

use artefact_core::digest::Algorithm;
use artefact_core::paths;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyFrozenSet, PyList, PySet, PyTuple};

use crate::{invalid_path, Manifest as PyManifest};

type Key = (&'static str, Box<str>);

/// The distinct `(algorithm, digest)` of a manifest's stored entries.
#[pyclass(module = "artefact._core", frozen)]
pub struct BlobKeys {
    keys: HashSet<Key>,
    /// In manifest order (first occurrence), for deterministic answers.
    order: Vec<Key>,
}

fn algorithm_name(name: &str) -> Option<&'static str> {
    Algorithm::parse(name).map(Algorithm::name)
}

impl BlobKeys {
    fn holds(&self, algorithm: &str, digest: &str) -> bool {
        // A lookup by borrowed key: the set's keys are (&'static str, Box<str>).
        algorithm_name(algorithm).is_some_and(|a| self.keys.contains(&(a, Box::<str>::from(digest))))
    }
}

/// `(algorithm, digest)` from a Python object, None if it is not such a pair of strings.
fn pair(item: &Bound<'_, PyAny>) -> Option<(String, String)> {
    let t = item.cast::<PyTuple>().ok()?;
    if t.len() != 2 {
        return None;
    }
    Some((t.get_item(0).ok()?.extract().ok()?, t.get_item(1).ok()?.extract().ok()?))
}

/// A set to test keys against: a BlobKeys as it is, a Python set of pairs copied once.
enum Other<'py> {
    None,
    Native(PyRef<'py, BlobKeys>),
    Copied(HashSet<Key>),
}

impl Other<'_> {
    fn holds(&self, key: &Key) -> bool {
        match self {
            Self::None => false,
            Self::Native(k) => k.keys.contains(key),
            Self::Copied(s) => s.contains(key),
        }
    }
}

/// `value` (a BlobKeys, a set or frozenset of `(algorithm, digest)` pairs, or None) as a
/// set to test against; pairs that are not two strings, or name no known algorithm,
/// match nothing.
fn other<'py>(value: Option<Bound<'py, PyAny>>) -> PyResult<Other<'py>> {
    let Some(v) = value.filter(|v| !v.is_none()) else { return Ok(Other::None) };
    if let Ok(k) = v.extract::<PyRef<'py, BlobKeys>>() {
        return Ok(Other::Native(k));
    }
    if !(v.is_instance_of::<PySet>() || v.is_instance_of::<PyFrozenSet>()) {
        return Err(PyTypeError::new_err("expected BlobKeys, a set of (algorithm, digest) pairs, or None"));
    }
    let mut copied = HashSet::new();
    for item in v.try_iter()? {
        if let Some((a, d)) = pair(&item?) {
            if let Some(a) = algorithm_name(&a) {
                copied.insert((a, d.into_boxed_str()));
            }
        }
    }
    Ok(Other::Copied(copied))
}

#[pymethods]
impl BlobKeys {
    fn __len__(&self) -> usize {
        self.order.len()
    }

    fn __contains__(&self, item: &Bound<'_, PyAny>) -> bool {
        pair(item).is_some_and(|(a, d)| self.holds(&a, &d))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.order.iter().map(|(a, d)| (*a, &**d)))?.into_any().try_iter()?.into_any())
    }

    /// The keys that neither `held` nor `prior` holds (each a BlobKeys, a set of
    /// `(algorithm, digest)` pairs, or None), as a list of pairs in manifest order.
    #[pyo3(signature = (held = None, prior = None))]
    fn without<'py>(&self, held: Option<Bound<'py, PyAny>>, prior: Option<Bound<'py, PyAny>>) -> PyResult<Vec<(&'static str, String)>> {
        let (h, p) = (other(held)?, other(prior)?);
        Ok(self.order.iter().filter(|k| !h.holds(k) && !p.holds(k)).map(|(a, d)| (*a, d.to_string())).collect())
    }

    /// Whether `other` (as for `without`) holds every key.
    fn within(&self, other_set: Bound<'_, PyAny>) -> PyResult<bool> {
        let o = other(Some(other_set))?;
        Ok(self.order.iter().all(|k| o.holds(k)))
    }
}

/// Every path of `manifest` validated (no absolute path, no `..`: ValueError naming the
/// first bad one, in manifest order); then its stored entries' distinct
/// `(algorithm, digest)` as a BlobKeys. Built with the GIL released.
#[pyfunction]
fn manifest_blob_keys(py: Python<'_>, manifest: PyRef<'_, PyManifest>) -> PyResult<BlobKeys> {
    let m = &manifest.inner;
    let bad = py.detach(|| m.entries.values().find_map(|e| paths::validate(&e.path).err()));
    if let Some(norm) = bad {
        return Err(invalid_path(py, &norm));
    }
    Ok(py.detach(|| {
        let mut keys = HashSet::with_capacity(m.entries.len());
        let mut order = Vec::with_capacity(m.entries.len());
        for e in m.entries.values().filter(|e| e.ref_().is_none()) {
            let key: Key = (e.algorithm().name(), e.digest.clone());
            if keys.insert(key.clone()) {
                order.push(key);
            }
        }
        BlobKeys { keys, order }
    }))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BlobKeys>()?;
    m.add_function(wrap_pyfunction!(manifest_blob_keys, m)?)
}
