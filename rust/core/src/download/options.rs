//! What a download is given: the root, where the objects are, and how to place them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cache::Placement;
use crate::statcache::StatCache;

/// Where `download` places a manifest's files and where it reads them from.
pub struct DownloadOptions<'a> {
    pub root: &'a Path,
    /// The store's object dir (holding `obj/md5/...`).
    pub store_objects: &'a Path,
    /// The file cache root; None copies straight from the store (`skip_cache`).
    pub cache_root: Option<&'a Path>,
    /// wandb's `path_prefix`: a raw string prefix of entry paths.
    pub prefix: Option<&'a str>,
    pub placement: Placement,
    pub statcache: Option<&'a StatCache>,
    /// From `plan`, one byte per stored entry under the prefix: those marked 1 were just
    /// found right under the root, so phase 1 does not check them again.
    pub known_present: Option<&'a [u8]>,
    /// Verified second copies of objects a transfer just fetched, by object path
    /// (`obj/md5/..`): a missing entry of that content is placed by renaming its spare
    /// (a file of its own, never the cache object) instead of copying. Spares left
    /// unused (another filesystem, content placed twice) are the caller's to remove.
    pub spares: Option<&'a HashMap<String, PathBuf>>,
    /// Blobs the store keeps in packs (pack.rs), by object path (`obj/md5/..`): the pack
    /// file, offset and length. Such an entry is copied out of its range, verified, and
    /// never linked (a link would expose the whole pack).
    pub packed: Option<&'a HashMap<String, (PathBuf, u64, u64)>>,
}
