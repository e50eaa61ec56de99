//! `AddedFiles`: the `(local file, artifact path)` pairs of an `add_dir`, kept in Rust.
//!
//! Python reads them only when asked (`Artifact.get_added_local_path_name`), so an add
//! of 10,000 files does not build 10,000 tuples and 20,000 strings it rarely looks at.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyList;

/// The files an `add_dir` added, in path order: a sequence of `(local path, artifact
/// path)` pairs.
#[pyclass(module = "artefact._core", frozen, sequence)]
pub struct AddedFiles {
    pub files: Vec<(PathBuf, String)>,
}

fn local(p: &std::path::Path) -> String {
    // Paths from the walk are UTF-8 (it refuses other names); lossy only as a fallback.
    p.to_str().map_or_else(|| p.to_string_lossy().into_owned(), str::to_owned)
}

#[pymethods]
impl AddedFiles {
    fn __len__(&self) -> usize {
        self.files.len()
    }

    fn __getitem__(&self, index: isize) -> PyResult<(String, String)> {
        let n = self.files.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if !(0..n).contains(&i) {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!("index {index} out of range for {n} added files")));
        }
        let (f, l) = &self.files[i as usize];
        Ok((local(f), l.clone()))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pairs = PyList::new(py, self.files.iter().map(|(f, l)| (local(f), l.as_str())))?;
        Ok(pairs.into_any().try_iter()?.into_any())
    }

    /// The artifact paths alone, in order.
    fn logical_paths(&self) -> Vec<&str> {
        self.files.iter().map(|(_, l)| l.as_str()).collect()
    }

    fn __repr__(&self) -> String {
        format!("<AddedFiles: {} files>", self.files.len())
    }
}
