//! Random `tmpXXXXXXXX` names, like Python's tempfile, without a RNG dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);
const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// `tmp` followed by 8 characters from Python tempfile's alphabet.
pub fn tmp_name() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(crate::stage::current_pid()); // cached: no getpid per name
    let mut x = h.finish();
    let mut s = String::with_capacity(11);
    s.push_str("tmp");
    for _ in 0..8 {
        s.push(CHARS[(x % CHARS.len() as u64) as usize] as char);
        x /= CHARS.len() as u64;
    }
    s
}
