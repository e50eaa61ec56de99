"""Presigned URLs of the server's S3 blobs, held against endpoints that enforce them.

s3s-fs checks SigV4 signatures (presigned URLs included): a whole log and download,
multipart included, goes through it; a tampered, expired or mis-sent URL is refused, and
a replayed upload URL cannot store other bytes. moto enforces `If-None-Match: *`: a
replayed create-only PUT gets 412 and writes nothing."""

from __future__ import annotations

import base64
import hashlib
import os
import time

import pytest
import requests

import artefact as wandb

from ._s3 import S3sFs
from ._server import ServerProcess, use_server

pytestmark = pytest.mark.skipif(not S3sFs.available(), reason="s3s-fs not installed (scripts/install-s3s-fs.sh)")


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def s3s(tmp_path):
    endpoint = S3sFs(str(tmp_path / "s3"), str(tmp_path / "s3s.log"))
    try:
        yield endpoint, endpoint.new_bucket(versioning=False)
    finally:
        endpoint.destroy()


def _server(endpoint_bucket, tmp_path, **env) -> ServerProcess:
    ServerProcess.s3 = endpoint_bucket
    try:
        return ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"), env={
            "ARTEFACT_SERVER_S3_MULTIPART_BYTES": str(6 << 20), "ARTEFACT_SERVER_S3_PART_BYTES": str(5 << 20), **env})
    finally:
        ServerProcess.s3 = None


def _lacking(srv: ServerProcess, key: str, data: bytes) -> list:
    r = requests.post(srv.url + "/api/v1/blobs/lacking", timeout=60, headers={"Authorization": f"Bearer {key}"},
                      json={"entity": "tester", "project": "p", "blobs": [["MD5", _md5(data), len(data)]]})
    assert r.status_code == 200, r.text
    return r.json()["lacking"]


def test_log_and_download_through_a_signature_checking_endpoint(s3s, tmp_path, monkeypatch):
    srv = _server(s3s, tmp_path)
    try:
        use_server(monkeypatch, srv, "tester")
        src = tmp_path / "src"
        src.mkdir()
        for i in range(30):
            (src / f"f{i}.txt").write_text(f"file {i}\n" * (i + 1) * 100)
        (src / "big.bin").write_bytes(os.urandom(13 << 20))  # multipart: 3 parts of <= 5 MiB
        monkeypatch.setenv("ARTEFACT_INLINE_BYTES", "0")  # every blob on a presigned URL
        with wandb.init(project="p") as run:
            art = wandb.Artifact("ds", "dataset")
            art.add_dir(str(src))
            run.log_artifact(art).wait()
        keys = [k for k in s3s[0].keys(s3s[1]) if k.startswith("blobs/p")]
        assert len(keys) == 2 and len([k for k in keys if "/packs/" in k]) == 1, keys  # 30 small in one pack
        with wandb.init(project="p") as run:  # v1: 3 of the pack's 30 blobs, read back as ranges
            art = wandb.Artifact("ds", "dataset")
            for i in (3, 4, 20):
                art.add_file(str(src / f"f{i}.txt"))
            run.log_artifact(art).wait()
        monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "other-cache"))
        for version in ("v1", "v0"):
            got = wandb.Api().artifact(f"tester/p/ds:{version}")
            root = got.download(str(tmp_path / "out" / version))
            got.verify(root)
        assert (tmp_path / "out" / "v0" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
        assert (tmp_path / "out" / "v1" / "f20.txt").read_text() == "file 20\n" * 2100
    finally:
        srv.stop()


def test_tampered_missent_and_expired_urls_are_refused(s3s, tmp_path):
    srv = _server(s3s, tmp_path, ARTEFACT_SERVER_URL_TTL="8")  # long enough for the steps below on a loaded machine
    try:
        key = srv.make_key("tester", "writer")
        data, other = b"the signed content\n" * 50, b"other content here\n" * 50
        (alg, digest, url, extra), = _lacking(srv, key, data)
        headers = extra["headers"]
        assert headers["Content-MD5"] == digest and headers["If-None-Match"] == "*"
        assert "X-Amz-Signature=" in url and "content-md5" in url.lower()
        # Tampered: another key, another expiry, a changed signature.
        for bad in (url.replace("/md5/", "/xxh128/"), url.replace("X-Amz-Expires=8", "X-Amz-Expires=9999"),
                    url[:-4] + ("0000" if not url.endswith("0000") else "1111")):
            assert bad != url  # a tamper that changes nothing would pass by accident
            r = requests.put(bad, data=data, headers=headers, timeout=30)
            assert r.status_code == 403, (bad, r.status_code, r.text)
        # Mis-sent: without a signed header, or other bytes under the signed digest.
        r = requests.put(url, data=data, headers={k: v for k, v in headers.items() if k != "Content-MD5"}, timeout=30)
        assert r.status_code == 403, r.text
        r = requests.put(url, data=other, headers=headers, timeout=30)
        assert r.status_code == 400 and "BadDigest" in r.text, r.text
        # (s3s-fs 0.14.1 keeps the refused body anyway, unlike S3; the server's presence
        # check compares the object's ETag with the digest: it is not taken, and removed.)
        assert len(s3s[0].keys(s3s[1])) == 1
        assert len(_lacking(srv, key, data)) == 1, "a wrong object under the key does not count as stored"
        assert s3s[0].keys(s3s[1]) == [], "and it is cleared for the real upload (create-only)"
        # The right request works; replayed with other bytes it is refused, the object intact.
        assert requests.put(url, data=data, headers=headers, timeout=30).status_code == 200
        r = requests.put(url, data=other, headers={**headers, "Content-MD5": _md5(other)}, timeout=30)
        assert r.status_code == 403, r.text
        stored = s3s[0].client().get_object(Bucket=s3s[1], Key=s3s[0].keys(s3s[1])[0])["Body"].read()
        assert stored == data
        # Expired: the same URL after its 8 s.
        time.sleep(9)
        r = requests.put(url, data=data, headers=headers, timeout=30)
        assert r.status_code == 403, r.text
    finally:
        srv.stop()


def test_a_replayed_create_only_put_writes_nothing(s3_blobs, tmp_path):
    """On moto, which enforces If-None-Match: the second PUT of one URL gets 412."""
    endpoint, bucket = s3_blobs
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"))
    try:
        key = srv.make_key("tester", "writer")
        data = b"create me once\n" * 10
        (_alg, _digest, url, extra), = _lacking(srv, key, data)
        assert requests.put(url, data=data, headers=extra["headers"], timeout=30).status_code == 200
        r = requests.put(url, data=data, headers=extra["headers"], timeout=30)
        assert r.status_code == 412, r.text
        (obj,) = endpoint.keys(bucket)
        assert len(endpoint.client().list_object_versions(Bucket=bucket, Prefix=obj)["Versions"]) == 1
        assert _lacking(srv, key, data) == [], "the server now finds the blob: it is not asked for again"
    finally:
        srv.stop()
