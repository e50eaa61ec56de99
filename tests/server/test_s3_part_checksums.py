"""CRC32 part checksums of the server's multipart uploads (server/s3_blobs.py): the server
creates each upload with `ChecksumAlgorithm=CRC32`, as the AWS SDKs do, binds every part
URL to the part's `x-amz-checksum-crc32` beside its Content-MD5, and completes with the
parts' CRC32s; the store then builds the object's checksum from the parts' (COMPOSITE)
instead of a full-object CRC64 over the whole object. Real servers and endpoints on
loopback: moto (which keeps the object's checksum) and s3s-fs (which checks the URLs'
signatures, so a part sent with another CRC32 than its URL names is refused)."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import zlib

import pytest
import requests

import artefact as wandb

from ._s3 import S3sFs
from ._server import ServerProcess, use_server

PART = 5 << 20
_MULTIPART = {"ARTEFACT_SERVER_S3_MULTIPART_BYTES": str(6 << 20), "ARTEFACT_SERVER_S3_PART_BYTES": str(PART)}

# The immutable policy stages nothing: the log hashes each window's MD5s and CRC32s itself.
_LOG = """
import sys, artefact as wandb
with wandb.init(project="crc") as run:
    a = wandb.Artifact("big", "model"); a.add_file(sys.argv[1], policy="immutable"); run.log_artifact(a).wait()
    print(a.version)
"""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _crc(data: bytes) -> str:
    return _b64(zlib.crc32(data).to_bytes(4, "big"))


def _parts(data: bytes) -> list[bytes]:
    return [data[i : i + PART] for i in range(0, len(data), PART)]


def _composite(data: bytes) -> str:
    """S3's COMPOSITE CRC32 of a multipart object: the CRC32 of the parts' CRC32s (S3
    writes the part count after it; boto3 gives the value without it)."""
    return _crc(b"".join(zlib.crc32(p).to_bytes(4, "big") for p in _parts(data)))


def _post(srv: ServerProcess, key: str, path: str, body: dict) -> requests.Response:
    return requests.post(srv.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _object(endpoint, bucket: str, size: int) -> str:
    return next(o["Key"] for o in endpoint.client().list_objects_v2(Bucket=bucket)["Contents"] if o["Size"] == size)


def test_a_logged_object_gets_the_composite_crc32_of_its_parts(s3_blobs, tmp_path, monkeypatch):
    """The staged path (mutable policy): MD5s and CRC32s from the add's copy pass."""
    endpoint, bucket = s3_blobs
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"), env=_MULTIPART)
    try:
        use_server(monkeypatch, srv, "tester")
        from artefact.remote import direct_upload

        monkeypatch.setattr(direct_upload, "_PART_SIZE", {})
        data = os.urandom(4 * PART + 777)
        (tmp_path / "w.bin").write_bytes(data)
        with wandb.init(project="crc") as run:
            art = wandb.Artifact("big", "model")
            art.add_file(str(tmp_path / "w.bin"))
            run.log_artifact(art).wait()
        key = _object(endpoint, bucket, len(data))
        head = endpoint.client().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        # (a full-object checksum would be the CRC of the bytes, not of the parts' CRCs)
        assert head["ChecksumCRC32"].split("-")[0] == _composite(data) != _crc(data)
        want_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in _parts(data))).hexdigest()
        assert head["ETag"].strip('"') == f"{want_etag}-5"
        got = wandb.Api().artifact("crc/big:v0").download(str(tmp_path / "out"))
        assert (tmp_path / "out" / "w.bin").read_bytes() == data and got == str(tmp_path / "out")
    finally:
        srv.stop()


def test_a_resumed_unstaged_upload_completes_with_every_part_crc32(s3_blobs, tmp_path, monkeypatch):
    """Killed after the first window, then re-run, both with nothing staged: the re-run
    hashes the CRC32s of the parts the killed run sent, for the completion."""
    endpoint, bucket = s3_blobs
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"), env=_MULTIPART)
    try:
        key = srv.make_key("tester", "writer")
        data = os.urandom(12 * PART - 999)  # 12 parts: windows of 8, then 4
        path = tmp_path / "w.bin"
        path.write_bytes(data)
        env = {**os.environ, "ARTEFACT_BASE_URL": srv.url, "ARTEFACT_API_KEY": key, "ARTEFACT_ENTITY": "tester",
               "ARTEFACT_CACHE_DIR": str(tmp_path / "cache"), "ARTEFACT_TRANSFER_CONCURRENCY": "2"}
        killed = subprocess.run([sys.executable, "-c", _LOG, str(path)], capture_output=True, text=True,
                                env={**env, "ARTEFACT_FAILPOINT": "during_multipart"}, timeout=300)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        (upload,) = endpoint.client().list_multipart_uploads(Bucket=bucket)["Uploads"]
        assert upload.get("ChecksumAlgorithm") == "CRC32"
        sent = endpoint.client().list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])["Parts"]
        assert len(sent) == 8
        rerun = subprocess.run([sys.executable, "-c", _LOG, str(path)], capture_output=True, text=True, env=env,
                               timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert rerun.stdout.strip() == "v0"
        head = endpoint.client().head_object(Bucket=bucket, Key=upload["Key"], ChecksumMode="ENABLED")
        assert head["ChecksumCRC32"].split("-")[0] == _composite(data)
        assert endpoint.client().get_object(Bucket=bucket, Key=upload["Key"])["Body"].read() == data
    finally:
        srv.stop()


def test_part_crc32s_are_checked_and_can_be_turned_off(s3_blobs, tmp_path):
    """A malformed CRC32 is refused naming it; a completion naming CRC32s for only some
    parts is refused; `ARTEFACT_SERVER_S3_PART_CHECKSUM=off` creates uploads without."""
    endpoint, bucket = s3_blobs
    ep = {"entity": "acme", "project": "p"}
    for setting in ("CRC32", "off"):
        data = os.urandom(2 * PART - 4321)  # two parts
        digest = _b64(hashlib.md5(data).digest())
        srv = ServerProcess(str(tmp_path / f"catalog-{setting}.db"), str(tmp_path / f"server-{setting}"),
                            env={**_MULTIPART, "ARTEFACT_SERVER_S3_PART_CHECKSUM": setting})
        try:
            key = srv.make_key("acme", "writer", "p")
            (_a, _d, _u, extra), = _post(srv, key, "/api/v1/blobs/lacking",
                                         {**ep, "blobs": [["MD5", digest, len(data)]]}).json()["lacking"]
            assert "multipart" in extra, (setting, extra)
            plan = extra["multipart"]
            upload = {"algorithm": "MD5", "digest": digest, "size": len(data), "upload_id": plan["upload_id"]}
            parts = _parts(data)
            if setting == "off":
                assert "checksum" not in plan
                ask = [[n, _b64(hashlib.md5(p).digest())] for n, p in enumerate(parts, 1)]
            else:
                assert plan["checksum"] == "CRC32"
                r = _post(srv, key, "/api/v1/blobs/parts", {**ep, "uploads": [{**upload, "parts": [
                    [1, _b64(hashlib.md5(parts[0]).digest()), "not-a-crc"]]}]})
                assert r.status_code == 400 and "'not-a-crc' is not a base64 CRC32" in r.text, r.text
                ask = [[n, _b64(hashlib.md5(p).digest()), _crc(p)] for n, p in enumerate(parts, 1)]
            signed = _post(srv, key, "/api/v1/blobs/parts", {**ep, "uploads": [{**upload, "parts": ask}]})
            assert signed.status_code == 200, signed.text
            done = []
            for (n, url, headers), body, asked in zip(signed.json()["uploads"][0], parts, ask):
                assert headers.get("x-amz-checksum-crc32") == (asked[2] if setting == "CRC32" else None)
                r = requests.put(url, data=body, headers=headers, timeout=60)
                assert r.status_code == 200, r.text
                done.append([n, r.headers["ETag"], *asked[2:]])
            if setting == "CRC32":
                r = _post(srv, key, "/api/v1/blobs/complete", {**ep, "uploads": [{**upload, "parts": [
                    done[0], done[1][:2]]}]})
                assert r.status_code == 400 and "every part or none" in r.text, r.text
            r = _post(srv, key, "/api/v1/blobs/complete", {**ep, "uploads": [{**upload, "parts": done}]})
            assert r.status_code == 200, r.text
            obj = [k for k in endpoint.keys(bucket) if k.startswith("blobs/p") and k.endswith(
                hashlib.md5(data).hexdigest())]
            head = endpoint.client().head_object(Bucket=bucket, Key=obj[-1], ChecksumMode="ENABLED")
            if setting == "CRC32":
                assert head["ChecksumCRC32"].split("-")[0] == _composite(data)
            else:
                assert "ChecksumCRC32" not in head
        finally:
            srv.stop()


@pytest.mark.skipif(not S3sFs.available(), reason="s3s-fs not installed (scripts/install-s3s-fs.sh)")
def test_a_part_url_is_bound_to_its_crc32_on_a_signature_checking_endpoint(tmp_path):
    """On s3s-fs, a part PUT whose `x-amz-checksum-crc32` differs from the one its URL was
    signed with is refused (403); the right one is taken and the upload completes with
    the parts' CRC32s."""
    endpoint = S3sFs(str(tmp_path / "s3"), str(tmp_path / "s3s.log"))
    try:
        bucket = endpoint.new_bucket(versioning=False)
        ServerProcess.s3 = (endpoint, bucket)
        try:
            srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"), env=_MULTIPART)
        finally:
            ServerProcess.s3 = None
        try:
            key = srv.make_key("acme", "writer", "p")
            ep = {"entity": "acme", "project": "p"}
            data = os.urandom(2 * PART - 99)
            digest = _b64(hashlib.md5(data).digest())
            (_a, _d, _u, extra), = _post(srv, key, "/api/v1/blobs/lacking",
                                         {**ep, "blobs": [["MD5", digest, len(data)]]}).json()["lacking"]
            assert extra["multipart"]["checksum"] == "CRC32"
            upload = {"algorithm": "MD5", "digest": digest, "size": len(data),
                      "upload_id": extra["multipart"]["upload_id"]}
            parts = _parts(data)
            ask = [[n, _b64(hashlib.md5(p).digest()), _crc(p)] for n, p in enumerate(parts, 1)]
            signed = _post(srv, key, "/api/v1/blobs/parts", {**ep, "uploads": [{**upload, "parts": ask}]}).json()
            done = []
            for (n, url, headers), body in zip(signed["uploads"][0], parts):
                forged = {**headers, "x-amz-checksum-crc32": _b64((zlib.crc32(body) ^ 1).to_bytes(4, "big"))}  # never the real one
                assert requests.put(url, data=body, headers=forged, timeout=60).status_code == 403
                r = requests.put(url, data=body, headers=headers, timeout=60)
                assert r.status_code == 200, r.text
                done.append([n, r.headers["ETag"], _crc(body)])
            r = _post(srv, key, "/api/v1/blobs/complete", {**ep, "uploads": [{**upload, "parts": done}]})
            assert r.status_code == 200, r.text
            (obj,) = [k for k in endpoint.keys(bucket) if k.startswith("blobs/p")]
            assert endpoint.client().get_object(Bucket=bucket, Key=obj)["Body"].read() == data
        finally:
            srv.stop()
    finally:
        endpoint.destroy()
