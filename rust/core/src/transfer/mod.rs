//! Moving blobs to and from the team server over HTTP: many at once, streamed, every
//! downloaded byte hashed on the way and checked against the manifest's digest before
//! it is renamed into place, each transfer retried with backoff.
//!
//! - `put.rs`: one blob per signed PUT URL (large files), in parallel;
//! - `batch.rs`: many small blobs framed into one request body, and the reverse for
//!   downloads, so that 10,000 small files cost a handful of requests;
//! - `get.rs`: one blob per signed GET URL, in parallel, verified, atomically placed;
//! - `fetch.rs`: reference downloads (s3/gs/azure objects): signed, resumable, checked
//!   against the ETag/MD5 (`etag.rs`) or CRC-32C (`crc32c.rs`) as the bytes arrive;
//!   large objects as parallel ranges (`ranged.rs`).
//! - `packs.rs`: small blobs read out of packs (many blobs in one S3 object) by ranged
//!   GETs, neighbouring ranges coalesced, each blob verified and placed on its own.
//! - `signed.rs`: byte ranges PUT straight to an object store's presigned URLs (whole
//!   blobs or multipart parts), with the headers they were signed with.
//!
//! HTTP/1.1 (and https through the system OpenSSL) with `ureq`: blocking, a keep-alive
//! pool, no async runtime. No
//! PyO3 here: the bindings call these with the GIL released.

mod batch;
mod crc32c;
mod etag;
mod fetch;
mod ranged;
#[cfg(test)]
mod fetch_tests;
mod get;
mod packs;
mod put;
mod retry;
mod signed;

pub use batch::{fetch_batch, fetch_batches, group_blobs, post_batch, BatchBlob};
pub use get::{get_files, GetItem};
pub use crc32c::Crc32c;
pub use etag::{multipart_etag, EtagHasher};
pub use fetch::{fetch_objects, partial_path, FetchError, FetchItem, FetchOptions, Fetched};
pub use packs::{get_packed, PackItem};
pub use put::{put_files, PutItem};
pub use retry::Options;
pub use signed::{part_md5s, part_sums, put_ranges, range_md5s, RangePut};

use std::sync::atomic::{AtomicUsize, Ordering};

use retry::Failure;

/// A response as ureq gives it.
pub(crate) type Response = ureq::http::Response<ureq::Body>;

/// `req` with each of `headers` set (the configured ones: `Authorization`, ...).
pub(crate) fn with_headers<B>(mut req: ureq::RequestBuilder<B>, headers: &[(String, String)]) -> ureq::RequestBuilder<B> {
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req
}

/// The response if its status is 2xx or one of `also_ok`, else the failure of `what`
/// (`Failure::status`: the code and the start of the body; 408, 429 and 5xx retryable).
pub(crate) fn checked(mut resp: Response, also_ok: &[u16], what: impl FnOnce() -> String) -> Result<Response, Failure> {
    let code = resp.status().as_u16();
    if (200..300).contains(&code) || also_ok.contains(&code) {
        return Ok(resp);
    }
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Err(Failure::status(&what(), code, &body))
}

/// The HTTP agent every transfer of one call shares (its keep-alive connections).
pub(crate) fn agent(opts: &Options) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_recv_body(Some(opts.io_timeout))
        .timeout_send_body(Some(opts.io_timeout))
        .max_idle_connections(opts.concurrency.max(1) * 2)
        .max_idle_connections_per_host(opts.concurrency.max(1) * 2)
        // https through the system's OpenSSL and trust store (SSL_CERT_FILE is honoured)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::NativeTls)
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// Run `work(i)` for every index on `threads` threads; results in index order.
pub(crate) fn parallel<T: Send>(n: usize, threads: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let out = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = work(i);
                out.lock().expect("no panics while holding it")[i] = Some(r);
            });
        }
    });
    slots.into_iter().map(|r| r.expect("every index ran")).collect()
}
