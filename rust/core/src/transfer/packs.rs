//! Small blobs read out of packs (the server's S3 store writes many small blobs to one
//! object): each item names its pack's presigned GET URL and the blob's offset and
//! length. Neighbouring blobs of one pack are fetched by one ranged GET (a gap of up to
//! `GAP` bytes is read and thrown away rather than paying another request), a pack
//! mostly wanted is fetched whole; the spans run in parallel, each blob is hashed as
//! it streams and renamed into place only if it matches (`write_verified`), and a span
//! that fails is retried for the blobs it has not placed yet.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;

use super::get::write_verified;
use super::retry::{with_retries, Failure, FailureKind, Options};
use super::{agent, checked, parallel, with_headers};
use crate::digest::Algorithm;
use crate::progress::{tick, Progress};

/// Bytes between two wanted blobs of a pack worth reading through instead of a second
/// request (a request costs ~ms on a local endpoint, tens of ms on AWS: ~1 MiB of data).
pub const GAP: u64 = 1 << 20;
/// At most this many bytes per ranged GET, so that one large pack still fans out.
pub const MAX_SPAN: u64 = 8 << 20;

/// One blob inside a pack: `length` bytes at `offset` of the object at `url`
/// (`pack_size` bytes in all), to be placed at `dest` if it hashes to `digest`.
#[derive(Clone, Debug)]
pub struct PackItem {
    pub url: String,
    pub offset: u64,
    pub length: u64,
    pub pack_size: u64,
    pub dest: PathBuf,
    pub digest: String,
    pub algorithm: Algorithm,
}

/// One GET: items (indexes, by offset) of one pack; `whole` when no Range is sent.
#[derive(Debug, PartialEq)]
struct Span {
    items: Vec<usize>,
    whole: bool,
}

/// Plan the GETs: per pack, neighbouring wanted ranges coalesced; the whole pack in
/// one plain GET when at least half of it is wanted and it fits one span.
fn plan(items: &[PackItem]) -> Vec<Span> {
    let mut packs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        packs.entry(it.url.as_str()).or_default().push(i);
    }
    let mut spans = Vec::new();
    for (_url, mut idx) in packs {
        idx.sort_by_key(|&i| (items[i].offset, i));
        let size = items[idx[0]].pack_size;
        let wanted: u64 = idx.iter().map(|&i| items[i].length).sum();
        if size <= MAX_SPAN && wanted * 2 >= size {
            spans.push(Span { items: idx, whole: true });
            continue;
        }
        let mut cur: Vec<usize> = Vec::new();
        let (mut start, mut end) = (0u64, 0u64);
        for i in idx {
            let (o, l) = (items[i].offset, items[i].length);
            if !cur.is_empty() && (o > end + GAP || o + l - start > MAX_SPAN) {
                spans.push(Span { items: std::mem::take(&mut cur), whole: false });
            }
            if cur.is_empty() {
                start = o;
                end = o;
            }
            end = end.max(o + l);
            cur.push(i);
        }
        if !cur.is_empty() {
            spans.push(Span { items: cur, whole: false });
        }
    }
    spans
}

/// Fetch every item (spans up to `opts.concurrency` at once); one result per item, in order.
pub fn get_packed(items: &[PackItem], opts: &Options, progress: Option<&Progress>) -> Vec<Result<(), String>> {
    let agent = agent(opts);
    let spans = plan(items);
    let per_span = parallel(spans.len(), opts.concurrency, |s| fetch_span(&agent, items, &spans[s], opts, progress));
    let mut out: Vec<Result<(), String>> = vec![Ok(()); items.len()];
    for (span, results) in spans.iter().zip(per_span) {
        for (&i, r) in span.items.iter().zip(results) {
            out[i] = r;
        }
    }
    out
}

/// One span with retries: each attempt asks only for the blobs not placed yet.
fn fetch_span(
    agent: &ureq::Agent,
    items: &[PackItem],
    span: &Span,
    opts: &Options,
    progress: Option<&Progress>,
) -> Vec<Result<(), String>> {
    let mut done = vec![false; span.items.len()];
    let mut errors: Vec<Option<String>> = vec![None; span.items.len()];
    let r = with_retries(opts, || {
        let todo: Vec<usize> = (0..span.items.len()).filter(|&k| !done[k]).collect();
        if todo.is_empty() {
            return Ok(());
        }
        let first = &items[span.items[todo[0]]];
        let start = if span.whole { 0 } else { first.offset };
        let end = todo.iter().map(|&k| items[span.items[k]].offset + items[span.items[k]].length).max().unwrap_or(start);
        let mut req = with_headers(agent.get(&first.url), &opts.headers);
        let ranged = !span.whole && end > start;
        if ranged {
            req = req.header("Range", &format!("bytes={start}-{}", end - 1));
        }
        let mut resp = checked(req.call()?, &[], || format!("download of pack range for {}", first.dest.display()))?;
        let code = resp.status().as_u16();
        // A store that ignores Range answers 200 with the whole pack: skip to `start`.
        let mut pos = if code == 206 { start } else { 0 };
        let mut reader = resp.body_mut().with_config().reader();
        let mut failed = None;
        for &k in &todo {
            let it = &items[span.items[k]];
            if it.offset < pos {
                return Err(Failure::fatal(format!("{}: overlapping pack ranges", it.dest.display())));
            }
            io::copy(&mut (&mut reader).take(it.offset - pos), &mut io::sink())?;
            pos = it.offset;
            let mut limited = (&mut reader).take(it.length);
            match write_verified(&mut limited, &it.dest, &it.digest, it.algorithm, Some(it.length)) {
                Ok(n) => {
                    done[k] = true;
                    errors[k] = None;
                    tick(progress, 1, n);
                }
                Err(f) => {
                    // a mismatch read all `length` bytes, so the next blob still lines up
                    let left = io::copy(&mut limited, &mut io::sink())?;
                    if f.kind == FailureKind::Truncated || left > 0 {
                        return Err(f);
                    }
                    errors[k] = Some(f.message.clone());
                    failed = failed.or(Some(f));
                }
            }
            pos += it.length;
        }
        match failed {
            Some(f) => Err(f),
            None => Ok(()),
        }
    });
    let span_error = r.err();
    (0..span.items.len())
        .map(|k| {
            if done[k] {
                Ok(())
            } else {
                Err(errors[k].clone().or_else(|| span_error.clone()).unwrap_or_else(|| "not received".to_string()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_bytes;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn item(url: &str, offset: u64, length: u64, pack_size: u64, dest: PathBuf, data: &[u8]) -> PackItem {
        PackItem {
            url: url.to_string(),
            offset,
            length,
            pack_size,
            dest,
            digest: hash_bytes(data, Algorithm::Md5),
            algorithm: Algorithm::Md5,
        }
    }

    #[test]
    fn neighbours_coalesce_and_mostly_wanted_packs_go_whole() {
        let d = PathBuf::from("/x");
        let big = 64 << 20;
        let items = vec![
            item("a", 0, 30, 100, d.clone(), b""),
            item("a", 50, 30, 100, d.clone(), b""),
            item("b", 0, 10, big, d.clone(), b""),
            item("b", 20, 10, big, d.clone(), b""),
            item("b", 10 << 20, 10, big, d.clone(), b""),
        ];
        let spans = plan(&items);
        assert_eq!(spans.len(), 3, "{spans:?}");
        assert!(spans.contains(&Span { items: vec![0, 1], whole: true }));
        assert!(spans.contains(&Span { items: vec![2, 3], whole: false }));
        assert!(spans.contains(&Span { items: vec![4], whole: false }));
    }

    /// A loopback server answering ranged GETs of `pack` (206), counting requests.
    fn serve(pack: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/pack", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut range = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        let (a, b) = v.trim().split_once('-').unwrap();
                        range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
                    }
                }
                seen.push(format!("{range:?}"));
                let (status, body) = match range {
                    Some((a, b)) => ("206 Partial Content", &pack[a..=b]),
                    None => ("200 OK", &pack[..]),
                };
                write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
                stream.write_all(body).unwrap();
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn blobs_are_split_out_of_one_ranged_get_and_a_bad_one_is_never_placed() {
        let dir = tempfile::tempdir().unwrap();
        let mut pack = vec![b'#'; 3 << 20];
        let (a, b) = (b"first blob".to_vec(), b"second blob".to_vec());
        pack[100..110].copy_from_slice(&a);
        pack[200..211].copy_from_slice(&b);
        let size = pack.len() as u64;
        let (url, server) = serve(pack, 1);
        let items = vec![
            item(&url, 200, 11, size, dir.path().join("o/b"), &b),
            item(&url, 100, 10, size, dir.path().join("o/a"), &a),
        ];
        let opts = Options { retries: 0, ..Options::default() };
        let results = get_packed(&items, &opts, None);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(std::fs::read(dir.path().join("o/a")).unwrap(), a);
        assert_eq!(std::fs::read(dir.path().join("o/b")).unwrap(), b);
        assert_eq!(server.join().unwrap(), vec!["Some((100, 210))".to_string()], "one ranged GET");

        // the same pack with the second blob's bytes tampered: the first is placed, the second not
        let mut pack = vec![b'#'; 3 << 20];
        pack[100..110].copy_from_slice(&a);
        pack[200..211].copy_from_slice(b"tampered!!!");
        let (url, server) = serve(pack, 1);
        let items = vec![
            item(&url, 100, 10, size, dir.path().join("p/a"), &a),
            item(&url, 200, 11, size, dir.path().join("p/b"), &b),
        ];
        let results = get_packed(&items, &opts, None);
        server.join().unwrap();
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert!(err.contains("p/b") && err.contains("hashes to"), "{err}");
        assert!(!dir.path().join("p/b").exists());
        assert_eq!(std::fs::read_dir(dir.path().join("p")).unwrap().count(), 1, "no temp file left");
    }
}
