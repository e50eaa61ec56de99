//! Files mapped into memory instead of read: reading copies them into freshly allocated
//! pages, and on this kind of VM fresh memory costs about 2 s/GiB of system time. A
//! repeat download reads a 10 MB manifest and an 11 MB stat cache, so that was a fifth
//! of it.
//!
//! Reading a page of a map past the end of a file that another process cut short
//! raises SIGBUS, which would kill the process. `Mapped::read_guarded` registers its
//! region with a SIGBUS handler that maps zero pages over the rest of the region and
//! notes the fault, so the read finishes and the caller reports the truncation. Faults
//! outside registered regions go to the handler that was there before (Python's
//! faulthandler, or the default: death, as without us). Other maps (`Mapped::of` of
//! files we replace only by rename) are used unguarded.

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

impl Mapped {
    /// Run `f` over the mapped bytes with SIGBUS from a truncated file caught: false if
    /// part of the region was gone (`f` then saw zeros there), true if all was read.
    pub fn read_guarded(&self, f: impl FnOnce(&[u8])) -> bool {
        let Some(guard) = sigbus::Guard::register(self.0.ptr as usize, self.0.len) else {
            // No slot free or no handler: read it unguarded (as wandb does).
            f(self);
            return true;
        };
        f(self);
        !guard.faulted()
    }
}

mod sigbus {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    struct Slot {
        start: AtomicUsize,
        len: AtomicUsize,
        faulted: AtomicBool,
    }

    const SLOTS: usize = 256;
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot { start: AtomicUsize::new(0), len: AtomicUsize::new(0), faulted: AtomicBool::new(false) };
    static REGIONS: [Slot; SLOTS] = [EMPTY; SLOTS];
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The handler we replaced, called for faults that are not ours.
    static PREVIOUS: Mutex<Option<libc::sigaction>> = Mutex::new(None);
    static PREVIOUS_COPY: AtomicUsize = AtomicUsize::new(0);

    /// A registered region (unregistered on drop).
    pub struct Guard(usize);

    impl Guard {
        pub fn register(start: usize, len: usize) -> Option<Self> {
            if len == 0 || !installed() {
                return None;
            }
            for (i, slot) in REGIONS.iter().enumerate() {
                if slot.start.compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    slot.faulted.store(false, Ordering::Relaxed);
                    slot.len.store(len, Ordering::Relaxed);
                    slot.start.store(start, Ordering::Release);
                    return Some(Self(i));
                }
            }
            None
        }

        pub fn faulted(&self) -> bool {
            REGIONS[self.0].faulted.load(Ordering::Acquire)
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            REGIONS[self.0].start.store(0, Ordering::Release);
        }
    }

    /// Our handler is in place (installed again if something replaced it since).
    fn installed() -> bool {
        let Ok(mut prev) = PREVIOUS.lock() else { return false };
        // SAFETY: sigaction queries and installs with properly initialised structs.
        unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &raw mut cur) != 0 {
                return false;
            }
            if cur.sa_sigaction == on_sigbus as *const () as usize {
                return true;
            }
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_sigbus as *const () as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&raw mut ours.sa_mask);
            // The previous handler is kept where the signal handler can read it without a lock.
            let boxed = Box::leak(Box::new(cur));
            PREVIOUS_COPY.store(std::ptr::from_mut(boxed) as usize, Ordering::Release);
            *prev = Some(cur);
            libc::sigaction(libc::SIGBUS, &raw const ours, std::ptr::null_mut()) == 0
        }
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let addr = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(Ordering::Relaxed);
        for slot in &REGIONS {
            let start = slot.start.load(Ordering::Acquire);
            if start == 0 || start == usize::MAX {
                continue;
            }
            let end = start + slot.len.load(Ordering::Relaxed);
            if addr >= start && addr < end {
                let from = addr & !(page - 1);
                // SAFETY: replaces pages of our own read-only map, from the faulting page
                // to its end, with zeros; mmap is a plain system call on Linux.
                let p = unsafe {
                    libc::mmap(from as *mut libc::c_void, end - from, libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0)
                };
                if p != libc::MAP_FAILED {
                    slot.faulted.store(true, Ordering::Release);
                    return;
                }
            }
        }
        // Not ours: whatever was there before decides.
        let prev = PREVIOUS_COPY.load(Ordering::Acquire) as *const libc::sigaction;
        // SAFETY: a leaked, never freed copy of the previous disposition.
        unsafe {
            if !prev.is_null() {
                let p = &*prev;
                if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN {
                    if p.sa_flags & libc::SA_SIGINFO != 0 {
                        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(p.sa_sigaction);
                        f(sig, info, ctx);
                    } else {
                        let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                        f(sig);
                    }
                    return;
                }
            }
            // The default: returning re-runs the faulting access, which now kills the process.
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGBUS, &raw const dfl, std::ptr::null_mut());
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
    fn a_truncated_map_reads_zeros_and_reports_it_instead_of_dying() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, vec![7u8; 1 << 20]).unwrap();
        let f = File::open(&p).unwrap();
        let map = Mapped::of(&f, 1 << 20).unwrap();
        assert!(map.read_guarded(|b| assert_eq!(b[b.len() - 1], 7)));
        File::options().write(true).open(&p).unwrap().set_len(4096).unwrap();
        let mut sum = 0u64;
        assert!(!map.read_guarded(|b| sum = b.iter().map(|&x| u64::from(x)).sum()));
        assert_eq!(sum, 7 * 4096, "the part still there was read, the rest is zeros");
    }

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
