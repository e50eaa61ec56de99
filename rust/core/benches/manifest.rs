//! Manifest work at scale: insert N entries, encode the SDK JSON (`to_manifest_json`) and
//! the wire JSON (what wandb-core uploads), parse it back, and the artifact digest.
//!
//! N defaults to 1,000,000 (`ARTEFACT_BENCH_ENTRIES` changes it). Target for the whole
//! build + serialise + digest of 1M entries from Python: 2 s and 400 MB.
//!
//!     cargo bench -p artefact-core --bench manifest -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;

use artefact_core::digest::{hash_bytes, Algorithm};
use artefact_core::manifest::{Entry, Manifest};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn entry_count() -> usize {
    std::env::var("ARTEFACT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Entries shaped like `add_dir` output: nested paths, MD5 digests, sizes.
fn entries(n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let path = format!("data/d{:04}/file{i:07}.bin", i / 1000);
            Entry::new(path, hash_bytes(&(i as u64).to_le_bytes(), Algorithm::Md5), Some((i as u64 * 7919) % 1_000_003))
        })
        .collect()
}

fn build(entries: Vec<Entry>) -> Manifest {
    let mut m = Manifest::new("V2", None);
    m.entries.reserve(entries.len());
    for e in entries {
        m.add_entry(e, false).expect("unique paths");
    }
    m
}

fn manifest(c: &mut Criterion) {
    let n = entry_count();
    let source = entries(n);
    let m = build(source.clone());
    let sdk = m.to_sdk_json();
    let mut g = c.benchmark_group(format!("manifest_{n}_entries"));
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("insert", |b| {
        b.iter_batched(
            || source.clone(),
            |v| black_box(build(v)),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("to_sdk_json", |b| b.iter(|| black_box(m.to_sdk_json())));
    g.bench_function("to_wire_json", |b| {
        b.iter(|| black_box(m.to_wire_json(false)));
    });
    g.bench_function("from_json", |b| {
        b.iter(|| Manifest::from_json(black_box(&sdk)).expect("parse"));
    });
    g.bench_function("digest_md5", |b| {
        b.iter(|| black_box(m.digest(Algorithm::Md5)));
    });
    g.finish();
}

criterion_group!(benches, manifest);
criterion_main!(benches);
