//! A destination's content as a temp file beside it (renamed into place later): a hard
//! link of the cache object, or a copy verified against the entry's digest.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::beneath::{create_temp_at, cstr, lstat_at, unlink_at};
use crate::digest::Algorithm;
use crate::objdir::ObjDir;
use crate::stage::copy_hashing_checked;

#[allow(clippy::unnecessary_cast)] // libc's stat field types differ between platforms
/// Hard-link the cache object as a temp name in `dir`, if it is still the regular file
/// `ino` we opened (a symlink swapped in is never linked); None: copy instead.
pub(super) fn link_temp(cache: &ObjDir, rel: &str, dir: RawFd, ino: u64) -> Option<CString> {
    let tmp = cstr(format!(".artefact-{}", crate::tmpname::tmp_name()).as_bytes()).ok()?;
    cache.link_object(rel, dir, &tmp).ok()?;
    match lstat_at(dir, &tmp) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_ino as u64 == ino => Some(tmp),
        _ => {
            unlink_at(dir, &tmp);
            None
        }
    }
}

/// Copy `src` to a temp file in `dir`, refusing content that does not hash to `digest`
/// (the temp file is removed), with mtime `stamp` if given. Returns the temp name, for a
/// later rename.
pub(super) fn copy_verified(src: &Path, dir: RawFd, digest: &str, alg: Algorithm, stamp: Option<i64>) -> io::Result<CString> {
    let mut input = File::open(src)?;
    let meta = input.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    // Created with its final mode where the umask keeps it (no fchmod per file).
    let created = mode & 0o777 & !crate::store_put::umask();
    write_checked(&mut input, meta.len(), dir, created, digest, alg, "", stamp, |out, _| {
        if created == mode {
            return Ok(());
        }
        out.set_permissions(std::fs::Permissions::from_mode(mode))
    })
}

/// A packed blob (pack.rs: `length` bytes at `offset` of `pack`, open as `file`) copied to a temp file in
/// `dir` with a fresh file's mode, refusing content that does not hash to `digest`.
#[allow(clippy::too_many_arguments)]
pub(super) fn copy_range_verified(file: &File, pack: &Path, offset: u64, length: u64, dir: RawFd, digest: &str, alg: Algorithm, stamp: Option<i64>) -> io::Result<CString> {
    let mut input = crate::pack::RangeReader::new(file, pack, offset, length)?;
    let at = format!(" at {offset} of the pack");
    write_checked(&mut input, length, dir, 0o666 & !crate::store_put::umask(), digest, alg, &at, stamp, |_, n| {
        if n != length {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch{at}: {n} of {length} bytes")));
        }
        Ok(())
    })
}

/// `len` bytes of `input` into a new temp file in `dir` (mode `created`), hashed on the
/// way; once they hash to `digest` (a mismatch names `at`), `finish` is given the file and
/// the bytes copied, then its mtime is set to `stamp` if given (and if the filesystem
/// allows). Any failure removes the temp file. Returns the temp name.
#[allow(clippy::too_many_arguments)]
fn write_checked(input: &mut impl io::Read, len: u64, dir: RawFd, created: u32, digest: &str, alg: Algorithm, at: &str, stamp: Option<i64>, finish: impl FnOnce(&File, u64) -> io::Result<()>) -> io::Result<CString> {
    let (mut out, tmp) = create_temp_at(dir, created)?;
    let r = copy_hashing_checked(input, &mut out, alg, len).and_then(|(raw, n)| {
        let found = crate::digest::b64(&raw);
        if found != digest {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("digest mismatch{at}: expected {digest}, found {found}")));
        }
        finish(&out, n)?;
        set_stamp(&out, stamp);
        Ok(())
    });
    match r {
        Ok(()) => Ok(tmp),
        Err(e) => {
            unlink_at(dir, &tmp);
            Err(e)
        }
    }
}

/// Give a copy the download's stamp (`statcache::write_stamp`), if there is one. Where the
/// filesystem refuses to set times, the copy is placed all the same, only not recorded.
pub(super) fn set_stamp(f: &File, stamp: Option<i64>) {
    if let Some(t) = stamp {
        let _ = f.set_modified(crate::statcache::system_time(t));
    }
}
