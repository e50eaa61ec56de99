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

/// A failed attempt: `retry` says whether another could succeed.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub retry: bool,
}

impl Failure {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: false }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: true }
    }
    /// A non-success HTTP status, with the start of the body the server sent.
    pub fn status(what: &str, code: u16, body: &str) -> Self {
        let retry = code == 408 || code == 429 || code >= 500;
        let body: String = body.chars().take(400).collect();
        Self { message: format!("{what}: HTTP {code}: {body}"), retry }
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
                let after = if tries > 0 { format!(" (after {} retries)", tries) } else { String::new() };
                return Err(format!("{}{after}", f.message));
            }
        }
    }
}
