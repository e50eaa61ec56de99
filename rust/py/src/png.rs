//! Bindings for `artefact_core::png`: Pillow-identical PNGs encoded with the GIL released.

use std::io;
use std::path::PathBuf;

use artefact_core::png;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn err(e: io::Error) -> PyErr {
    match e.kind() {
        io::ErrorKind::InvalidInput => PyValueError::new_err(e.to_string()),
        _ => PyErr::from(e),
    }
}

/// `err`, naming the file: OSError(errno, strerror, path) is Python's own FileExistsError
/// etc., so the message says which image file could not be written.
fn err_at(e: io::Error, path: &std::path::Path) -> PyErr {
    match e.raw_os_error() {
        Some(code) if e.kind() != io::ErrorKind::InvalidInput => {
            let text = e.to_string();
            let strerror = text.split(" (os error").next().unwrap_or(&text).to_string();
            PyOSError::new_err((code, strerror, path.display().to_string()))
        }
        _ => err(e),
    }
}

/// The PNG Pillow writes for these 8-bit pixels (`channels` 1, 3 or 4: L, RGB, RGBA).
#[pyfunction]
fn encode_png<'py>(py: Python<'py>, pixels: &[u8], width: usize, height: usize, channels: usize) -> PyResult<Bound<'py, PyBytes>> {
    let data = py.detach(|| png::encode(pixels, width, height, channels)).map_err(err)?;
    Ok(PyBytes::new(py, &data))
}

/// Encode as `encode_png`, write the PNG to the new file `path` (it must not exist) and
/// return its (sha256 hex, size, base64 MD5).
#[pyfunction]
fn write_png(py: Python<'_>, pixels: &[u8], width: usize, height: usize, channels: usize, path: PathBuf) -> PyResult<(String, usize, String)> {
    py.detach(|| png::write_new(pixels, width, height, channels, &path))
    .map_err(|e| err_at(e, &path))
}

/// `write_png` for many small images in one release of the GIL (a thread of the encode
/// pool takes a batch, so it need not win the GIL back once per image): per image its
/// (sha256 hex, size, base64 MD5), or the exception that image raised.
#[pyfunction]
fn write_pngs(py: Python<'_>, items: Vec<(Bound<'_, PyBytes>, usize, usize, usize, PathBuf)>) -> PyResult<Vec<Py<PyAny>>> {
    let owned: Vec<(Vec<u8>, usize, usize, usize, PathBuf)> =
        items.into_iter().map(|(b, w, h, c, p)| (b.as_bytes().to_vec(), w, h, c, p)).collect();
    let results = py.detach(|| {
        owned.iter().map(|(px, w, h, c, p)| png::write_new(px, *w, *h, *c, p)).collect::<Vec<_>>()
    });
    Ok(results
        .into_iter()
        .zip(owned.iter())
        .map(|(r, (.., p))| match r {
            Ok(t) => t.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|e| e.into_value(py).into_any()),
            Err(e) => err_at(e, p).into_value(py).into_any(),
        })
        .collect())
}

/// The zlib the PNG encoder uses (its version), or None where none can be loaded.
#[pyfunction]
fn png_zlib_version() -> Option<String> {
    png::zlib_version()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_png, m)?)?;
    m.add_function(wrap_pyfunction!(write_png, m)?)?;
    m.add_function(wrap_pyfunction!(write_pngs, m)?)?;
    m.add_function(wrap_pyfunction!(png_zlib_version, m)?)?;
    Ok(())
}
