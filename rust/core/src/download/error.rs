//! Why a download failed: an escaping path, a symlink in the root, a bad store object.

use std::io;
use std::path::PathBuf;

use crate::beneath::DirError;

/// Why `download` failed.
#[derive(Debug)]
pub enum DownloadError {
    /// A manifest path that would land outside the root (nothing was written).
    Escapes(String),
    /// A symlink inside the root where a directory of an entry should be (never followed).
    Symlink(PathBuf),
    MissingBlob { path: String, blob: PathBuf },
    CorruptBlob { path: String, blob: PathBuf, reason: String },
    Io(io::Error),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Escapes(p) => write!(f, "manifest path {p:?} would escape the download root"),
            Self::Symlink(p) => write!(f, "{} is a symlink inside the download root; refusing to write through it", p.display()),
            Self::MissingBlob { path, blob } => write!(f, "store object {} for artifact entry '{path}' is missing", blob.display()),
            Self::CorruptBlob { path, blob, reason } => {
                write!(f, "store object {} for artifact entry '{path}' is corrupt ({reason}); nothing was placed", blob.display())
            }
            Self::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DownloadError {}

impl From<DirError> for DownloadError {
    fn from(e: DirError) -> Self {
        match e {
            DirError::Symlink(p) => Self::Symlink(p),
            other => Self::Io(other.into()),
        }
    }
}
