"""Part MD5s hashed in the add's staging pass (rust/core/src/stage_parts.rs) for a server
whose blobs live in S3: the add hashes the staged copy whole and in the server's parts
in one read, and the log's part URLs are bound to those MD5s (the completed object's
multipart ETag is built from them). With the embedded store nothing extra is hashed."""

from __future__ import annotations

import base64
import hashlib
import os

import artefact as wandb
from artefact import _core
from artefact.remote import direct_upload

from ._server import ServerProcess, use_server

PART = 5 << 20
_MULTIPART = {"ARTEFACT_SERVER_S3_MULTIPART_BYTES": str(6 << 20), "ARTEFACT_SERVER_S3_PART_BYTES": str(PART)}


def _big(root, size: int) -> tuple[str, bytes]:
    os.makedirs(root, exist_ok=True)
    data = os.urandom(size)
    path = os.path.join(root, "weights.bin")
    with open(path, "wb") as f:
        f.write(data)
    return str(root), data


def _part_md5s(data: bytes) -> list[bytes]:
    return [hashlib.md5(data[i : i + PART]).digest() for i in range(0, len(data), PART)]


def test_staged_part_md5s_bind_the_logged_parts(s3_blobs, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"), env=_MULTIPART)
    try:
        use_server(monkeypatch, srv, "tester")
        monkeypatch.setattr(direct_upload, "_PART_SIZE", {})
        root, data = _big(tmp_path / "src", 4 * PART + 12345)  # 5 parts, the last short
        assert direct_upload.staging_part_size() == PART  # the server's whoami
        with wandb.init(project="staged") as run:
            art = wandb.Artifact("big", "model")
            art.add_dir(root)
            entry = art.manifest.entries["weights.bin"]
            want = _part_md5s(data)
            assert _core.staged_part_sums("MD5", entry.digest, len(data), PART)[0] == [
                base64.b64encode(m).decode() for m in want]
            run.log_artifact(art).wait()
        key = next(o["Key"] for o in endpoint.client().list_objects_v2(Bucket=bucket)["Contents"]
                   if o["Size"] == len(data))
        head = endpoint.client().head_object(Bucket=bucket, Key=key)
        # S3's multipart ETag: the MD5 of the parts' MD5s, then the part count
        assert head["ETag"].strip('"') == f"{hashlib.md5(b''.join(want)).hexdigest()}-{len(want)}"
        assert endpoint.client().get_object(Bucket=bucket, Key=key)["Body"].read() == data
        got = wandb.Api().artifact("staged/big:v0").download(str(tmp_path / "out"))
        with open(os.path.join(got, "weights.bin"), "rb") as f:
            assert f.read() == data
    finally:
        srv.stop()


def test_local_dir_server_and_embedded_store_hash_no_parts(tmp_path, monkeypatch):
    """A server keeping blobs in its own directory answers no part size, and without a
    server nothing is hashed beyond the whole-file digest."""
    os.makedirs(tmp_path / "server")
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server" / "blobs"), env=_MULTIPART)
    try:
        monkeypatch.setenv("ARTEFACT_BASE_URL", srv.url)
        monkeypatch.setenv("ARTEFACT_API_KEY", srv.make_key("tester", "writer"))
        monkeypatch.setattr(direct_upload, "_PART_SIZE", {})
        assert direct_upload.staging_part_size() == 0
    finally:
        srv.stop()
    monkeypatch.delenv("ARTEFACT_BASE_URL")
    root, data = _big(tmp_path / "local", 4 * PART)
    art = wandb.Artifact("big", "model")
    art.add_dir(root)
    assert _core.staged_part_sums("MD5", art.manifest.entries["weights.bin"].digest, len(data), PART) is None


def test_an_unreachable_server_costs_the_add_nothing(tmp_path, monkeypatch):
    """No answer from the configured server: no part hashing, and the add still works."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("ARTEFACT_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(direct_upload, "_PART_SIZE", {})
    assert direct_upload.staging_part_size() == 0
    root, data = _big(tmp_path / "src", 4 * PART)
    art = wandb.Artifact("big", "model")
    art.add_dir(root)
    assert art.manifest.entries["weights.bin"].size == len(data)
