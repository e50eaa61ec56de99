//! The artifact manifest (wandb's `ArtifactManifestV1`): ordered entries, the artifact
//! digest, and both JSON layouts.
//!
//! * The SDK layout is what `to_manifest_json()` returns in Python: entry fields in the
//!   order digest, ref, birthArtifactID, size, extra; defaults omitted; insertion order.
//! * The wire layout is what wandb-core uploads as `wandb_manifest.json`: Go's
//!   `json.Marshal` of its own struct (sorted map keys, HTML-safe escapes, `size` and
//!   `skip_cache` always present, storageLayout forced to V2).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::{hex, Algorithm, Hasher};

mod read;

pub const STORAGE_POLICY: &str = "wandb-storage-policy-v1";
const DIGEST_HEADER: &[u8] = b"wandb-artifact-manifest-v1\n";

/// One manifest entry. Compact on purpose (80 bytes: a million of them must fit in a
/// few hundred MB, and a repeat download parses 100k into fresh memory): the path is
/// shared with the map key, and the fields most entries lack share one box.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    pub path: Arc<str>,
    pub digest: Box<str>,
    pub size: Option<u64>,
    pub local_path: Option<Box<str>>,
    /// None when `ref`, `birthArtifactID` and `extra` are all absent (see `set_rare`).
    rare: Option<Box<Rare>>,
    pub skip_cache: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Rare {
    ref_: Option<Box<str>>,
    birth_artifact_id: Option<Box<str>>,
    /// None when empty.
    extra: Option<Map<String, Value>>,
}

impl Entry {
    /// An entry with no reference, `extra`, local path or birth artifact. Takes owned
    /// strings where the caller has them: a million inserts should not copy twice.
    pub fn new(path: impl Into<Arc<str>>, digest: impl Into<Box<str>>, size: Option<u64>) -> Self {
        Self { path: path.into(), digest: digest.into(), size, local_path: None, rare: None, skip_cache: false }
    }

    /// The hash used for this entry's bytes: `extra.alg`, MD5 when absent or unknown.
    pub fn algorithm(&self) -> Algorithm {
        self.extra()
            .and_then(|x| x.get("alg"))
            .and_then(Value::as_str)
            .and_then(Algorithm::parse)
            .unwrap_or(Algorithm::Md5)
    }

    pub fn ref_(&self) -> Option<&str> {
        self.rare.as_ref()?.ref_.as_deref()
    }

    pub fn birth_artifact_id(&self) -> Option<&str> {
        self.rare.as_ref()?.birth_artifact_id.as_deref()
    }

    /// `extra`, None when empty.
    pub fn extra(&self) -> Option<&Map<String, Value>> {
        self.rare.as_ref()?.extra.as_ref()
    }

    /// Set `ref`, `birthArtifactID` and `extra` (an empty `extra` is none).
    pub fn set_rare(&mut self, ref_: Option<Box<str>>, birth_artifact_id: Option<Box<str>>, extra: Option<Map<String, Value>>) {
        let extra = extra.filter(|x| !x.is_empty());
        self.rare = (ref_.is_some() || birth_artifact_id.is_some() || extra.is_some())
            .then(|| Box::new(Rare { ref_, birth_artifact_id, extra }));
    }

    /// `set_rare`, for building.
    #[must_use]
    pub fn with_rare(mut self, ref_: Option<Box<str>>, birth_artifact_id: Option<Box<str>>, extra: Option<Map<String, Value>>) -> Self {
        self.set_rare(ref_, birth_artifact_id, extra);
        self
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Same path, different digest, no overwrite.
    DuplicatePath(String),
    /// A manifest document wandb would refuse; the message is wandb's.
    Invalid(String),
    /// Bytes that do not match the content address they were stored under.
    Corrupt(String),
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DuplicatePath(p) => write!(f, "Cannot add the same path twice: {p:?}"),
            Self::Invalid(m) | Self::Corrupt(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ManifestError {}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    /// "V1" or "V2"; None when a parsed manifest had none.
    pub storage_layout: Option<String>,
    pub storage_region: Option<String>,
    pub entries: IndexMap<Arc<str>, Entry>,
}

impl Manifest {
    pub fn new(storage_layout: &str, storage_region: Option<String>) -> Self {
        Self { storage_layout: Some(storage_layout.to_owned()), storage_region, entries: IndexMap::new() }
    }

    /// wandb's `add_entry`: a path already present with another digest needs `overwrite`.
    /// A replaced entry keeps its position, as a Python dict does.
    pub fn add_entry(&mut self, entry: Entry, overwrite: bool) -> Result<(), ManifestError> {
        // One hash lookup per add: this runs a million times for a big manifest.
        match self.entries.entry(Arc::clone(&entry.path)) {
            indexmap::map::Entry::Occupied(mut o) => {
                if !overwrite && o.get().digest != entry.digest {
                    return Err(ManifestError::DuplicatePath(entry.path.to_string()));
                }
                o.insert(entry);
            }
            indexmap::map::Entry::Vacant(v) => {
                v.insert(entry);
            }
        }
        Ok(())
    }

    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        self.entries.shift_remove(path)
    }

    /// Remove every entry whose path starts with `prefix`; the number removed.
    pub fn remove_prefix(&mut self, prefix: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|k, _| !k.starts_with(prefix));
        before - self.entries.len()
    }

    /// Sum of the known sizes (references without a size count 0).
    pub fn size(&self) -> u64 {
        self.entries.values().filter_map(|e| e.size).sum()
    }

    /// The artifact digest: hex of H("wandb-artifact-manifest-v1\n" + "path:digest\n"...)
    /// over paths in byte order. Only path and digest contribute.
    pub fn digest(&self, alg: Algorithm) -> String {
        digest_of_sorted(alg, self.sorted_entries().into_iter().map(|(path, e)| (path, &*e.digest)))
    }

    /// Entries in path byte order (= code point order), sorted in parallel when big.
    fn sorted_entries(&self) -> Vec<(&str, &Entry)> {
        use rayon::slice::ParallelSliceMut as _;
        let mut v: Vec<(&str, &Entry)> = self.entries.iter().map(|(k, e)| (&**k, e)).collect();
        if v.len() > 50_000 {
            crate::pool::install(|| v.par_sort_unstable_by(|a, b| a.0.cmp(b.0)));
        } else {
            v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        v
    }

    /// `to_manifest_json()` as a JSON string (SDK layout, insertion order).
    pub fn to_sdk_json(&self) -> String {
        let mut s = String::with_capacity(64 + self.entries.len() * 96);
        self.write_sdk_json(&mut s);
        s
    }

    /// The SDK layout into any sink; a `ByteCount` pass first lets a caller fill an
    /// exact-size buffer (a 1M-entry manifest is 80 MB of JSON: never hold it twice).
    pub fn write_sdk_json(&self, s: &mut impl JsonOut) {
        s.put("{\"version\":1,\"storagePolicy\":\"");
        s.put(STORAGE_POLICY);
        s.put("\",\"storagePolicyConfig\":{");
        let mut first = true;
        if let Some(l) = &self.storage_layout {
            s.put("\"storageLayout\":");
            push_json_str(s, l);
            first = false;
        }
        if let Some(r) = &self.storage_region {
            if !first {
                s.put(",");
            }
            s.put("\"storageRegion\":");
            push_json_str(s, r);
        }
        s.put("},\"contents\":{");
        for (i, (path, e)) in self.entries.iter().enumerate() {
            if i > 0 {
                s.put(",");
            }
            push_json_str(s, path);
            s.put(":{\"digest\":");
            push_json_str(s, &e.digest);
            if let Some(r) = e.ref_() {
                s.put(",\"ref\":");
                push_json_str(s, r);
            }
            if let Some(b) = e.birth_artifact_id() {
                s.put(",\"birthArtifactID\":");
                push_json_str(s, b);
            }
            if let Some(n) = e.size {
                s.put(",\"size\":");
                s.put(itoa_u64(n, &mut [0; 20]));
            }
            if let Some(extra) = e.extra() {
                s.put(",\"extra\":");
                let _ = serde_json::to_writer(IoOut(s), extra);
            }
            s.put("}");
        }
        s.put("}}");
    }

    /// The manifest as wandb-core uploads it (Go `json.Marshal` of its Manifest struct).
    pub fn to_wire_json(&self, include_local_path: bool) -> Vec<u8> {
        let mut s = String::with_capacity(64 + self.entries.len() * 128);
        s.push_str("{\"version\":1,\"storagePolicy\":\"");
        s.push_str(STORAGE_POLICY);
        // wandb-core hard-codes V2 and takes only the region from the SDK.
        s.push_str("\",\"storagePolicyConfig\":{\"storageLayout\":\"V2\"");
        if let Some(r) = &self.storage_region {
            s.push_str(",\"storageRegion\":");
            push_go_str(&mut s, r);
        }
        s.push_str("},\"contents\":{");
        for (i, (path, e)) in self.sorted_entries().into_iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            push_go_str(&mut s, path);
            s.push_str(":{\"digest\":");
            push_go_str(&mut s, &e.digest);
            if let Some(r) = e.ref_() {
                s.push_str(",\"ref\":");
                push_go_str(&mut s, r);
            }
            let _ = write!(s, ",\"size\":{}", e.size.unwrap_or(0));
            if include_local_path {
                if let Some(lp) = &e.local_path {
                    s.push_str(",\"local_path\":");
                    push_go_str(&mut s, lp);
                }
            }
            if let Some(b) = e.birth_artifact_id() {
                s.push_str(",\"birthArtifactID\":");
                push_go_str(&mut s, b);
            }
            s.push_str(",\"skip_cache\":");
            s.push_str(if e.skip_cache { "true" } else { "false" });
            if let Some(extra) = e.extra() {
                s.push_str(",\"extra\":");
                push_go_map(&mut s, extra);
            }
            s.push('}');
        }
        s.push_str("}}");
        s.into_bytes()
    }

    /// Parse either layout. `local_path` and `skip_cache` are read when present; unknown
    /// keys are ignored. Typed parsing: no JSON tree is built for a million entries.
    pub fn from_json(data: &str) -> Result<Self, ManifestError> {
        Self::from_slice(data.as_bytes())
    }

    /// `from_slice` of a content-addressed file: its MD5 (hex) must be `md5_hex`. The
    /// check runs beside the parse, on the other core.
    pub fn from_slice_verified(data: &[u8], md5_hex: &str) -> Result<Self, ManifestError> {
        let (sum, parsed) = crate::pool::install(|| {
            rayon::join(
                || {
                    let mut h = Hasher::new(Algorithm::Md5);
                    h.update(data);
                    hex(&h.finish())
                },
                || Self::from_slice(data),
            )
        });
        md5_matches(&sum, md5_hex)?;
        parsed
    }

    /// `from_json` over UTF-8 bytes (a manifest file as read, without a decode copy).
    pub fn from_slice(data: &[u8]) -> Result<Self, ManifestError> {
        // Entries usually take 70-150 bytes of JSON: pre-size once (smaller ones re-grow).
        let seed = ManifestSeed { capacity: data.len() / 64 };
        parse_whole(data, seed).map_err(|e| ManifestError::Invalid(format!("Invalid manifest JSON: {e}")))?.into_manifest()
    }

    pub fn from_value(v: &Value) -> Result<Self, ManifestError> {
        let raw = ManifestSeed { capacity: 0 }.deserialize(v).map_err(|e| ManifestError::Invalid(format!("Invalid manifest JSON: {e}")))?;
        raw.into_manifest()
    }
}

/// A content-addressed file's MD5 (hex) against the one it was stored under.
fn md5_matches(sum: &str, want: &str) -> Result<(), ManifestError> {
    if sum == want {
        Ok(())
    } else {
        Err(ManifestError::Corrupt(format!("its MD5 is {sum}, not {want}")))
    }
}

/// `seed` over all of `data`: trailing bytes other than whitespace are an error.
fn parse_whole<'de, S: DeserializeSeed<'de>>(data: &'de [u8], seed: S) -> Result<S::Value, serde_json::Error> {
    // Valid UTF-8 is checked once here rather than string by string (a tenth of the
    // parse); invalid input goes the per-string way, for serde_json's own message.
    match std::str::from_utf8(data) {
        Ok(text) => parse_with(serde_json::Deserializer::from_str(text), seed),
        Err(_) => parse_with(serde_json::Deserializer::from_slice(data), seed),
    }
}

fn parse_with<'de, R: serde_json::de::Read<'de>, S: DeserializeSeed<'de>>(mut de: serde_json::Deserializer<R>, seed: S) -> Result<S::Value, serde_json::Error> {
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The top level of a manifest document, fields checked after the parse so the errors
/// come in wandb's order.
#[derive(Default)]
struct RawManifest {
    version: Option<Value>,
    storage_policy: Option<String>,
    config: Option<RawConfig>,
    contents: Option<Contents>,
    /// A key came after `contents` (the split parse then stands down).
    after_contents: bool,
}

/// `contents`, built straight into the manifest's map: no intermediate copy of a
/// million entries. The first entry wandb would refuse is remembered, not raised at
/// once, so serde's position suffix stays out of wandb's message.
struct Contents {
    entries: IndexMap<Arc<str>, Entry>,
    error: Option<String>,
}

/// Parses a manifest document; `capacity` pre-sizes the entry map (an estimate).
struct ManifestSeed {
    capacity: usize,
}

/// Entry paths borrow from the input when they need no unescaping.
#[derive(Deserialize)]
struct RawKey<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> DeserializeSeed<'de> for ManifestSeed {
    type Value = RawManifest;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawManifest, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ManifestSeed {
    type Value = RawManifest;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a manifest object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawManifest, A::Error> {
        let mut raw = RawManifest::default();
        while let Some(RawKey(key)) = map.next_key()? {
            raw.after_contents |= raw.contents.is_some();
            match &*key {
                "version" => raw.version = map.next_value()?,
                "storagePolicy" => raw.storage_policy = map.next_value()?,
                "storagePolicyConfig" => raw.config = map.next_value()?,
                "contents" => raw.contents = map.next_value_seed(ContentsSeed { capacity: self.capacity })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

struct ContentsSeed {
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for ContentsSeed {
    type Value = Option<Contents>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Contents>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ContentsSeed {
    type Value = Option<Contents>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of manifest entries")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut c = Contents { entries: IndexMap::with_capacity(map.size_hint().unwrap_or(self.capacity)), error: None };
        while let Some(RawKey(path)) = map.next_key()? {
            let raw: RawEntry = map.next_value()?;
            match raw.into_entry(&path) {
                Ok(e) => {
                    c.entries.insert(Arc::clone(&e.path), e);
                }
                Err(msg) => {
                    c.error.get_or_insert(msg);
                }
            }
        }
        Ok(Some(c))
    }
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(rename = "storageLayout")]
    storage_layout: Option<String>,
    #[serde(rename = "storageRegion")]
    storage_region: Option<String>,
}

#[derive(Deserialize)]
struct RawEntry {
    digest: Option<Box<str>>,
    #[serde(rename = "ref")]
    ref_: Option<Box<str>>,
    #[serde(rename = "birthArtifactID")]
    birth_artifact_id: Option<Box<str>>,
    size: Option<i64>,
    extra: Option<Map<String, Value>>,
    local_path: Option<Box<str>>,
    skip_cache: Option<bool>,
}

impl RawEntry {
    /// The entry, or wandb's message for a field it would refuse.
    fn into_entry(self, path: &str) -> Result<Entry, String> {
        let digest = self.digest.ok_or_else(|| format!("contents.{path}.digest: Field required"))?;
        let size = match self.size {
            None => None,
            Some(n) => Some(u64::try_from(n).map_err(|_| format!("contents.{path}.size: Input should be greater than or equal to 0"))?),
        };
        let mut e = Entry::new(path, digest, size).with_rare(self.ref_, self.birth_artifact_id, self.extra);
        e.local_path = self.local_path;
        e.skip_cache = self.skip_cache.unwrap_or(false);
        Ok(e)
    }
}

impl RawManifest {
    fn into_manifest(self) -> Result<Manifest, ManifestError> {
        let invalid = |m: &str| ManifestError::Invalid(m.to_owned());
        let version = self.version.ok_or_else(|| invalid("Invalid manifest format. Must contain version field."))?;
        if version.as_u64() != Some(1) {
            return Err(invalid("Invalid manifest version."));
        }
        let policy = self.storage_policy.unwrap_or_default();
        if policy != STORAGE_POLICY {
            return Err(ManifestError::Invalid(format!("Failed to find storage policy '{policy}'")));
        }
        let contents = self.contents.ok_or_else(|| invalid("contents: Field required"))?;
        if let Some(msg) = contents.error {
            return Err(ManifestError::Invalid(msg));
        }
        let (layout, region) = self.config.map_or((None, None), |c| (c.storage_layout, c.storage_region));
        let trim = |s: Option<String>| s.map(|s| s.trim().to_owned());
        Ok(Manifest { storage_layout: trim(layout), storage_region: trim(region), entries: contents.entries })
    }
}

/// A JSON text sink: a String, a `ByteCount`, or a `SliceOut` of exactly counted size.
pub trait JsonOut {
    fn put(&mut self, s: &str);
}

impl JsonOut for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

/// Counts the bytes that would be written.
#[derive(Default)]
pub struct ByteCount(pub usize);

impl JsonOut for ByteCount {
    fn put(&mut self, s: &str) {
        self.0 += s.len();
    }
}

/// Writes into a buffer sized by a `ByteCount` pass over the same data.
pub struct SliceOut<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> SliceOut<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far (equal to the buffer's length once the pass is done).
    pub fn written(&self) -> usize {
        self.pos
    }
}

impl JsonOut for SliceOut<'_> {
    fn put(&mut self, s: &str) {
        let end = self.pos + s.len();
        self.buf[self.pos..end].copy_from_slice(s.as_bytes());
        self.pos = end;
    }
}

/// serde_json writes bytes; they are always valid UTF-8 (it writes JSON).
struct IoOut<'a, O: JsonOut>(&'a mut O);

impl<O: JsonOut> std::io::Write for IoOut<'_, O> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.put(std::str::from_utf8(buf).map_err(std::io::Error::other)?);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decimal digits of `n` in `buf` (no allocation per entry).
fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// A JSON string literal with standard escapes (Python reads it back identically).
fn push_json_str(s: &mut impl JsonOut, v: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.put("\"");
    let mut start = 0;
    for (i, b) in v.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        s.put(&v[start..i]);
        if esc.is_empty() {
            s.put("\\u00");
            let hex = [HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]];
            s.put(std::str::from_utf8(&hex).unwrap_or("00"));
        } else {
            s.put(esc);
        }
        start = i + 1;
    }
    s.put(&v[start..]);
    s.put("\"");
}

/// A JSON string literal exactly as Go's encoding/json writes it.
pub fn push_go_str(s: &mut String, v: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let n = c as u32;
                s.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    s.push(HEX[((n >> shift) & 0xf) as usize] as char);
                }
            }
            _ => s.push(c),
        }
    }
    s.push('"');
}

/// A JSON value as Go re-encodes an `interface{}`: maps sorted, numbers as float64.
fn push_go_value(s: &mut String, v: &Value) {
    match v {
        Value::Null => s.push_str("null"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => push_go_number(s, n.as_f64().unwrap_or(0.0)),
        Value::String(x) => push_go_str(s, x),
        Value::Array(a) => {
            s.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_go_value(s, x);
            }
            s.push(']');
        }
        Value::Object(o) => push_go_map(s, o),
    }
}

fn push_go_map(s: &mut String, o: &Map<String, Value>) {
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort_unstable();
    s.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_go_str(s, k);
        s.push(':');
        push_go_value(s, &o[k.as_str()]);
    }
    s.push('}');
}

/// Go's float64 formatting in encoding/json: shortest digits, exponent form outside
/// [1e-6, 1e21) as `1e+21` / `1e-7`.
fn push_go_number(s: &mut String, f: f64) {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let e = format!("{f:e}"); // e.g. "1e21", "1.5e-7"
        let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        let digits = if sign == "+" && digits.len() < 2 { format!("0{digits}") } else { digits.to_owned() };
        let _ = write!(s, "{mant}e{sign}{digits}");
    } else {
        let _ = write!(s, "{f}");
    }
}

/// The artifact digest of (path, entry digest) pairs given in path byte order:
/// hex of H("wandb-artifact-manifest-v1\n" + "path:digest\n"...).
pub fn digest_of_sorted<'a>(alg: Algorithm, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = Hasher::new_small(alg);
    h.update(DIGEST_HEADER);
    // Lines are batched: one hasher call per 64 KiB, not per entry.
    let mut buf = Vec::with_capacity(1 << 16);
    for (path, digest) in entries {
        buf.extend_from_slice(path.as_bytes());
        buf.push(b':');
        buf.extend_from_slice(digest.as_bytes());
        buf.push(b'\n');
        if buf.len() > (1 << 16) - 4096 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    hex(&h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_stays_compact() {
        // 100k of them are parsed into fresh memory on every repeat download.
        assert!(std::mem::size_of::<Entry>() <= 80, "{} bytes", std::mem::size_of::<Entry>());
        let mut e = Entry::new("p", "d", None);
        e.set_rare(None, None, Some(Map::new()));
        assert_eq!(e, Entry::new("p", "d", None), "an empty extra is no extra");
    }

    fn entry(path: &str, digest: &str, size: Option<u64>) -> Entry {
        Entry::new(path, digest, size)
    }

    #[test]
    fn empty_and_single_file_digests_match_wandb() {
        let mut m = Manifest::new("V2", None);
        assert_eq!(m.digest(Algorithm::Md5), "64e7c61456b10382e2f3b571ac24b659");
        m.add_entry(entry("hello.txt", "b1kCrCNwJL3QwXbLkwY9xA==", Some(12)), false).unwrap();
        assert_eq!(m.digest(Algorithm::Md5), "21866c7249bdfd9cd0fd1a1c7f4209a6");
    }

    #[test]
    fn duplicate_paths_follow_wandb_rules() {
        let mut m = Manifest::new("V2", None);
        m.add_entry(entry("a", "x", Some(1)), false).unwrap();
        m.add_entry(entry("b", "y", Some(1)), false).unwrap();
        m.add_entry(entry("a", "x", Some(1)), false).unwrap();
        assert_eq!(m.add_entry(entry("a", "z", Some(1)), false), Err(ManifestError::DuplicatePath("a".into())));
        m.add_entry(entry("a", "z", Some(2)), true).unwrap();
        assert_eq!(m.entries.keys().map(|k| &**k).collect::<Vec<_>>(), ["a", "b"], "overwrite keeps position");
        assert_eq!(m.size(), 3);
    }

    #[test]
    fn sdk_json_field_order_and_defaults() {
        let mut m = Manifest::new("V2", Some("r1".into()));
        let mut e = entry("z", "d", Some(0));
        e.set_rare(Some("file:///x".into()), None, serde_json::json!({"alg": "XXH128"}).as_object().cloned());
        m.add_entry(e, false).unwrap();
        m.add_entry(entry("a", "u", None), false).unwrap();
        assert_eq!(
            m.to_sdk_json(),
            r#"{"version":1,"storagePolicy":"wandb-storage-policy-v1","storagePolicyConfig":{"storageLayout":"V2","storageRegion":"r1"},"contents":{"z":{"digest":"d","ref":"file:///x","size":0,"extra":{"alg":"XXH128"}},"a":{"digest":"u"}}}"#
        );
        let back = Manifest::from_json(&m.to_sdk_json()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn verified_parse_checks_the_content_address() {
        let mut m = Manifest::new("V2", None);
        m.add_entry(entry("a", "d", Some(1)), false).unwrap();
        let wire = m.to_wire_json(false);
        let mut h = Hasher::new(Algorithm::Md5);
        h.update(&wire);
        let key = hex(&h.finish());
        assert_eq!(Manifest::from_slice_verified(&wire, &key).unwrap().entries.len(), 1);
        let wrong = "0".repeat(32);
        assert!(matches!(Manifest::from_slice_verified(&wire, &wrong), Err(ManifestError::Corrupt(_))));
    }

    #[test]
    fn counted_slice_output_equals_string_output() {
        let mut m = Manifest::new("V2", None);
        let mut e = entry("q\"\u{1}é", "d", Some(1_234_567_890_123));
        e.set_rare(None, None, serde_json::json!({"n": 1.5, "s": "x\ny"}).as_object().cloned());
        m.add_entry(e, false).unwrap();
        m.add_entry(entry("b", "u", Some(0)), false).unwrap();
        let text = m.to_sdk_json();
        let mut n = ByteCount::default();
        m.write_sdk_json(&mut n);
        assert_eq!(n.0, text.len());
        let mut buf = vec![0u8; n.0];
        let mut out = SliceOut::new(&mut buf);
        m.write_sdk_json(&mut out);
        assert_eq!(out.written(), buf.len());
        assert_eq!(buf, text.as_bytes());
    }

    #[test]
    fn wire_json_is_go_encoding() {
        let mut m = Manifest::new("V1", None);
        let mut e = entry("b<&>", "d", None);
        let mut x = Map::new();
        x.insert("z".into(), Value::from(1));
        x.insert("a".into(), Value::from(1e21));
        e.set_rare(None, None, Some(x));
        e.local_path = Some("/tmp/s".into());
        m.add_entry(e, false).unwrap();
        m.add_entry(entry("a\u{2028}\u{1}\n", "e", Some(5)), false).unwrap();
        let got = String::from_utf8(m.to_wire_json(true)).unwrap();
        assert_eq!(
            got,
            r#"{"version":1,"storagePolicy":"wandb-storage-policy-v1","storagePolicyConfig":{"storageLayout":"V2"},"contents":{"a\u2028\u0001\n":{"digest":"e","size":5,"skip_cache":false},"b\u003c\u0026\u003e":{"digest":"d","size":0,"local_path":"/tmp/s","skip_cache":false,"extra":{"a":1e+21,"z":1}}}}"#
        );
        assert!(!String::from_utf8(m.to_wire_json(false)).unwrap().contains("local_path"));
    }

    #[test]
    fn go_numbers() {
        for (f, want) in [(1.0, "1"), (0.5, "0.5"), (1e21, "1e+21"), (1.5e-7, "1.5e-7"), (123_456_789.0, "123456789"), (0.000_001, "0.000001")] {
            let mut s = String::new();
            push_go_number(&mut s, f);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn parse_errors_carry_wandb_messages() {
        assert_eq!(Manifest::from_json("{}").unwrap_err().to_string(), "Invalid manifest format. Must contain version field.");
        assert_eq!(Manifest::from_json(r#"{"version":2}"#).unwrap_err().to_string(), "Invalid manifest version.");
        assert_eq!(
            Manifest::from_json(r#"{"version":1,"storagePolicy":"x","contents":{}}"#).unwrap_err().to_string(),
            "Failed to find storage policy 'x'"
        );
        assert!(Manifest::from_json(r#"{"version":1,"storagePolicy":"wandb-storage-policy-v1","contents":{"a":{"digest":"x","size":-1}}}"#).is_err());
    }

    #[test]
    fn digest_sorts_by_code_point_not_utf16() {
        let mut m = Manifest::new("V2", None);
        for p in ["\u{1F600}", "\u{FF5E}", "é", "a_b", "a0", "a/b", "a.b", "a-b", "a!"] {
            m.add_entry(entry(p, "d", Some(1)), false).unwrap();
        }
        let mut h = Hasher::new(Algorithm::Md5);
        h.update(DIGEST_HEADER);
        for p in ["a!", "a-b", "a.b", "a/b", "a0", "a_b", "é", "\u{FF5E}", "\u{1F600}"] {
            h.update(format!("{p}:d\n").as_bytes());
        }
        assert_eq!(m.digest(Algorithm::Md5), hex(&h.finish()));
    }
}
