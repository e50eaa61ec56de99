"""Faults: a client SIGKILLed mid-upload or mid-commit, the server SIGKILLed while
clients commit, PostgreSQL restarted under load, a blob corrupted on the server. Nothing
is ever half-visible, every listed version downloads and verifies, and a re-run
finishes the job sending only what is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

import artefact as wandb
from artefact.store.errors import CorruptBlobError

from ._server import ServerProcess

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_client_worker.py")

_LOG = """
import os, sys, artefact as wandb
data = sys.argv[1]
with wandb.init(project="crash") as run:
    a = wandb.Artifact("ds", "dataset"); a.add_dir(data); run.log_artifact(a).wait()
    print(a.version)
"""


def _data(root, n=40) -> str:
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        with open(os.path.join(root, f"f{i:02d}.txt"), "w") as f:
            f.write(f"file {i}\n" * (i + 1))
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(3 << 20))
    return str(root)


def _lacking(remote, data: str) -> int:
    """How many of the tree's blobs the server still lacks (asked as a client would)."""
    art = wandb.Artifact("probe", "dataset")
    art.add_dir(data)
    blobs = [["MD5", e.digest, e.size] for e in art.manifest.entries.values()]
    r = requests.post(remote.url + "/api/v1/blobs/lacking", timeout=60, json={
        "entity": "tester", "project": "crash", "blobs": blobs},
        headers={"Authorization": f"Bearer {os.environ['ARTEFACT_API_KEY']}"})
    assert r.status_code == 200, r.text
    return len(r.json()["lacking"])


@pytest.mark.crash
@pytest.mark.parametrize("point", ["during_blobs", "after_blobs", "before_commit", "after_commit"])
def test_killed_client_leaves_nothing_half_visible_and_the_rerun_sends_only_the_rest(remote, tmp_path, point):
    data = _data(tmp_path / "d")
    total = _lacking(remote, data)
    env = dict(os.environ, ARTEFACT_FAILPOINT=point)
    done = subprocess.run([sys.executable, "-c", _LOG, data], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == -signal.SIGKILL, done.stderr
    api = wandb.Api(overrides={"project": "crash"})
    left = _lacking(remote, data)
    if point == "after_commit":
        assert api.artifact("ds:latest").version == "v0"
    else:
        assert not api.artifact_exists("ds:latest"), "a killed log must not leave a visible version"
        assert left < total, "what was uploaded before the kill stays on the server"
        if point != "during_blobs":
            assert left == 0
    rerun = subprocess.run([sys.executable, "-c", _LOG, data], capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == "v0"
    assert _lacking(remote, data) == 0
    art = api.artifact("ds:v0")
    art.verify(art.download(str(tmp_path / "out")))


def _loggers(server_url: str, key: str, tmp_path, n: int, count: int) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        env = {**os.environ, "ARTEFACT_BASE_URL": server_url, "ARTEFACT_API_KEY": key, "ARTEFACT_ENTITY": "tester",
               "ARTEFACT_CACHE_DIR": str(tmp_path / f"c{i}"), "ARTEFACT_DATA_DIR": str(tmp_path / f"d{i}"),
               "ARTEFACT_HTTP_RETRY_SECONDS": "90"}
        procs.append(subprocess.Popen([sys.executable, WORKER, "log", "load", "ds", str(10 + i), str(count)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _errors(procs, outs) -> list:
    return [(p.returncode, [line for line in err.splitlines() if "Adding directory" not in line][-6:])
            for p, (_, err) in zip(procs, outs) if p.returncode != 0]


def _check_all_versions(tmp_path, expected: int) -> None:
    api = wandb.Api(overrides={"project": "load"})
    listed = api.artifacts("dataset", "ds")
    indices = sorted(int(a.version[1:]) for a in listed)
    assert indices == list(range(expected)), indices
    assert api.artifact("ds:latest").version == f"v{expected - 1}"
    for a in listed:
        a.verify(a.download(str(tmp_path / "verify" / a.version)))


@pytest.mark.crash
@pytest.mark.slow
def test_server_killed_while_clients_commit(server, tmp_path, monkeypatch):
    key = server.make_key("tester", "writer")
    monkeypatch.setenv("ARTEFACT_BASE_URL", server.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", key)
    procs = _loggers(server.url, key, tmp_path, 3, 6)
    for delay in (1.5, 1.0, 0.7):
        time.sleep(delay)
        server.kill()  # SIGKILL: whatever transaction was open is rolled back
        server.start()
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), _errors(procs, outs)
    reported = sorted(int(x) for out, _ in outs for x in out.split())
    assert reported == list(range(18)), reported
    _check_all_versions(tmp_path, 18)


@pytest.mark.crash
@pytest.mark.slow
def test_postgresql_restarted_under_load(pg_cluster, tmp_path, monkeypatch):
    srv = ServerProcess(pg_cluster.new_database(), str(tmp_path / "blobs"))
    try:
        key = srv.make_key("tester", "writer")
        monkeypatch.setenv("ARTEFACT_BASE_URL", srv.url)
        monkeypatch.setenv("ARTEFACT_API_KEY", key)
        procs = _loggers(srv.url, key, tmp_path, 3, 6)
        time.sleep(2.0)
        pg_cluster.restart()  # immediate stop: connections die mid-transaction
        time.sleep(1.0)
        pg_cluster.restart()
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), _errors(procs, outs)
        assert srv.proc.poll() is None, "the server survives its database restarting"
        _check_all_versions(tmp_path, 18)
    finally:
        srv.stop()


def test_blob_corrupted_on_the_server_is_caught_and_never_placed(remote, tmp_path, monkeypatch):
    # The bytes stay wrong on every try: two tries prove it as well as eight (~23 s of backoff each).
    monkeypatch.setenv("ARTEFACT_TRANSFER_RETRIES", "1")
    data = _data(tmp_path / "d", n=3)
    with wandb.init(project="crash") as run:
        art = wandb.Artifact("ds", "dataset")
        art.add_dir(data)
        run.log_artifact(art).wait()
    for entry in ("f01.txt", "big.bin"):  # one fetched in a batch, one through its own URL
        digest = art.manifest.entries[entry].digest
        obj = os.path.join(remote.blobs, "objects", wandb._core.object_relpath(digest, "MD5"))
        size = os.path.getsize(obj)
        with open(obj, "r+b") as f:
            f.write(b"X" * min(size, 8))
        root = tmp_path / f"root-{entry}"
        fresh_cache = tmp_path / f"cache-{entry}"
        os.environ["ARTEFACT_CACHE_DIR"] = str(fresh_cache)
        with pytest.raises(CorruptBlobError, match="hashes to"):
            wandb.Api().artifact("crash/ds:v0").download(str(root), skip_cache=False)
        assert not (root / entry).exists()
        cached = [os.path.join(d, f) for d, _, fs in os.walk(fresh_cache) for f in fs]
        assert all(open(p, "rb").read(8) != b"XXXXXXXX" for p in cached)
        with open(obj, "wb") as f:  # put it right again for the next round
            f.write(open(os.path.join(data, entry), "rb").read())
