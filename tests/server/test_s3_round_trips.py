"""What a log costs with S3 blobs: the client's calls to the server, and the bytes that
go straight to the bucket (pass-through spies on the real client, a real server on
moto). Only blobs the server lacks travel: small ones by batch to the server, which
writes each batch to the bucket as one pack; large ones straight to the bucket."""

from __future__ import annotations

import os

import pytest

import artefact as wandb
from artefact import _core
from artefact.remote import client as client_mod


@pytest.fixture
def calls(monkeypatch):
    seen: list[str] = []
    request = client_mod.Client.request
    put_ranges, post_batch = _core.transfer_put_ranges, _core.transfer_post_batch

    def spy_request(self, method, path, **kw):
        seen.append(path)
        return request(self, method, path, **kw)

    def spy_ranges(items, **kw):
        seen.append("direct:" + str(len(items)))
        return put_ranges(items, **kw)

    def spy_batch(url, items, **kw):
        seen.append("batch:" + str(len(items)))
        return post_batch(url, items, **kw)

    monkeypatch.setattr(client_mod.Client, "request", spy_request)
    monkeypatch.setattr(_core, "transfer_put_ranges", spy_ranges)
    monkeypatch.setattr(_core, "transfer_post_batch", spy_batch)
    return seen


def _log(run, root, calls: list, **files: str) -> tuple[str, list]:
    os.makedirs(root, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    calls.clear()
    art = wandb.Artifact("ds", "dataset")
    art.add_dir(str(root))
    version = run.log_artifact(art).wait().version
    return version, [c for c in calls if c.startswith(("/api/v1/commit", "/api/v1/blobs", "batch:", "direct:"))]


@pytest.mark.parametrize("server", ["s3"], indirect=True)
def test_only_lacking_blobs_go_and_small_ones_go_in_packs(remote, tmp_path, calls, monkeypatch):
    monkeypatch.setenv("ARTEFACT_INLINE_BYTES", "0")
    endpoint, bucket = remote.s3_endpoint, remote.s3_bucket
    with wandb.init(project="trips") as run:
        version, made = _log(run, tmp_path / "a", calls, x="one\n", y="two\n")
        assert (version, made) == ("v0", ["/api/v1/commit", "batch:2", "/api/v1/commit"])
        version, made = _log(run, tmp_path / "b", calls, x="one\n")  # every blob held: one call
        assert (version, made) == ("v1", ["/api/v1/commit"])
        version, made = _log(run, tmp_path / "d", calls, x="one\n", y="two\n", z="three\n")
        assert (version, made) == ("v2", ["/api/v1/commit", "batch:1", "/api/v1/commit"])
    keys = [k for k in endpoint.keys(bucket) if k.startswith("blobs/p")]
    assert len(keys) == 2 and all("/packs/" in k for k in keys), keys  # one pack per batch
    assert not os.path.exists(os.path.join(remote.blobs, "objects", "obj")), "no blob kept on the server's disk"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache2"))
    calls.clear()
    art = wandb.Api(overrides={"project": "trips"}).artifact("ds:v2")
    root = art.download(str(tmp_path / "out"))
    art.verify(root)
    assert "/api/v1/blobs/locate" in calls and "/api/v1/blobs/fetch" not in calls


@pytest.mark.parametrize("extra_files", [0, 1500], ids=["small-manifest", "large-manifest"])
def test_two_servers_share_nothing_but_the_catalog_and_the_bucket(s3_blobs, pg_url, tmp_path, monkeypatch,
                                                                   extra_files):
    """Server A and server B have separate data dirs (as on two machines): a version
    logged through A downloads through B, whose manifest comes from the catalog (a small
    one, kept in its row) or the bucket (one over 64 KiB)."""
    from ._server import ServerProcess

    a = ServerProcess(pg_url, str(tmp_path / "machine-a"))
    b = ServerProcess(pg_url, str(tmp_path / "machine-b"))
    try:
        key = a.make_key("tester", "writer")
        monkeypatch.setenv("ARTEFACT_API_KEY", key)
        monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
        monkeypatch.setenv("ARTEFACT_BASE_URL", a.url)
        src = tmp_path / "src"
        src.mkdir()
        (src / "x.txt").write_text("logged through A\n" * 100)
        for i in range(extra_files):
            (src / f"f{i:05d}.txt").write_text(f"file {i}\n")
        with wandb.init(project="two") as run:
            art = wandb.Artifact("ds", "dataset")
            art.add_dir(str(src))
            run.log_artifact(art).wait()
        assert not (tmp_path / "machine-b" / "blobs" / "manifests").exists()
        monkeypatch.setenv("ARTEFACT_BASE_URL", b.url)
        monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-b"))
        got = wandb.Api(overrides={"project": "two"}).artifact("ds:v0")
        got.verify(got.download(str(tmp_path / "out")))
        assert (tmp_path / "out" / "x.txt").read_text() == "logged through A\n" * 100
        endpoint, bucket = s3_blobs
        in_bucket = [k for k in endpoint.keys(bucket) if k.startswith("blobs/manifests/")]
        import psycopg

        with psycopg.connect(pg_url) as conn:
            in_catalog = conn.execute("SELECT manifest_key FROM catalog_manifests").fetchall()
        assert (len(in_bucket), len(in_catalog)) == ((1, 0) if extra_files else (0, 1))
    finally:
        a.stop()
        b.stop()
