"""Issue 11, items 1 and 8: several processes downloading one version into one root,
and downloads racing cache eviction. Real processes, one store, one cache."""

from __future__ import annotations

import os
import random

from .conftest import put, tree, worker, write_files


def _files(seed: int, small: int, large: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {f"d{i % 7}/s{i:03d}.bin": rng.randbytes(rng.randint(1, 40_000)) for i in range(small)}
    files.update({f"big/l{i}.bin": rng.randbytes(rng.randint(2, 5) << 20) for i in range(large)})
    return files


def _wait_all(procs, timeout: float = 300) -> None:
    failures = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            failures.append(f"exit {p.returncode}:\n{out}\n{err}")
    assert not failures, "\n\n".join(failures)


def test_concurrent_downloads_into_one_root_all_succeed_and_verify(tmp_path):
    """Item 1: 8 processes (half hard-linking from the cache, half with a cache of their
    own) download one version into one root at once, three times: first into an empty
    root, then into one whose files were truncated or removed. Each verifies its root
    right after its download returns, while the others are still writing."""
    files = _files(1, 240, 4)
    put(write_files(tmp_path / "src", files))
    root = str(tmp_path / "root")
    for round_ in range(3):
        barrier = tmp_path / f"go{round_}"
        procs = []
        for i in range(8):
            env = dict(os.environ)
            if i % 2:
                env["ARTEFACT_CACHE_LINK"] = "hardlink"
            if i % 4 == 2:
                env["ARTEFACT_CACHE_DIR"] = str(tmp_path / f"cache{i}")
            procs.append(worker("get", "ds:v0", root, "--barrier", str(barrier), env=env))
        barrier.touch()
        _wait_all(procs)
        assert tree(root) == files
        # Damage the root for the next round: every process then repairs the same files.
        for i, rel in enumerate(sorted(files)):
            if i % 3 == 0:
                os.truncate(os.path.join(root, rel), 0)
            elif i % 3 == 1:
                os.remove(os.path.join(root, rel))


def test_downloads_racing_cache_cleanup_refill_what_was_evicted(tmp_path):
    """Item 8: four downloaders (fresh roots, one shared cache) run while two processes
    clear the whole cache in a loop, temp files included: every download succeeds and
    verifies (an object evicted after it was found is refilled from the store), and
    `cache cleanup` never fails on files that vanish during its scan."""
    files = _files(2, 300, 2)
    put(write_files(tmp_path / "src", files))
    stop = tmp_path / "stop"
    cleaners = [worker("cleanup-loop", str(stop)) for _ in range(2)]
    try:
        downloaders = [worker("get", "ds:v0", str(tmp_path / f"root{i}"), "--repeat", "4", "--fresh", "1")
                       for i in range(4)]
        _wait_all(downloaders)
    finally:
        stop.touch()
    _wait_all(cleaners, timeout=120)
    for i in range(4):
        for k in range(4):
            assert tree(str(tmp_path / f"root{i}" / str(k))) == files
