"""Commits of large manifests (side_work.py: from PARALLEL_ENTRIES entries the
server makes the canonical bytes and digest on a second thread while it checks the blobs),
against a real server process on a SQLite and a PostgreSQL catalog: the stored manifest
is the canonical one under its MD5, a refused commit (wrong digest, a blob never sent)
stores no manifest and no version, a re-log with one changed blob commits, and a second
client downloads and verifies it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import requests

from artefact import _core
from artefact.side_work import PARALLEL_ENTRIES

from ._server import use_server

N = PARALLEL_ENTRIES + 500


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _manifest(files: dict[str, bytes]) -> bytes:
    # not canonical on purpose (spaces, key order): the server stores its own canonical bytes
    contents = {p: {"size": len(b), "digest": _md5(b)} for p, b in files.items()}
    return json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                       "storagePolicyConfig": {"storageLayout": "V2"}, "contents": contents}, indent=1).encode()


def _commit(srv, key: str, files: dict[str, bytes], carried: list[bytes], digest: str | None = None):
    manifest = _manifest(files)
    head = {"entity": "acme", "project": "p", "name": "big", "type": "dataset", "manifest_bytes": len(manifest),
            "digest": digest or _core.Manifest.from_json(manifest).digest("MD5")}
    frames = b"".join(f"MD5 {_md5(b)} {len(b)}\n".encode() + b for b in carried)
    return requests.post(srv.url + "/api/v1/commit/inline", data=json.dumps(head).encode() + b"\n" + manifest + frames,
                         headers={"Authorization": f"Bearer {key}"}, timeout=120)


def _manifest_files(srv) -> list[str]:
    root = os.path.join(srv.blobs, "manifests")
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".json")
                  and os.path.basename(d) != "tmp")


def _versions(srv, key: str) -> list[int]:
    found = requests.post(srv.url + "/api/v1/store/list_versions", json={"entity": "acme", "project": "p", "name": "big"},
                          headers={"Authorization": f"Bearer {key}"}, timeout=60).json()["result"]
    return sorted(v["version_index"] for v in found)


def test_large_manifests_commit_canonically_and_refusals_store_nothing(server, tmp_path, monkeypatch):
    srv = server
    key = srv.make_key("acme", "writer")
    files = {f"d{i % 50}/f{i}.bin": os.urandom(40) + str(i).encode() for i in range(N)}
    r = _commit(srv, key, files, list(files.values()))
    assert r.status_code == 200 and r.json()["record"]["version_index"] == 0, r.text
    mkey = r.json()["record"]["manifest_key"]
    (stored,) = _manifest_files(srv)
    data = open(stored, "rb").read()
    assert hashlib.md5(data).hexdigest() == mkey and stored.endswith(mkey[2:] + ".json")
    assert data == _core.Manifest.from_json(_manifest(files)).to_wire_json()  # canonical, not the client's bytes

    files["d3/f3.bin"] = b"changed three"
    r = _commit(srv, key, files, [files["d3/f3.bin"]], digest="bm90IHRoZSBkaWdlc3Q=")
    assert r.status_code == 400 and "manifest digest is" in r.text, r.text
    files["d4/f4.bin"] = b"changed four, never sent"
    r = _commit(srv, key, files, [files["d3/f3.bin"]])
    assert r.status_code == 200 and r.json()["record"] is None, r.text
    assert [item[1] for item in r.json()["lacking"]] == [_md5(b"changed four, never sent")]
    assert _manifest_files(srv) == [stored] and _versions(srv, key) == [0]

    r = _commit(srv, key, files, [files["d4/f4.bin"]])  # f3's blob was stored by the refused call
    assert r.status_code == 200 and r.json()["record"]["version_index"] == 1, r.text
    assert len(_manifest_files(srv)) == 2 and _versions(srv, key) == [0, 1]

    # a second client with its own cache downloads v1 and verifies every file
    use_server(monkeypatch, srv, "acme", key)
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache2"))
    monkeypatch.setenv("ARTEFACT_DATA_DIR", str(tmp_path / "data2"))
    root = tmp_path / "dl"
    program = ("import artefact as wandb, sys\n"
               "a = wandb.Api().artifact('acme/p/big:v1'); a.download(sys.argv[1]); a.verify(sys.argv[1])\n")
    done = subprocess.run([sys.executable, "-c", program, str(root)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / "d3" / "f3.bin").read_bytes() == b"changed three"
    assert (root / "d4" / "f4.bin").read_bytes() == b"changed four, never sent"
    assert sum(len(fs) for _, _, fs in os.walk(root)) == N
