//! Copy-and-hash in one pass: the "mutable" policy snapshots a file into the staging
//! dir so later edits to the original cannot change what gets logged.
//!
//! The source is read once; every buffer is hashed and written. The staged copy is
//! named `tmpXXXXXXXX` and made read-only (0o400), as wandb does. Its name carries the
//! staging process's owner tag (`tmp<tag><5 chars>`): the process holds a shared lock
//! on `<staging>-owners/<tag>.lock` for its lifetime, so `gc` can tell the copies of a
//! dead process (SIGKILL, a crash before commit) from those of a live draft.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::digest::{b64, read_full, with_buffer, Algorithm};
use crate::walk::with_path;

const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
const BASE: u64 = CHARS.len() as u64;
/// Names per tag: the 5 characters after it (37^5).
const PER_TAG: u64 = BASE * BASE * BASE * BASE * BASE;

/// The lock directory of a staging dir: `<staging>-owners` beside it (not inside, so
/// the staging dir holds only staged copies, as wandb's does).
pub fn owners_dir(staging_dir: &Path) -> PathBuf {
    let mut s = staging_dir.as_os_str().to_owned();
    s.push("-owners");
    PathBuf::from(s)
}

/// One tag this process holds (shared lock kept open for the process's lifetime).
struct Owner {
    dir: PathBuf,
    pid: u32,
    tag: String,
    next: AtomicU64,
    _lock: File,
}

static OWNERS: Mutex<Vec<std::sync::Arc<Owner>>> = Mutex::new(Vec::new());
static SEED: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEED.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

fn encode(mut x: u64, n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(CHARS[(x % BASE) as usize] as char);
        x /= BASE;
    }
}

/// Take a new tag for `dir`: a shared `flock` on its lock file, checked to still be
/// the file at that path (gc unlinks the lock file of a dead owner while holding it).
fn take_tag(dir: &Path) -> io::Result<Owner> {
    let owners = owners_dir(dir);
    fs::create_dir_all(&owners).map_err(|e| with_path(e, &owners))?;
    loop {
        let mut tag = String::with_capacity(3);
        encode(random_u64(), 3, &mut tag);
        let path = owners.join(format!("{tag}.lock"));
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| with_path(e, &path))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) } != 0 {
            return Err(with_path(io::Error::last_os_error(), &path));
        }
        let same = fs::metadata(&path).is_ok_and(|m| lock.metadata().is_ok_and(|l| l.ino() == m.ino() && l.dev() == m.dev()));
        if same {
            return Ok(Owner { dir: dir.to_owned(), pid: std::process::id(), tag, next: AtomicU64::new(0), _lock: lock });
        }
    }
}

/// The next staged-copy name in `dir`: `tmp` + this process's tag + a counter, so no
/// system call is spent per name (a forked child takes a tag of its own).
fn next_name(dir: &Path) -> io::Result<String> {
    let pid = current_pid();
    let mut owners = OWNERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let owner = loop {
        if let Some(o) = owners.iter().rev().find(|o| o.dir == dir && o.pid == pid) {
            let n = o.next.fetch_add(1, Ordering::Relaxed);
            if n < PER_TAG {
                let mut s = String::with_capacity(11);
                s.push_str("tmp");
                s.push_str(&o.tag);
                // A bijective scramble of the counter: names look random, never repeat.
                encode(n.wrapping_mul(0x9E37_79B1) % PER_TAG, 5, &mut s);
                break s;
            }
        }
        owners.push(std::sync::Arc::new(take_tag(dir)?));
    };
    Ok(owner)
}

/// The pid without a system call per use: read again only in a forked child.
pub fn current_pid() -> u32 {
    static CACHED: AtomicU64 = AtomicU64::new(0);
    static FORKS: AtomicU64 = AtomicU64::new(0);
    let forks = fork_count();
    let cached = CACHED.load(Ordering::Relaxed);
    if cached != 0 && FORKS.load(Ordering::Relaxed) == forks {
        return cached as u32;
    }
    let pid = std::process::id();
    CACHED.store(u64::from(pid), Ordering::Relaxed);
    FORKS.store(forks, Ordering::Relaxed);
    pid
}

/// Bumped in a forked child by the atfork handler registered on first use.
fn fork_count() -> u64 {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    extern "C" fn child() {
        CHILD_FORKS.fetch_add(1, Ordering::Relaxed);
    }
    REGISTERED.call_once(|| {
        // SAFETY: registering a handler that only bumps an atomic.
        unsafe {
            libc::pthread_atfork(None, None, Some(child));
        }
    });
    CHILD_FORKS.load(Ordering::Relaxed)
}

static CHILD_FORKS: AtomicU64 = AtomicU64::new(0);

/// A new, empty, exclusively created file in `dir` with a random `tmpXXXXXXXX` name.
pub fn create_temp_in(dir: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let p = dir.join(crate::tmpname::tmp_name());
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, dir)),
        }
    }
}

/// A new, empty, exclusively created staged file in `dir` (see the module docs for the
/// name), already read-only (0o400) by name while its descriptor writes: `seal` it after.
pub fn create_staged_in(dir: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let p = dir.join(next_name(dir)?);
        match OpenOptions::new().read(true).write(true).create_new(true).mode(0o400).open(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, dir)),
        }
    }
}

/// Make a staged copy read-only (0o400), as wandb's are: created so, it needs no fchmod
/// unless the umask took the owner's read bit.
pub fn seal(out: &File) -> io::Result<()> {
    if crate::store_put::umask() & 0o400 == 0 {
        return Ok(());
    }
    out.set_permissions(fs::Permissions::from_mode(0o400))
}

/// Copy `src` into `staging_dir`, hashing as it goes: (base64 digest, size, staged path).
pub fn copy_and_hash(src: &Path, staging_dir: &Path, alg: Algorithm) -> io::Result<(String, u64, PathBuf)> {
    let mut input = File::open(src).map_err(|e| with_path(e, src))?;
    let (mut out, staged) = create_staged_in(staging_dir)?;
    let result = (|| {
        let size = input.metadata()?.len();
        let (raw, n) = copy_and_digest(&mut input, &mut out, size, alg)?;
        seal(&out)?;
        Ok((b64(&raw), n))
    })();
    match result {
        Ok((d, n)) => Ok((d, n, staged)),
        Err(e) => {
            let _ = fs::remove_file(&staged);
            Err(with_path(e, src))
        }
    }
}

/// The embedded store's objects dir, set by the caller that logs into it: a file whose
/// content it holds (known from the stat cache) is not staged again.
static KNOWN_OBJECTS: std::sync::RwLock<Option<std::sync::Arc<KnownObjects>>> = std::sync::RwLock::new(None);

/// The objects dir, and a descriptor of it once it exists: each check is then one
/// `fstatat` of `<30>` below a descriptor of its shard dir `obj/<alg>/<2>` (opened once
/// per shard, not per file), not a walk of the whole path from `/`.
struct KnownObjects {
    path: PathBuf,
    fd: std::sync::OnceLock<std::os::fd::OwnedFd>,
    /// Shard dirs opened so far; one that did not exist yet is looked up again next time.
    shards: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<std::os::fd::OwnedFd>>>,
}

impl KnownObjects {
    fn new(path: PathBuf) -> Self {
        Self { path, fd: std::sync::OnceLock::new(), shards: std::sync::RwLock::new(std::collections::HashMap::new()) }
    }

    /// A descriptor of shard dir `dir` (relative, no symlink followed on the way).
    fn shard(&self, dir: &str) -> Option<std::sync::Arc<std::os::fd::OwnedFd>> {
        if let Some(fd) = self.shards.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(dir) {
            return Some(fd.clone());
        }
        let root = match self.fd.get() {
            Some(fd) => fd,
            None => match File::open(&self.path) {
                Ok(f) => self.fd.get_or_init(|| f.into()),
                Err(_) => return None, // no objects dir yet: nothing is stored
            },
        };
        let c = crate::beneath::cstr(dir.as_bytes()).ok()?;
        // SAFETY: openat below a descriptor we own, with a NUL-terminated relative path.
        let raw = unsafe {
            libc::openat(root.as_raw_fd(), c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        };
        if raw < 0 {
            return None;
        }
        // SAFETY: a descriptor openat just returned, owned from here on.
        let fd = std::sync::Arc::new(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) });
        let mut shards = self.shards.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(shards.entry(dir.to_owned()).or_insert(fd).clone())
    }

    /// Whether `rel` under the objects dir is a regular file of `size` bytes (lstat: a
    /// symlink in the object tree is never trusted as stored content).
    fn holds(&self, rel: &str, size: u64) -> bool {
        let Some((dir, name)) = rel.rsplit_once('/') else { return false };
        let Some(fd) = self.shard(dir) else { return false };
        let Ok(c) = crate::beneath::cstr(name.as_bytes()) else { return false };
        crate::beneath::lstat_at(fd.as_raw_fd(), &c).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_size as u64 == size)
    }
}

/// Say which store's objects (`obj/<alg>/..` under `dir`) spare staging; None: none.
pub fn set_known_objects(dir: Option<PathBuf>) {
    let mut known = KNOWN_OBJECTS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if known.as_ref().map(|k| &k.path) != dir.as_ref() {
        *known = dir.map(|path| std::sync::Arc::new(KnownObjects::new(path)));
    }
}

/// Digests the embedded store holds in packs, among those the stat cache knows for the
/// files of the add in progress (set per add by the caller, which asks the catalog; a
/// digest here is stored content, as a loose object is): those files are not staged.
type PackedSet = std::collections::HashSet<(Algorithm, [u8; 16])>;
static KNOWN_PACKED: std::sync::RwLock<Option<std::sync::Arc<PackedSet>>> = std::sync::RwLock::new(None);

/// Say which `alg` digests (base64) the store holds in packs; None clears the set. A
/// digest that does not decode to 16 bytes is ignored (it can only fail to match).
pub fn set_known_packed(alg: Algorithm, digests: Option<&[String]>) {
    let set = digests.map(|ds| std::sync::Arc::new(ds.iter().filter_map(|d| Some((alg, crate::digest::raw_digest(d)?))).collect::<PackedSet>()));
    *KNOWN_PACKED.write().unwrap_or_else(std::sync::PoisonError::into_inner) = set;
}

/// The mutable policy's copy of `src` (stat key `key` from the walk): (digest, size,
/// staged path). A file unchanged since it was last hashed (stat cache) whose content
/// the store already holds is neither read nor copied: no staged path then, the entry
/// keeps the original's path (the store's object is what gets logged). A staged file's
/// digest is remembered in the stat cache for the next add.
pub fn stage_unless_stored(
    src: &Path,
    key: Option<crate::walk::StatKey>,
    staging_dir: &Path,
    alg: Algorithm,
    statcache: Option<&crate::statcache::StatCache>,
) -> io::Result<(String, u64, Option<PathBuf>)> {
    if let (Some(sc), Some(key)) = (statcache, key) {
        let known = KNOWN_OBJECTS.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let packed = KNOWN_PACKED.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if known.is_some() || packed.is_some() {
            if let Some(raw) = sc.lookup_raw(&key, alg) {
                let digest = b64(&raw);
                if packed.is_some_and(|p| p.contains(&(alg, raw))) {
                    return Ok((digest, key.size, None));
                }
                if let Some(objects) = known.as_deref() {
                    if objects.holds(&crate::cache::object_relpath(&digest, alg)?, key.size) {
                        return Ok((digest, key.size, None));
                    }
                }
            }
        }
    }
    let started = crate::statcache::now_ns();
    let mut input = File::open(src).map_err(|e| with_path(e, src))?;
    let (mut out, staged) = create_staged_in(staging_dir)?;
    let result = (|| {
        let size = match key {
            Some(k) => k.size,
            None => input.metadata()?.len(),
        };
        let (raw, n) = copy_and_digest(&mut input, &mut out, size, alg)?;
        seal(&out)?;
        if let (Some(sc), Some(key)) = (statcache, key) {
            // Only a source that did not change while it was read may be remembered.
            if input.metadata().is_ok_and(|m| crate::walk::StatKey::of(&m) == key) {
                sc.record(&key, alg, raw, started);
            }
        }
        Ok((b64(&raw), n))
    })();
    match result {
        Ok((d, n)) => Ok((d, n, Some(staged))),
        Err(e) => {
            let _ = fs::remove_file(&staged);
            Err(with_path(e, src))
        }
    }
}

/// From this size on, a copy is made by the kernel while another thread hashes it.
pub const PIPELINE_MIN: u64 = 8 << 20;

/// Copy `input` to `out` (both at offset 0) while hashing what was copied: (raw digest,
/// bytes). Large files go kernel-side (`copy_file_range`) while another thread hashes
/// the copy as it lands, read back from the page cache: both cores busy and no copy
/// through userspace. What is hashed is the copy itself, so a source changed meanwhile
/// cannot make the digest disagree with the bytes written.
pub fn copy_and_digest(input: &mut File, out: &mut File, size_hint: u64, alg: Algorithm) -> io::Result<([u8; 16], u64)> {
    #[cfg(target_os = "linux")]
    if size_hint >= PIPELINE_MIN {
        let parts = crate::stage_parts::part_size_for(size_hint);
        if let Some((raw, n, md5s)) = copy_hashing_parallel(input, out, alg, parts)? {
            if let (Some(part), Some(md5s)) = (parts, md5s) {
                crate::stage_parts::remember(alg, b64(&raw), n, part, md5s);
            }
            return Ok((raw, n));
        }
    }
    let _ = size_hint;
    copy_hashing(input, out, alg)
}

/// Read back from `out` each `(offset, length)` range the copying thread sends (from the
/// page cache it just filled) and hand the bytes to `update`, until the channel closes.
#[cfg(target_os = "linux")]
fn read_back(out: &File, ranges: std::sync::mpsc::Receiver<(u64, usize)>, mut update: impl FnMut(&[u8])) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    with_buffer(|buf| {
        for (mut off, len) in ranges {
            let end = off + len as u64;
            while off < end {
                let want = usize::try_from(end - off).unwrap_or(usize::MAX).min(buf.len());
                let n = out.read_at(&mut buf[..want], off)?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the copy shrank while it was hashed"));
                }
                update(&buf[..n]);
                off += n as u64;
            }
        }
        Ok(())
    })
}

/// The pipelined copy of `copy_and_digest`; None (nothing written) where the kernel
/// cannot copy between these two files. With `parts`, a third thread also hashes the
/// copy part by part (stage_parts.rs): the MD5s a multipart upload's URLs are bound to.
#[cfg(target_os = "linux")]
#[allow(clippy::type_complexity)]
fn copy_hashing_parallel(
    input: &File,
    out: &File,
    alg: Algorithm,
    parts: Option<u64>,
) -> io::Result<Option<([u8; 16], u64, Option<crate::stage_parts::PartSums>)>> {
    use std::os::unix::io::AsRawFd;
    const CHUNK: usize = 8 << 20;
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, usize)>(4);
    let (ptx, prx) = std::sync::mpsc::sync_channel::<(u64, usize)>(4);
    std::thread::scope(|s| {
        let part_hasher = parts.map(|part| {
            s.spawn(move || -> io::Result<crate::stage_parts::PartSums> {
                let mut h = crate::stage_parts::PartHasher::new(part);
                read_back(out, prx, |data| h.update(data))?;
                Ok(h.finish())
            })
        });
        let ptx = part_hasher.is_some().then_some(ptx);
        let hasher = s.spawn(move || -> io::Result<[u8; 16]> {
            let mut h = crate::digest::Hasher::new(alg);
            read_back(out, rx, |data| h.update(data))?;
            Ok(h.finish())
        });
        let (mut off_in, mut off_out, mut total) = (0i64, 0i64, 0u64);
        let copied: io::Result<bool> = loop {
            if let Err(e) = crate::progress::check_current() {
                break Err(e); // Ctrl-C: stop at the next chunk
            }
            let n = match crate::cache::copy_range_step(input, &mut off_in, out, &mut off_out, CHUNK) {
                Ok(0) => break Ok(true), // the end, wherever the source ends now
                Ok(n) => n,
                Err(e) if total == 0 && crate::cache::kernel_copy_unsupported(&e) => break Ok(false),
                Err(e) => break Err(e),
            };
            // Start writing the chunk back now, so the fsync before the commit finds
            // little left to do: the disk works while the other core hashes. Not for a
            // copy hashed in parts: that one feeds an upload to the server's object
            // store and then the cache, which is never fsynced, and its writeback would
            // only compete with the upload.
            if parts.is_none() {
                // SAFETY: a descriptor we own; the range was just written.
                unsafe {
                    libc::sync_file_range(out.as_raw_fd(), off_out - n as i64, n as i64, libc::SYNC_FILE_RANGE_WRITE);
                }
            }
            if tx.send((total, n)).is_err() {
                break Ok(true); // the hasher stopped: its error is the one reported
            }
            if let Some(p) = &ptx {
                let _ = p.send((total, n)); // a part hasher that stopped only loses its MD5s
            }
            total += n as u64;
        };
        drop(tx);
        drop(ptx);
        let hashed = hasher.join().unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
        // Part MD5s are an aid to the upload (which hashes what it lacks): a failure here is no error.
        let md5s = part_hasher.and_then(|h| h.join().ok()).and_then(Result::ok);
        match copied {
            Ok(false) => Ok(None),
            Ok(true) => hashed.map(|raw| Some((raw, total, md5s))),
            Err(e) => Err(e),
        }
    })
}

/// `copy_hashing` of a file expected to be `size` bytes, for a copy checked against a
/// digest afterwards: a small one is read with one `read` and no second read to see its
/// end (bytes past `size`, if the file grew, are not copied; bytes that hash to the
/// digest are its content either way). Larger ones stream as `copy_hashing` does.
pub fn copy_hashing_checked(input: &mut impl Read, out: &mut impl Write, alg: Algorithm, size: u64) -> io::Result<([u8; 16], u64)> {
    if size >= crate::digest::BUF_SIZE as u64 {
        return copy_hashing(input, out, alg);
    }
    with_buffer(|buf| {
        let n = read_full(input, &mut buf[..size as usize])?;
        out.write_all(&buf[..n])?;
        let mut h = crate::digest::Hasher::new(alg);
        h.update(&buf[..n]);
        Ok((h.finish(), n as u64))
    })
}

/// Stream `input` to `out` while hashing it; returns (raw digest, bytes copied).
pub fn copy_hashing(input: &mut impl Read, out: &mut impl Write, alg: Algorithm) -> io::Result<([u8; 16], u64)> {
    with_buffer(|buf| {
        let mut h = crate::digest::Hasher::new(alg);
        let mut total = 0u64;
        loop {
            crate::progress::check_current()?; // Ctrl-C stops a long copy at the next buffer
            let n = read_full(input, buf)?;
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            total += n as u64;
            if n < buf.len() {
                break; // read_full is short only at the end: no read just to see it
            }
        }
        Ok((h.finish(), total))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    #[test]
    fn staged_copy_is_identical_read_only_and_hashed() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.bin");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
        fs::write(&src, &data).unwrap();
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let (digest, n, staged) = copy_and_hash(&src, &staging, Algorithm::Md5).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(digest, hash_bytes(&data, Algorithm::Md5));
        assert_eq!(fs::read(&staged).unwrap(), data);
        assert_eq!(fs::metadata(&staged).unwrap().permissions().mode() & 0o777, 0o400);
        let name = staged.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("tmp") && name.len() == 11, "{name}");
    }

    #[test]
    fn a_checked_copy_reads_a_small_file_once_and_copies_its_size() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("s.bin");
        fs::write(&src, b"0123456789").unwrap();
        for (size, want) in [(10u64, &b"0123456789"[..]), (4, &b"0123"[..]), (20, &b"0123456789"[..])] {
            let (mut out, staged) = create_staged_in(d.path()).unwrap();
            let (raw, n) = copy_hashing_checked(&mut File::open(&src).unwrap(), &mut out, Algorithm::Md5, size).unwrap();
            assert_eq!((b64(&raw), n), (hash_bytes(want, Algorithm::Md5), want.len() as u64));
            assert_eq!(fs::read(&staged).unwrap(), want);
        }
        // Files from the buffer's size on stream whole, whatever size was expected.
        let big: Vec<u8> = (0..crate::digest::BUF_SIZE * 2 + 7).map(|i| (i % 253) as u8).collect();
        fs::write(&src, &big).unwrap();
        let (mut out, staged) = create_staged_in(d.path()).unwrap();
        let (raw, n) = copy_hashing_checked(&mut File::open(&src).unwrap(), &mut out, Algorithm::Md5, big.len() as u64).unwrap();
        assert_eq!((b64(&raw), n), (hash_bytes(&big, Algorithm::Md5), big.len() as u64));
        assert_eq!(fs::read(&staged).unwrap(), big);
    }

    #[test]
    fn names_carry_a_locked_owner_tag_and_never_repeat() {
        let d = tempfile::tempdir().unwrap();
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let mut names = std::collections::HashSet::new();
        for _ in 0..1000 {
            let (_, p) = create_staged_in(&staging).unwrap();
            assert!(names.insert(p.file_name().unwrap().to_str().unwrap().to_owned()));
        }
        let tags: std::collections::HashSet<String> = names.iter().map(|n| n[3..6].to_owned()).collect();
        assert_eq!(tags.len(), 1, "one tag per process and dir");
        let lock = owners_dir(&staging).join(format!("{}.lock", tags.iter().next().unwrap()));
        let f = File::open(&lock).unwrap();
        // SAFETY: flock on a descriptor we own. Our shared lock blocks an exclusive one
        // on another open file description, as gc's would be.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(r, 0, "the owner's lock is held");
    }

    #[test]
    fn large_copies_are_pipelined_and_hash_what_was_written() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("big.bin");
        let data: Vec<u8> = (0..(PIPELINE_MIN as usize * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &data).unwrap();
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        for alg in [Algorithm::Md5, Algorithm::Xxh128] {
            let (digest, n, staged) = copy_and_hash(&src, &staging, alg).unwrap();
            assert_eq!((digest, n), (hash_bytes(&data, alg), data.len() as u64));
            assert_eq!(fs::read(&staged).unwrap(), data);
        }
    }

    #[test]
    fn a_known_file_whose_object_is_stored_is_not_staged_a_symlinked_object_is() {
        let d = tempfile::tempdir().unwrap();
        let (staging, objects) = (d.path().join("staging"), d.path().join("objects"));
        fs::create_dir(&staging).unwrap();
        let src = d.path().join("f.bin");
        fs::write(&src, b"stored content").unwrap();
        let meta = fs::metadata(&src).unwrap();
        let key = crate::walk::StatKey::of(&meta);
        let sc = crate::statcache::StatCache::open(&d.path().join("sc.bin"), 100);
        let raw = crate::digest::hash_file_raw(&src, Algorithm::Md5).unwrap().0;
        assert!([100, 2100].iter().any(|ms| {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            sc.record(&key, Algorithm::Md5, raw, crate::statcache::now_ns())
        }));
        set_known_objects(Some(objects.clone()));
        // No objects dir yet: staged.
        let (_, _, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, Some(&sc)).unwrap();
        fs::remove_file(staged.expect("staged while the store has nothing")).unwrap();
        let obj = objects.join(crate::cache::object_relpath(&b64(&raw), Algorithm::Md5).unwrap());
        fs::create_dir_all(obj.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&src, &obj).unwrap();
        let (_, _, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, Some(&sc)).unwrap();
        fs::remove_file(staged.expect("a symlinked object is not trusted")).unwrap();
        fs::remove_file(&obj).unwrap();
        fs::write(&obj, b"stored content").unwrap();
        let (digest, n, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, Some(&sc)).unwrap();
        assert_eq!((digest, n, staged), (b64(&raw), 14, None));
        set_known_objects(None);
    }

    #[test]
    fn a_known_file_whose_digest_is_packed_is_not_staged_until_the_set_is_cleared() {
        let d = tempfile::tempdir().unwrap();
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let src = d.path().join("p.bin");
        fs::write(&src, b"content held in a pack, for this test only").unwrap();
        let key = crate::walk::StatKey::of(&fs::metadata(&src).unwrap());
        let sc = crate::statcache::StatCache::open(&d.path().join("sc.bin"), 100);
        let raw = crate::digest::hash_file_raw(&src, Algorithm::Md5).unwrap().0;
        assert!([100, 2100].iter().any(|ms| {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            sc.record(&key, Algorithm::Md5, raw, crate::statcache::now_ns())
        }));
        // Packed under another algorithm, or a digest that is not 16 bytes: staged.
        set_known_packed(Algorithm::Xxh128, Some(&[b64(&raw)]));
        let (_, _, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, Some(&sc)).unwrap();
        fs::remove_file(staged.expect("another algorithm's digest does not count")).unwrap();
        set_known_packed(Algorithm::Md5, Some(&["bm90IDE2IGJ5dGVz".to_owned(), b64(&raw)]));
        let (digest, n, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, Some(&sc)).unwrap();
        assert_eq!((digest, n, staged), (b64(&raw), 42, None));
        // Without the stat cache the file is read (and staged) whatever the store holds.
        let (_, _, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, None).unwrap();
        fs::remove_file(staged.expect("no stat cache: staged")).unwrap();
        set_known_packed(Algorithm::Md5, None);
        let (_, _, staged) = stage_unless_stored(&src, Some(key), &staging, Algorithm::Md5, Some(&sc)).unwrap();
        assert!(staged.is_some(), "cleared: staged again");
    }

    #[test]
    fn missing_source_names_the_path_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let e = copy_and_hash(&d.path().join("nope"), d.path(), Algorithm::Md5).unwrap_err();
        assert!(e.to_string().contains("nope"));
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
