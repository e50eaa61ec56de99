//! Entry digests: MD5 and XXH128 as base64 (wandb's entry format), and S3 multipart ETags.
//!
//! Files are streamed through a fixed per-thread buffer, so memory stays constant for
//! any size. Large ones are hashed through a read-only map instead, as wandb 0.31.0's
//! `hashutil._file_hasher` does: the copy out of the page cache costs about a tenth of
//! MD5's time here. Unlike wandb, the map is a window at a time, so resident memory stays
//! small. Unlike wandb, a file cut short by another process while it is mapped does not
//! end the process (SIGBUS): `mapped` catches the fault and the hash fails, naming the
//! file. Only regular files are hashed (a FIFO or a device is refused, never waited on).
//!
//! MD5 comes from OpenSSL's libcrypto where it measures faster than the md-5 crate on
//! this CPU (see `libcrypto`), chosen once per process by timing both; `ARTEFACT_MD5`
//! (`openssl`, `rust`) overrides the choice.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use xxhash_rust::xxh3::Xxh3;

/// Read size for hashing: large enough to amortise syscalls, small enough for L2.
pub const BUF_SIZE: usize = 256 * 1024;

/// The per-entry hash function (`extra.alg` in a manifest entry; MD5 when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Xxh128,
}

impl Algorithm {
    /// "MD5" or "XXH128", case-sensitive as in wandb.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "MD5" => Some(Self::Md5),
            "XXH128" => Some(Self::Xxh128),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Xxh128 => "XXH128",
        }
    }

    /// The cache sub-directory for objects hashed with this algorithm.
    pub fn cache_dir(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Xxh128 => "xxh128",
        }
    }
}

/// A running hash of either kind.
pub enum Hasher {
    Md5(Box<Md5>),
    Md5OpenSsl(Box<crate::libcrypto::Md5>),
    Xxh128(Box<Xxh3>),
}

/// Where MD5 comes from in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md5Backend {
    /// The md-5 crate (with its x86-64 assembly).
    Rust,
    /// OpenSSL's libcrypto, loaded at run time.
    OpenSsl,
}

impl Md5Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::OpenSsl => "openssl",
        }
    }
}

static MD5_BACKEND: std::sync::OnceLock<Md5Backend> = std::sync::OnceLock::new();

/// The MD5 implementation this process uses: `ARTEFACT_MD5` if set, else OpenSSL's
/// unless the md-5 crate measures clearly (5%) faster here, timed once per process on
/// 256 KiB, five rounds interleaved and the best of each kept (about 3 ms; the best
/// round is the one least disturbed by other work on a busy machine). Ties go to
/// OpenSSL: it is what `hashlib` (wandb's hashing) runs at.
pub fn md5_backend() -> Md5Backend {
    *MD5_BACKEND.get_or_init(|| {
        let have_openssl = crate::libcrypto::Md5::new().is_some();
        match std::env::var("ARTEFACT_MD5").unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "rust" => return Md5Backend::Rust,
            "openssl" if have_openssl => return Md5Backend::OpenSsl,
            _ => {}
        }
        if !have_openssl {
            return Md5Backend::Rust;
        }
        let data = sample(256 << 10);
        let (mut rust, mut openssl) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            rust = rust.min(time_once(Md5Backend::Rust, &data));
            openssl = openssl.min(time_once(Md5Backend::OpenSsl, &data));
        }
        if rust * 1.05 < openssl {
            Md5Backend::Rust
        } else {
            Md5Backend::OpenSsl
        }
    })
}

/// `len` bytes that no hash can shortcut.
fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect()
}

/// Seconds `backend` takes to hash `data` once (infinite if it is unavailable).
fn time_once(backend: Md5Backend, data: &[u8]) -> f64 {
    let t = std::time::Instant::now();
    let raw = match backend {
        Md5Backend::Rust => {
            let mut h = Md5::new();
            h.update(data);
            <[u8; 16]>::from(h.finalize())
        }
        Md5Backend::OpenSsl => match crate::libcrypto::Md5::new() {
            Some(mut h) => {
                h.update(data);
                h.finish()
            }
            None => return f64::INFINITY,
        },
    };
    std::hint::black_box(raw);
    t.elapsed().as_secs_f64()
}

/// MD5 throughput of `backend` in bytes per second over `len` bytes in memory: the best
/// of `rounds` (the least disturbed by other work on the machine); 0 if unavailable.
#[allow(clippy::cast_precision_loss)] // a rate, not a count
pub fn md5_rate(backend: Md5Backend, len: usize, rounds: u32) -> f64 {
    let data = sample(len);
    let best = (0..rounds.max(1)).map(|_| time_once(backend, &data)).fold(f64::INFINITY, f64::min);
    len as f64 / best.max(1e-9)
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Md5 => match md5_backend() {
                Md5Backend::OpenSsl => crate::libcrypto::Md5::new().map_or_else(|| Self::Md5(Box::default()), |h| Self::Md5OpenSsl(Box::new(h))),
                Md5Backend::Rust => Self::Md5(Box::default()),
            },
            Algorithm::Xxh128 => Self::Xxh128(Box::new(Xxh3::new())),
        }
    }

    /// For a few MiB at most (a manifest's lines): the backend already chosen, else the
    /// md-5 crate. Choosing by timing both costs ~3 ms, more than either saves on such
    /// data, and a re-put of an unchanged tree hashes nothing else.
    pub fn new_small(alg: Algorithm) -> Self {
        match (alg, MD5_BACKEND.get()) {
            (Algorithm::Md5, None | Some(Md5Backend::Rust)) => Self::Md5(Box::default()),
            _ => Self::new(alg),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Md5(h) => h.update(data),
            Self::Md5OpenSsl(h) => h.update(data),
            Self::Xxh128(h) => h.update(data),
        }
    }

    /// The 16 raw digest bytes (XXH128 in canonical big-endian order, as `xxhash.digest()`).
    pub fn finish(self) -> [u8; 16] {
        match self {
            Self::Md5(h) => h.finalize().into(),
            Self::Md5OpenSsl(h) => h.finish(),
            Self::Xxh128(h) => h.digest128().to_be_bytes(),
        }
    }
}

thread_local! {
    /// One read buffer per thread: a fresh 256 KiB buffer per file would cost more than
    /// hashing a small file (zeroing it, and page faults).
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; BUF_SIZE]);
}

/// Run `f` with this thread's read buffer (a private one if it is already in use).
pub fn with_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0u8; BUF_SIZE]),
    })
}

pub fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The 16 raw bytes of a base64 digest; None if it does not decode to 16 bytes.
pub fn raw_digest(digest: &str) -> Option<[u8; 16]> {
    base64::engine::general_purpose::STANDARD.decode(digest).ok()?.try_into().ok()
}

/// wandb's `b64_to_hex_id`: lower-case hex of the decoded bytes.
pub fn b64_to_hex(digest: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(digest).ok()?;
    Some(hex(&raw))
}

pub fn hex(raw: &[u8]) -> String {
    // A table, not `write!("{:02x}")`: an add of 10,000 known files names 10,000 objects.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(raw.len() * 2);
    for &b in raw {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// 16 bytes from 32 hex digits (either case); None for anything else.
pub fn unhex16(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    if s.len() != 32 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0; 16];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

pub fn hash_bytes(data: &[u8], alg: Algorithm) -> String {
    let mut h = Hasher::new(alg);
    h.update(data);
    b64(&h.finish())
}

/// Hash what `reader` yields, stopping once `expect` bytes came in a short read: a file
/// of the size its stat gave is done without the extra read(2) that would return 0 (a
/// third of the syscalls for a small file). A file that grew meanwhile fails its
/// after-stat check. Returns (raw digest, bytes read).
fn hash_reader_sized(reader: &mut impl Read, alg: Algorithm, expect: Option<u64>) -> io::Result<([u8; 16], u64)> {
    let mut h = Hasher::new(alg);
    let total = feed(reader, &mut h, expect)?;
    Ok((h.finish(), total))
}

/// Feed what `reader` yields to `h` (to the end of the file, or as `hash_reader_sized`
/// with `expect`); returns the bytes read.
fn feed(reader: &mut impl Read, h: &mut Hasher, expect: Option<u64>) -> io::Result<u64> {
    with_buffer(|buf| {
        let mut total = 0u64;
        loop {
            crate::progress::check_current()?;
            let n = if expect.is_some() { read_once(reader, buf)? } else { read_full(reader, buf)? };
            h.update(&buf[..n]);
            total += n as u64;
            // read_full is short only at end of file; read_once is done at the stat size.
            if n == 0 || (expect.is_none() && n < buf.len()) || (n < buf.len() && expect == Some(total)) {
                return Ok(total);
            }
        }
    })
}

/// Files at least this large are hashed through a map (smaller ones cost more to map
/// and unmap than to copy).
const MAP_MIN: u64 = 4 << 20;
/// Mapped a window at a time, each unmapped once hashed: mapped pages count as the
/// process's resident memory, and a whole 2 GiB file mapped would be 2 GiB of RSS.
const MAP_WINDOW: usize = 8 << 20;

/// An open file whose stat gave `size`: a large one through a map, else
/// `hash_reader_sized`. Returns (raw digest, bytes hashed).
fn hash_open_file(f: &mut File, alg: Algorithm, size: u64) -> io::Result<([u8; 16], u64)> {
    if size >= MAP_MIN {
        if let Some(done) = hash_mapped(f, alg)? {
            return Ok(done);
        }
    }
    hash_reader_sized(f, alg, Some(size))
}

/// The file's current length through maps, a window at a time, then any bytes
/// appended since by reading; None where it cannot be mapped (wandb reads then, and so
/// do we).
fn hash_mapped(f: &mut File, alg: Algorithm) -> io::Result<Option<([u8; 16], u64)>> {
    use std::io::{Seek, SeekFrom};
    let len = f.metadata()?.len();
    let mut h = Hasher::new(alg);
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from(len - at).map_or(MAP_WINDOW, |left| left.min(MAP_WINDOW));
        crate::progress::check_current()?;
        let map = match crate::mapped::Mapped::at(f, at, n) {
            Ok(map) => map,
            Err(_) if at == 0 => return Ok(None),
            Err(e) => return Err(e),
        };
        map.advise_sequential();
        // A page past a truncated end reads as zeros instead of killing the process.
        if !map.read_guarded(|bytes| h.update(bytes)) {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file was truncated while it was being hashed"));
        }
        at += n as u64;
    }
    f.seek(SeekFrom::Start(len))?;
    let appended = feed(f, &mut h, None)?;
    Ok(Some((h.finish(), len + appended)))
}

/// One read(2), retried on EINTR.
fn read_once(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// (base64 digest, size) of a file, in constant memory.
pub fn hash_file(path: &Path, alg: Algorithm) -> io::Result<(String, u64)> {
    hash_file_raw(path, alg).map(|(raw, n)| (b64(&raw), n))
}

/// (raw digest, size) of a file, in constant memory.
pub fn hash_file_raw(path: &Path, alg: Algorithm) -> io::Result<([u8; 16], u64)> {
    let (mut f, size) = open_regular(path)?;
    hash_open_file(&mut f, alg, size)
}

/// Open `path` (following symlinks, as wandb does) for reading if it is a regular file:
/// (file, size). A FIFO or device is refused without blocking on it; a directory is
/// EISDIR, as reading one would be.
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        let ft = m.file_type();
        if ft.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        let what = if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is {what}; only regular files can be added", path.display())));
    }
    crate::beneath::clear_nonblock(&f);
    Ok((f, m.len()))
}

/// Hash an already opened regular file whose stat gave `key`, consulting and feeding the
/// stat cache as `hash_file_keyed`.
pub fn hash_open_keyed(mut f: File, key: crate::walk::StatKey, alg: Algorithm, cache: Option<&crate::statcache::StatCache>) -> io::Result<(String, u64)> {
    if let Some(d) = cache.and_then(|c| c.lookup(&key, alg)) {
        return Ok((d, key.size));
    }
    let started = crate::statcache::now_ns();
    let (raw, n) = hash_open_file(&mut f, alg, key.size)?;
    if let Some(cache) = cache {
        if f.metadata().is_ok_and(|m| crate::walk::StatKey::of(&m) == key) {
            cache.record(&key, alg, raw, started);
        }
    }
    Ok((b64(&raw), n))
}

/// Like `hash_file`, but consult and feed a stat cache: an unchanged file is not read.
pub fn hash_file_cached(path: &Path, alg: Algorithm, cache: Option<&crate::statcache::StatCache>) -> io::Result<(String, u64)> {
    hash_file_keyed(path, None, alg, cache)
}

/// `hash_file_cached` with the stat key a directory scan already took (saves a stat).
pub fn hash_file_keyed(
    path: &Path,
    key: Option<crate::walk::StatKey>,
    alg: Algorithm,
    cache: Option<&crate::statcache::StatCache>,
) -> io::Result<(String, u64)> {
    let Some(cache) = cache else { return hash_file(path, alg) };
    let before = match key {
        Some(k) => k,
        None => crate::walk::StatKey::of(&std::fs::metadata(path)?),
    };
    if let Some(d) = cache.lookup(&before, alg) {
        return Ok((d, before.size));
    }
    let started = crate::statcache::now_ns();
    let (mut f, _) = open_regular(path)?;
    let (raw, n) = hash_open_file(&mut f, alg, before.size)?;
    // Only a file that did not change while it was read may be remembered. fstat of the
    // file read (no second path walk): another inode at `path` shows as a changed key.
    if f.metadata().is_ok_and(|m| crate::walk::StatKey::of(&m) == before) {
        cache.record(&before, alg, raw, started);
    }
    Ok((b64(&raw), n))
}

/// Fill `buf` as far as the reader allows; 0 only at end of file. Every copy and hash
/// loop reads through here, so a cancelled operation (`progress::watching`) stops at
/// its next buffer.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    crate::progress::check_current()?;
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// wandb-core's multipart part size: 100 MiB, or larger (a multiple of 4096) when the
/// file would need more than 10,000 parts.
pub fn multipart_part_size(size: u64) -> u64 {
    const DEFAULT: u64 = 100 * 1024 * 1024;
    const MAX_PARTS: u64 = 10_000;
    if size.div_ceil(DEFAULT) <= MAX_PARTS {
        return DEFAULT;
    }
    size.div_ceil(MAX_PARTS).div_ceil(4096) * 4096
}

/// The ETag S3 reports for a multipart upload: hex(MD5(concat(part MD5s))) + "-" + parts.
pub fn s3_multipart_etag(path: &Path, part_size: u64) -> io::Result<String> {
    if part_size == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "part_size must be positive"));
    }
    let (mut f, _) = open_regular(path)?;
    let mut outer = Hasher::new(Algorithm::Md5);
    let mut parts = 0u64;
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let mut part = Hasher::new(Algorithm::Md5);
        let mut left = part_size;
        let mut got = 0u64;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = read_full(&mut f, &mut buf[..want])?;
            if n == 0 {
                break;
            }
            part.update(&buf[..n]);
            left -= n as u64;
            got += n as u64;
        }
        if got == 0 && parts > 0 {
            break;
        }
        outer.update(&part.finish());
        parts += 1;
        if got < part_size {
            break;
        }
    }
    Ok(format!("{}-{parts}", hex(&outer.finish())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn md5_of_empty_and_hello() {
        assert_eq!(hash_bytes(b"", Algorithm::Md5), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(hash_bytes(b"hello world\n", Algorithm::Md5), "b1kCrCNwJL3QwXbLkwY9xA==");
    }

    #[test]
    fn a_small_hasher_gives_the_same_digest() {
        // new_small skips the backend timing; the bytes must not depend on it.
        let data = sample(300_000);
        for alg in [Algorithm::Md5, Algorithm::Xxh128] {
            let (mut a, mut b) = (Hasher::new_small(alg), Hasher::new(alg));
            a.update(&data);
            b.update(&data);
            assert_eq!(a.finish(), b.finish(), "{alg:?}");
            let (mut again, mut chosen) = (Hasher::new_small(alg), Hasher::new(alg)); // backend chosen by now
            again.update(&data);
            chosen.update(&data);
            assert_eq!(again.finish(), chosen.finish(), "{alg:?} after the choice");
        }
    }

    #[test]
    fn xxh128_is_canonical_big_endian() {
        // xxhash.xxh128(b"").hexdigest() == "99aa06d3014798d86001c324468d497f"
        let mut h = Hasher::new(Algorithm::Xxh128);
        h.update(b"");
        assert_eq!(hex(&h.finish()), "99aa06d3014798d86001c324468d497f");
    }

    #[test]
    fn b64_hex_roundtrip() {
        assert_eq!(b64_to_hex("b1kCrCNwJL3QwXbLkwY9xA==").unwrap(), "6f5902ac237024bdd0c176cb93063dc4");
        assert!(b64_to_hex("not base64!").is_none());
    }

    #[test]
    fn file_hash_matches_bytes_for_any_size() {
        let dir = tempfile::tempdir().unwrap();
        for &size in &[0usize, 1, BUF_SIZE - 1, BUF_SIZE + 7, 5 * BUF_SIZE + 12345] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join(format!("f{size}"));
            std::fs::File::create(&p).unwrap().write_all(&data).unwrap();
            for alg in [Algorithm::Md5, Algorithm::Xxh128] {
                let (d, n) = hash_file(&p, alg).unwrap();
                assert_eq!(n, size as u64);
                assert_eq!(d, hash_bytes(&data, alg), "size {size} alg {alg:?}");
            }
        }
    }

    #[test]
    fn sized_hash_reads_the_whole_file_whatever_the_stat_said() {
        let dir = tempfile::tempdir().unwrap();
        for &size in &[0usize, 1, 1024, BUF_SIZE, BUF_SIZE + 1, 3 * BUF_SIZE] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            let p = dir.path().join(format!("s{size}"));
            std::fs::File::create(&p).unwrap().write_all(&data).unwrap();
            // The right size, a stale smaller one (the file grew) and a stale larger one.
            for expect in [size as u64, (size / 2) as u64, size as u64 + 10] {
                let (raw, n) = hash_reader_sized(&mut std::fs::File::open(&p).unwrap(), Algorithm::Md5, Some(expect)).unwrap();
                assert_eq!((b64(&raw), n), (hash_bytes(&data, Algorithm::Md5), size as u64), "size {size} expect {expect}");
            }
        }
    }

    #[test]
    fn a_mapped_hash_equals_the_read_one_whatever_the_stat_said() {
        let dir = tempfile::tempdir().unwrap();
        let m = MAP_MIN as usize;
        for &size in &[m, m + 1, m + BUF_SIZE + 7, MAP_WINDOW, 2 * MAP_WINDOW + 4099] {
            let data: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
            let p = dir.path().join(format!("p{size}"));
            std::fs::write(&p, &data).unwrap();
            for alg in [Algorithm::Md5, Algorithm::Xxh128] {
                // The right size, a stale smaller one (the file grew) and a stale larger one.
                for expect in [size as u64, (size / 2) as u64, size as u64 + 10] {
                    let (raw, n) = hash_open_file(&mut std::fs::File::open(&p).unwrap(), alg, expect).unwrap();
                    assert_eq!((b64(&raw), n), (hash_bytes(&data, alg), size as u64), "size {size} expect {expect} {alg:?}");
                }
            }
        }
        // A directory cannot be mapped or read: the error comes back.
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        assert!(hash_open_file(&mut std::fs::File::open(&d).unwrap(), Algorithm::Md5, MAP_MIN).is_err());
    }

    #[test]
    fn multipart_etag_matches_definition() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let mut outer = Md5::new();
        for chunk in data.chunks(4096) {
            outer.update(Md5::digest(chunk));
        }
        let want = format!("{}-3", hex(&outer.finalize()));
        assert_eq!(s3_multipart_etag(&p, 4096).unwrap(), want);
        // An exact multiple does not add an empty part.
        assert!(s3_multipart_etag(&p, 5000).unwrap().ends_with("-2"));
    }

    #[test]
    fn part_size_rules() {
        assert_eq!(multipart_part_size(1 << 31), 100 * 1024 * 1024);
        let big = 2_000_000u64 * 1024 * 1024; // needs > 10,000 parts of 100 MiB
        let ps = multipart_part_size(big);
        assert_eq!(ps % 4096, 0);
        assert!(big.div_ceil(ps) <= 10_000);
    }
}
