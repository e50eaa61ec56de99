"""commit/inline with the manifest's bytes raw after the first line (`manifest_bytes`),
against a real server process: the server says so in `whoami`, a version committed that
way is the same version as one committed with the manifest as a JSON string (what older
clients send, still accepted), the SDK re-logs a tree through it, and a bad
`manifest_bytes` is a 400 naming it with nothing stored."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest
import requests

from ._server import ServerProcess


@pytest.fixture
def srv(tmp_path):
    s = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "blobs"))
    s.key = s.make_key("acme", "writer")
    yield s
    s.stop()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _manifest(entries: dict) -> bytes:
    return json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                       "storagePolicyConfig": {"storageLayout": "V2"}, "contents": entries}).encode()


def _frames(blobs: list[bytes]) -> bytes:
    return b"".join(f"MD5 {_md5(b)} {len(b)}\n".encode() + b for b in blobs)


def _inline(srv, head: dict, rest: bytes) -> requests.Response:
    body = json.dumps(head).encode() + b"\n" + rest
    return requests.post(srv.url + "/api/v1/commit/inline", data=body, timeout=60,
                         headers={"Authorization": f"Bearer {srv.key}", "Content-Type": "application/json"})


def _call(srv, method: str, **args):
    r = requests.post(f"{srv.url}/api/v1/store/{method}", json=args, timeout=60,
                      headers={"Authorization": f"Bearer {srv.key}"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _collections(srv) -> list:
    """The project's collections; none when the project itself was never made."""
    r = requests.post(f"{srv.url}/api/v1/store/list_collections", json={"entity": "acme", "project": "p"},
                      headers={"Authorization": f"Bearer {srv.key}"}, timeout=60)
    return r.json()["result"] if r.status_code == 200 else []


def _files(root: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if "/tmp" not in d)


def test_whoami_says_the_manifest_may_come_raw(srv):
    r = requests.get(srv.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {srv.key}"}, timeout=30)
    assert r.status_code == 200 and r.json()["manifest_bytes"] is True


def test_raw_and_json_string_manifests_commit_the_same_version(srv):
    a, b = b"first file\n", b"second file\n"
    manifest = _manifest({"a.txt": {"digest": _md5(a), "size": len(a)}, "b.txt": {"digest": _md5(b), "size": len(b)}})
    fields = {"entity": "acme", "project": "p", "name": "ds", "type": "dataset", "aliases": ["latest"]}
    r = _inline(srv, {**fields, "manifest_bytes": len(manifest)}, manifest + _frames([a, b]))
    assert r.status_code == 200, r.text
    raw = r.json()["record"]
    # what an older client sends: the same manifest as a JSON string; a twin of v0
    r = _inline(srv, {**fields, "manifest": manifest.decode(), "digest": raw["digest"]}, _frames([a]))
    assert r.status_code == 200, r.text
    assert r.json()["record"]["id"] == raw["id"]
    loaded = _call(srv, "load_manifest", record=raw)
    stored = json.loads(loaded["manifest"])["contents"]
    assert {p: (e["digest"], e["size"]) for p, e in stored.items()} == {"a.txt": (_md5(a), len(a)), "b.txt": (_md5(b), len(b))}
    # and a changed one the raw way: v1, its one new blob carried along
    c = b"changed\n"
    changed = _manifest({"a.txt": {"digest": _md5(c), "size": len(c)}, "b.txt": {"digest": _md5(b), "size": len(b)}})
    r = _inline(srv, {**fields, "manifest_bytes": len(changed)}, changed + _frames([c]))
    assert r.status_code == 200, r.text
    assert r.json()["record"]["version_index"] == 1


@pytest.mark.parametrize("size, message", [
    (0, "'manifest_bytes' must be the length"),
    (-5, "'manifest_bytes' must be the length"),
    (10**9, "not 1000000000"),
    (True, "not True"),
    ("12", "not '12'"),
])
def test_a_bad_manifest_length_is_refused_naming_it(srv, size, message):
    a = b"content\n"
    manifest = _manifest({"a.txt": {"digest": _md5(a), "size": len(a)}})
    before = _files(srv.blobs)
    r = _inline(srv, {"entity": "acme", "project": "p", "name": "ds", "type": "t", "manifest_bytes": size},
                manifest + _frames([a]))
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]
    assert _files(srv.blobs) == before
    assert _collections(srv) == []


def test_a_raw_manifest_cut_short_or_given_twice_is_refused(srv):
    a = b"content\n"
    manifest = _manifest({"a.txt": {"digest": _md5(a), "size": len(a)}})
    fields = {"entity": "acme", "project": "p", "name": "ds", "type": "t"}
    before = _files(srv.blobs)
    r = _inline(srv, {**fields, "manifest_bytes": len(manifest) - 3}, manifest + _frames([a]))
    assert r.status_code == 400, r.text  # the JSON ends early, and the rest is no frame either
    r = _inline(srv, {**fields, "manifest_bytes": len(manifest), "manifest": manifest.decode()}, manifest)
    assert r.status_code == 400 and "not both" in r.json()["error"]["message"], r.text
    escaping = _manifest({"../x": {"digest": _md5(a), "size": len(a)}})
    r = _inline(srv, {**fields, "manifest_bytes": len(escaping)}, escaping + _frames([a]))
    assert r.status_code == 400 and "../x" in r.json()["error"]["message"], r.text
    assert _files(srv.blobs) == before
    assert _collections(srv) == []


_RELOG = r"""
import json, os, sys
import artefact as wandb
tree = sys.argv[1]
with wandb.init(project="p") as run:
    a = wandb.Artifact("tree", "dataset")
    a.add_dir(tree)
    run.log_artifact(a).wait()
from artefact.remote.direct_upload import takes_raw_manifest
print(json.dumps({"version": a.version, "raw": takes_raw_manifest(os.environ["ARTEFACT_BASE_URL"])}))
"""


def test_the_sdk_relogs_a_tree_with_the_manifest_raw(srv, tmp_path):
    tree = tmp_path / "tree"
    for i in range(40):
        (tree / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 4}" / f"f{i}.bin").write_bytes(os.urandom(100 + i))
    env = dict(os.environ, ARTEFACT_BASE_URL=srv.url, ARTEFACT_API_KEY=srv.key, ARTEFACT_ENTITY="acme",
               ARTEFACT_CACHE_DIR=str(tmp_path / "cache"), ARTEFACT_DATA_DIR=str(tmp_path / "data"), ARTEFACT_QUIET="1")

    def log() -> dict:
        done = subprocess.run([sys.executable, "-c", _RELOG, str(tree)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert log() == {"version": "v0", "raw": True}
    (tree / "d1" / "f1.bin").write_bytes(b"changed")
    assert log() == {"version": "v1", "raw": True}
    assert log() == {"version": "v1", "raw": True}  # unchanged: the twin
    record = _call(srv, "get_version", entity="acme", project="p", name="tree:v1")
    contents = json.loads(_call(srv, "load_manifest", record=record)["manifest"])["contents"]
    assert len(contents) == 40 and contents["d1/f1.bin"]["digest"] == _md5(b"changed")
    # a second machine downloads v1 and gets the changed file
    get = ("import artefact as wandb, sys; wandb.Api().artifact('acme/p/tree:v1').download(sys.argv[1])")
    env2 = dict(env, ARTEFACT_CACHE_DIR=str(tmp_path / "cache2"), ARTEFACT_DATA_DIR=str(tmp_path / "data2"))
    subprocess.run([sys.executable, "-c", get, str(tmp_path / "dl")], env=env2, check=True, capture_output=True,
                   timeout=300)
    assert (tmp_path / "dl" / "d1" / "f1.bin").read_bytes() == b"changed"
    assert (tmp_path / "dl" / "d2" / "f2.bin").read_bytes() == (tree / "d2" / "f2.bin").read_bytes()
