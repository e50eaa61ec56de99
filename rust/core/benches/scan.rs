//! Per-file costs: walking, and `add_dir` (walk + hash + manifest insert) of N small files.
//!
//! N defaults to 10,000 files of 1 KiB in directories of 1,000 (`ARTEFACT_BENCH_FILES`
//! changes it). Reference floors on a 2-core machine (BENCHMARKING.md): `os.scandir` walk
//! of 100k files 0.03 s; `xargs -P2 md5sum` of 10k x 4 KiB 0.078 s; `cp -r` 0.15 s.
//!
//! Machine quirk: after a mass delete, file creation on ext4-without-journal crawls for
//! minutes. The mutable case creates files, so every staged copy is kept until the end of
//! the process (one temp dir), never deleted between iterations.
//!
//!     cargo bench -p artefact-core --bench scan -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artefact_core::add_dir::{add_dir, AddDirOptions};
use artefact_core::digest::Algorithm;
use artefact_core::manifest::Manifest;
use artefact_core::statcache::StatCache;
use artefact_core::walk::scan_dir;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn file_count() -> usize {
    std::env::var("ARTEFACT_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// `n` files of `size` bytes under `root/dNNN/fNNNNNN.bin`, 1,000 per directory.
fn make_tree(root: &Path, n: usize, size: usize) {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut buf = vec![0u8; size];
    for i in 0..n {
        let dir = root.join(format!("d{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        std::fs::write(dir.join(format!("f{i:06}.bin")), &buf).expect("write");
    }
}

fn opts<'a>(staging_dir: Option<&'a Path>, statcache: Option<&'a StatCache>) -> AddDirOptions<'a> {
    AddDirOptions {
        name: None,
        algorithm: Algorithm::Md5,
        staging_dir,
        skip_cache: false,
        overwrite: false,
        statcache,
    }
}

fn scan(c: &mut Criterion) {
    let n = file_count();
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("tree");
    let made = Instant::now();
    make_tree(&tree, n, 1024);
    assert_eq!(scan_dir(&tree, true).expect("scan").len(), n);

    let mut group = c.benchmark_group(format!("tree_{n}_files_1KiB"));
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.bench_function("scan_dir", |b| {
        b.iter(|| scan_dir(black_box(&tree), true).expect("scan"));
    });
    group.bench_function("add_dir_immutable_md5", |b| {
        b.iter(|| {
            let mut manifest = Manifest::new("V2", None);
            add_dir(&mut manifest, &tree, &opts(None, None), None).expect("add_dir");
            black_box(manifest.digest(Algorithm::Md5))
        });
    });

    // The stat cache only trusts files whose timestamps are 2 s older than the hash.
    if let Some(wait) = Duration::from_millis(2500).checked_sub(made.elapsed()) {
        std::thread::sleep(wait);
    }
    let cache = StatCache::open(&tmp.path().join("statcache.bin"), 4_000_000);
    let mut first = Manifest::new("V2", None);
    add_dir(&mut first, &tree, &opts(None, Some(&cache)), None).expect("fill stat cache");
    group.bench_function("add_dir_immutable_statcache_warm", |b| {
        b.iter(|| {
            let mut manifest = Manifest::new("V2", None);
            add_dir(&mut manifest, &tree, &opts(None, Some(&cache)), None).expect("add_dir");
            black_box(manifest.digest(Algorithm::Md5))
        });
    });
    group.finish();

    // Mutable: copy + hash into a fresh staging dir per iteration, on a smaller tree.
    let n_mut = n.min(2_000);
    let small = tmp.path().join("small");
    make_tree(&small, n_mut, 1024);
    let keep = tmp.path().join("staging");
    let mut made_dirs = 0usize;
    let mut next_staging = || -> PathBuf {
        made_dirs += 1;
        let dir = keep.join(format!("s{made_dirs:06}"));
        std::fs::create_dir_all(&dir).expect("mkdir staging");
        dir
    };
    let mut group = c.benchmark_group(format!("tree_{n_mut}_files_1KiB"));
    group.throughput(Throughput::Elements(n_mut as u64));
    group.sample_size(10);
    group.bench_function("add_dir_mutable_md5", |b| {
        b.iter_batched(
            &mut next_staging,
            |staging| {
                let mut manifest = Manifest::new("V2", None);
                add_dir(&mut manifest, &small, &opts(Some(&staging), None), None).expect("add_dir");
                black_box(manifest.entries.len())
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    // `tmp` (every staged copy included) is removed when the process ends its benches.
}

criterion_group!(benches, scan);
criterion_main!(benches);
