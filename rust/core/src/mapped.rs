//! Files mapped into memory instead of read: reading copies them into freshly allocated
//! pages, and on this kind of VM fresh memory costs about 2 s/GiB of system time. A
//! repeat download reads a 10 MB manifest and an 11 MB stat cache, so that was a fifth
//! of it. The caller must know the mapped part of the file is not cut short meanwhile.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A mapped region, unmapped on drop.
struct Region {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the region is owned; shared access only reads it (`MappedCopy` needs `&mut`).
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    fn map(file: &File, offset: u64, len: usize, prot: libc::c_int, flags: libc::c_int) -> io::Result<Self> {
        if len == 0 {
            return Ok(Self { ptr: std::ptr::null_mut(), len: 0 });
        }
        let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh mapping of an open file, owned by the returned value.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, file.as_raw_fd(), offset) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `len` bytes mapped readable at `ptr` for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: exactly the region `map` mapped.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

/// The first `len` bytes of a file, read-only.
pub struct Mapped(Region);

impl Mapped {
    pub fn of(file: &File, len: usize) -> io::Result<Self> {
        Self::at(file, 0, len)
    }

    /// `len` bytes from `offset`, a multiple of the page size.
    pub fn at(file: &File, offset: u64, len: usize) -> io::Result<Self> {
        Region::map(file, offset, len, libc::PROT_READ, libc::MAP_SHARED).map(Self)
    }
}

impl Mapped {
    /// The map will be read once, front to back: read ahead, drop pages behind.
    pub fn advise_sequential(&self) {
        if self.0.len > 0 {
            // SAFETY: advice on exactly the mapped region; it changes no contents.
            unsafe { libc::madvise(self.0.ptr, self.0.len, libc::MADV_SEQUENTIAL) };
        }
    }
}

impl Default for Mapped {
    fn default() -> Self {
        Self(Region { ptr: std::ptr::null_mut(), len: 0 })
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// A whole file as a private copy-on-write map: writes change this process's view only,
/// and copy just the pages they touch.
pub struct MappedCopy(Region);

impl MappedCopy {
    /// `len`: the file's length, as its stat gave it.
    pub fn of(file: &File, len: u64) -> io::Result<Self> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
        Region::map(file, 0, len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE).map(Self)
    }
}

impl std::ops::Deref for MappedCopy {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.bytes()
    }
}

impl std::ops::DerefMut for MappedCopy {
    fn deref_mut(&mut self) -> &mut [u8] {
        if self.0.len == 0 {
            return &mut [];
        }
        // SAFETY: `len` bytes mapped writable (privately) at `ptr`, borrowed uniquely.
        unsafe { std::slice::from_raw_parts_mut(self.0.ptr.cast::<u8>(), self.0.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_private_copy_changes_only_this_view() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"hello world").unwrap();
        let mut copy = MappedCopy::of(&File::open(&p).unwrap(), 11).unwrap();
        copy[0] = b'j';
        assert_eq!(&copy[..], b"jello world");
        assert_eq!(&Mapped::of(&File::open(&p).unwrap(), 5).unwrap()[..], b"hello");
        assert_eq!(fs::read(&p).unwrap(), b"hello world", "the file is untouched");
        fs::write(d.path().join("empty"), b"").unwrap();
        assert!(MappedCopy::of(&File::open(d.path().join("empty")).unwrap(), 0).unwrap().is_empty());
    }
}
