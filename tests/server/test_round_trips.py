"""How many HTTP calls a log costs (server/protocol.py, `commit` with `or_lacking`, and
`commit_inline`).

A small version (blobs up to ARTEFACT_INLINE_BYTES in all) is always one call: its blobs
ride along with the commit. Otherwise a version whose blobs the server already holds,
and a re-log of a committed version (dedupe), each cost one call: the commit carries the
manifest and the server either commits or names what it lacks; a version with new
content costs three: the commit attempt (which answers with the lacking blobs and
records nothing), the batch of bytes, and the commit. Counted with pass-through spies
on the real client, against a real server on each catalog engine.
"""

from __future__ import annotations

import os
import time

import pytest

import artefact as wandb
from artefact import _core
from artefact.remote import client as client_mod


@pytest.fixture
def calls(monkeypatch):
    """Every HTTP call the SDK makes in this process: JSON calls by path, batch uploads."""
    seen: list[str] = []
    request = client_mod.Client.request
    post_batch = _core.transfer_post_batch

    def spy_request(self, method, path, **kw):
        seen.append(path)
        return request(self, method, path, **kw)

    def spy_batch(url, items, **kw):
        seen.append("batch:" + str(len(items)))
        return post_batch(url, items, **kw)

    monkeypatch.setattr(client_mod.Client, "request", spy_request)
    monkeypatch.setattr(_core, "transfer_post_batch", spy_batch)
    return seen


def _files(root, **contents) -> str:
    os.makedirs(root, exist_ok=True)
    for name, text in contents.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    return str(root)


def _log(run, root: str, calls: list) -> tuple[str, list]:
    calls.clear()
    art = wandb.Artifact("ds", "dataset")
    art.add_dir(root)
    version = run.log_artifact(art).wait().version
    return version, [c for c in calls if c.startswith(("/api/v1/commit", "/api/v1/blobs", "batch:"))]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "lacking-first"])
def test_a_version_whose_blobs_the_server_holds_is_one_call(remote, tmp_path, calls, monkeypatch, inline):
    if not inline:
        monkeypatch.setenv("ARTEFACT_INLINE_BYTES", "0")
    one = ["/api/v1/commit/inline"] if inline else ["/api/v1/commit"]
    with wandb.init(project="trips") as run:
        version, made = _log(run, _files(tmp_path / "a", x="one\n", y="two\n"), calls)
        assert version == "v0"
        assert made == (one if inline else ["/api/v1/commit", "batch:2", "/api/v1/commit"]), made
        # New manifest, every blob already held: committed by the first call.
        version, made = _log(run, _files(tmp_path / "b", x="one\n"), calls)
        assert version == "v1"
        assert made == one, made
        # Same content again: deduplicated, also one call, no new version.
        version, made = _log(run, _files(tmp_path / "c", x="one\n"), calls)
        assert version == "v1"
        assert made == one, made
        # One new file among held ones: only it travels.
        version, made = _log(run, _files(tmp_path / "d", x="one\n", y="two\n", z="three\n"), calls)
        assert version == "v2"
        assert made == (one if inline else ["/api/v1/commit", "batch:1", "/api/v1/commit"]), made
    api = wandb.Api(overrides={"project": "trips"})
    assert sorted(a.version for a in api.artifacts("dataset", "ds")) == ["v0", "v1", "v2"]
    assert api.artifact("ds:latest").version == "v2"
    art = api.artifact("ds:v2")
    root = art.download(str(tmp_path / "out"))
    art.verify(root)
    assert open(os.path.join(root, "z")).read() == "three\n"


def test_an_inline_blob_that_does_not_match_its_digest_stores_nothing(remote, tmp_path):
    """A forged inline body: the server refuses it (400, naming the digest) and records no version."""
    import json

    import requests

    path = _files(tmp_path / "f", x="real\n")
    art = wandb.Artifact("forged", "dataset")
    art.add_dir(path)
    entry = art.manifest.entries["x"]
    head = {"entity": "tester", "project": "trips", "name": "forged", "type": "dataset",
            "manifest": json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                                    "storagePolicyConfig": {"storageLayout": "V2"},
                                    "contents": {"x": {"digest": entry.digest, "size": entry.size}}}),
            "aliases": ["latest"]}
    body = json.dumps(head).encode() + b"\n" + f"MD5 {entry.digest} {entry.size}\n".encode() + b"fake\n"
    r = requests.post(remote.url + "/api/v1/commit/inline", data=body, timeout=60,
                      headers={"Authorization": f"Bearer {os.environ['ARTEFACT_API_KEY']}"})
    assert r.status_code == 400, r.text
    assert entry.digest in r.text and "hashes to" in r.text
    assert not wandb.Api(overrides={"project": "trips"}).artifact_exists("forged:latest")
    obj = os.path.join(remote.blobs, "objects", _core.object_relpath(entry.digest, "MD5"))
    assert not os.path.exists(obj)


def test_relog_with_one_changed_file_stages_and_sends_only_it(remote, tmp_path, calls, monkeypatch):
    """A tree too big to ride along: the first log is lacking-first, and its staged copies
    end up in the cache (moved, with a fresh file's mode). Re-logging it with one file
    changed stages only that file (the cache holds the rest, so staging spares them), and
    the commit carries just its bytes: one call."""
    from artefact import config

    names = {f"f{i:02d}": os.urandom(2048).hex() for i in range(60)}  # 60 x 4 KiB > ARTEFACT_INLINE_BYTES
    root = _files(tmp_path / "tree", **names)
    past = os.stat(root).st_mtime - 60  # written a while ago: the stat cache trusts them
    for name in names:
        os.utime(os.path.join(root, name), (past, past))
    time.sleep(0.2)  # ctime too: a change within the stat cache's racy margin (50 ms) is not trusted
    staging = config.staging_dir_path()
    with wandb.init(project="trips") as run:
        version, made = _log(run, root, calls)
        # small blobs come through the server in one batch (with S3 blobs, written there as a pack)
        sent = ["batch:60"]
        assert (version, made) == ("v0", ["/api/v1/commit", *sent, "/api/v1/commit"]), made
        assert os.listdir(staging) == []
        entries = wandb.Api().artifact("trips/ds:v0").manifest.entries
        for entry in entries.values():
            obj = os.path.join(config.artifacts_cache_dir(), _core.object_relpath(entry.digest, "MD5"))
            assert os.path.getsize(obj) == entry.size
            assert os.stat(obj).st_mode & 0o600 == 0o600  # not the staged copy's read-only mode
        with open(os.path.join(root, "f07"), "w") as f:
            f.write("changed\n")
        art = wandb.Artifact("ds", "dataset")
        art.add_dir(root)
        assert len(os.listdir(staging)) == 1, "only the changed file is staged"
        calls.clear()
        assert run.log_artifact(art).wait().version == "v1"
        assert [c for c in calls if c.startswith(("/api/v1/commit", "/api/v1/blobs", "batch:"))] == [
            "/api/v1/commit/inline"]
        assert os.listdir(staging) == []
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "other-cache"))  # a second machine's cache
    out = wandb.Api().artifact("trips/ds:v1").download(str(tmp_path / "out"))
    assert open(os.path.join(out, "f07")).read() == "changed\n"
    assert open(os.path.join(out, "f08")).read() == names["f08"]
    wandb.Api().artifact("trips/ds:v1").verify(out)


def test_blobs_that_go_by_batch_get_no_signed_url(remote):
    """`batch_limit` (the client's ARTEFACT_BATCH_FILE_SIZE): with the server's own
    directory, a lacking blob up to that size travels in a batch, so its URL is left
    empty; a larger one, and every blob of a client that does not say, gets a signed
    PUT URL. An object store too: its small blobs go by batch into packs (s3_packs.py)."""
    import requests

    small, large = b"s" * 100, b"L" * 5000
    blobs = [["MD5", _core.hash_bytes(data), len(data)] for data in (small, large)]
    headers = {"Authorization": f"Bearer {os.environ['ARTEFACT_API_KEY']}"}

    def lacking(**extra):
        r = requests.post(remote.url + "/api/v1/blobs/lacking", json={"entity": "tester", "project": "trips",
                          "blobs": blobs, **extra}, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        return {item[1]: item[2] for item in r.json()["lacking"]}

    urls = lacking(batch_limit=1000)
    assert set(urls) == {b[1] for b in blobs}
    assert urls[blobs[0][1]] == "" and urls[blobs[1][1]].startswith("http"), urls
    assert all(lacking().values())
