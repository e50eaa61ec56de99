"""Downloading a version already present, and the client's manifest cache.

A remote download checks the download root first (stat cache, else a re-hash), and
asks the cache, then the server, only for what the root lacks; the manifest of a
version comes from the client's cache when it holds it (keyed by the manifest's MD5,
checked on every read), while the version itself is resolved by the server each time.
Each client here is its own process with its own cache, as on two machines."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

LOG = r"""
import os, sys, artefact as wandb
data, name = sys.argv[1:3]
with wandb.init(project="present") as run:
    a = wandb.Artifact(name, "dataset")
    a.add_dir(data)
    run.log_artifact(a).wait()
print(a.version)
"""

# Downloads PATH into ROOT; prints the version, the manifest key and how many times the
# manifest was asked of the server (Client.call is wrapped to count them).
GET = r"""
import json, sys, artefact as wandb
from artefact.remote.client import Client
asked = []
call = Client.call
def counted(self, method, **args):
    if method == "load_manifest":
        asked.append(method)
    return call(self, method, **args)
Client.call = counted
path, root = sys.argv[1:3]
art = wandb.Api().artifact(path)
art.download(root)
art.verify(root)
print(json.dumps({"version": art.version, "key": art._record.manifest_key, "asked": len(asked)}))
"""


def _env(tmp_path, name: str) -> dict:
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTEFACT_STORE")}
    env.update(ARTEFACT_CACHE_DIR=str(home / "cache"), ARTEFACT_DATA_DIR=str(home / "data"),
               ARTEFACT_ARTIFACT_DIR=str(home / "artifacts"), ARTEFACT_STORE=str(home / "no-store"))
    return env


def _run(code: str, env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _objects(cache: str) -> list[str]:
    """The artifact cache's objects, relative to its obj/ dir."""
    root = os.path.join(cache, "artifacts", "obj")
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _object_of_md5(hex_digest: str) -> str:
    """A cache object's path under obj/ (wandb's layout: md5/<2 hex>/<30 hex>)."""
    return os.path.join("md5", hex_digest[:2], hex_digest[2:])


def _tree(root, files: int) -> dict[str, bytes]:
    content = {}
    for i in range(files):
        rel = f"d{i % 3}/f{i:03d}.bin"
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        content[rel] = os.urandom(4096)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(content[rel])
    return content


def test_a_present_root_is_checked_first_and_a_tampered_file_is_repaired(remote, tmp_path):
    a, b = _env(tmp_path, "a"), _env(tmp_path, "b")
    content = _tree(tmp_path / "data", 40)
    assert _run(LOG, a, str(tmp_path / "data"), "ds") == "v0"
    root = str(tmp_path / "root")
    cold = json.loads(_run(GET, b, "present/ds:v0", root))
    manifest_object = _object_of_md5(cold["key"])
    assert manifest_object in _objects(b["ARTEFACT_CACHE_DIR"]) and len(_objects(b["ARTEFACT_CACHE_DIR"])) == 41

    # The cache emptied: the root alone has every file, so no blob travels (only the
    # manifest is asked for again, and kept).
    shutil.rmtree(os.path.join(b["ARTEFACT_CACHE_DIR"], "artifacts", "obj"))
    again = json.loads(_run(GET, b, "present/ds:v0", root))
    assert again["asked"] == 1
    assert _objects(b["ARTEFACT_CACHE_DIR"]) == [manifest_object]

    # Two files altered in place with other bytes of the same size, one of them with its
    # modification time put back (its ctime still moves): both are fetched and replaced,
    # and nothing else travels.
    for rel, keep_mtime in (("d0/f000.bin", True), ("d2/f011.bin", False)):
        path = os.path.join(root, rel)
        before = os.stat(path)
        with open(path, "r+b") as f:
            f.write(os.urandom(4096))
        if keep_mtime:
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.path.getsize(path) == 4096
    repaired = json.loads(_run(GET, b, "present/ds:v0", root))  # verify() ran in the client
    assert repaired["asked"] == 0  # the manifest came from the cache
    for rel, data in content.items():
        with open(os.path.join(root, rel), "rb") as f:
            assert f.read() == data, rel
    want = {manifest_object} | {_object_of_md5(hashlib.md5(content[r]).hexdigest()) for r in ("d0/f000.bin", "d2/f011.bin")}
    assert set(_objects(b["ARTEFACT_CACHE_DIR"])) == want

    # A file removed from the root whose blob the cache holds is placed from the cache.
    os.remove(os.path.join(root, "d0/f000.bin"))
    json.loads(_run(GET, b, "present/ds:v0", root))
    with open(os.path.join(root, "d0/f000.bin"), "rb") as f:
        assert f.read() == content["d0/f000.bin"]


def test_the_manifest_cache_follows_alias_moves_and_refetches_a_bad_copy(remote, tmp_path):
    a, b = _env(tmp_path, "a"), _env(tmp_path, "b")
    content = _tree(tmp_path / "data", 12)
    assert _run(LOG, a, str(tmp_path / "data"), "ds") == "v0"
    first = json.loads(_run(GET, b, "present/ds:latest", str(tmp_path / "r1")))
    assert (first["version"], first["asked"]) == ("v0", 1)

    # Another machine logs v1: `latest` moves; the second client sees v1 at once.
    changed = os.urandom(4096)
    with open(tmp_path / "data" / "d1" / "f001.bin", "wb") as f:
        f.write(changed)
    assert _run(LOG, a, str(tmp_path / "data"), "ds") == "v1"
    moved = json.loads(_run(GET, b, "present/ds:latest", str(tmp_path / "r2")))
    assert (moved["version"], moved["asked"]) == ("v1", 1) and moved["key"] != first["key"]
    with open(tmp_path / "r2" / "d1" / "f001.bin", "rb") as f:
        assert f.read() == changed

    # v0 again: its manifest is read from the cache, not asked for.
    old = json.loads(_run(GET, b, "present/ds:v0", str(tmp_path / "r3")))
    assert (old["version"], old["key"], old["asked"]) == ("v0", first["key"], 0)
    with open(tmp_path / "r3" / "d1" / "f001.bin", "rb") as f:
        assert f.read() == content["d1/f001.bin"]

    # A cached manifest whose bytes no longer hash to its key is a miss: asked again,
    # and the good copy replaces it.
    cached = os.path.join(b["ARTEFACT_CACHE_DIR"], "artifacts", "obj", _object_of_md5(first["key"]))
    with open(cached, "rb") as f:
        good = f.read()
    os.chmod(cached, 0o644)
    with open(cached, "wb") as f:
        f.write(good.replace(b"f001.bin", b"f999.bin"))
    bad = json.loads(_run(GET, b, "present/ds:v0", str(tmp_path / "r4")))
    assert (bad["version"], bad["asked"]) == ("v0", 1)
    assert sorted(os.path.relpath(os.path.join(d, f), tmp_path / "r4") for d, _, fs in os.walk(tmp_path / "r4")
                  for f in fs) == sorted(content)
    with open(cached, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == first["key"]
