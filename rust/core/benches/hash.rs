//! Hash throughput: MD5 and XXH128 over a 64 MiB buffer and over a 64 MiB file (the
//! file path reads on a helper thread while hashing, see `digest::hash_file`).
//!
//! Compare the MD5 figures with the machine's single-core limit (BENCHMARKING.md:
//! openssl MD5 845 MB/s, hashlib 775 MB/s, XXH128 13.6 GB/s on the reference machine):
//! the core should be within a few percent of it.
//!
//!     cargo bench -p artefact-core --bench hash -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;
use std::io::Write as _;

use artefact_core::digest::{hash_bytes, hash_file, Algorithm};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SIZE: usize = 64 * 1024 * 1024;

/// Deterministic, incompressible bytes (xorshift64*), fast to make.
fn gen(size: usize, mut state: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// The machine's single-core MD5 rate in MB/s, measured now by `openssl speed` (if present),
/// so the MD5 rows can be read against it.
fn openssl_md5_mbps() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-evp", "md5", "-bytes", "16384", "-seconds", "1"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("md5"))?;
    let k: f64 = line
        .split_whitespace()
        .last()?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(k / 1000.0)
}

const ALGORITHMS: [(Algorithm, &str); 2] = [(Algorithm::Md5, "md5"), (Algorithm::Xxh128, "xxh128")];

fn buffer(c: &mut Criterion) {
    match openssl_md5_mbps() {
        Some(r) => eprintln!("single-core MD5 limit now (openssl speed -evp md5, 16 KiB blocks): {r:.0} MB/s = {:.0} MiB/s", r * 1e6 / 1_048_576.0),
        None => eprintln!("single-core MD5 limit: openssl not found; reference machine: 845 MB/s (806 MiB/s)"),
    }
    let data = gen(SIZE, 0x9E37_79B9_7F4A_7C15);
    let mut g = c.benchmark_group("hash_buffer_64MiB");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for (alg, name) in ALGORITHMS {
        g.bench_function(name, |b| b.iter(|| hash_bytes(black_box(&data), alg)));
    }
    g.finish();
}

fn file(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blob.bin");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(&gen(SIZE, 42)).expect("write");
    drop(f);
    // Warm the page cache: this measures hashing, not the disk.
    hash_file(&path, Algorithm::Xxh128).expect("warm");
    let mut g = c.benchmark_group("hash_file_64MiB");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for (alg, name) in ALGORITHMS {
        g.bench_function(name, |b| {
            b.iter(|| hash_file(black_box(&path), alg).expect("hash"));
        });
    }
    g.finish();
}

/// Many small files, one at a time on one thread: the per-file cost (open, read, close).
fn small_files(c: &mut Criterion) {
    const N: usize = 1000;
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<_> = (0..N)
        .map(|i| {
            let p = dir.path().join(format!("f{i:05}.bin"));
            std::fs::write(&p, gen(4096, i as u64 + 1)).expect("write");
            p
        })
        .collect();
    let mut g = c.benchmark_group("hash_1000_files_4KiB_1thread");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("md5", |b| {
        b.iter(|| {
            for p in &paths {
                black_box(hash_file(p, Algorithm::Md5).expect("hash"));
            }
        });
    });
    g.finish();
}

criterion_group!(benches, buffer, file, small_files);
criterion_main!(benches);
