//! How transfers retry: connection errors, timeouts, 408/429 and 5xx are retried with
//! exponential backoff; any other 4xx is final (a bad URL or content will not improve).

use std::time::Duration;

/// Settings of one transfer call.
#[derive(Clone, Debug)]
pub struct Options {
    pub concurrency: usize,
    pub retries: u32,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    /// Extra request headers (e.g. `Authorization` for the batch routes).
    pub headers: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 16,
            retries: 5,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(300),
            headers: Vec::new(),
        }
    }
}

/// A failed attempt: `retry` says whether another could succeed; `kind` what failed,
/// where a caller acts on it (a pack reader tells a short body from a bad blob).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub retry: bool,
    pub kind: FailureKind,
}

/// What a failure was, beyond its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    Other,
    /// The body ended before the bytes expected (the stream is out of step).
    Truncated,
    /// The bytes arrived in full but hash to another digest.
    DigestMismatch,
}

impl Failure {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: false, kind: FailureKind::Other }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: true, kind: FailureKind::Other }
    }
    /// A body shorter than expected (retryable).
    pub fn truncated(message: impl Into<String>) -> Self {
        Self { kind: FailureKind::Truncated, ..Self::transient(message) }
    }
    /// Content that hashes to another digest than expected (retryable: the next
    /// transfer may arrive intact).
    pub fn mismatch(message: impl Into<String>) -> Self {
        Self { kind: FailureKind::DigestMismatch, ..Self::transient(message) }
    }
    /// A non-success HTTP status, with the start of the body the server sent.
    pub fn status(what: &str, code: u16, body: &str) -> Self {
        let retry = code == 408 || code == 429 || code >= 500;
        let body: String = body.chars().take(400).collect();
        Self { message: format!("{what}: HTTP {code}: {body}"), retry, kind: FailureKind::Other }
    }
}

impl From<ureq::Error> for Failure {
    fn from(e: ureq::Error) -> Self {
        Failure::transient(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::transient(e.to_string())
    }
}

/// Run `attempt` until it succeeds, fails for good, or `retries` are spent.
pub fn with_retries<T>(opts: &Options, mut attempt: impl FnMut() -> Result<T, Failure>) -> Result<T, String> {
    let mut delay = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        match attempt() {
            Ok(v) => return Ok(v),
            Err(f) if f.retry && tries < opts.retries => {
                tries += 1;
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(f) => {
                let after = if tries > 0 { format!(" (after {tries} retries)") } else { String::new() };
                return Err(format!("{}{after}", f.message));
            }
        }
    }
}

/// The wait before retry number `attempt` (1-based): "full jitter", a random time up
/// to 0.25 s × 2^attempt, at most 30 s, so many failed transfers do not retry in step.
pub fn backoff(attempt: u32) -> Duration {
    let cap = (0.25 * 2f64.powi(attempt.min(16) as i32)).min(30.0);
    Duration::from_secs_f64(cap * jitter())
}

/// A number in [0, 1) that differs between threads and calls (no rand crate needed).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    // 21 random bits are plenty for spreading retries
    f64::from(u32::try_from(h.finish() >> 43).unwrap_or(0)) / f64::from(1u32 << 21)
}

/// Sleep `d`, waking every 50 ms to see whether `stop` was set; false if it was.
pub fn sleep_unless(stop: &std::sync::atomic::AtomicBool, d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_capped() {
        for attempt in 1..40 {
            let d = backoff(attempt);
            assert!(d <= Duration::from_secs_f64((0.25 * 2f64.powi(attempt.min(16) as i32)).min(30.0)));
        }
        let draws: std::collections::HashSet<u128> = (0..20).map(|_| backoff(10).as_nanos()).collect();
        assert!(draws.len() > 1, "jitter varies");
    }

    #[test]
    fn sleep_unless_stops_early() {
        let stop = std::sync::atomic::AtomicBool::new(true);
        let t = std::time::Instant::now();
        assert!(!sleep_unless(&stop, Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
