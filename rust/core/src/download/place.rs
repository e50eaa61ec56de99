//! Phases 2 and 3 of a download: make each missing entry's source ready (the cache
//! filled from the store, or a verified copy), then rename it into place.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::beneath::{create_temp_at, cstr, key_of, lstat_at, named, rename_at, unlink_at, DirError, Root};
use crate::cache::{copy_len, Placement};
use crate::manifest::Entry;
use crate::objdir::{is_temps_removed, ObjDir};
use crate::progress::{check, Progress};
use crate::walk::StatKey;

use super::dirs::{name_of, parent_of, Cursor};
use super::report::{DIR_IN_WAY, FILE_IN_WAY};
use super::temp_file::{copy_range_verified, copy_verified, link_temp, set_stamp};
use super::{DownloadError, DownloadOptions};

/// What phase 2 prepared for a missing entry.
#[derive(Debug)]
pub(super) enum Ready {
    /// The cache object (`ObjDir`) to copy or link from; `filled` if this call put it there.
    Cached { filled: bool },
    /// A verified copy (`skip_cache`) beside the destination, under this temp name.
    Temp(CString),
}

/// What phase 3 did with a missing entry: a file placed (its stat key after the rename,
/// whether this call filled the cache, whether it is a copy this download wrote rather
/// than a link), or why not.
pub(super) enum Placed {
    File { key: Option<StatKey>, filled: bool, copied: bool },
    Skipped(&'static str),
}

/// A temp file `write_from_cache` made: its name, the open copy if one was written, whether
/// the object had to be refilled (evicted or replaced since phase 2), whether it is a link.
struct FromCache {
    tmp: CString,
    file: Option<File>,
    refilled: bool,
    linked: bool,
}

/// What the parallel phases share.
pub(super) struct Ctx<'a> {
    pub(super) root: &'a Root,
    pub(super) opts: &'a DownloadOptions<'a>,
    pub(super) cache: Option<&'a ObjDir>,
    pub(super) progress: Option<&'a Progress>,
    /// Each pack of `opts.packed` the missing entries need, opened once.
    pub(super) packs: &'a std::collections::HashMap<&'a Path, File>,
    /// The mtime given to every copy this download writes (`statcache::write_stamp`), so
    /// that it is recorded at once; None without a stat cache.
    pub(super) stamp: Option<i64>,
}

impl Ctx<'_> {
    fn blob(&self, rel: &str) -> PathBuf {
        self.opts.store_objects.join(rel)
    }

    /// A store error for entry `e`, read from `blob`, as the caller should see it.
    fn store_err(e: &Entry, blob: &Path, err: io::Error) -> DownloadError {
        match err.kind() {
            io::ErrorKind::NotFound if !blob.exists() => DownloadError::MissingBlob { path: e.path.to_string(), blob: blob.to_owned() },
            io::ErrorKind::InvalidData => DownloadError::CorruptBlob { path: e.path.to_string(), blob: blob.to_owned(), reason: err.to_string() },
            _ => DownloadError::Io(err),
        }
    }

    /// Copy the store object into the cache, verified: Ok(false) if the cache could not
    /// keep it (its temp files were removed by a cleanup loop each time).
    fn fill(&self, cache: &ObjDir, e: &Entry, rel: &str) -> Result<bool, DownloadError> {
        let blob = self.blob(rel);
        match cache.fill(&blob, rel, &e.digest, e.algorithm(), false) {
            Ok(()) => Ok(true),
            Err(err) if is_temps_removed(&err) => Ok(false),
            Err(err) => Err(Self::store_err(e, &blob, err)),
        }
    }

    pub(super) fn prepare(&self, e: &Entry, rel: &str, cur: &mut Cursor<'_>) -> Result<Ready, DownloadError> {
        check(self.progress).map_err(DownloadError::Io)?;
        if let Some((pack, offset, length)) = self.opts.packed.and_then(|p| p.get(rel)) {
            // Packed: copied out of its range, verified, whatever the placement (never
            // linked, never a cache copy).
            let fd = cur.dir(parent_of(&e.path))?;
            let Some(file) = self.packs.get(pack.as_path()) else {
                return Err(DownloadError::MissingBlob { path: e.path.to_string(), blob: pack.clone() });
            };
            return copy_range_verified(file, pack, *offset, *length, fd, &e.digest, e.algorithm(), self.stamp)
                .map(Ready::Temp)
                .map_err(|err| Self::store_err(e, pack, err));
        }
        if let Some(cache) = self.cache {
            let missing = !cache.is_hit(rel, e.size.unwrap_or(0));
            // Not kept (a cleanup loop): phase 3 copies it from the store instead.
            let filled = missing && self.fill(cache, e, rel)?;
            return Ok(Ready::Cached { filled });
        }
        let fd = cur.dir(parent_of(&e.path))?;
        if let Some(tmp) = self.take_spare(rel, e.size.unwrap_or(0), fd).map(|(tmp, _)| tmp) {
            return Ok(Ready::Temp(tmp));
        }
        let blob = self.blob(rel);
        copy_verified(&blob, fd, &e.digest, e.algorithm(), self.stamp)
            .map(Ready::Temp)
            .map_err(|err| Self::store_err(e, &blob, err))
    }

    pub(super) fn place(&self, e: &Entry, rel: &str, r: &Ready, cur: &mut Cursor<'_>) -> Result<Placed, DownloadError> {
        let dest = || self.root.path().join(&*e.path);
        let fd = match cur.dir(parent_of(&e.path)) {
            Ok(fd) => fd,
            Err(DirError::FileInTheWay(_)) => return Ok(Placed::Skipped(FILE_IN_WAY)), // made since phase 1
            Err(err) => return Err(err.into()),
        };
        let name = cstr(name_of(&e.path).as_bytes()).map_err(DownloadError::Io)?;
        if let Err(err) = check(self.progress) {
            if let Ready::Temp(tmp) = r {
                unlink_at(fd, tmp);
            }
            return Err(DownloadError::Io(err));
        }
        let (tmp, written, filled, linked) = match r {
            Ready::Temp(tmp) => (tmp.clone(), None, false, false),
            Ready::Cached { filled } => {
                let cache = self.cache.expect("cached entries have a cache");
                let c = self.write_from_cache(cache, e, rel, fd).map_err(|err| match err {
                    DownloadError::Io(err) => DownloadError::Io(named(err, &dest())),
                    other => other,
                })?;
                (c.tmp, c.file, *filled || c.refilled, c.linked)
            }
        };
        if let Err(err) = rename_at(fd, &tmp, fd, &name) {
            unlink_at(fd, &tmp);
            return match err.raw_os_error() {
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => Ok(Placed::Skipped(DIR_IN_WAY)),
                _ => Err(DownloadError::Io(named(err, &dest()))),
            };
        }
        if linked {
            // A link onto a link of the same object (another process placed it): rename(2)
            // then succeeds without doing anything, and the temp name remains.
            unlink_at(fd, &tmp);
        }
        // The key after the rename (which changes the file's ctime), for the stat cache.
        let key = match written {
            _ if self.opts.statcache.is_none() => None,
            Some(f) => f.metadata().ok().map(|m| StatKey::of(&m)),
            None => lstat_at(fd, &name).ok().map(|st| key_of(&st)),
        };
        Ok(Placed::File { key, filled, copied: !linked })
    }

    /// The spare of object `rel` (see `DownloadOptions::spares`) renamed to a temp name
    /// in `dir`, with the file opened: None if there is none, or it cannot be renamed
    /// there (another filesystem; taken by an entry of the same content), or it is not a
    /// regular file (the entry is then copied from the cache, as without spares).
    #[allow(clippy::unnecessary_cast)] // libc's stat field types differ between platforms
    fn take_spare(&self, rel: &str, size: u64, dir: RawFd) -> Option<(CString, File)> {
        let from = self.opts.spares?.get(rel)?;
        let file = File::open(from).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() != size {
            return None;
        }
        let from_c = cstr(from.as_os_str().as_encoded_bytes()).ok()?;
        let tmp = cstr(format!(".artefact-{}", crate::tmpname::tmp_name()).as_bytes()).ok()?;
        rename_at(libc::AT_FDCWD, &from_c, dir, &tmp).ok()?;
        // The name may have been swapped for another file since it was opened: place
        // only the file that was checked.
        match lstat_at(dir, &tmp) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_ino as u64 == meta.ino() && st.st_dev as u64 == meta.dev() => {
                set_stamp(&file, self.stamp);
                Some((tmp, file))
            }
            _ => {
                unlink_at(dir, &tmp);
                None
            }
        }
    }

    /// A copy (or hard link) of the entry's cache object as a temp file in `dir`.
    fn write_from_cache(&self, cache: &ObjDir, e: &Entry, rel: &str, dir: RawFd) -> Result<FromCache, DownloadError> {
        let size = e.size.unwrap_or(0);
        let mut refilled = false;
        let mut attempts = 0;
        let obj = loop {
            match cache.open_object(rel, size).map_err(DownloadError::Io)? {
                Some(f) => break Some(f),
                // Evicted (a cleanup, another process's cap) since it was found: again from the store.
                None if attempts < 3 && self.fill(cache, e, rel)? => {
                    attempts += 1;
                    refilled = true;
                }
                None => break None,
            }
        };
        let Some(obj) = obj else {
            // The cache cannot keep it (cleared in a loop): straight from the store, verified.
            let blob = self.blob(rel);
            let tmp = copy_verified(&blob, dir, &e.digest, e.algorithm(), self.stamp).map_err(|err| Self::store_err(e, &blob, err))?;
            return Ok(FromCache { tmp, file: None, refilled: false, linked: false });
        };
        let meta = obj.metadata().map_err(DownloadError::Io)?;
        if self.opts.placement == Placement::Copy {
            if let Some((tmp, spare)) = self.take_spare(rel, size, dir) {
                return Ok(FromCache { tmp, file: Some(spare), refilled, linked: false });
            }
        }
        if self.opts.placement == Placement::Hardlink {
            if let Some(tmp) = link_temp(cache, rel, dir, meta.ino()) {
                return Ok(FromCache { tmp, file: None, refilled, linked: true });
            }
        }
        let mode = meta.permissions().mode() & 0o7777;
        let (mut out, tmp) = create_temp_at(dir, mode).map_err(DownloadError::Io)?;
        // Exactly the source's mode, whatever the umask.
        let copied = out
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| copy_len(&obj, &mut out, meta.len()))
            .map(|()| set_stamp(&out, self.stamp));
        if let Err(err) = copied {
            unlink_at(dir, &tmp);
            return Err(DownloadError::Io(err));
        }
        Ok(FromCache { tmp, file: Some(out), refilled, linked: false })
    }
}
