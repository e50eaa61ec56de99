//! What a download did: files found present, placed, skipped (and why), references.

/// What `download` did.
#[derive(Debug, Default)]
pub struct DownloadReport {
    /// Paths of reference entries (placed by the caller's scheme handlers).
    pub references: Vec<String>,
    pub present: u64,
    pub placed: u64,
    /// Of `placed`, those placed as hard links of cache objects (the rest are copies).
    pub linked: u64,
    /// Bytes this call added to the cache (0: the cache did not grow).
    pub filled_bytes: u64,
    /// (entry path, why) for entries skipped as wandb does: a directory in the way of
    /// the file, or a file in the way of one of its directories.
    pub skipped: Vec<(String, String)>,
}

/// Why an entry was skipped, as wandb warns: a directory where its file should be.
pub(super) const DIR_IN_WAY: &str = "a directory is in the way";
/// Why an entry was skipped: a file where one of its directories should be.
pub(super) const FILE_IN_WAY: &str = "a file is in the way of its directory";
