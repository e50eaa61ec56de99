"""The stat cache never serves a stale digest, and does skip unchanged files."""

import base64
import hashlib
import os
import subprocess
import sys
import time

import artefact._core as core


def _md5(data: bytes) -> str:
    return core.hash_bytes(data)


def _old(path, seconds_ago=100):
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_unchanged_file_is_served_from_the_cache_and_any_change_invalidates(tmp_path):
    core.set_statcache(str(tmp_path / "sc.bin"))
    try:
        f = tmp_path / "f.bin"
        f.write_bytes(b"a" * 1000)
        _old(f)
        time.sleep(2.1)  # ctime must be older than the racy margin (2 s) to be cached
        assert core.hash_file(str(f))[0] == _md5(b"a" * 1000)
        st = os.stat(f)
        # Same size, same mtime restored: only ctime (and content) differ.
        f.write_bytes(b"b" * 1000)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert core.hash_file(str(f))[0] == _md5(b"b" * 1000)
        # Replaced by another inode with identical stat times and size.
        g = tmp_path / "g.bin"
        g.write_bytes(b"c" * 1000)
        os.utime(g, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(g, f)
        assert core.hash_file(str(f))[0] == _md5(b"c" * 1000)
        core.flush_statcache()
        assert (tmp_path / "sc.bin").exists()
    finally:
        core.set_statcache(None)


def test_a_file_written_in_the_same_tick_as_its_hash_is_rehashed(tmp_path):
    core.set_statcache(str(tmp_path / "sc.bin"))
    try:
        f = tmp_path / "racy.bin"
        for i in range(20):  # write, hash, rewrite (same size) within one timestamp tick
            f.write_bytes(bytes([i]) * 64)
            assert core.hash_file(str(f))[0] == _md5(bytes([i]) * 64)
    finally:
        core.set_statcache(None)


def test_add_dir_uses_the_cache_across_processes(tmp_path, monkeypatch):
    data = tmp_path / "d"
    data.mkdir()
    for i in range(50):
        (data / f"{i}.txt").write_text(str(i) * 10)
        _old(data / f"{i}.txt")
    time.sleep(2.1)
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache"))
    code = (
        "import sys, artefact as wandb\n"
        "a = wandb.Artifact('x', 'dataset'); a.add_dir(sys.argv[1], policy='immutable'); print(a.digest)"
    )
    first = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, check=True)
    assert (tmp_path / "cache" / "statcache.bin").stat().st_size > 8 + 50 * 57 - 1
    (data / "7.txt").write_text("changed!!!")  # same size as "7777777777"
    second = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, check=True)
    assert first.stdout != second.stdout
    monkeypatch.setenv("ARTEFACT_STATCACHE", "0")
    third = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, check=True)
    assert third.stdout == second.stdout


def test_hashing_a_large_file_keeps_resident_memory_small(tmp_path):
    # Large files are hashed through a map, a window at a time: mapped pages count as
    # resident memory, so a whole-file map of 256 MiB would show as 256 MiB of RSS.
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(256):
            f.write(block)
    code = (
        "import resource, sys, artefact._core as core\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "digest, size = core.hash_file(sys.argv[1])\n"
        "grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(digest, size, grew // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(big)], capture_output=True, text=True, check=True)
    digest, size, grew_mib = out.stdout.split()
    want = base64.b64encode(hashlib.md5(block * 256).digest()).decode()
    assert digest == want and int(size) == 256 << 20
    assert int(grew_mib) < 64, f"peak RSS grew by {grew_mib} MiB while hashing 256 MiB"
