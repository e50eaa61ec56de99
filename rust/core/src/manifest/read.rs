//! Reading a stored manifest file: two halves parsed on two cores while its MD5 is
//! checked, because a repeat download is mostly this parse (100k entries, 10 MB).
//!
//! JSON cannot be split just anywhere, so a candidate cut is proven before it is used.
//! The cut sits at `},"` between two entries. The first half is the document up to that
//! `}` with `}}` written over the `,"` after it: it parses only if those two braces
//! close exactly `contents` and the top level, that is, if the cut was between two
//! entries of `contents` and not inside a string or a nested object. The entry after
//! the cut is parsed from a small copy (its first byte was overwritten); the rest,
//! behind a `{` written over the next `,`, is the remaining entries. Anything
//! unexpected (no cut, keys after `contents`, any error) parses the original bytes
//! serially instead, which also gives wandb's messages in wandb's order.

use super::{md5_matches, parse_whole, Contents, ContentsSeed, Manifest, ManifestError, ManifestSeed, RawManifest};
use crate::digest::{hex, unhex16, Algorithm, Hasher};
use crate::mapped::MappedCopy;
use crate::statcache::{now_ns, StatCache};
use crate::walk::StatKey;
use std::fs::File;
use std::io;
use std::path::Path;

/// Smaller files are parsed serially: splitting would not pay for itself.
const MIN_SPLIT_BYTES: usize = 256 * 1024;

impl Manifest {
    /// A stored manifest file, which must hash to `md5_hex`. Mapped, not read: the
    /// bytes stay in the page cache (see `mapped.rs`); stored files are never rewritten.
    /// A file the stat cache knows unchanged since it last matched `md5_hex` is not
    /// hashed again, as any other file would not be; one that matches now is recorded.
    pub fn read_file(path: &Path, md5_hex: &str, statcache: Option<&StatCache>) -> io::Result<Result<Self, ManifestError>> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let key = StatKey::of(&meta);
        let want = unhex16(md5_hex);
        let cache = statcache.zip(want);
        let known = cache.is_some_and(|(sc, raw)| sc.lookup_raw(&key, Algorithm::Md5) == Some(raw));
        let started = now_ns();
        let mut data = MappedCopy::of(&file, meta.len())?;
        let parsed = Self::read_checked(&mut data, (!known).then_some(md5_hex));
        if let (Ok(_), false, Some((sc, raw))) = (&parsed, known, cache) {
            sc.record(&key, Algorithm::Md5, raw, started);
        }
        Ok(parsed)
    }

    /// A manifest file's bytes, which must hash to `md5_hex` (else `Corrupt`). Three
    /// bytes may be overwritten while it runs; they are as they were when it returns.
    pub fn read_verified(data: &mut [u8], md5_hex: &str) -> Result<Self, ManifestError> {
        Self::read_checked(data, Some(md5_hex))
    }

    /// `read_verified`, or with None a parse of bytes already known to be right.
    fn read_checked(data: &mut [u8], md5_hex: Option<&str>) -> Result<Self, ManifestError> {
        let Some(cut) = cut_points(data) else {
            return match md5_hex {
                Some(md5) => Self::from_slice_verified(data, md5),
                None => Self::from_slice(data),
            };
        };
        // None: the MD5 matched but the halves did not parse (bytes as they were).
        parse_halves(data, cut, md5_hex).unwrap_or_else(|| Self::from_slice(data))
    }
}

/// The two halves in parallel (and the MD5 if given), or None where the serial parse
/// must decide.
fn parse_halves(data: &mut [u8], (a, b, end): (usize, usize, usize), md5_hex: Option<&str>) -> Option<Result<Manifest, ManifestError>> {
    let mut middle = Vec::with_capacity(b - a + 1);
    middle.push(b'{');
    middle.extend_from_slice(&data[a..b - 1]);
    middle.push(b'}');
    // data[a - 1..=a] is `,"` and data[b - 1] is `,`: restored below if unused.
    data[a - 1] = b'}';
    data[a] = b'}';
    data[b - 1] = b'{';
    let d = &*data;
    // The MD5 runs on one core beside the smaller half: the first half is 55%.
    let (sum, (first, (mid, rest))) = crate::pool::install(|| {
        rayon::join(
            || {
                md5_hex.map(|_| {
                    let mut h = Hasher::new(Algorithm::Md5);
                    for part in [&d[..a - 1], b",\"", &d[a + 1..b - 1], b",", &d[b..]] {
                        h.update(part);
                    }
                    hex(&h.finish())
                })
            },
            || rayon::join(|| document(&d[..=a], d.len() / 64), || rayon::join(|| contents(&middle, 1), || contents(&d[b - 1..end], (end - b) / 64))),
        )
    });
    if let (Some(sum), Some(want)) = (sum, md5_hex) {
        if let Err(e) = md5_matches(&sum, want) {
            return Some(Err(e));
        }
    }
    if let (Some(mut raw), Some(mid), Some(rest)) = (first, mid, rest) {
        if let (Some(c), false) = (raw.contents.as_mut(), raw.after_contents) {
            c.entries.reserve(mid.entries.len() + rest.entries.len());
            for part in [mid, rest] {
                c.error = c.error.take().or(part.error); // the first, in document order
                for (path, entry) in part.entries {
                    c.entries.insert(path, entry); // as the serial parse: a repeat keeps its place
                }
            }
            return Some(raw.into_manifest());
        }
    }
    data[a - 1] = b',';
    data[a] = b'"';
    data[b - 1] = b',';
    None
}

/// (a, b, end): the cut after an entry (`a` is the `"` of `},"`), the next one, and the
/// last non-blank byte (the top level's `}`); None when the file is small or has none.
fn cut_points(data: &[u8]) -> Option<(usize, usize, usize)> {
    if data.len() < MIN_SPLIT_BYTES {
        return None;
    }
    let find = |from: usize| data.get(from..)?.windows(3).position(|w| w == b"},\"").map(|i| from + i + 2);
    let a = find(data.len() * 11 / 20)?;
    let b = find(a + 1)?;
    let end = data.iter().rposition(|c| !c.is_ascii_whitespace())?;
    (end > b).then_some((a, b, end))
}

/// A whole document (the first half, closed by the braces written at the cut).
fn document(data: &[u8], capacity: usize) -> Option<RawManifest> {
    let raw = parse_whole(data, ManifestSeed { capacity }).ok()?;
    raw.contents.is_some().then_some(raw)
}

/// A run of entries as one JSON object.
fn contents(data: &[u8], capacity: usize) -> Option<Contents> {
    parse_whole(data, ContentsSeed { capacity }).ok()?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Entry;
    use std::fmt::Write as _;

    fn md5_hex(data: &[u8]) -> String {
        let mut h = Hasher::new(Algorithm::Md5);
        h.update(data);
        hex(&h.finish())
    }

    fn big(n: usize) -> Manifest {
        let mut m = Manifest::new("V2", None);
        for i in 0..n {
            let path = format!("d{}/f{i:06}.bin", i % 7);
            let e = Entry::new(path, "QJl5fH61scapNH4YBrwAMw==", Some(i as u64));
            m.add_entry(e, false).unwrap();
        }
        m
    }

    #[test]
    fn split_parse_equals_serial_parse() {
        let m = big(20_000);
        let json = m.to_wire_json(false);
        let parsed = parse_halves(&mut json.clone(), cut_points(&json).unwrap(), Some(&md5_hex(&json))).expect("split").unwrap();
        assert_eq!(parsed.entries, Manifest::from_slice(&json).unwrap().entries);
        assert_eq!(parsed.entries.len(), 20_000);
        let sdk = m.to_sdk_json().into_bytes();
        assert_eq!(Manifest::read_verified(&mut sdk.clone(), &md5_hex(&sdk)).unwrap().entries, m.entries);
    }

    #[test]
    fn a_file_the_stat_cache_vouches_for_is_parsed_without_hashing_and_a_changed_one_is_hashed() {
        let d = tempfile::tempdir().unwrap();
        let sc = StatCache::open(&d.path().join("sc"), 1000);
        let json = big(20_000).to_wire_json(false);
        let (path, md5) = (d.path().join("m.json"), md5_hex(&json));
        std::fs::write(&path, &json).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60)); // past the racy margin
        let key = StatKey::of(&std::fs::metadata(&path).unwrap());
        let first = Manifest::read_file(&path, &md5, Some(&sc)).unwrap().unwrap();
        assert_eq!(sc.lookup_raw(&key, Algorithm::Md5), unhex16(&md5), "verified, then recorded");
        let second = Manifest::read_file(&path, &md5, Some(&sc)).unwrap().unwrap();
        assert_eq!(first.entries, second.entries);
        // The caller's digest still has to be the one recorded.
        let other = "0123456789abcdef0123456789abcdef";
        assert!(matches!(Manifest::read_file(&path, other, Some(&sc)).unwrap(), Err(ManifestError::Corrupt(_))));
        // A changed file has another key: it is hashed again, and its corruption found.
        let mut bad = json.clone();
        bad[100] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(Manifest::read_file(&path, &md5, Some(&sc)).unwrap(), Err(ManifestError::Corrupt(_))));
        assert!(Manifest::read_file(&d.path().join("missing"), &md5, Some(&sc)).is_err());
    }

    #[test]
    fn cuts_inside_strings_or_nested_objects_fall_back() {
        // Keys and strings ending in `},` and nested objects put `},"` where no cut may be
        // made: wherever the cut lands, the result is the serial one.
        let tricky = ["p},", r#"x\"},"#, r"y\\},", "plain"];
        for (k, t) in tricky.iter().enumerate() {
            let mut doc = String::from(r#"{"version":1,"storagePolicy":"wandb-storage-policy-v1","storagePolicyConfig":{"storageLayout":"V2"},"contents":{"#);
            for i in 0..6000 {
                let sep = if i == 0 { "" } else { "," };
                write!(doc, r#"{sep}"{i}/{t}":{{"digest":"QJl5fH61scapNH4YBrwAMw==","size":{i},"extra":{{"a":{{"b":"{t}"}},"c":1}}}}"#).unwrap();
            }
            doc.push_str("}}");
            let data = doc.into_bytes();
            let serial = Manifest::from_slice(&data).unwrap();
            let split = Manifest::read_verified(&mut data.clone(), &md5_hex(&data)).unwrap();
            assert_eq!(split.entries, serial.entries, "case {k}");
        }
    }

    #[test]
    fn errors_and_corruption_match_the_serial_parse() {
        let json = big(20_000).to_wire_json(false);
        let mut bad = json.clone();
        let pos = bad.len() - 20 - bad.iter().rev().skip(20).position(|&c| c == b':').unwrap();
        bad[pos] = b'#';
        let serial = Manifest::from_slice(&bad).unwrap_err().to_string();
        let split = Manifest::read_verified(&mut bad.clone(), &md5_hex(&bad)).unwrap_err().to_string();
        assert_eq!(split, serial);
        match Manifest::read_verified(&mut bad, &md5_hex(&json)) {
            Err(ManifestError::Corrupt(msg)) => assert!(msg.contains(&md5_hex(&json)), "{msg}"),
            other => panic!("{other:?}"),
        }
        // Refused entries (wire layout: sorted paths): one in each half, then only in
        // the second. wandb names the first in the document, as the serial parse does.
        let text = String::from_utf8(json.clone()).unwrap();
        let refuse = |t: &str, n: u64| t.replacen(&format!(r#""size":{n},"#), r#""size":-1,"#, 1);
        for (bad, first) in [(refuse(&refuse(&text, 1), 6), "d1/f000001.bin"), (refuse(&text, 6), "d6/f000006.bin")] {
            let bad = bad.into_bytes();
            let msg = parse_halves(&mut bad.clone(), cut_points(&bad).unwrap(), Some(&md5_hex(&bad))).expect("split").unwrap_err().to_string();
            assert!(msg.contains(&format!("contents.{first}.size")), "{msg}");
            assert_eq!(msg, Manifest::from_slice(&bad).unwrap_err().to_string());
        }
        // Keys after `contents` are fine, only not split.
        let mut after = json[..json.len() - 1].to_vec();
        after.extend_from_slice(br#","later":{"x":1}}"#);
        let parsed = Manifest::read_verified(&mut after.clone(), &md5_hex(&after)).unwrap();
        assert_eq!(parsed.entries.len(), 20_000);
    }
}
