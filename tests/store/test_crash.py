"""Processes SIGKILLed in the middle of log_version leave no half-version behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from artefact.store import LocalStore, ProjectNotFoundError, verify_store
from artefact.store.failpoints import POINTS
from artefact.store.gc import unreferenced

from .conftest import manifest_of, worker_cmd

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def _log_with_failpoint(root: str, point: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARTEFACT_FAILPOINT": point}
    return subprocess.run(worker_cmd("log", root, "ds", "crash", "--files", "6"),
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.crash
@pytest.mark.parametrize("point", [p for p in POINTS if p != "after_commit"])
def test_kill_before_commit_leaves_no_version(tmp_path, point):
    root = str(tmp_path / "store")
    LocalStore.open(root).close()
    done = _log_with_failpoint(root, point)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with LocalStore.open(root) as store:
        with pytest.raises(LookupError):
            store.get_version("ent", "proj", "ds:latest")
        left = unreferenced(store)
        assert left  # the crash left content behind (at least one object)
        # the store is still usable: the next log gets v0 ...
        record = store.log_version("ent", "proj", "ds", "dataset",
                                   manifest_of(tmp_path / "next", {"other.txt": "fresh"}))
        assert record.version_index == 0 and record.created
        # ... and gc removes what the crash left
        store.gc(grace_seconds=0)
        assert unreferenced(store) == []
        assert verify_store(store, rehash=True) == []
        assert store.get_version("ent", "proj", "ds:latest").pk == record.pk


@pytest.mark.crash
def test_kill_after_commit_keeps_the_version(tmp_path):
    root = str(tmp_path / "store")
    done = _log_with_failpoint(root, "after_commit")
    assert done.returncode == -signal.SIGKILL
    with LocalStore.open(root) as store:
        record = store.get_version("ent", "proj", "ds:latest")
        assert record.version_index == 0 and record.file_count == 6
        assert unreferenced(store) == [] and verify_store(store, rehash=True) == []


@pytest.mark.crash
def test_relogging_the_same_content_after_a_crash_reuses_it(tmp_path):
    root = str(tmp_path / "store")
    assert _log_with_failpoint(root, "before_commit").returncode == -signal.SIGKILL
    done = subprocess.run(worker_cmd("log", root, "ds", "crash", "--files", "6"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with LocalStore.open(root) as store:
        assert store.get_version("ent", "proj", "ds").version_index == 0
        assert verify_store(store, rehash=True) == []


@pytest.mark.crash
@pytest.mark.slow
def test_kill_at_random_moments(tmp_path):
    root = str(tmp_path / "store")
    LocalStore.open(root).close()
    rng = random.Random(1234)
    for round_ in range(6):
        child = subprocess.Popen(worker_cmd("loop", root, "ds", f"r{round_}", "--files", "15"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 1.2))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, err
        reported = [int(x) for x in out.split()]
        with LocalStore.open(root) as store:
            try:
                versions = store.list_versions("ent", "proj", "ds", order="+version_index")
            except ProjectNotFoundError:
                versions = []  # killed before its first commit (a loaded machine starts slowly)
            indices = [v.version_index for v in versions]
            assert indices == list(range(len(indices)))  # no gap, no half version
            assert set(reported) <= set(indices)  # everything it was told about exists
            assert verify_store(store, rehash=True) == []
    with LocalStore.open(root) as store:
        n = len(store.list_versions("ent", "proj", "ds"))
        record = store.log_version("ent", "proj", "ds", "dataset",
                                   manifest_of(tmp_path / "after", {"z": "after the storm"}))
        assert record.version_index == n
        store.gc(grace_seconds=0)
        assert unreferenced(store) == []
        assert verify_store(store, rehash=True) == []
