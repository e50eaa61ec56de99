"""The server's commit check on a re-log (protocol._held_by_recent): the blobs of the
version a server process last committed to a collection count as held without a
catalog read, and nothing else does. Real server processes on one catalog: a blob
that is neither carried, nor held by the project, is refused on the process that just
committed the previous version too, and a version committed through another process
is checked like any other."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
import requests

from artefact import _core

from ._server import ServerProcess


@pytest.fixture
def pair(tmp_path):
    one = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "blobs"))
    two = ServerProcess(one.catalog, one.blobs)
    key = one.make_key("acme", "writer")
    yield one, two, key
    two.stop()
    one.stop()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _manifest(files: dict[str, bytes]) -> bytes:
    contents = {p: {"digest": _md5(b), "size": len(b)} for p, b in files.items()}
    return json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                       "storagePolicyConfig": {"storageLayout": "V2"}, "contents": contents}).encode()


def _commit(srv, key: str, files: dict[str, bytes], carried: list[bytes]) -> requests.Response:
    manifest = _manifest(files)
    head = {"entity": "acme", "project": "p", "name": "ds", "type": "dataset", "manifest_bytes": len(manifest),
            "digest": _core.Manifest.from_json(manifest).digest("MD5")}
    frames = b"".join(f"MD5 {_md5(b)} {len(b)}\n".encode() + b for b in carried)
    return requests.post(srv.url + "/api/v1/commit/inline", data=json.dumps(head).encode() + b"\n" + manifest + frames,
                         headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_only_what_the_last_version_named_counts_as_held(pair):
    one, two, key = pair
    files = {f"f{i}.txt": os.urandom(64) for i in range(20)}
    r = _commit(one, key, files, list(files.values()))
    assert r.status_code == 200 and r.json()["record"]["version_index"] == 0, r.text
    # one file changed, its blob carried: v1 on the process that committed v0
    files["f3.txt"] = b"changed 3"
    r = _commit(one, key, files, [files["f3.txt"]])
    assert r.status_code == 200 and r.json()["record"]["version_index"] == 1, r.text
    # one more changed but not carried and never uploaded: refused (inline commits answer
    # with what is lacking), on both processes, and nothing is committed
    files["f4.txt"] = b"changed 4, never sent"
    for srv in (one, two):
        r = _commit(srv, key, files, [])
        assert r.status_code == 200 and r.json()["record"] is None, r.text
        assert [item[1] for item in r.json()["lacking"]] == [_md5(b"changed 4, never sent")]
    # the other process commits v2; the first one then checks a v3 against what it holds
    r = _commit(two, key, files, [files["f4.txt"]])
    assert r.status_code == 200 and r.json()["record"]["version_index"] == 2, r.text
    files["f5.txt"] = b"changed 5"
    r = _commit(one, key, files, [files["f5.txt"]])
    assert r.status_code == 200 and r.json()["record"]["version_index"] == 3, r.text
    versions = requests.post(one.url + "/api/v1/store/list_versions", json={"entity": "acme", "project": "p", "name": "ds"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=60).json()["result"]
    assert sorted(v["version_index"] for v in versions) == [0, 1, 2, 3]
