//! Uploads straight to an object store through presigned URLs: whole blobs, or the parts
//! of a multipart upload, each a byte range of a local file PUT with the headers its URL
//! was signed with (`Content-MD5`, `If-None-Match: *`), many at once.
//!
//! The server hands out the URLs (only it holds the store's credentials); this moves
//! the bytes and reports each part's ETag, which the server needs to complete the upload.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::retry::{with_retries, Failure, Options};
use super::{agent, checked, parallel};
use crate::digest::{b64, Algorithm, Hasher};
use crate::stage_parts::{crc32_b64, PartSums};
use crate::progress::{tick, Progress};

/// One byte range of a local file to PUT to a presigned URL (a whole blob is the range
/// `0..size`), with the headers the URL was signed for.
#[derive(Clone, Debug)]
pub struct RangePut {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    /// The file's whole size when it was added (a file changed since is refused).
    pub file_size: u64,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// PUT every range (up to `opts.concurrency` at once); per item, the ETag the store
/// answered (empty if none), or why it failed. A 412 to a create-only PUT means the
/// object already exists: done, with no ETag.
pub fn put_ranges(items: &[RangePut], opts: &Options, progress: Option<&Progress>) -> Vec<Result<String, String>> {
    let agent = agent(opts);
    parallel(items.len(), opts.concurrency, |i| {
        let item = &items[i];
        let r = with_retries(opts, || put_range(&agent, item));
        if r.is_ok() {
            // a whole blob counts as a file; a part only as bytes
            let whole = item.offset == 0 && item.len == item.file_size;
            tick(progress, u64::from(whole), item.len);
        }
        r
    })
}

fn put_range(agent: &ureq::Agent, item: &RangePut) -> Result<String, Failure> {
    let what = || format!("{} (bytes {}..{})", item.path.display(), item.offset, item.offset + item.len);
    let mut file = File::open(&item.path).map_err(|e| Failure::fatal(format!("{}: {e}", item.path.display())))?;
    let len = file.metadata()?.len();
    if len != item.file_size {
        return Err(Failure::fatal(format!(
            "{}: is {len} bytes, expected {} (was the file modified after it was added?)",
            item.path.display(),
            item.file_size
        )));
    }
    file.seek(SeekFrom::Start(item.offset))?;
    let mut body = file.take(item.len);
    let mut req = agent.put(&item.url).header("Content-Length", item.len.to_string());
    for (k, v) in &item.headers {
        // (the length is set above: it is the range's, which the URL also signs)
        if !k.eq_ignore_ascii_case("content-length") {
            req = req.header(k, v);
        }
    }
    // (a signature the store refuses, expired or tampered, is a 403: not retried)
    let mut resp = checked(req.send(ureq::SendBody::from_reader(&mut body))?, &[412], || format!("upload of {}", what()))?;
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let _ = resp.body_mut().read_to_vec();
    Ok(etag)
}

/// The base64 MD5 of each `part_size` range of `path` (the last may be shorter), hashed
/// on `threads` threads: what each part URL of a multipart upload is bound to.
pub fn range_md5s(path: &Path, part_size: u64, threads: usize) -> std::io::Result<Vec<String>> {
    if part_size == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "part_size must be positive"));
    }
    let size = std::fs::metadata(path)?.len();
    let parts: Vec<u64> = (1..=size.div_ceil(part_size).max(1)).collect();
    part_md5s(path, part_size, &parts, threads)
}

/// The base64 MD5 of the given parts (numbered from 1) of `path`: a window of a
/// multipart upload, hashed while the previous window uploads.
pub fn part_md5s(path: &Path, part_size: u64, parts: &[u64], threads: usize) -> std::io::Result<Vec<String>> {
    Ok(part_sums(path, part_size, parts, threads, false)?.md5s)
}

/// The base64 MD5s and, with `crc32`, the base64 CRC32s (S3's form) of the given parts
/// (numbered from 1) of `path`, in one read of each part.
pub fn part_sums(path: &Path, part_size: u64, parts: &[u64], threads: usize, crc32: bool) -> std::io::Result<PartSums> {
    if part_size == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "part_size must be positive"));
    }
    let size = std::fs::metadata(path)?.len();
    let count = size.div_ceil(part_size).max(1);
    if let Some(bad) = parts.iter().find(|&&n| n == 0 || n > count) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("part {bad} is out of range: the file has {count} parts of {part_size} bytes"),
        ));
    }
    let results = parallel(parts.len(), threads, |i| -> std::io::Result<(String, Option<String>)> {
        let mut f = File::open(path)?;
        let start = (parts[i] - 1) * part_size;
        f.seek(SeekFrom::Start(start))?;
        let mut r = f.take(part_size.min(size - start));
        let mut md5 = Hasher::new(Algorithm::Md5);
        let mut crc = crc32.then(crc32fast::Hasher::new);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            if let Some(crc) = &mut crc {
                crc.update(&buf[..n]);
            }
        }
        Ok((b64(&md5.finish()), crc.map(|crc| crc32_b64(crc.finalize()))))
    });
    let mut out = PartSums::default();
    for r in results {
        let (md5, crc) = r?;
        out.md5s.push(md5);
        out.crc32s.extend(crc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn range_md5s_cover_the_file() {
        let dir = std::env::temp_dir().join(format!("art-rmd5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let got = range_md5s(&p, 4096, 3).unwrap();
        let want: Vec<String> = data.chunks(4096).map(|c| crate::digest::hash_bytes(c, Algorithm::Md5)).collect();
        assert_eq!(got, want);
        assert_eq!(part_md5s(&p, 4096, &[3, 1], 2).unwrap(), vec![want[2].clone(), want[0].clone()]);
        assert!(part_md5s(&p, 4096, &[4], 2).unwrap_err().to_string().contains("part 4 is out of range"));
        let sums = part_sums(&p, 4096, &[3, 1], 2, true).unwrap();
        assert_eq!(sums.md5s, vec![want[2].clone(), want[0].clone()]);
        let crc = |c: &[u8]| crc32_b64(crc32fast::hash(c));
        assert_eq!(sums.crc32s, vec![crc(&data[8192..]), crc(&data[..4096])]);
        assert!(part_sums(&p, 4096, &[1], 1, false).unwrap().crc32s.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A one-shot HTTP server on loopback that records the request it gets.
    fn serve_once(status: &'static str) -> (String, std::thread::JoinHandle<(String, Vec<u8>)>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/obj", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            let mut s = s;
            write!(s, "HTTP/1.1 {status}\r\nETag: \"abc\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            (head, body)
        });
        (url, h)
    }

    #[test]
    fn put_range_sends_the_range_with_signed_headers_and_returns_the_etag() {
        let dir = std::env::temp_dir().join(format!("art-rput-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let (url, h) = serve_once("200 OK");
        let item = RangePut {
            path: p.clone(),
            offset: 3,
            len: 4,
            file_size: 10,
            url,
            headers: vec![("If-None-Match".into(), "*".into())],
        };
        let got = put_ranges(&[item], &Options::default(), None);
        assert_eq!(got, vec![Ok("\"abc\"".to_string())]);
        let (head, body) = h.join().unwrap();
        assert_eq!(body, b"3456");
        assert!(head.to_ascii_lowercase().contains("if-none-match: *"), "{head}");
        // A file changed since it was added is refused before anything is sent.
        let bad = RangePut {
            path: p,
            offset: 0,
            len: 10,
            file_size: 11,
            url: "http://127.0.0.1:9/x".into(),
            headers: vec![],
        };
        let r = put_ranges(&[bad], &Options::default(), None);
        assert!(r[0].as_ref().unwrap_err().contains("modified after"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
