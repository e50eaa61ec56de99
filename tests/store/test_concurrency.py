"""Many processes logging to one store at once (real processes, real SQLite locking)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from artefact.store import LocalStore, verify_store
from artefact.store.gc import unreferenced

from .conftest import manifest_of, worker_cmd


def _run_writers(root: str, tmp_path, procs: int, count: int) -> list[list[int]]:
    go = str(tmp_path / "go")
    children = [
        subprocess.Popen(
            worker_cmd("log", root, "shared", str(i), "--count", str(count), "--wait-for", go),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(procs)
    ]
    time.sleep(1.0)  # let every child import and reach the start line
    Path(go).touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        results.append([int(line) for line in out.split()])
    return results


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 4])
def test_eight_processes_get_distinct_consecutive_versions(tmp_path, count):
    root = str(tmp_path / "store")
    LocalStore.open(root).close()  # the catalog exists; children race on everything else
    results = _run_writers(root, tmp_path, 8, count)
    indices = sorted(i for r in results for i in r)
    assert indices == list(range(8 * count))  # none lost, none shared, no gaps
    for own in results:
        assert own == sorted(own)  # each process sees its own versions in order
    with LocalStore.open(root) as store:
        versions = store.list_versions("ent", "proj", "shared", order="+version_index")
        assert [v.version_index for v in versions] == list(range(8 * count))
        assert len({v.digest for v in versions}) == 8 * count
        latest = store.get_version("ent", "proj", "shared:latest")
        assert latest.version_index == 8 * count - 1
        # every writer's custom alias sits on that writer's newest version
        for i, own in enumerate(results):
            assert store.get_version("ent", "proj", f"shared:s{i}").version_index == own[-1]
        assert verify_store(store, rehash=True) == []
        assert unreferenced(store) == []


@pytest.mark.slow
def test_fresh_store_created_by_many_processes_at_once(tmp_path):
    root = str(tmp_path / "store")  # nothing exists yet: schema creation races too
    results = _run_writers(root, tmp_path, 8, 1)
    assert sorted(i for r in results for i in r) == list(range(8))


@pytest.mark.slow
def test_gc_running_beside_a_logger_never_breaks_a_version(tmp_path, monkeypatch):
    root = str(tmp_path / "store")
    store = LocalStore.open(root)
    child = subprocess.Popen(worker_cmd("log", root, "busy", "1", "--count", "30", "--files", "20"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while child.poll() is None:
            store.gc(grace_seconds=0)  # the harshest setting: no grace at all
            time.sleep(0.01)
        out, err = child.communicate()
        assert child.returncode == 0, err
        assert verify_store(store, rehash=True) == []
        assert len(store.list_versions("ent", "proj", "busy")) == 30
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        store.close()


def test_threads_in_one_process_share_a_store(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with LocalStore.open(str(tmp_path / "store")) as store:
        manifests = [manifest_of(tmp_path / f"d{i}", {"f": str(i)}) for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            records = list(pool.map(
                lambda m: store.log_version("ent", "proj", "t", "dataset", m), manifests
            ))
        assert sorted(r.version_index for r in records) == list(range(8))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_forked_child_gets_its_own_connection(tmp_path):
    import os

    with LocalStore.open(str(tmp_path / "store")) as store:
        store.log_version("ent", "proj", "f", "dataset", manifest_of(tmp_path / "a", {"x": "1"}))
        pid = os.fork()
        if pid == 0:  # child: must not reuse the parent's SQLite handle
            code = 1
            try:
                r = store.log_version("ent", "proj", "f", "dataset",
                                      manifest_of(tmp_path / "b", {"x": "2"}))
                code = 0 if r.version_index == 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert store.get_version("ent", "proj", "f").version_index == 1
