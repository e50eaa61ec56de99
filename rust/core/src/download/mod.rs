//! Placing a manifest's files into a download root in one call: check what is already
//! there, fill the cache from the store (verified), then copy or link into place.
//!
//! Every destination is checked to stay inside the root before anything is written, and
//! every directory inside the root is opened component by component without following
//! symlinks (`beneath`), so nothing planted in the root can redirect a write out of it.
//! Each file is written to a temporary name beside its destination and renamed into
//! place: a file under its final name is always complete (whatever stops the download:
//! a full disk, a kill), and several processes downloading into one root at once each
//! see either the old file or a whole new one (a racing writer of the same content is
//! success). A file already present with the right content is left alone: its stat key
//! is looked up in the stat cache, or it is re-hashed. References are returned.

mod dirs;
mod error;
mod options;
mod place;
mod plan;
mod present;
mod report;
mod temp_file;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::beneath::{unlink_at, Root};
use crate::cache::object_relpath;
use crate::manifest::{Entry, Manifest};
use crate::objdir::ObjDir;
use crate::paths::stays_inside;
use crate::progress::{check, tick, watching, Progress};

pub use error::DownloadError;
pub use options::DownloadOptions;
pub use plan::{plan, Plan};
pub use report::DownloadReport;

use dirs::{make_parents, parent_of, Cursor};
use place::{Ctx, Placed, Ready};
use crate::digest::raw_digest;
use present::{check_dest, State};
use report::{DIR_IN_WAY, FILE_IN_WAY};

/// Place every non-reference entry of `manifest` under `opts.root`.
#[allow(clippy::too_many_lines)] // the three phases read best in one place
pub fn download(manifest: &Manifest, opts: &DownloadOptions<'_>, progress: Option<&Progress>) -> Result<DownloadReport, DownloadError> {
    let mut report = DownloadReport::default();
    let mut jobs: Vec<&Entry> = Vec::with_capacity(manifest.entries.len());
    for e in manifest.entries.values() {
        if opts.prefix.is_some_and(|p| !e.path.starts_with(p)) {
            continue;
        }
        if !stays_inside(&e.path) {
            return Err(DownloadError::Escapes(e.path.to_string()));
        }
        if e.ref_().is_some() {
            report.references.push(e.path.to_string());
        } else {
            jobs.push(e);
        }
    }
    if let Some(p) = progress {
        p.add_total(jobs.len() as u64, jobs.iter().map(|e| e.size.unwrap_or(0)).sum());
    }
    // A present mask from `plan` is only trusted if it covers exactly these jobs.
    let known = opts.known_present.filter(|k| k.len() == jobs.len());
    let root = Root::open(opts.root, true).map_err(DownloadError::Io)?;
    let (blocked, made) = make_parents(&jobs, &root)?;
    // Phase 1: what is already there. Most repeat downloads end here, so this pass
    // allocates nothing per entry, and stats each file relative to its open directory.
    let states: Vec<State> = crate::pool::install(|| {
        jobs.par_iter()
            .enumerate()
            .map_init(
                || Cursor::new(&root),
                |cur, (i, e)| {
                    if check(progress).is_err() {
                        return State::Missing;
                    }
                    let state = if known.is_some_and(|k| k[i] == 1) {
                        State::Present
                    } else if !blocked.is_empty() && blocked.contains(parent_of(&e.path)) {
                        State::Blocked
                    } else if !made.is_empty() && made.contains(parent_of(&e.path)) {
                        State::Missing // in a directory made just now: nothing to find
                    } else {
                        watching(progress, || check_dest(e, cur, opts.statcache))
                    };
                    if state != State::Missing {
                        tick(progress, 1, e.size.unwrap_or(0)); // done with: present or skipped
                    }
                    state
                },
            )
            .collect()
    });
    check(progress).map_err(DownloadError::Io)?;
    // Phase 2: every missing source made ready and verified. A bad store object stops
    // the download here, before anything is placed.
    let missing: Vec<(&Entry, String)> = jobs
        .iter()
        .zip(&states)
        .filter(|(_, s)| **s == State::Missing)
        .map(|(e, _)| Ok((*e, object_relpath(&e.digest, e.algorithm())?)))
        .collect::<io::Result<_>>()
        .map_err(DownloadError::Io)?;
    let cache = match opts.cache_root {
        Some(c) if !missing.is_empty() => {
            let objs = ObjDir::open(c).map_err(DownloadError::Io)?;
            objs.prepare(missing.iter().map(|(_, rel)| rel.as_str())).map_err(DownloadError::Io)?;
            Some(objs)
        }
        _ => None,
    };
    let packs = open_packs(opts, &missing)?;
    let stamp = opts.statcache.map(|_| crate::statcache::write_stamp());
    let ctx = Ctx { root: &root, opts, cache: cache.as_ref(), progress, packs: &packs, stamp };
    let ready: Vec<Result<Ready, DownloadError>> = crate::pool::install(|| {
        missing.par_iter().map_init(|| Cursor::new(&root), |cur, (e, rel)| watching(progress, || ctx.prepare(e, rel, cur))).collect()
    });
    if let Some(pos) = ready.iter().position(Result::is_err) {
        let mut cur = Cursor::new(&root);
        for ((e, _), r) in missing.iter().zip(&ready) {
            if let (Ok(Ready::Temp(tmp)), Ok(fd)) = (r, cur.dir(parent_of(&e.path))) {
                unlink_at(fd, tmp);
            }
        }
        let mut ready = ready;
        return Err(ready.swap_remove(pos).expect_err("an error at pos"));
    }
    let ready: Vec<Ready> = ready.into_iter().map(|r| r.expect("no errors left")).collect();
    // Phase 3: place them, in parallel, noting each new file's stat key.
    let placed: Vec<Result<Placed, DownloadError>> = crate::pool::install(|| {
        missing
            .par_iter()
            .zip(ready.par_iter())
            .map_init(
                || Cursor::new(&root),
                |cur, ((e, rel), r)| {
                    let out = watching(progress, || ctx.place(e, rel, r, cur));
                    tick(progress, 1, e.size.unwrap_or(0));
                    out
                },
            )
            .collect()
    });
    // The files just written have known content: remember them, so that the next
    // download into this root checks them with a stat instead of reading them. Copies
    // are recorded while they carry their stamp; links made in the last moments are
    // racy, and the stat cache may settle them.
    let written_by = crate::statcache::now_ns();
    let dests: Vec<PathBuf> = missing.iter().map(|(e, _)| opts.root.join(&*e.path)).collect();
    let mut racy = Vec::new();
    let mut first_error = None;
    for (((e, _), dest), p) in missing.iter().zip(&dests).zip(placed) {
        match p {
            Ok(Placed::File { key, filled, copied }) => {
                if let (Some(cache), Some(key), Some(raw)) = (opts.statcache, key, raw_digest(&e.digest)) {
                    match stamp {
                        // A copy whose mtime is no longer the stamp was written since: not recorded.
                        Some(t) if copied => {
                            cache.record_stamped(&key, e.algorithm(), raw, t);
                        }
                        _ => {
                            if !cache.record(&key, e.algorithm(), raw, written_by) {
                                racy.push((dest.as_path(), key, e.algorithm(), raw));
                            }
                        }
                    }
                }
                report.placed += 1;
                report.linked += u64::from(!copied);
                if filled {
                    report.filled_bytes += e.size.unwrap_or(0);
                }
            }
            Ok(Placed::Skipped(why)) => report.skipped.push((e.path.to_string(), why.to_owned())),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    if let Some(cache) = opts.statcache {
        cache.settle_written(&racy);
    }
    for (e, s) in jobs.iter().zip(&states) {
        let why = match s {
            State::Present => {
                report.present += 1;
                continue;
            }
            State::Missing => continue,
            State::DirInWay => DIR_IN_WAY,
            State::Blocked => FILE_IN_WAY,
        };
        report.skipped.push((e.path.to_string(), why.to_owned()));
    }
    Ok(report)
}

/// The packs holding any of `missing` (see `DownloadOptions::packed`), each opened once;
/// a pack that is gone is left out (its entries then fail as missing store blobs).
fn open_packs<'a>(opts: &DownloadOptions<'a>, missing: &[(&Entry, String)]) -> Result<std::collections::HashMap<&'a std::path::Path, std::fs::File>, DownloadError> {
    let mut packs = std::collections::HashMap::new();
    let Some(packed) = opts.packed else { return Ok(packs) };
    // The span of each pack the wanted ranges cover, read ahead once it is open.
    let mut spans: std::collections::HashMap<&std::path::Path, (u64, u64)> = std::collections::HashMap::new();
    for (_, rel) in missing {
        if let Some((pack, offset, length)) = packed.get(rel) {
            let span = spans.entry(pack.as_path()).or_insert((u64::MAX, 0));
            *span = (span.0.min(*offset), span.1.max(offset.saturating_add(*length)));
        }
    }
    for (pack, (start, end)) in spans {
        match std::fs::File::open(pack) {
            Ok(f) => {
                will_need(&f, start, end.saturating_sub(start));
                packs.insert(pack, f);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(DownloadError::Io(crate::walk::with_path(e, pack))),
        }
    }
    Ok(packs)
}

/// Ask the kernel to read `len` bytes at `start` of a pack ahead (large sequential
/// requests) if they are not cached: its ranges are then copied out by many threads in
/// no particular order. Only the span the download needs: one entry of a 256 MiB pack
/// reads its own range, not the pack.
fn will_need(f: &std::fs::File, start: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: a descriptor we own; the advice only reads ahead.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), start as libc::off_t, len as libc::off_t, libc::POSIX_FADV_WILLNEED) };
    }
    let _ = (f, start, len);
}
