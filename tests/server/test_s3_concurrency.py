"""Concurrency with S3 blobs: two server processes on one PostgreSQL catalog and one
bucket, eight client processes logging to one collection (test_concurrency.py's
scenario); contiguous versions, none lost or duplicated, `latest` on the newest, equal
content one version, and the file every version shares stored once in the bucket."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import artefact as wandb

from ._server import ServerProcess
from .test_concurrency import WORKER
from .test_concurrency import test_collections_commit_side_by_side_and_each_stays_contiguous as _side_by_side


@pytest.mark.slow
def test_two_servers_eight_clients_one_collection_on_s3(s3_blobs, pg_url, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    servers = [ServerProcess(pg_url, str(tmp_path / "blobs")), ServerProcess(pg_url, str(tmp_path / "blobs"))]
    try:
        key = servers[0].make_key("team", "writer")
        go = str(tmp_path / "go")
        procs = []
        for i in range(8):
            env = {**os.environ, "ARTEFACT_BASE_URL": servers[i % 2].url, "ARTEFACT_API_KEY": key,
                   "ARTEFACT_ENTITY": "team", "ARTEFACT_CACHE_DIR": str(tmp_path / f"cache{i}"),
                   "ARTEFACT_DATA_DIR": str(tmp_path / f"data{i}"), "ARTEFACT_INLINE_BYTES": "0"}
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
        shared = [e for e in listed[0].manifest.entries.values() if e.path == "shared.txt"][0]
        hexd = wandb._core.b64_to_hex(shared.digest)
        keys = endpoint.keys(bucket)
        assert [k for k in keys if k.endswith("/md5/" + hexd)] and len(
            [k for k in keys if k.endswith("/md5/" + hexd)]) == 1, "the shared file is one object"
        versions = endpoint.client().list_object_versions(Bucket=bucket, Prefix=[k for k in keys if k.endswith(hexd)][0])
        assert len(versions["Versions"]) == 1, "create-only: concurrent uploads of it did not overwrite it"
        root = api.artifact("ds:v3").download(str(tmp_path / "out"))
        api.artifact("ds:v3").verify(root)
    finally:
        for s in servers:
            s.stop()


@pytest.mark.slow
def test_collections_commit_side_by_side_on_s3(s3_blobs, pg_url, tmp_path, monkeypatch):
    _side_by_side(pg_url, tmp_path, monkeypatch)
