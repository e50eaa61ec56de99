"""Settings are parsed whole and range-checked (issue 11, item 11): sizes in powers of
10 and 2, scientific notation, no OverflowError, thread counts refused or clamped, and a
bad value refused before any work, naming the variable and the value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from artefact import config
from artefact.settings import MAX_SIZE, MAX_THREADS, parse_seconds, parse_size, parse_threads


@pytest.mark.parametrize("text, expected", [
    ("10GiB", 10 * 2**30), ("10GB", 10 * 10**9), ("10 gib", 10 * 2**30), ("1e9", 10**9),
    ("1.5GB", 1_500_000_000), ("2TiB", 2 * 2**40), ("512", 512), ("512B", 512), ("0", 0),
    (" 4 KiB ", 4096), ("1E3kb", 10**6), (".5MB", 500_000), (str(MAX_SIZE), MAX_SIZE),
])
def test_sizes_parse_whole_in_powers_of_10_and_2(text, expected):
    assert parse_size(text, "X") == expected


@pytest.mark.parametrize("text, message", [
    ("10G", "unknown unit 'G'"), ("10GiBs", "unknown unit 'GiBs'"), ("lots", "is not a size"),
    ("-1GB", "is not a size"), ("", "is not a size"), ("10 GB extra", "is not a size"),
    ("inf", "is not a size"), ("nan", "is not a size"),
    ("1e400", "too large"), ("1e999999999999", "too large"), ("9223372036854775808", "too large"),
    ("99999999999EiB", "too large"),
])
def test_bad_sizes_name_the_setting_and_value(text, message):
    with pytest.raises(ValueError) as info:
        parse_size(text, "ARTEFACT_CACHE_MAX")
    assert message in str(info.value)
    assert str(info.value).startswith(f"ARTEFACT_CACHE_MAX={text!r}")


def test_threads_and_seconds():
    assert parse_threads("4", "T") == 4
    assert parse_threads("100000", "T") == MAX_THREADS
    assert parse_threads("9" * 5000, "T") == MAX_THREADS
    for bad in ("0", "-1", "abc", "1.5", ""):
        with pytest.raises(ValueError, match=f"T={bad!r}"):
            parse_threads(bad, "T")
    assert parse_seconds("2.5", "S") == 2.5
    for bad in ("-1", "soon", "nan", "1e99"):
        with pytest.raises(ValueError, match=f"S={bad!r}"):
            parse_seconds(bad, "S")


def test_config_reads_the_variables(monkeypatch):
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "10GiB")
    assert config.cache_max() == 10 * 2**30
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "off")
    assert config.cache_max() is None
    monkeypatch.delenv("ARTEFACT_CACHE_MAX")
    assert config.cache_max() == 100 * 10**9
    monkeypatch.setenv("ARTEFACT_LOCK_TIMEOUT", "7")
    assert config.lock_timeout() == 7.0
    monkeypatch.setenv("ARTEFACT_THREADS", "3")
    assert config.threads() == 3


def _run(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "artefact", "--quiet", *args], capture_output=True,
                          text=True, env=dict(os.environ, **env), cwd=cwd, timeout=120)


def _cached_objects(cache_dir) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(cache_dir, "artifacts", "obj")) for f in fs]


def test_cache_cap_and_cleanup_in_gib_keep_the_cache(tmp_path, monkeypatch):
    """`10GiB` used to read as 10 bytes, `1e9` as 1: every download emptied the cache."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        (data / f"f{i}.bin").write_bytes(os.urandom(2000))
    cache = tmp_path / "cache"
    # linked downloads fill the cache (copies come straight from the store's blobs)
    env = {"ARTEFACT_STORE": str(tmp_path / "store"), "ARTEFACT_CACHE_DIR": str(cache),
           "ARTEFACT_CACHE_LINK": "hardlink"}
    assert _run(["put", str(data), "--name", "ds", "--type", "dataset"], env, tmp_path).returncode == 0
    for cap in ("10GiB", "1e9"):
        done = _run(["get", "ds", "--root", str(tmp_path / cap)], {**env, "ARTEFACT_CACHE_MAX": cap}, tmp_path)
        assert done.returncode == 0, done.stderr
        assert len(_cached_objects(cache)) == 5, cap
    done = _run(["cache", "cleanup", "10GiB"], env, tmp_path)
    assert done.returncode == 0 and "Reclaimed 0 bytes" in done.stdout, done.stderr
    assert len(_cached_objects(cache)) == 5
    done = _run(["cache", "cleanup", "1e400"], env, tmp_path)
    assert done.returncode == 1 and "'1e400' is too large" in done.stderr
    assert "OverflowError" not in done.stderr and len(_cached_objects(cache)) == 5


@pytest.mark.parametrize("var, value, message", [
    ("ARTEFACT_CACHE_MAX", "10 parsecs", "unknown unit 'parsecs'"),
    ("ARTEFACT_CACHE_MAX", "1e999", "too large"),
    ("ARTEFACT_THREADS", "0", "must be at least 1"),
    ("ARTEFACT_THREADS", "-1", "must be at least 1"),
    ("ARTEFACT_THREADS", "abc", "not a whole number"),
])
def test_bad_setting_is_refused_before_any_work(tmp_path, var, value, message):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    env = {"ARTEFACT_STORE": str(tmp_path / "store"), "ARTEFACT_CACHE_DIR": str(tmp_path / "cache")}
    assert _run(["put", str(data), "--name", "ds", "--type", "dataset"], env, tmp_path).returncode == 0
    root = tmp_path / "root"
    done = _run(["get", "ds", "--root", str(root)], {**env, var: value}, tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"{var}={value!r}" in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr
    assert not root.exists()  # refused before the download started
    # The library refuses too, at the first object that would do work.
    code = "import artefact as w; w.Artifact('x', 'dataset')"
    lib = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, **{var: value}), timeout=60)
    assert lib.returncode == 1 and f"ValueError: {var}={value!r}" in lib.stderr


def test_huge_thread_count_is_clamped(tmp_path):
    """100,000 once made ~32,000 threads and exhausted the machine's processes."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(300):
        (data / f"f{i}").write_text(str(i))
    code = f"""
import artefact as w
a = w.Artifact('x', 'dataset'); a.add_dir({str(data)!r})
threads = int([l for l in open('/proc/self/status') if l.startswith('Threads:')][0].split()[1])
print(threads, len(a.manifest.entries))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, ARTEFACT_THREADS="100000", ARTEFACT_QUIET=""), timeout=120)
    assert done.returncode == 0, done.stderr
    threads, entries = map(int, done.stdout.split())
    assert entries == 300
    assert threads <= MAX_THREADS + 16
    assert f"ARTEFACT_THREADS='100000' is more than artefact uses; using {MAX_THREADS} threads" in done.stderr
