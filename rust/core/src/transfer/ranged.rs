//! Large reference objects as parallel ranged GETs into one preallocated partial file
//! (part of `fetch.rs`'s engine): ranges follow the parts when a multipart ETag's part
//! size is known, so each part's MD5 is computed by the thread that fetched it; each
//! range is retried on its own; finished ranges are recorded in `<partial>.ranges`, so
//! a run that was killed or cut off fetches only the rest the next time.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::etag::multipart_etag;
use super::fetch::{
    crc_mismatch, crc_path, error_body, etag_matches, expected, mismatch, place, retried, send, Ctx, FetchError,
    FetchItem, Fetched, Outcome, Step, CHUNK, RETRY_STATUSES,
};
use super::parallel;
use crate::digest::{hex, Algorithm, Hasher};

/// Fetch `item` (`size` bytes) in parallel ranges into `partial`, then verify and place it.
pub(super) fn fetch_ranged(ctx: &Ctx<'_>, item: &FetchItem, size: u64, partial: &Path) -> Outcome {
    let step = item.part_size.unwrap_or(ctx.opts.range_size).max(1);
    let ranges: Vec<(u64, u64)> = (0..size).step_by(step as usize).map(|s| (s, (s + step).min(size) - 1)).collect();
    let partial = partial.to_path_buf();
    let sidecar = PathBuf::from(format!("{}.ranges", partial.display()));
    let mut done: Vec<Option<[u8; 16]>> = vec![None; ranges.len()];
    let fresh = match fs::metadata(&partial) {
        Ok(m) if m.len() == size => {
            load_sidecar(&sidecar, &mut done);
            false
        }
        _ => true,
    };
    let discard = || {
        let _ = fs::remove_file(&partial);
        let _ = fs::remove_file(&sidecar);
    };
    let io = |p: &Path, e: std::io::Error| FetchError::Io(format!("{}: {e}", p.display()));
    if fresh {
        let _ = fs::remove_file(&sidecar);
        if let Some(dir) = partial.parent() {
            fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let f = File::create(&partial).map_err(|e| io(&partial, e))?;
        f.set_len(size).map_err(|e| io(&partial, e))?;
    }
    let file = OpenOptions::new().write(true).open(&partial).map_err(|e| io(&partial, e))?;
    let log = Mutex::new(OpenOptions::new().create(true).append(true).open(&sidecar).map_err(|e| io(&sidecar, e))?);
    let todo: Vec<usize> = (0..ranges.len()).filter(|&i| done[i].is_none()).collect();
    let run = |i: usize| retried(ctx, item, || range_once(ctx, item, &file, ranges[i]));
    let record = |done: &mut Vec<Option<[u8; 16]>>, i: usize, md5: [u8; 16]| {
        if let Ok(mut l) = log.lock() {
            let _ = writeln!(l, "{i} {}", hex(&md5));
        }
        done[i] = Some(md5);
    };
    // The first range alone: it learns the status (404, 412...) before fanning out.
    if let Some(&first) = todo.first() {
        match run(first)? {
            Ranged::Status(code, body) => {
                discard();
                return Ok(Fetched::Status(code, body));
            }
            Ranged::Done(md5) => record(&mut done, first, md5),
        }
    }
    let rest = &todo[todo.len().min(1)..];
    let results = parallel(rest.len(), ctx.opts.ranges_in_flight, |k| run(rest[k]));
    let mut failed = None; // every finished range is recorded before an error is returned
    for (k, r) in results.into_iter().enumerate() {
        match r {
            Ok(Ranged::Done(md5)) => record(&mut done, rest[k], md5),
            Ok(Ranged::Status(code, _)) => {
                discard();
                return Err(FetchError::Digest(format!("{} changed while it was downloaded (HTTP {code})", item.label)));
            }
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    file.sync_all().map_err(|e| io(&partial, e))?;
    drop(file);
    let parts: Vec<[u8; 16]> = done.iter().map(|m| m.expect("every range is done")).collect();
    let found = if item.part_size.is_some() {
        Some(multipart_etag(&parts))
    } else if item.md5_hex.is_some() {
        Some(crate::digest::hash_file_raw(&partial, Algorithm::Md5).map(|(raw, _)| hex(&raw)).map_err(|e| io(&partial, e))?)
    } else {
        None
    };
    if let (Some(found), Some(want)) = (found, expected(item)) {
        if found != want {
            discard();
            return Err(mismatch(item, want, &found));
        }
    } else if let Some(want) = item.crc32c {
        let found = crc_path(&partial).map_err(|e| io(&partial, e))?;
        if found != want {
            discard();
            return Err(crc_mismatch(item, want, found));
        }
    }
    let placed = place(&partial, &item.target);
    let _ = fs::remove_file(&sidecar);
    match placed {
        Step::Done(f) => Ok(f),
        Step::Fail(e) => Err(e),
        Step::Retry(m) => Err(FetchError::Failed(m)),
    }
}

/// A range fetched (its MD5), or a status the caller settles.
enum Ranged {
    Done([u8; 16]),
    Status(u16, Vec<u8>),
}

/// Ranges a previous run finished: lines `<index> <md5 hex>`.
fn load_sidecar(path: &Path, done: &mut [Option<[u8; 16]>]) {
    let Ok(text) = fs::read_to_string(path) else { return };
    for line in text.lines() {
        let Some((i, md5)) = line.split_once(' ') else { continue };
        if let (Ok(i), Some(md5)) = (i.parse::<usize>(), crate::digest::unhex16(md5)) {
            if i < done.len() {
                done[i] = Some(md5);
            }
        }
    }
}

/// One ranged GET written at its offset.
fn range_once(ctx: &Ctx<'_>, item: &FetchItem, file: &File, (start, end): (u64, u64)) -> Step<Ranged> {
    let range = [("Range".to_string(), format!("bytes={start}-{end}"))];
    let mut resp = match send(ctx, item, &range) {
        Ok(r) => r,
        Err(e) => return Step::Retry(e),
    };
    let code = resp.status().as_u16();
    if RETRY_STATUSES.contains(&code) {
        let _ = error_body(&mut resp);
        return Step::Retry(format!("HTTP {code}"));
    }
    if code != 206 {
        return Step::Done(Ranged::Status(code, error_body(&mut resp)));
    }
    if let Err(step) = etag_matches(item, &resp) {
        return step;
    }
    let mut reader = resp.body_mut().with_config().reader();
    let mut md5 = Hasher::new(Algorithm::Md5);
    let mut buf = vec![0u8; CHUNK];
    let mut offset = start;
    loop {
        if ctx.cancelled() {
            return Step::Fail(FetchError::Interrupted);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Step::Retry(format!("range {start}-{end}: {e}")),
        };
        if offset + n as u64 > end + 1 {
            return Step::Retry(format!("range {start}-{end}: more bytes than asked for"));
        }
        md5.update(&buf[..n]);
        if let Err(e) = file.write_all_at(&buf[..n], offset) {
            return Step::Fail(FetchError::Io(format!("{}: {e}", item.target.display())));
        }
        offset += n as u64;
        if let Some(p) = ctx.progress {
            p.done(0, n as u64);
        }
    }
    if offset != end + 1 {
        return Step::Retry(format!("range {start}-{end}: received {} bytes", offset - start));
    }
    Step::Done(Ranged::Done(md5.finish()))
}
