//! Many small blobs in one request body (uploads) or one response body (downloads).
//!
//! The framing (the same as the server's, see python/artefact/server/wire.py): for each
//! blob, a line `<algorithm> <digest> <size>\n`, then exactly `size` bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use super::get::write_verified;
use super::retry::{with_retries, Failure, Options};
use super::{agent, checked, parallel, with_headers};
use crate::digest::Algorithm;
use crate::progress::{tick, Progress};

/// One small blob of a batch: its file (uploads) or destination (downloads).
#[derive(Clone, Debug)]
pub struct BatchBlob {
    pub path: PathBuf,
    pub algorithm: Algorithm,
    pub digest: String,
    pub size: u64,
}

/// Streams header + file, header + file, ... without holding more than one file open.
struct BatchReader<'a> {
    blobs: &'a [BatchBlob],
    next: usize,
    header: Vec<u8>,
    header_pos: usize,
    file: Option<(File, u64)>,
}

impl Read for BatchReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.header_pos < self.header.len() {
                let n = (self.header.len() - self.header_pos).min(buf.len());
                buf[..n].copy_from_slice(&self.header[self.header_pos..self.header_pos + n]);
                self.header_pos += n;
                return Ok(n);
            }
            if let Some((file, left)) = self.file.as_mut() {
                if *left > 0 {
                    let want = (*left).min(buf.len() as u64) as usize;
                    let n = file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
                self.file = None;
            }
            let Some(blob) = self.blobs.get(self.next) else { return Ok(0) };
            self.next += 1;
            let file = File::open(&blob.path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", blob.path.display())))?;
            let len = file.metadata()?.len();
            if len != blob.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: is {len} bytes, expected {} (modified after it was added?)", blob.path.display(), blob.size),
                ));
            }
            self.header = format!("{} {} {}\n", blob.algorithm.name(), blob.digest, blob.size).into_bytes();
            self.header_pos = 0;
            self.file = Some((file, len));
        }
    }
}

/// POST each group of blobs as one framed body to `url` (groups in parallel).
pub fn post_batch(url: &str, groups: &[Vec<BatchBlob>], opts: &Options, progress: Option<&Progress>) -> Vec<Result<(), String>> {
    let agent = agent(opts);
    parallel(groups.len(), opts.concurrency, |i| {
        let group = &groups[i];
        let r = with_retries(opts, || {
            let mut reader = BatchReader { blobs: group, next: 0, header: Vec::new(), header_pos: 0, file: None };
            let req = with_headers(agent.post(url).header("Content-Type", "application/x-artefact-batch"), &opts.headers);
            let resp = req.send(ureq::SendBody::from_reader(&mut reader)).map_err(|e| match e {
                ureq::Error::Io(io) if io.kind() == io::ErrorKind::InvalidData || io.kind() == io::ErrorKind::NotFound => {
                    Failure::fatal(io.to_string())
                }
                other => Failure::from(other),
            })?;
            let _ = checked(resp, &[], || "batch upload".to_string())?.body_mut().read_to_vec();
            Ok(())
        });
        if r.is_ok() {
            tick(progress, group.len() as u64, group.iter().map(|b| b.size).sum());
        }
        r
    })
}

/// POST `request_json` to `url` and place each framed blob of the answer at the
/// destination `want` names for it (verified). Blobs the answer lacks, or that fail to
/// verify, are asked for again (up to `opts.retries` times); one result per `want` item.
pub fn fetch_batch(
    url: &str,
    request_json: &dyn Fn(&[&BatchBlob]) -> String,
    want: &[BatchBlob],
    opts: &Options,
    progress: Option<&Progress>,
) -> Vec<Result<(), String>> {
    let agent = agent(opts);
    let mut results: Vec<Option<Result<(), String>>> = vec![None; want.len()];
    let mut last_error = String::new();
    for attempt in 0..=opts.retries {
        let todo: Vec<usize> = (0..want.len()).filter(|&i| results[i].is_none()).collect();
        if todo.is_empty() {
            break;
        }
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100 << attempt.min(6)));
        }
        let blobs: Vec<&BatchBlob> = todo.iter().map(|&i| &want[i]).collect();
        match fetch_once(&agent, url, &request_json(&blobs), &blobs, opts, progress) {
            Ok(done) => {
                for (k, outcome) in done.into_iter().enumerate() {
                    match outcome {
                        Some(Ok(())) => results[todo[k]] = Some(Ok(())),
                        Some(Err(f)) if !f.retry => results[todo[k]] = Some(Err(f.message)),
                        Some(Err(f)) => last_error = f.message,
                        None => {}
                    }
                }
            }
            Err(f) if !f.retry => {
                for &i in &todo {
                    results[i] = Some(Err(f.message.clone()));
                }
            }
            Err(f) => last_error = f.message,
        }
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| Err(format!("{}: not received ({last_error})", want[i].path.display())))
        })
        .collect()
}

type Outcome = Option<Result<(), Failure>>;

fn fetch_once(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    blobs: &[&BatchBlob],
    opts: &Options,
    progress: Option<&Progress>,
) -> Result<Vec<Outcome>, Failure> {
    let req = with_headers(agent.post(url).header("Content-Type", "application/json"), &opts.headers);
    let mut resp = checked(req.send(body)?, &[], || "batch download".to_string())?;
    let mut index: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (k, b) in blobs.iter().enumerate() {
        index.entry((b.algorithm.name(), b.digest.as_str())).or_default().push(k);
    }
    let mut out: Vec<Outcome> = (0..blobs.len()).map(|_| None).collect();
    let mut reader = BufReader::with_capacity(256 * 1024, resp.body_mut().with_config().reader());
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break; // a stream cut short leaves the rest None: asked for again
        }
        let text = std::str::from_utf8(&line).map_err(|_| Failure::transient("batch download: bad header"))?;
        let mut parts = text.trim_end().split(' ');
        let (Some(alg), Some(digest), Some(size), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Failure::transient(format!("batch download: bad header {text:?}")));
        };
        let size: u64 = size.parse().map_err(|_| Failure::transient("batch download: bad size"))?;
        let algorithm = Algorithm::parse(alg).ok_or_else(|| Failure::transient("batch download: bad algorithm"))?;
        let Some(slots) = index.get(&(alg, digest)).cloned() else {
            return Err(Failure::fatal(format!("batch download: server sent a blob not asked for: {digest}")));
        };
        let first = slots[0];
        let mut limited = (&mut reader).take(size);
        let r = write_verified(&mut limited, &blobs[first].path, digest, algorithm, Some(size));
        let ok = r.is_ok();
        if ok {
            tick(progress, 1, size);
        } else {
            // drain what is left of this blob so the next header lines up
            io::copy(&mut limited, &mut io::sink())?;
        }
        for &k in &slots[1..] {
            out[k] = Some(if ok {
                std::fs::copy(&blobs[first].path, &blobs[k].path).map(|_| ()).map_err(Failure::from)
            } else {
                Err(Failure::transient("duplicate of a failed blob"))
            });
        }
        out[first] = Some(r.map(|_| ()));
    }
    Ok(out)
}

/// Group blobs into batches of at most `max_count` blobs and `max_bytes` bytes.
pub fn group_blobs(blobs: Vec<BatchBlob>, max_count: usize, max_bytes: u64) -> Vec<Vec<BatchBlob>> {
    let mut groups = Vec::new();
    let mut cur: Vec<BatchBlob> = Vec::new();
    let mut bytes = 0u64;
    for b in blobs {
        if !cur.is_empty() && (cur.len() >= max_count || bytes + b.size > max_bytes) {
            groups.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += b.size;
        cur.push(b);
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

/// `fetch_batch` for each group, groups in parallel; one result per blob, in order.
pub fn fetch_batches(
    url: &str,
    request_json: &(dyn Fn(&[&BatchBlob]) -> String + Sync),
    groups: &[Vec<BatchBlob>],
    opts: &Options,
    progress: Option<&Progress>,
) -> Vec<Vec<Result<(), String>>> {
    let inner = Options { concurrency: 1, ..opts.clone() };
    parallel(groups.len(), opts.concurrency, |i| fetch_batch(url, request_json, &groups[i], &inner, progress))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;

    fn blob(dir: &std::path::Path, name: &str, data: &[u8]) -> BatchBlob {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        BatchBlob { path, algorithm: Algorithm::Md5, digest: hash_bytes(data, Algorithm::Md5), size: data.len() as u64 }
    }

    #[test]
    fn batch_body_is_header_then_bytes_per_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = vec![blob(dir.path(), "a", b"alpha"), blob(dir.path(), "b", b""), blob(dir.path(), "c", b"gamma!")];
        let mut reader = BatchReader { blobs: &blobs, next: 0, header: Vec::new(), header_pos: 0, file: None };
        let mut body = Vec::new();
        reader.read_to_end(&mut body).unwrap();
        let expected = format!("MD5 {} 5\nalphaMD5 {} 0\nMD5 {} 6\ngamma!", blobs[0].digest, blobs[1].digest, blobs[2].digest);
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn a_file_that_changed_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = blob(dir.path(), "a", b"alpha");
        b.size = 4;
        let blobs = [b];
        let mut reader = BatchReader { blobs: &blobs, next: 0, header: Vec::new(), header_pos: 0, file: None };
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("expected 4"), "{err}");
    }

    #[test]
    fn groups_respect_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Vec<_> = (0..10).map(|i| blob(dir.path(), &i.to_string(), &[b'x'; 100])).collect();
        let sizes: Vec<usize> = group_blobs(blobs.clone(), 4, 1000).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let sizes: Vec<usize> = group_blobs(blobs, 100, 250).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 2, 2, 2]);
    }

    #[test]
    fn only_content_matching_its_digest_is_placed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("obj/ab/cdef");
        let good = hash_bytes(b"content", Algorithm::Md5);
        let err = write_verified(&mut &b"tampered"[..], &dest, &good, Algorithm::Md5, None).unwrap_err();
        assert!(err.message.contains("hashes to"), "{}", err.message);
        assert!(!dest.exists());
        let err = write_verified(&mut &b"conte"[..], &dest, &good, Algorithm::Md5, Some(7)).unwrap_err();
        assert!(err.message.contains("truncated"), "{}", err.message);
        assert_eq!(write_verified(&mut &b"content"[..], &dest, &good, Algorithm::Md5, Some(7)).unwrap(), 7);
        assert_eq!(std::fs::read(&dest).unwrap(), b"content");
        assert_eq!(std::fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1, "no temp file left");
    }
}
