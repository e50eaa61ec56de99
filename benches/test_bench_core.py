"""pytest-benchmark: the Rust core through `artefact._core` (hash, scan, manifest).

Run explicitly: `pytest benches/ --benchmark-only` (the default `pytest` run collects
tests/ only). MB/s and µs per file land in each benchmark's extra_info
(`--benchmark-json out.json` keeps them).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

pytest.importorskip("pytest_benchmark")
core = pytest.importorskip("artefact._core")

from _common import MiB, record_mbps, record_per_item_us  # noqa: E402

pytestmark = pytest.mark.benchmark

ENTRIES = int(os.environ.get("ARTEFACT_BENCH_ENTRIES", "100000"))


# --- hashing -----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "XXH128"])
def test_hash_bytes_64mib(benchmark, buffer_64mib, algorithm):
    digest = benchmark(core.hash_bytes, buffer_64mib, algorithm)
    assert len(digest) == 24
    record_mbps(benchmark, len(buffer_64mib))


def test_hashlib_md5_64mib_single_core_limit(benchmark, buffer_64mib):
    """The single-core MD5 limit (OpenSSL via hashlib) to read the MD5 rows against."""
    benchmark(lambda: hashlib.md5(buffer_64mib).digest())
    record_mbps(benchmark, len(buffer_64mib))


@pytest.mark.parametrize("algorithm", ["MD5", "XXH128"])
def test_hash_file_64mib(benchmark, file_64mib, algorithm):
    _digest, size = benchmark(core.hash_file, str(file_64mib), algorithm)
    assert size == 64 * MiB
    record_mbps(benchmark, size)


def test_hash_files_1k_parallel(benchmark, tree_1k):
    paths = sorted(str(p) for p in tree_1k.rglob("*.bin"))
    out = benchmark(core.hash_files, paths, "MD5")
    assert len(out) == len(paths)
    record_per_item_us(benchmark, len(paths))


# --- scanning ----------------------------------------------------------------------------


def test_scan_dir_1k(benchmark, tree_1k):
    out = benchmark(core.scan_dir, str(tree_1k))
    assert len(out) == 1_000
    record_per_item_us(benchmark, len(out))


# --- manifest ----------------------------------------------------------------------------


def _entries(n):
    pool = [core.hash_bytes(str(i).encode()) for i in range(1024)]
    return [(f"data/d{i // 1000:04d}/file{i:07d}.bin", pool[i & 1023], i) for i in range(n)]


@pytest.fixture(scope="module")
def manifest():
    m = core.Manifest()
    for path, digest, size in _entries(ENTRIES):
        m.insert(path, digest, size=size)
    return m


def test_manifest_insert(benchmark):
    rows = _entries(ENTRIES)

    def build():
        m = core.Manifest()
        insert = m.insert
        for path, digest, size in rows:
            insert(path, digest, size=size)
        return m

    m = benchmark.pedantic(build, rounds=3, iterations=1)
    assert len(m) == ENTRIES
    record_per_item_us(benchmark, ENTRIES, "entry")


def test_manifest_to_manifest_json(benchmark, manifest):
    text = benchmark(manifest.to_manifest_json)
    assert text.startswith(b'{"version":1')
    record_per_item_us(benchmark, ENTRIES, "entry")


def test_manifest_to_wire_json(benchmark, manifest):
    data = benchmark(manifest.to_wire_json)
    assert json.loads(data)["storagePolicyConfig"]["storageLayout"] == "V2"
    record_per_item_us(benchmark, ENTRIES, "entry")


def test_manifest_from_json(benchmark, manifest):
    text = manifest.to_manifest_json()
    m = benchmark(core.Manifest.from_json, text)
    assert len(m) == ENTRIES
    record_per_item_us(benchmark, ENTRIES, "entry")


def test_manifest_digest(benchmark, manifest):
    digest = benchmark(manifest.digest)
    assert len(digest) == 32
    record_per_item_us(benchmark, ENTRIES, "entry")
