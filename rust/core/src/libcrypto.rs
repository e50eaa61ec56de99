//! OpenSSL's MD5, from the libcrypto already in the process (the one Python's `hashlib`
//! loaded) or else the system's, found at run time with `dlopen`: no build dependency,
//! and no OpenSSL needed where it is absent (the md-5 crate is used then).
//!
//! On some CPUs (AMD EPYC here) OpenSSL's hand-written MD5 is ~20% faster than the
//! md-5 crate's; on others they are even. `digest` picks by measuring both.

use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

type InitFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type UpdateFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int;
type FinalFn = unsafe extern "C" fn(*mut u8, *mut c_void) -> c_int;

struct Api {
    init: InitFn,
    update: UpdateFn,
    finish: FinalFn,
    library: &'static str,
}

static API: OnceLock<Option<Api>> = OnceLock::new();

const LIBRARIES: [&CStr; 3] = [c"libcrypto.so.3", c"libcrypto.so.1.1", c"libcrypto.so"];

fn load() -> Option<Api> {
    // First one already loaded (Python's), then any on the system.
    for flags in [libc::RTLD_NOW | libc::RTLD_NOLOAD, libc::RTLD_NOW] {
        for lib in LIBRARIES {
            // SAFETY: dlopen of a NUL-terminated name; the handle is never closed.
            let h = unsafe { libc::dlopen(lib.as_ptr(), flags) };
            if h.is_null() {
                continue;
            }
            // SAFETY: symbol lookups in a library we keep open for the process's life.
            let sym = |name: &CStr| unsafe { libc::dlsym(h, name.as_ptr()) };
            let (i, u, f) = (sym(c"MD5_Init"), sym(c"MD5_Update"), sym(c"MD5_Final"));
            if i.is_null() || u.is_null() || f.is_null() {
                continue;
            }
            // SAFETY: OpenSSL's documented signatures for these three functions.
            return Some(unsafe {
                Api {
                    init: std::mem::transmute::<*mut c_void, InitFn>(i),
                    update: std::mem::transmute::<*mut c_void, UpdateFn>(u),
                    finish: std::mem::transmute::<*mut c_void, FinalFn>(f),
                    library: lib.to_str().unwrap_or("libcrypto"),
                }
            });
        }
    }
    None
}

fn api() -> Option<&'static Api> {
    API.get_or_init(load).as_ref()
}

/// The libcrypto providing MD5, if one can be loaded.
pub fn library() -> Option<&'static str> {
    api().map(|a| a.library)
}

/// A running OpenSSL MD5 (`MD5_CTX` is 92 bytes; this holds 128, aligned).
pub struct Md5 {
    ctx: [u64; 16],
    api: &'static Api,
}

impl Md5 {
    /// None where no libcrypto with MD5 can be loaded.
    pub fn new() -> Option<Self> {
        let api = api()?;
        let mut h = Self { ctx: [0; 16], api };
        // SAFETY: a context buffer larger than MD5_CTX, owned by `h`.
        unsafe { (api.init)(h.ctx.as_mut_ptr().cast()) };
        Some(h)
    }

    pub fn update(&mut self, data: &[u8]) {
        // SAFETY: the initialised context and a valid slice.
        unsafe { (self.api.update)(self.ctx.as_mut_ptr().cast(), data.as_ptr().cast(), data.len()) };
    }

    pub fn finish(mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: 16 bytes out, the initialised context.
        unsafe { (self.api.finish)(out.as_mut_ptr(), self.ctx.as_mut_ptr().cast()) };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    #[test]
    fn matches_the_md5_crate_where_libcrypto_exists() {
        let Some(mut h) = Md5::new() else { return };
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        h.update(&data[..7]);
        h.update(&data[7..]);
        assert_eq!(h.finish(), <[u8; 16]>::from(md5::Md5::digest(&data)));
    }
}
