"""Process and thread safety of the extension: fork after the pool ran, GIL release."""

import os
import threading
import time

import pytest

import artefact._core as core


def make_files(tmp_path, n=64, size=64 * 1024):
    paths = []
    for i in range(n):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i % 251]) * size)
        paths.append(str(p))
    return paths


@pytest.mark.timeout(60)
def test_stat_cache_loading_in_the_background_survives_a_fork(tmp_path):
    paths = make_files(tmp_path, n=8)
    sc = str(tmp_path / "statcache")
    core.set_statcache(sc)
    expected = [core.hash_file(p) for p in paths]
    core.flush_statcache()
    core.set_statcache(sc)  # starts its background read again: fork right away
    pid = os.fork()
    if pid == 0:  # the loader thread is the parent's; the child reads the file itself
        code = 0 if [core.hash_file(p) for p in paths] == expected else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert [core.hash_file(p) for p in paths] == expected
    core.set_statcache(None)


@pytest.mark.timeout(60)
def test_parallel_hashing_works_in_a_forked_child(tmp_path):
    paths = make_files(tmp_path)
    expected = core.hash_files(paths)  # builds the thread pool in the parent
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the parent's worker threads do not exist here
        os.close(r)
        try:
            ok = core.hash_files(paths) == expected and len(core.scan_dir(str(tmp_path))) == len(paths)
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"
    assert os.WEXITSTATUS(status) == 0
    assert core.hash_files(paths) == expected, "the parent's pool still works after the fork"


def test_hashing_releases_the_gil(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(1024 * 1024) * 96)
    ticks = 0
    done = threading.Event()

    def hash_it():
        core.hash_file(str(big))
        done.set()

    t = threading.Thread(target=hash_it)
    t.start()
    while not done.is_set():
        ticks += 1  # pure-Python work only progresses if the hash thread let go of the GIL
        time.sleep(0)
    t.join()
    assert ticks > 100, f"main thread only ran {ticks} times while hashing 96 MiB"
