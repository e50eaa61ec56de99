//! MD5 through the system's OpenSSL (`libcrypto`), loaded at run time when present.
//!
//! OpenSSL's hand-written MD5 is the fastest on x86-64 (the per-core limit wandb's
//! `hashlib` also runs at); the pure-Rust MD5 is the fallback. Nothing is linked at
//! build time, so wheels stay portable; `ARTEFACT_MD5=rust` forces the fallback.

use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

type NewFn = unsafe extern "C" fn() -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type MdFn = unsafe extern "C" fn() -> *const c_void;
type InitFn = unsafe extern "C" fn(*mut c_void, *const c_void, *mut c_void) -> c_int;
type UpdateFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int;
type FinalFn = unsafe extern "C" fn(*mut c_void, *mut u8, *mut u32) -> c_int;

struct Api {
    new: NewFn,
    free: FreeFn,
    md5: MdFn,
    init: InitFn,
    update: UpdateFn,
    finish: FinalFn,
}

static API: OnceLock<Option<Api>> = OnceLock::new();

fn load() -> Option<Api> {
    if std::env::var("ARTEFACT_MD5").is_ok_and(|v| v.eq_ignore_ascii_case("rust")) {
        return None;
    }
    let names: [&CStr; 3] = [c"libcrypto.so.3", c"libcrypto.so.1.1", c"libcrypto.so"];
    // SAFETY: dlopen/dlsym with NUL-terminated names; symbols are cast to the documented
    // EVP signatures of OpenSSL 1.1 and 3.
    unsafe {
        let lib = names.iter().map(|n| libc::dlopen(n.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL)).find(|h| !h.is_null())?;
        let sym = |name: &CStr| {
            let p = libc::dlsym(lib, name.as_ptr());
            (!p.is_null()).then_some(p)
        };
        Some(Api {
            new: std::mem::transmute::<*mut c_void, NewFn>(sym(c"EVP_MD_CTX_new")?),
            free: std::mem::transmute::<*mut c_void, FreeFn>(sym(c"EVP_MD_CTX_free")?),
            md5: std::mem::transmute::<*mut c_void, MdFn>(sym(c"EVP_md5")?),
            init: std::mem::transmute::<*mut c_void, InitFn>(sym(c"EVP_DigestInit_ex")?),
            update: std::mem::transmute::<*mut c_void, UpdateFn>(sym(c"EVP_DigestUpdate")?),
            finish: std::mem::transmute::<*mut c_void, FinalFn>(sym(c"EVP_DigestFinal_ex")?),
        })
    }
}

/// A running OpenSSL MD5; None from `new` when libcrypto is not available.
pub struct OpensslMd5 {
    ctx: *mut c_void,
    api: &'static Api,
}

// SAFETY: an EVP_MD_CTX is used by one thread at a time (we own it exclusively).
unsafe impl Send for OpensslMd5 {}

impl OpensslMd5 {
    pub fn new() -> Option<Self> {
        let api = API.get_or_init(load).as_ref()?;
        // SAFETY: functions loaded from libcrypto with their documented signatures.
        unsafe {
            let ctx = (api.new)();
            if ctx.is_null() {
                return None;
            }
            let md = (api.md5)();
            if md.is_null() || (api.init)(ctx, md, std::ptr::null_mut()) != 1 {
                (api.free)(ctx);
                return None;
            }
            Some(Self { ctx, api })
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        // SAFETY: ctx is a live, initialised context; data is a valid slice.
        let ok = unsafe { (self.api.update)(self.ctx, data.as_ptr().cast(), data.len()) };
        assert_eq!(ok, 1, "EVP_DigestUpdate failed");
    }

    pub fn finish(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut len = 0u32;
        // SAFETY: out has room for an MD5 digest (16 bytes).
        let ok = unsafe { (self.api.finish)(self.ctx, out.as_mut_ptr(), &mut len) };
        assert!(ok == 1 && len == 16, "EVP_DigestFinal_ex failed");
        out
    }
}

impl Drop for OpensslMd5 {
    fn drop(&mut self) {
        // SAFETY: ctx came from EVP_MD_CTX_new and is freed once.
        unsafe { (self.api.free)(self.ctx) }
    }
}

/// Whether MD5 runs through OpenSSL in this process.
pub fn available() -> bool {
    API.get_or_init(load).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rust_md5_when_available() {
        use md5::Digest as _;
        let Some(mut h) = OpensslMd5::new() else { return };
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        h.update(&data[..777]);
        h.update(&data[777..]);
        let want: [u8; 16] = md5::Md5::digest(&data).into();
        assert_eq!(h.finish(), want);
    }
}
