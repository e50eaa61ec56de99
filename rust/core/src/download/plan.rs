//! Before a remote download: which entries the root already has right (phase 1's
//! check, run early and read-only), and which blobs neither the root nor the cache
//! holds, so only those are fetched. A version already present costs one stat per
//! file and no look at the cache.
//!
//! The present mask is handed to `download` (`DownloadOptions::known_present`), which
//! then skips phase 1 for those entries instead of checking every file twice.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;

use crate::beneath::Root;
use crate::cache::object_relpath;
use crate::digest::Algorithm;
use crate::manifest::{Entry, Manifest};
use crate::objdir::ObjDir;
use crate::paths::stays_inside;
use crate::statcache::StatCache;

use super::dirs::Cursor;
use super::DownloadError;
use super::present::{check_dest, State};

/// What a download of a manifest needs fetched.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per stored entry under the prefix, in manifest order (the jobs `download`
    /// walks): 1 if its file is already right under the root.
    pub present: Vec<u8>,
    /// Blobs (once each) of the entries not present that the cache lacks: (entry path,
    /// digest, algorithm, size), in manifest order.
    pub lacking: Vec<(String, String, Algorithm, u64)>,
}

/// The stored entries `download` would place, in its order (references and entries
/// outside `prefix` left out).
pub(super) fn jobs<'m>(manifest: &'m Manifest, prefix: Option<&str>) -> Vec<&'m Entry> {
    manifest.entries.values().filter(|e| e.ref_().is_none() && prefix.is_none_or(|p| e.path.starts_with(p))).collect()
}

/// Check `root` (never written: a missing root or directory means missing files), then
/// the cache `objects` for what the root lacks. A manifest with a path that would
/// escape the root is refused before anything is looked at (as `download` refuses it),
/// so nothing is fetched for it.
pub fn plan(manifest: &Manifest, root: Option<&Path>, objects: &Path, prefix: Option<&str>, statcache: Option<&StatCache>) -> Result<Plan, DownloadError> {
    let jobs = jobs(manifest, prefix);
    if root.is_some() {
        if let Some(e) = jobs.iter().find(|e| !stays_inside(&e.path)) {
            return Err(DownloadError::Escapes(e.path.to_string()));
        }
    }
    let opened = root.and_then(|r| Root::open(r, false).ok());
    let present: Vec<u8> = match &opened {
        Some(root) => crate::pool::install(|| {
            jobs.par_iter()
                .map_init(
                    || Cursor::new(root),
                    |cur, e| u8::from(check_dest(e, cur, statcache) == State::Present),
                )
                .collect()
        }),
        None => vec![0; jobs.len()],
    };
    let mut seen = HashSet::new();
    let wanted: Vec<(&Entry, String)> = jobs
        .iter()
        .zip(&present)
        .filter(|(e, p)| **p == 0 && seen.insert((e.algorithm(), &*e.digest)))
        .map(|(e, _)| (*e, object_relpath(&e.digest, e.algorithm()).unwrap_or_default()))
        .collect();
    let objs = if wanted.is_empty() || !objects.is_dir() { None } else { ObjDir::open(objects).ok() };
    let lacks: Vec<bool> = crate::pool::install(|| {
        wanted
            .par_iter()
            .map(|(e, rel)| rel.is_empty() || !objs.as_ref().is_some_and(|o| o.is_hit(rel, e.size.unwrap_or(0))))
            .collect()
    });
    let lacking = wanted
        .into_iter()
        .zip(lacks)
        .filter(|(_, lacks)| *lacks)
        .map(|((e, _), _)| (e.path.to_string(), e.digest.to_string(), e.algorithm(), e.size.unwrap_or(0)))
        .collect();
    Ok(Plan { present, lacking })
}
