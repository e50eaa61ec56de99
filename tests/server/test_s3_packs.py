"""Packs: small blobs written to S3 many to one object (server/s3_packs.py), read back
as verified byte ranges (rust/core/src/transfer/packs.rs). Real server processes on a
SQLite catalog (its rows are read directly) with blobs in a moto bucket."""

from __future__ import annotations

import os
import sqlite3

import pytest

import artefact as wandb
from artefact.store.errors import CorruptBlobError

from ._server import ServerProcess


@pytest.fixture
def packs_server(s3_blobs, tmp_path, monkeypatch):
    """A server on SQLite with S3 blobs (small blobs packed up to 64 KiB), and the SDK
    pointed at it with a writer key."""
    made: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        os.makedirs(tmp_path / "server", exist_ok=True)
        proc = ServerProcess(str(tmp_path / "server" / "catalog.db"), str(tmp_path / "server" / "blobs"),
                             env={"ARTEFACT_SERVER_S3_PACK_BLOB_BYTES": str(64 << 10), **env})
        made.append(proc)
        monkeypatch.setenv("ARTEFACT_BASE_URL", proc.url)
        monkeypatch.setenv("ARTEFACT_API_KEY", proc.make_key("tester", "writer"))
        monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
        monkeypatch.setenv("ARTEFACT_INLINE_BYTES", "0")  # every blob by batch, not with the commit
        monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-writer"))
        return proc

    try:
        yield start
    finally:
        for proc in made:
            proc.stop()


def _files(root, count: int, size: int = 4096, tag: str = "") -> dict[str, bytes]:
    os.makedirs(root, exist_ok=True)
    out = {}
    for i in range(count):
        data = (f"{tag}file {i}\n".encode() * (size // 8 + 1))[:size]
        with open(os.path.join(root, f"f{i:04d}.bin"), "wb") as f:
            f.write(data)
        out[f"f{i:04d}.bin"] = data
    return out


def _log(project: str, root, name: str = "ds") -> str:
    with wandb.init(project=project) as run:
        art = wandb.Artifact(name, "dataset")
        art.add_dir(str(root))
        return run.log_artifact(art).wait().version


def _download(monkeypatch, project: str, spec: str, out, cache) -> str:
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(cache))  # a second client: a cache of its own
    art = wandb.Api(overrides={"project": project}).artifact(spec)
    root = art.download(str(out))
    art.verify(root)
    return root


def _rows(server: ServerProcess, table: str) -> int:
    with sqlite3.connect(server.catalog) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _blob_keys(server: ServerProcess) -> list[str]:
    return [k for k in server.stored_objects() if not k.startswith("blobs/manifests/")]


def test_many_small_files_become_few_objects_and_download_verified(packs_server, tmp_path, monkeypatch):
    server = packs_server()
    files = _files(tmp_path / "src", 600)
    assert _log("packs", tmp_path / "src") == "v0"
    keys = _blob_keys(server)
    # 600 blobs in 2 batches (the client sends a big set in two halves): 2 packs, no loose objects
    assert len(keys) == 2 and all("/packs/" in k for k in keys), keys
    assert _rows(server, "packed_blobs") == 600 and _rows(server, "project_blobs") == 600
    root = _download(monkeypatch, "packs", "ds:v0", tmp_path / "out", tmp_path / "cache-reader")
    for name, data in files.items():
        with open(os.path.join(root, name), "rb") as f:
            assert f.read() == data


def test_a_tampered_pack_range_fails_naming_the_file_and_places_nothing(packs_server, tmp_path, monkeypatch):
    server = packs_server()
    monkeypatch.setenv("ARTEFACT_TRANSFER_RETRIES", "1")
    files = _files(tmp_path / "src", 20)
    _log("tamper", tmp_path / "src")
    (key,) = _blob_keys(server)
    c = server.s3_endpoint.client()
    body = c.get_object(Bucket=server.s3_bucket, Key=key)["Body"].read()
    victim = files["f0007.bin"]
    at = body.index(victim)
    c.put_object(Bucket=server.s3_bucket, Key=key, Body=body[:at] + b"X" * 16 + body[at + 16:])  # same size
    with pytest.raises(CorruptBlobError, match="f0007.bin") as err:
        _download(monkeypatch, "tamper", "ds:v0", tmp_path / "out", tmp_path / "cache-reader")
    assert "hashes to" in str(err.value)
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out"), "nothing placed"


def test_a_refused_pack_write_records_nothing_and_a_rerun_succeeds(packs_server, moto_s3, tmp_path, monkeypatch):
    """The bucket is gone when the batch arrives (the store answers NoSuchBucket to the
    pack's PUT): the upload fails, no blob is recorded; once it is back, a re-run logs."""
    bucket = moto_s3.new_bucket(versioning=False)
    monkeypatch.setattr(ServerProcess, "s3", (moto_s3, bucket))
    server = packs_server()
    monkeypatch.setenv("ARTEFACT_TRANSFER_RETRIES", "0")
    _files(tmp_path / "src", 30)
    moto_s3.client().delete_bucket(Bucket=bucket)
    with pytest.raises(Exception, match="upload"):
        _log("refused", tmp_path / "src")
    assert _rows(server, "project_blobs") == 0 and _rows(server, "packed_blobs") == 0
    assert _rows(server, "versions") == 0
    moto_s3.client().create_bucket(Bucket=bucket)
    assert _log("refused", tmp_path / "src") == "v0"
    assert _rows(server, "project_blobs") == 30
    _download(monkeypatch, "refused", "ds:v0", tmp_path / "out", tmp_path / "cache-reader")


def test_mixed_small_and_large_files(packs_server, tmp_path, monkeypatch):
    """Blobs over the pack limit go as objects of their own (a presigned PUT each)."""
    server = packs_server()
    files = _files(tmp_path / "src", 40)
    big = os.urandom(300 << 10)
    (tmp_path / "src" / "big.bin").write_bytes(big)
    _log("mixed", tmp_path / "src")
    keys = _blob_keys(server)
    packs = [k for k in keys if "/packs/" in k]
    loose = [k for k in keys if "/md5/" in k]
    assert len(packs) == 1 and len(loose) == 1, keys
    assert _rows(server, "packed_blobs") == 40 and _rows(server, "project_blobs") == 41
    root = _download(monkeypatch, "mixed", "ds:v0", tmp_path / "out", tmp_path / "cache-reader")
    assert open(os.path.join(root, "big.bin"), "rb").read() == big
    assert open(os.path.join(root, "f0039.bin"), "rb").read() == files["f0039.bin"]


def test_dedupe_across_versions_reads_from_two_packs_and_projects_keep_their_own(packs_server, tmp_path, monkeypatch):
    server = packs_server()
    first = _files(tmp_path / "src", 30, tag="a")
    assert _log("dedupe", tmp_path / "src") == "v0"
    assert len(_blob_keys(server)) == 1
    second = _files(tmp_path / "src2", 10, tag="b")
    for name, data in first.items():  # v1: v0's files and 10 new ones
        (tmp_path / "src2" / ("old-" + name)).write_bytes(data)
    assert _log("dedupe", tmp_path / "src2") == "v1"
    packs = _blob_keys(server)
    assert len(packs) == 2, packs  # only the 10 new blobs travelled, as a second pack
    assert _rows(server, "packed_blobs") == 40
    root = _download(monkeypatch, "dedupe", "ds:v1", tmp_path / "out", tmp_path / "cache-reader")
    for name, data in second.items():
        assert open(os.path.join(root, name), "rb").read() == data
    assert open(os.path.join(root, "old-f0003.bin"), "rb").read() == first["f0003.bin"]
    subset = tmp_path / "subset"  # v2: 4 of the first pack's 30 blobs, fetched as ranges of it
    subset.mkdir()
    for name in ("f0002.bin", "f0003.bin", "f0017.bin", "f0029.bin"):
        (subset / name).write_bytes(first[name])
    assert _log("dedupe", subset) == "v2"
    root = _download(monkeypatch, "dedupe", "ds:v2", tmp_path / "out2", tmp_path / "cache-reader2")
    assert sorted(os.listdir(root)) == ["f0002.bin", "f0003.bin", "f0017.bin", "f0029.bin"]
    assert open(os.path.join(root, "f0017.bin"), "rb").read() == first["f0017.bin"]
    assert _log("dedupe", tmp_path / "src") == "v0"  # the same content again: dedupe, nothing sent
    assert len(_blob_keys(server)) == 2
    # another project holds nothing of this one's: it sends its own copy, into its own pack
    assert _log("other", tmp_path / "src") == "v0"
    prefixes = {k.split("/packs/")[0] for k in _blob_keys(server)}
    assert len(prefixes) == 2, prefixes
