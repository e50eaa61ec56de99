"""Two server processes on one catalog (PostgreSQL, and SQLite), eight client processes
logging to one collection through them at once: contiguous versions, none lost or
duplicated, `latest` on the newest, each client's alias on one of its versions, equal
digests deduplicated into one version. On PostgreSQL a commit locks only its collection,
so the second test spreads the clients over two collections and checks each."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import pytest

import artefact as wandb

from ._server import ServerProcess

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_client_worker.py")


@contextmanager
def eight_clients_one_collection(catalog: str, tmp_path, monkeypatch,
                                extra_env: Optional[dict] = None) -> Iterator[tuple]:
    """The scenario: 8 client processes log to one collection through 2 server processes
    at once; asserts contiguous versions, none lost or duplicated, equal content one
    version, `latest` on the newest, and v3 downloads and verifies. Returns (Api, listed
    artifacts, each client's versions) while the servers still run."""
    blobs = str(tmp_path / "blobs")
    servers = [ServerProcess(catalog, blobs), ServerProcess(catalog, blobs)]
    try:
        key = servers[0].make_key("team", "writer")
        go = str(tmp_path / "go")
        procs = []
        for i in range(8):
            env = {**os.environ, "ARTEFACT_BASE_URL": servers[i % 2].url, "ARTEFACT_API_KEY": key,
                   "ARTEFACT_ENTITY": "team", "ARTEFACT_CACHE_DIR": str(tmp_path / f"cache{i}"),
                   "ARTEFACT_DATA_DIR": str(tmp_path / f"data{i}"), **(extra_env or {})}
            procs.append(subprocess.Popen([sys.executable, WORKER, "log", "shared", "ds", str(i), "3", go],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(1.0)
        open(go, "w").close()
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        mine = {i: [int(x) for x in out.splitlines() if x.isdigit()] for i, (out, _) in enumerate(outs)}
        same = [int(line.split()[1]) for out, _ in outs for line in out.splitlines() if line.startswith("same")]
        got = sorted(v for vs in mine.values() for v in vs)
        total = 8 * 3 + 1
        assert len(same) == 2 and same[0] == same[1], "equal content from two clients is one version"
        assert sorted(set(got) | set(same)) == list(range(total)), (got, same)
        assert len(got) == len(set(got)), "no version was handed out twice"
        monkeypatch.setenv("ARTEFACT_BASE_URL", servers[1].url)
        monkeypatch.setenv("ARTEFACT_API_KEY", key)
        monkeypatch.setenv("ARTEFACT_ENTITY", "team")
        api = wandb.Api(overrides={"project": "shared"})
        listed = api.artifacts("dataset", "ds")
        assert sorted(int(a.version[1:]) for a in listed) == list(range(total))
        assert api.artifact("ds:latest").version == f"v{total - 1}"
        root = api.artifact("ds:v3").download(str(tmp_path / "out"))
        api.artifact("ds:v3").verify(root)
        yield api, listed, mine
    finally:
        for s in servers:
            s.stop()


@pytest.mark.slow
def test_two_servers_eight_clients_one_collection(catalog_location, tmp_path, monkeypatch):
    with eight_clients_one_collection(catalog_location, tmp_path, monkeypatch) as (api, listed, mine):
        for i in range(8):
            assert int(api.artifact(f"ds:s{i}").version[1:]) in mine[i]
        # the file every version shares was stored once
        shared = [e for e in listed[0].manifest.entries.values() if e.path == "shared.txt"][0]
        obj = os.path.join(str(tmp_path / "blobs"), "objects", wandb._core.object_relpath(shared.digest, "MD5"))
        assert os.path.isfile(obj)


@pytest.mark.slow
def test_collections_commit_side_by_side_and_each_stays_contiguous(catalog_location, tmp_path, monkeypatch):
    blobs = str(tmp_path / "blobs")
    servers = [ServerProcess(catalog_location, blobs), ServerProcess(catalog_location, blobs)]
    try:
        key = servers[0].make_key("team", "writer")
        go = str(tmp_path / "go")
        names = {i: ("left" if i < 4 else "right") for i in range(2, 10)}  # seeds 2-9: no equal content
        procs = {}
        for i, name in names.items():
            env = {**os.environ, "ARTEFACT_BASE_URL": servers[i % 2].url, "ARTEFACT_API_KEY": key,
                   "ARTEFACT_ENTITY": "team", "ARTEFACT_CACHE_DIR": str(tmp_path / f"cache{i}"),
                   "ARTEFACT_DATA_DIR": str(tmp_path / f"data{i}")}
            procs[i] = subprocess.Popen([sys.executable, WORKER, "log", "shared", name, str(i), "4", go],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        open(go, "w").close()
        outs = {i: p.communicate(timeout=300) for i, p in procs.items()}
        assert all(p.returncode == 0 for p in procs.values()), [o[1][-2000:] for o in outs.values()]
        monkeypatch.setenv("ARTEFACT_BASE_URL", servers[0].url)
        monkeypatch.setenv("ARTEFACT_API_KEY", key)
        monkeypatch.setenv("ARTEFACT_ENTITY", "team")
        api = wandb.Api(overrides={"project": "shared"})
        for name, total in (("left", 2 * 4), ("right", 6 * 4)):
            got = sorted(int(x) for i, (out, _) in outs.items() if names[i] == name for x in out.split())
            assert got == list(range(total)), (name, got)
            listed = api.artifacts("dataset", name)
            assert sorted(int(a.version[1:]) for a in listed) == list(range(total))
            assert api.artifact(f"{name}:latest").version == f"v{total - 1}"
            for i in (i for i in names if names[i] == name):
                mine = [int(x) for x in outs[i][0].split()]
                assert int(api.artifact(f"{name}:s{i}").version[1:]) in mine
        art = api.artifact("right:v5")
        art.verify(art.download(str(tmp_path / "out")))
    finally:
        for s in servers:
            s.stop()
