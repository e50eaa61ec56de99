//! Reference downloads (`s3://`, `gs://`, Azure blobs): GETs of object URLs, many at
//! once, each body streamed into a partial file while its MD5/ETag is computed, and
//! renamed to its target only when size, ETag and MD5 match.
//!
//! - S3 requests are signed here (SigV4, `sigv4.rs`) with credentials Python resolved;
//!   GCS/Azure requests carry the auth headers Python built.
//! - Resumable: the partial file's name is derived from the target and the expected
//!   digest, so a run that was killed (or whose endpoint went away) continues with a
//!   `Range` request from the bytes already on disk; the prefix is re-hashed first.
//! - Objects of `range_threshold` bytes or more are fetched as parallel ranged GETs
//!   (`ranged.rs`) into one preallocated file (part-aligned when the multipart part size
//!   is known); ranges done are recorded in `<partial>.ranges`: a re-run fetches the rest.
//! - Another process downloading the same object at the same time: the partial file is
//!   locked (`flock`), so the second one writes a file of its own.
//! - Statuses a scheme must settle (404, 412, 403...) are returned, not raised: Python
//!   then runs wandb's steps for the exact answer. 408, 429 and 5xx are retried with
//!   jittered exponential backoff, as are connection errors and truncated bodies.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::crc32c::Crc32c;
use super::etag::EtagHasher;
use super::retry::{backoff, sleep_unless, Options};
use super::{agent, parallel};
use crate::digest::{hex, Algorithm, Hasher};
use crate::progress::Progress;
use crate::sigv4::{self, Credentials};

/// One object to download into `target`.
#[derive(Clone, Debug, Default)]
pub struct FetchItem {
    pub url: String,
    /// Sent with every request (If-Match, auth for GCS/Azure...).
    pub headers: Vec<(String, String)>,
    pub target: PathBuf,
    /// Where the partial file lives (the cache's `tmp/`); None: beside the target.
    pub temp_dir: Option<PathBuf>,
    pub size: Option<u64>,
    /// Expected MD5 of the body, hex (a single-part ETag, a GCS/Azure Content-MD5).
    pub md5_hex: Option<String>,
    /// Expected `ETag` response header, quotes stripped; with `part_size`, the
    /// multipart ETag the bytes must hash to.
    pub etag: Option<String>,
    pub part_size: Option<u64>,
    /// Expected CRC-32C of the body (a GCS composite object, which has no MD5).
    pub crc32c: Option<u32>,
    /// The reference, for messages.
    pub label: String,
    /// Sign with the call's S3 credentials.
    pub signed: bool,
}

/// Settings of one `fetch_objects` call.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    pub transfer: Options,
    pub range_threshold: u64,
    pub range_size: u64,
    pub ranges_in_flight: usize,
    pub s3: Option<Credentials>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self { transfer: Options::default(), range_threshold: 64 << 20, range_size: 16 << 20, ranges_in_flight: 8, s3: None }
    }
}

/// What became of one item that did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    Placed,
    /// A status the caller settles, with the start of the error body.
    Status(u16, Vec<u8>),
}

/// Why an item failed.
#[derive(Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The bytes are not what the manifest recorded (nothing was placed).
    Digest(String),
    /// Retries ran out.
    Failed(String),
    /// A local file error.
    Io(String),
    /// The caller cancelled (Ctrl-C); the partial file is kept for a re-run.
    Interrupted,
    /// Not started: another item failed first.
    Skipped,
}

pub(super) type Outcome = Result<Fetched, FetchError>;

/// One try: `Retry` is tried again (with backoff), the rest end the item.
pub(super) enum Step<T = Fetched> {
    Done(T),
    Retry(String),
    Fail(FetchError),
}

pub(super) const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];
const ERROR_BODY_MAX: u64 = 64 << 10;
pub(super) const CHUNK: usize = 256 << 10;

pub(super) struct Ctx<'a> {
    pub(super) agent: ureq::Agent,
    pub(super) opts: &'a FetchOptions,
    pub(super) progress: Option<&'a Progress>,
    pub(super) stop: AtomicBool,
}

impl Ctx<'_> {
    pub(super) fn cancelled(&self) -> bool {
        self.progress.is_some_and(|p| p.cancelled.load(Ordering::Relaxed))
    }
}

/// Download every item, `opts.transfer.concurrency` at once; one outcome per item, in
/// order. The first failure stops items not yet started (they are `Skipped`).
pub fn fetch_objects(items: &[FetchItem], opts: &FetchOptions, progress: Option<&Progress>) -> Vec<Outcome> {
    let ctx = Ctx { agent: agent(&opts.transfer), opts, progress, stop: AtomicBool::new(false) };
    if let Some(p) = progress {
        p.add_total(items.len() as u64, items.iter().filter_map(|i| i.size).sum());
    }
    parallel(items.len(), opts.transfer.concurrency, |i| {
        if ctx.cancelled() {
            return Err(FetchError::Interrupted);
        }
        if ctx.stop.load(Ordering::Relaxed) {
            return Err(FetchError::Skipped);
        }
        let item = &items[i];
        let claim = match Claim::new(item) {
            Ok(c) => c,
            Err(e) => {
                ctx.stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let partial = &claim.path;
        let r = match item.size {
            Some(size) if size >= opts.range_threshold && size > 0 => super::ranged::fetch_ranged(&ctx, item, size, partial),
            _ => retried(&ctx, item, || stream_once(&ctx, item, partial)),
        };
        claim.release(&r);
        if matches!(r, Err(FetchError::Digest(_) | FetchError::Failed(_) | FetchError::Io(_))) {
            ctx.stop.store(true, Ordering::Relaxed);
        }
        if matches!(r, Ok(Fetched::Placed)) {
            if let Some(p) = progress {
                p.done(1, 0);
            }
        }
        r
    })
}

/// Run `once` until it is done, fails for good, or the retries are spent.
pub(super) fn retried<T>(ctx: &Ctx<'_>, item: &FetchItem, mut once: impl FnMut() -> Step<T>) -> Result<T, FetchError> {
    let mut attempt = 0u32;
    loop {
        if ctx.cancelled() {
            return Err(FetchError::Interrupted);
        }
        match once() {
            Step::Done(f) => return Ok(f),
            Step::Fail(e) => return Err(e),
            Step::Retry(why) => {
                attempt += 1;
                let out_of_tries = attempt > ctx.opts.transfer.retries;
                if out_of_tries || ctx.stop.load(Ordering::Relaxed) {
                    return Err(FetchError::Failed(format!("Failed to download {} after {attempt} attempts: {why}", item.label)));
                }
                let paused = sleep_unless(&ctx.stop, backoff(attempt));
                if !paused || ctx.cancelled() {
                    return Err(if ctx.cancelled() { FetchError::Interrupted } else { FetchError::Skipped });
                }
            }
        }
    }
}

/// The partial file of `item`: the same path on every run for the same target and
/// expected content, so a later run can continue it.
pub fn partial_path(item: &FetchItem) -> PathBuf {
    let mut h = Hasher::new(Algorithm::Md5);
    for part in [item.target.to_string_lossy().as_ref(), item.etag.as_deref().unwrap_or(""), item.md5_hex.as_deref().unwrap_or("")] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    h.update(&item.size.unwrap_or(u64::MAX).to_le_bytes());
    h.update(&item.crc32c.map_or([0xff; 5], |c| {
        let b = c.to_le_bytes();
        [1, b[0], b[1], b[2], b[3]]
    }));
    let dir = item.temp_dir.clone().unwrap_or_else(|| item.target.parent().map(Path::to_path_buf).unwrap_or_default());
    dir.join(format!(".artefact-ref-{}.part", &hex(&h.finish())[..24]))
}

/// The partial file one transfer writes, locked (`flock`) while it does: another
/// process downloading the same object at the same time gets a name of its own (not
/// resumable) instead of writing into the same file.
struct Claim {
    path: PathBuf,
    _lock: File,
}

impl Claim {
    fn new(item: &FetchItem) -> Result<Self, FetchError> {
        use std::os::fd::AsRawFd;
        let shared = partial_path(item);
        let io = |p: &Path, e: std::io::Error| FetchError::Io(format!("{}: {e}", p.display()));
        if let Some(dir) = shared.parent() {
            fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let open = |p: &Path| OpenOptions::new().create(true).truncate(false).write(true).open(p).map_err(|e| io(p, e));
        let lock = open(&shared)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Self { path: shared, _lock: lock });
        }
        let own = PathBuf::from(format!("{}.{}", shared.display(), crate::tmpname::tmp_name()));
        Ok(Self { _lock: open(&own)?, path: own })
    }

    /// Keep the partial only for a transfer a later run can continue (cut off or
    /// interrupted with bytes on disk); a placed one was renamed already.
    fn release(self, outcome: &Outcome) {
        let keep = matches!(outcome, Err(FetchError::Failed(_) | FetchError::Interrupted | FetchError::Skipped))
            && fs::metadata(&self.path).is_ok_and(|m| m.len() > 0);
        if !keep && !matches!(outcome, Ok(Fetched::Placed)) {
            let _ = fs::remove_file(&self.path);
            let _ = fs::remove_file(format!("{}.ranges", self.path.display()));
        }
    }
}

pub(super) fn io_fail<T>(path: &Path, e: impl std::fmt::Display) -> Step<T> {
    Step::Fail(FetchError::Io(format!("{}: {e}", path.display())))
}

/// Send a GET of `item` with `extra` headers (signed if the item is).
pub(super) fn send(ctx: &Ctx<'_>, item: &FetchItem, extra: &[(String, String)]) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut headers: Vec<(String, String)> = item.headers.iter().chain(extra).cloned().collect();
    if item.signed {
        if let Some(creds) = &ctx.opts.s3 {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            headers.extend(sigv4::sign_get(creds, &item.url, &headers, now));
        }
    }
    let mut req = ctx.agent.get(&item.url);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.call().map_err(|e| e.to_string())
}

/// Read at most `ERROR_BODY_MAX` of an error body (the rest is dropped with the connection).
pub(super) fn error_body(resp: &mut ureq::http::Response<ureq::Body>) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = resp.body_mut().with_config().reader().take(ERROR_BODY_MAX).read_to_end(&mut out);
    out
}

/// The response's ETag must be the one recorded (when both are known).
pub(super) fn etag_matches<T>(item: &FetchItem, resp: &ureq::http::Response<ureq::Body>) -> Result<(), Step<T>> {
    let (Some(want), Some(found)) = (item.etag.as_deref(), resp.headers().get("etag").and_then(|v| v.to_str().ok())) else {
        return Ok(());
    };
    let found = found.trim().trim_start_matches("W/").trim_matches('"');
    if !found.is_empty() && found != want {
        return Err(Step::Fail(FetchError::Digest(format!(
            "Digest mismatch for object {}: expected {want} but found {found}",
            item.label
        ))));
    }
    Ok(())
}

pub(super) fn mismatch(item: &FetchItem, expected: &str, found: &str) -> FetchError {
    FetchError::Digest(format!(
        "Digest mismatch for object {}: expected {expected} but the bytes received hash to {found}",
        item.label
    ))
}

/// The digest the whole body must have: the multipart ETag, else the MD5.
pub(super) fn expected(item: &FetchItem) -> Option<&str> {
    if item.part_size.is_some() {
        item.etag.as_deref()
    } else {
        item.md5_hex.as_deref()
    }
}

/// One streamed GET into the partial file, continuing what a previous run left.
fn stream_once(ctx: &Ctx<'_>, item: &FetchItem, partial: &Path) -> Step {
    let partial = partial.to_path_buf();
    // Continue only what can be verified at the end (a known size and digest).
    let resumable = item.size.is_some() && (expected(item).is_some() || item.crc32c.is_some());
    // (emptied rather than removed: the file is what `Claim` holds its lock on)
    let mut have = match fs::metadata(&partial) {
        Ok(m) if resumable && Some(m.len()) <= item.size => m.len(),
        _ => 0,
    };
    if have > 0 && Some(have) == item.size {
        return finish(item, &partial, None, None, have);
    }
    let range = [("Range".to_string(), format!("bytes={have}-"))];
    let mut resp = match send(ctx, item, if have > 0 { &range } else { &[] }) {
        Ok(r) => r,
        Err(e) => return Step::Retry(e),
    };
    let code = resp.status().as_u16();
    if RETRY_STATUSES.contains(&code) {
        let _ = error_body(&mut resp); // read, so the connection can be reused
        return Step::Retry(format!("HTTP {code}"));
    }
    if have > 0 && code == 416 {
        empty(&partial); // the partial is not a prefix of this object
        return Step::Retry(format!("HTTP {code} resuming at byte {have}"));
    }
    if code != 200 && !(have > 0 && code == 206) {
        return Step::Done(Fetched::Status(code, error_body(&mut resp)));
    }
    if code == 200 {
        have = 0; // the whole body came: start the partial over
    }
    if let Err(step) = etag_matches(item, &resp) {
        let _ = fs::remove_file(&partial);
        return step;
    }
    let announced = if code == 200 { announced_md5(item, &resp) } else { None };
    if let Some(dir) = partial.parent() {
        if let Err(e) = fs::create_dir_all(dir) {
            return io_fail(dir, e);
        }
    }
    let file = OpenOptions::new().create(true).write(true).read(true).truncate(have == 0).open(&partial);
    let mut file = match file {
        Ok(f) => f,
        Err(e) => return io_fail(&partial, e),
    };
    let mut hasher = EtagHasher::new(item.part_size);
    let mut crc = item.crc32c.map(|_| Crc32c::default());
    if have > 0 {
        if let Err(e) = rehash_prefix(&mut file, have, &mut hasher, crc.as_mut()) {
            return io_fail(&partial, e);
        }
    }
    let mut reader = resp.body_mut().with_config().reader();
    let mut buf = vec![0u8; CHUNK];
    let mut total = have;
    loop {
        if ctx.cancelled() {
            return Step::Fail(FetchError::Interrupted);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Step::Retry(format!("{e} after {total} bytes")), // the partial is kept
        };
        hasher.update(&buf[..n]);
        if let Some(c) = crc.as_mut() {
            c.update(&buf[..n]);
        }
        if let Err(e) = file.write_all(&buf[..n]) {
            return io_fail(&partial, e);
        }
        total += n as u64;
        if let Some(p) = ctx.progress {
            p.done(0, n as u64);
        }
    }
    drop(file);
    match announced {
        Some(md5) => finish(&FetchItem { md5_hex: Some(md5), ..item.clone() }, &partial, Some(hasher), crc, total),
        None => finish(item, &partial, Some(hasher), crc, total),
    }
}

/// With no MD5 recorded, the one the server announces for the whole body (Azure's
/// `Content-MD5`, as the SDK checks it), hex.
fn announced_md5(item: &FetchItem, resp: &ureq::http::Response<ureq::Body>) -> Option<String> {
    use base64::Engine as _;
    if item.md5_hex.is_some() || item.part_size.is_some() {
        return None;
    }
    let value = resp.headers().get("content-md5")?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    (raw.len() == 16).then(|| hex(&raw))
}

/// Truncate a partial file to nothing (its lock stays with its inode).
fn empty(path: &Path) {
    let _ = OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(0));
}

/// Feed the first `have` bytes already in `file` to `hasher`, leaving it at the end.
fn rehash_prefix(file: &mut File, have: u64, hasher: &mut EtagHasher, mut crc: Option<&mut Crc32c>) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; CHUNK];
    let mut left = have;
    while left > 0 {
        let n = file.read(&mut buf[..(left.min(CHUNK as u64) as usize)])?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "partial file shrank"));
        }
        hasher.update(&buf[..n]);
        if let Some(c) = crc.as_deref_mut() {
            c.update(&buf[..n]);
        }
        left -= n as u64;
    }
    file.seek(SeekFrom::Start(have))?;
    Ok(())
}

/// Check size and digest of the finished partial (hashing it if `hasher` is None), then
/// rename it to the target.
fn finish(item: &FetchItem, partial: &Path, hasher: Option<EtagHasher>, crc: Option<Crc32c>, total: u64) -> Step {
    if let Some(size) = item.size {
        if total < size {
            return Step::Retry(format!("received {total} bytes, expected {size}"));
        }
        if total > size {
            empty(partial);
            return Step::Retry(format!("received {total} bytes, expected {size}"));
        }
    }
    if let Some(want) = expected(item) {
        let found = match hasher {
            Some(h) => h.finish(),
            None => match hash_path(partial, item.part_size) {
                Ok(f) => f,
                Err(e) => return io_fail(partial, e),
            },
        };
        if found != want {
            let _ = fs::remove_file(partial);
            return Step::Fail(mismatch(item, want, &found));
        }
    } else if let Some(want) = item.crc32c {
        let found = match crc {
            Some(c) => c.value(),
            None => match crc_path(partial) {
                Ok(c) => c,
                Err(e) => return io_fail(partial, e),
            },
        };
        if found != want {
            let _ = fs::remove_file(partial);
            return Step::Fail(crc_mismatch(item, want, found));
        }
    }
    place(partial, &item.target)
}

fn hash_path(path: &Path, part_size: Option<u64>) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = EtagHasher::new(part_size);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

pub(super) fn crc_path(path: &Path) -> std::io::Result<u32> {
    let mut f = File::open(path)?;
    let mut c = Crc32c::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(c.value());
        }
        c.update(&buf[..n]);
    }
}

pub(super) fn crc_mismatch(item: &FetchItem, want: u32, found: u32) -> FetchError {
    FetchError::Digest(format!(
        "Digest mismatch for object {}: expected crc32c {want:08x} but the bytes received have {found:08x}",
        item.label
    ))
}

pub(super) fn place(partial: &Path, target: &Path) -> Step {
    if let Some(dir) = target.parent() {
        if let Err(e) = fs::create_dir_all(dir) {
            return io_fail(dir, e);
        }
    }
    match fs::rename(partial, target) {
        Ok(()) => Step::Done(Fetched::Placed),
        Err(e) => io_fail(target, e),
    }
}
