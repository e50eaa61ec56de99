//! `fetch.rs` against a loopback HTTP server that misbehaves on purpose: bodies cut
//! short, 503s, wrong bytes, ranges; and a run killed half way that the next continues.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::etag::EtagHasher;
use super::fetch::{fetch_objects, partial_path, FetchError, FetchItem, FetchOptions, Fetched};
use super::retry::Options;
use crate::sigv4::Credentials;

/// What the server answers: status, headers, body, and how many body bytes to send
/// before closing the connection (all if None).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    cut: Option<usize>,
}

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// Serve `answer(request headers)` on 127.0.0.1; the requests' headers are recorded.
fn serve(answer: impl Fn(&HashMap<String, String>, usize) -> Reply + Send + Sync + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut headers = HashMap::new();
                headers.insert(":path".to_string(), line.split(' ').nth(1).unwrap_or("").to_string());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim().split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let n = {
                    let mut l = log.lock().expect("log");
                    l.push(headers.clone());
                    l.len()
                };
                let r = answer(&headers, n);
                let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", r.status, r.body.len());
                for (k, v) in &r.headers {
                    let _ = write!(head, "{k}: {v}\r\n");
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&r.body[..r.cut.unwrap_or(r.body.len()).min(r.body.len())]);
                let _ = stream.flush();
            });
        }
    });
    (url, seen)
}

fn body() -> Vec<u8> {
    (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn md5_hex(data: &[u8]) -> String {
    let mut h = EtagHasher::new(None);
    h.update(data);
    h.finish()
}

/// Answer GETs of `data`, honouring `Range: bytes=a-` and `bytes=a-b`.
fn ranged_reply(data: &[u8], h: &HashMap<String, String>) -> Reply {
    let Some(range) = h.get("range") else {
        return Reply { status: 200, headers: vec![], body: data.to_vec(), cut: None };
    };
    let spec = range.trim_start_matches("bytes=");
    let (a, b) = spec.split_once('-').expect("range");
    let a: usize = a.parse().expect("start");
    let b: usize = if b.is_empty() { data.len() - 1 } else { b.parse().expect("end") };
    let cr = format!("bytes {a}-{b}/{}", data.len());
    Reply { status: 206, headers: vec![("Content-Range".into(), cr)], body: data[a..=b].to_vec(), cut: None }
}

fn item(url: &str, dir: &Path, data: &[u8]) -> FetchItem {
    FetchItem {
        url: format!("{url}/obj"),
        target: dir.join("out").join("obj"),
        size: Some(data.len() as u64),
        md5_hex: Some(md5_hex(data)),
        label: "s3://b/obj".into(),
        ..FetchItem::default()
    }
}

fn opts(retries: u32) -> FetchOptions {
    FetchOptions { transfer: Options { concurrency: 4, retries, ..Options::default() }, ..FetchOptions::default() }
}

#[test]
fn a_body_cut_short_is_continued_with_a_range() {
    let data = body();
    let d2 = data.clone();
    let (url, seen) = serve(move |h, n| {
        let mut r = ranged_reply(&d2, h);
        if n == 1 {
            r.cut = Some(100_000); // the endpoint goes away mid-body
        }
        r
    });
    let dir = tempfile::tempdir().expect("tmp");
    let it = item(&url, dir.path(), &data);
    assert_eq!(fetch_objects(std::slice::from_ref(&it), &opts(3), None), vec![Ok(Fetched::Placed)]);
    assert_eq!(std::fs::read(&it.target).expect("placed"), data);
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].get("range").map(String::as_str), Some("bytes=100000-"));
    assert!(!partial_path(&it).exists());
}

#[test]
fn a_partial_left_by_a_killed_run_is_continued() {
    let data = body();
    let d2 = data.clone();
    let (url, seen) = serve(move |h, _| ranged_reply(&d2, h));
    let dir = tempfile::tempdir().expect("tmp");
    let it = item(&url, dir.path(), &data);
    std::fs::create_dir_all(it.target.parent().expect("parent")).expect("dir");
    std::fs::write(partial_path(&it), &data[..123_456]).expect("partial");
    assert_eq!(fetch_objects(std::slice::from_ref(&it), &opts(0), None), vec![Ok(Fetched::Placed)]);
    assert_eq!(std::fs::read(&it.target).expect("placed"), data);
    assert_eq!(seen.lock().expect("seen")[0].get("range").map(String::as_str), Some("bytes=123456-"));
}

#[test]
fn wrong_bytes_are_refused_and_nothing_is_placed() {
    let data = body();
    let d2 = data.clone();
    let (url, _) = serve(move |h, _| ranged_reply(&d2, h));
    let dir = tempfile::tempdir().expect("tmp");
    let mut it = item(&url, dir.path(), &data);
    it.md5_hex = Some("0".repeat(32));
    let got = fetch_objects(std::slice::from_ref(&it), &opts(2), None);
    assert!(matches!(&got[0], Err(FetchError::Digest(m)) if m.contains("Digest mismatch for object s3://b/obj")), "{got:?}");
    assert!(!it.target.exists());
    assert_eq!(std::fs::read_dir(it.target.parent().expect("parent")).expect("dir").count(), 0);
    // a stale ETag header is refused before any byte is written
    let (url, _) = serve(move |_, _| Reply { status: 200, headers: vec![("ETag".into(), "\"abc\"".into())], body: vec![1], cut: None });
    let it = FetchItem { etag: Some("def".into()), md5_hex: None, ..item(&url, dir.path(), &[1]) };
    let got = fetch_objects(std::slice::from_ref(&it), &opts(2), None);
    assert!(matches!(&got[0], Err(FetchError::Digest(m)) if m.ends_with("expected def but found abc")), "{got:?}");
    assert!(!it.target.exists());
}

#[test]
fn statuses_are_handed_back_and_503s_retried() {
    let (url, seen) = serve(|h, _| match h[":path"].as_str() {
        "/missing" => Reply { status: 404, headers: vec![], body: b"<Code>NoSuchKey</Code>".to_vec(), cut: None },
        _ => Reply { status: 503, headers: vec![], body: b"busy".to_vec(), cut: None },
    });
    let dir = tempfile::tempdir().expect("tmp");
    let missing = FetchItem { url: format!("{url}/missing"), ..item(&url, dir.path(), b"x") };
    let got = fetch_objects(&[missing], &opts(1), None);
    assert_eq!(got, vec![Ok(Fetched::Status(404, b"<Code>NoSuchKey</Code>".to_vec()))]);
    let busy = item(&url, dir.path(), b"x");
    let got = fetch_objects(&[busy], &opts(2), None);
    assert!(matches!(&got[0], Err(FetchError::Failed(m)) if m == "Failed to download s3://b/obj after 3 attempts: HTTP 503"), "{got:?}");
    assert_eq!(seen.lock().expect("seen").len(), 4);
}

#[test]
fn ranges_follow_parts_and_a_rerun_fetches_only_the_missing_ones() {
    let data = body();
    let part = 64 * 1024u64;
    let mut h = EtagHasher::new(Some(part));
    h.update(&data);
    let etag = h.finish();
    let d2 = data.clone();
    // the third range fails every time in the first run (the endpoint "dies")
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let b2 = Arc::clone(&broken);
    let (url, seen) = serve(move |h, _| {
        if b2.load(std::sync::atomic::Ordering::Relaxed) && h.get("range").is_some_and(|r| r.starts_with("bytes=131072-")) {
            return Reply { status: 503, headers: vec![], body: vec![], cut: None };
        }
        ranged_reply(&d2, h)
    });
    let dir = tempfile::tempdir().expect("tmp");
    let it = FetchItem { md5_hex: None, etag: Some(etag), part_size: Some(part), ..item(&url, dir.path(), &data) };
    let o = FetchOptions { range_threshold: 1, ..opts(1) };
    let got = fetch_objects(std::slice::from_ref(&it), &o, None);
    assert!(matches!(&got[0], Err(FetchError::Failed(_))), "{got:?}");
    assert!(partial_path(&it).exists(), "kept for the next run");
    broken.store(false, std::sync::atomic::Ordering::Relaxed);
    let before = seen.lock().expect("seen").len();
    assert_eq!(fetch_objects(std::slice::from_ref(&it), &o, None), vec![Ok(Fetched::Placed)]);
    assert_eq!(std::fs::read(&it.target).expect("placed"), data);
    let again: Vec<String> = seen.lock().expect("seen")[before..].iter().map(|h| h["range"].clone()).collect();
    assert_eq!(again, vec!["bytes=131072-196607".to_string()], "only the missing part");
    assert!(!partial_path(&it).exists());
}

#[test]
fn signed_items_carry_a_sigv4_authorization() {
    let (url, seen) = serve(|_, _| Reply { status: 200, headers: vec![], body: b"ok".to_vec(), cut: None });
    let dir = tempfile::tempdir().expect("tmp");
    let it = FetchItem { signed: true, headers: vec![("If-Match".into(), "\"e\"".into())], ..item(&url, dir.path(), b"ok") };
    let creds = Credentials {
        access_key: "AK".into(),
        secret_key: "SK".into(),
        session_token: Some("TOKEN".into()),
        region: "eu-west-1".into(),
        service: "s3".into(),
    };
    let o = FetchOptions { s3: Some(creds), ..opts(0) };
    assert_eq!(fetch_objects(&[it], &o, None), vec![Ok(Fetched::Placed)]);
    let h = &seen.lock().expect("seen")[0];
    let auth = &h["authorization"];
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{auth}");
    assert!(auth.contains("/eu-west-1/s3/aws4_request, SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date;x-amz-security-token,"), "{auth}");
    assert_eq!(h["x-amz-security-token"], "TOKEN");
}

#[test]
fn cancelling_stops_and_keeps_the_partial() {
    let data = body();
    let d2 = data.clone();
    let progress = Arc::new(crate::progress::Progress::default());
    let p2 = Arc::clone(&progress);
    let (url, _) = serve(move |h, _| {
        p2.cancel(); // Ctrl-C arrives while the body is on its way
        std::thread::sleep(std::time::Duration::from_millis(50));
        ranged_reply(&d2, h)
    });
    let dir = tempfile::tempdir().expect("tmp");
    let it = item(&url, dir.path(), &data);
    let got = fetch_objects(std::slice::from_ref(&it), &opts(3), Some(&progress));
    assert_eq!(got, vec![Err(FetchError::Interrupted)]);
    assert!(!it.target.exists());
}

#[test]
fn an_announced_content_md5_is_checked_when_none_was_recorded() {
    use base64::Engine as _;
    let wrong = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
    let (url, _) = serve(move |_, _| Reply { status: 200, headers: vec![("Content-MD5".into(), wrong.clone())], body: b"azure".to_vec(), cut: None });
    let dir = tempfile::tempdir().expect("tmp");
    let it = FetchItem { md5_hex: None, ..item(&url, dir.path(), b"azure") };
    let got = fetch_objects(std::slice::from_ref(&it), &opts(0), None);
    assert!(matches!(&got[0], Err(FetchError::Digest(_))), "{got:?}");
    assert!(!it.target.exists());
    let right = base64::engine::general_purpose::STANDARD.encode(crate::digest::unhex16(&md5_hex(b"azure")).expect("hex"));
    let (url, _) = serve(move |_, _| Reply { status: 200, headers: vec![("Content-MD5".into(), right.clone())], body: b"azure".to_vec(), cut: None });
    let it = FetchItem { md5_hex: None, ..item(&url, dir.path(), b"azure") };
    assert_eq!(fetch_objects(std::slice::from_ref(&it), &opts(0), None), vec![Ok(Fetched::Placed)]);
}

#[test]
fn a_crc32c_is_checked_when_there_is_no_md5() {
    let data = body();
    let mut c = super::crc32c::Crc32c::default();
    c.update(&data);
    let d2 = data.clone();
    let (url, _) = serve(move |h, _| ranged_reply(&d2, h));
    let dir = tempfile::tempdir().expect("tmp");
    let good = FetchItem { md5_hex: None, crc32c: Some(c.value()), ..item(&url, dir.path(), &data) };
    assert_eq!(fetch_objects(std::slice::from_ref(&good), &opts(0), None), vec![Ok(Fetched::Placed)]);
    let bad = FetchItem { crc32c: Some(c.value() ^ 1), target: dir.path().join("bad"), ..good.clone() };
    let got = fetch_objects(std::slice::from_ref(&bad), &opts(0), None);
    assert!(matches!(&got[0], Err(FetchError::Digest(m)) if m.contains("crc32c")), "{got:?}");
    assert!(!bad.target.exists());
    // the ranged path checks it too
    let o = FetchOptions { range_threshold: 1, range_size: 100_000, ..opts(0) };
    let got = fetch_objects(std::slice::from_ref(&bad), &o, None);
    assert!(matches!(&got[0], Err(FetchError::Digest(m)) if m.contains("crc32c")), "{got:?}");
    let again = FetchItem { target: dir.path().join("ranged"), ..good };
    assert_eq!(fetch_objects(std::slice::from_ref(&again), &o, None), vec![Ok(Fetched::Placed)]);
    assert_eq!(std::fs::read(&again.target).expect("placed"), data);
}

#[test]
fn a_partial_another_process_is_writing_is_left_alone() {
    use std::os::fd::AsRawFd;
    let data = body();
    let d2 = data.clone();
    let (url, seen) = serve(move |h, _| ranged_reply(&d2, h));
    let dir = tempfile::tempdir().expect("tmp");
    let it = item(&url, dir.path(), &data);
    std::fs::create_dir_all(it.target.parent().expect("parent")).expect("dir");
    let theirs = partial_path(&it);
    std::fs::write(&theirs, b"someone else's bytes").expect("partial");
    let held = File::open(&theirs).expect("open");
    // SAFETY: flock on a descriptor this test owns (as the other process would hold it).
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    assert_eq!(fetch_objects(std::slice::from_ref(&it), &opts(0), None), vec![Ok(Fetched::Placed)]);
    assert_eq!(std::fs::read(&it.target).expect("placed"), data);
    assert_eq!(std::fs::read(&theirs).expect("theirs"), b"someone else's bytes");
    assert!(!seen.lock().expect("seen")[0].contains_key("range"), "not resumed from a file in use");
    let left: Vec<_> = std::fs::read_dir(it.target.parent().expect("parent")).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}"); // the target and their partial
}
