"""Faults with S3 blobs (`artefact server --blobs s3://...`): a client SIGKILLed in the
middle of a multipart upload, the S3 endpoint stopped mid-transfer and restarted, an
object corrupted in the bucket, a manifest naming a blob the bucket lacks, and the
janitor. Nothing committed ever points at a missing blob, and a re-run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

import artefact as wandb
from artefact.store.errors import CorruptBlobError

from ._s3 import S3sFs
from ._server import ServerProcess, cli, use_server

_LOG = """
import os, sys, artefact as wandb
with wandb.init(project="mp") as run:
    a = wandb.Artifact("big", "model"); a.add_dir(sys.argv[1]); run.log_artifact(a).wait()
    print(a.version)
"""

# 5 MiB parts from 6 MiB up; 2 transfers at a time: part URLs come 8 per window.
_MULTIPART = {"ARTEFACT_SERVER_S3_MULTIPART_BYTES": str(6 << 20), "ARTEFACT_SERVER_S3_PART_BYTES": str(5 << 20)}


def _tree(root, mib: int = 58) -> str:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "weights.bin"), "wb") as f:
        f.write(os.urandom(mib << 20))
    with open(os.path.join(root, "small.txt"), "w") as f:
        f.write("a small file beside the big one\n")
    return str(root)


def _client_env(server: ServerProcess, key: str, tmp_path, **extra: str) -> dict:
    return {**os.environ, "ARTEFACT_BASE_URL": server.url, "ARTEFACT_API_KEY": key, "ARTEFACT_ENTITY": "tester",
            "ARTEFACT_CACHE_DIR": str(tmp_path / "cache"), "ARTEFACT_TRANSFER_CONCURRENCY": "2", **extra}


def _uploads(endpoint, bucket: str) -> list[dict]:
    return endpoint.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.fixture
def s3_server(s3_blobs, pg_url, tmp_path):
    srv = ServerProcess(pg_url, str(tmp_path / "server"), env=_MULTIPART)
    try:
        yield srv
    finally:
        srv.stop()


def test_client_killed_mid_multipart_rerun_reuses_the_upload(s3_server, s3_blobs, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    key = s3_server.make_key("tester", "writer")
    data = _tree(tmp_path / "d")
    env = _client_env(s3_server, key, tmp_path, ARTEFACT_FAILPOINT="during_multipart")
    done = subprocess.run([sys.executable, "-c", _LOG, data], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    uploads = _uploads(endpoint, bucket)
    assert len(uploads) == 1, uploads
    c = endpoint.client()
    parts = c.list_parts(Bucket=bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"])["Parts"]
    assert len(parts) == 8, "the first window of parts was sent before the kill"
    monkeypatch.setenv("ARTEFACT_BASE_URL", s3_server.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", key)
    monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
    assert not wandb.Api(overrides={"project": "mp"}).artifact_exists("big:latest"), "nothing half-visible"

    rerun = subprocess.run([sys.executable, "-c", _LOG, data], env={**env, "ARTEFACT_FAILPOINT": ""},
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stdout.strip() == "v0"
    assert _uploads(endpoint, bucket) == [], "the upload was finished, not left behind"
    head = c.head_object(Bucket=bucket, Key=uploads[0]["Key"])
    assert head["ContentLength"] == 58 << 20 and head["ETag"].strip('"').endswith("-12")
    # The re-run reused the killed run's upload: its first 8 parts are the ones sent before.
    versions = c.list_object_versions(Bucket=bucket, Prefix=uploads[0]["Key"])["Versions"]
    assert len(versions) == 1
    art = wandb.Api(overrides={"project": "mp"}).artifact("big:v0")
    art.verify(art.download(str(tmp_path / "out")))


def test_object_corrupted_in_the_bucket_is_caught_and_never_placed(s3_server, s3_blobs, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    monkeypatch.setenv("ARTEFACT_BASE_URL", s3_server.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", s3_server.make_key("tester", "writer"))
    monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
    monkeypatch.setenv("ARTEFACT_TRANSFER_RETRIES", "1")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n" * 1000)
    with wandb.init(project="bad") as run:
        art = wandb.Artifact("ds", "dataset")
        art.add_dir(str(src))
        run.log_artifact(art).wait()
    (key,) = [k for k in endpoint.keys(bucket) if k.startswith("blobs/p")]
    body = endpoint.client().get_object(Bucket=bucket, Key=key)["Body"].read()  # a pack (s3_packs.py)
    assert b"alpha\n" * 1000 in body
    endpoint.client().put_object(Bucket=bucket, Key=key, Body=body.replace(b"alpha\n" * 1000, b"beta!\n" * 1000))
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "fresh-cache"))
    with pytest.raises(CorruptBlobError):
        wandb.Api(overrides={"project": "bad"}).artifact("ds:v0").download(str(tmp_path / "out"))
    assert not (tmp_path / "out" / "a.txt").exists()


def test_a_manifest_naming_a_blob_the_bucket_lacks_is_refused(s3_server, tmp_path):
    key = s3_server.make_key("tester", "writer")
    manifest = ('{"version": 1, "storagePolicy": "wandb-storage-policy-v1", "storagePolicyConfig": {}, "contents":'
                ' {"x.bin": {"digest": "1B2M2Y8AsgTpgAmY7PhCfg==", "size": 0}}}')
    r = requests.post(s3_server.url + "/api/v1/commit", timeout=60, headers={"Authorization": f"Bearer {key}"},
                      json={"entity": "tester", "project": "p", "name": "ds", "type": "dataset", "manifest": manifest})
    assert r.status_code == 409, r.text
    assert "not stored" in r.json()["error"]["message"]
    r = requests.post(s3_server.url + "/api/v1/store/list_collections", timeout=60,
                      headers={"Authorization": f"Bearer {key}"}, json={"entity": "tester", "project": "p"})
    assert r.status_code == 200 and r.json()["result"] == []


def test_janitor_aborts_stale_uploads_and_keeps_committed_blobs(s3_server, s3_blobs, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    key = s3_server.make_key("tester", "writer")
    data = _tree(tmp_path / "d", mib=12)
    env = _client_env(s3_server, key, tmp_path, ARTEFACT_FAILPOINT="during_multipart")
    killed = subprocess.run([sys.executable, "-c", _LOG, data], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert len(_uploads(endpoint, bucket)) == 1
    # A committed version in another collection, whose blobs must survive every sweep.
    monkeypatch.setenv("ARTEFACT_BASE_URL", s3_server.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", key)
    monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
    keep = _tree(tmp_path / "keep", mib=7)
    with wandb.init(project="mp") as run:
        art = wandb.Artifact("kept", "model")
        art.add_dir(keep)
        run.log_artifact(art).wait()
    before = endpoint.keys(bucket)
    janitor_env = {**os.environ, **s3_server.extra_env, **_MULTIPART}
    out = cli("server", "janitor", "--catalog", s3_server.catalog, "--blobs", s3_server.blobs_arg,
              env={**janitor_env, "ARTEFACT_SERVER_JANITOR_AGE": "3600"})
    assert "aborted 0 stale multipart" in out, out
    assert len(_uploads(endpoint, bucket)) == 1, "a young upload is kept (a re-run may still finish it)"
    out = cli("server", "janitor", "--catalog", s3_server.catalog, "--blobs", s3_server.blobs_arg, "--age", "0",
              env=janitor_env)
    assert "aborted 1 stale multipart" in out, out
    assert _uploads(endpoint, bucket) == []
    assert endpoint.keys(bucket) == before, "no stored blob is ever deleted"
    got = wandb.Api(overrides={"project": "mp"}).artifact("kept:v0")
    got.verify(got.download(str(tmp_path / "out")))


@pytest.mark.skipif(not S3sFs.available(), reason="s3s-fs not installed (scripts/install-s3s-fs.sh)")
def test_endpoint_stopped_mid_transfer_and_restarted_rerun_finishes(pg_url, tmp_path, monkeypatch):
    """s3s-fs keeps its objects in files, so it can be stopped and started again; it
    has no ListMultipartUploads, so the re-run starts a fresh upload (the janitor's
    job to clear the old one where the store can list it)."""
    endpoint = S3sFs(str(tmp_path / "s3"), str(tmp_path / "s3s.log"))
    try:
        bucket = endpoint.new_bucket(versioning=False)
        ServerProcess.s3 = (endpoint, bucket)
        try:
            srv = ServerProcess(pg_url, str(tmp_path / "server"), env=_MULTIPART)
        finally:
            ServerProcess.s3 = None
        try:
            key = srv.make_key("tester", "writer")
            data = _tree(tmp_path / "d", mib=40)
            env = _client_env(srv, key, tmp_path, ARTEFACT_TRANSFER_RETRIES="2")
            # one part at a time: a starved poll below still finds the upload under way
            proc = subprocess.Popen([sys.executable, "-c", _LOG, data], env={**env, "ARTEFACT_TRANSFER_CONCURRENCY": "1"}, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:  # until the first part is stored
                if any(".part-" in f for f in os.listdir(tmp_path / "s3")):  # s3s-fs: .upload_id-<id>.part-<n>
                    break
                time.sleep(0.01)
            endpoint.stop()
            out, err = proc.communicate(timeout=300)
            endpoint.start()
            use_server(monkeypatch, srv, "tester", key)
            api = wandb.Api(overrides={"project": "mp"})
            assert proc.returncode != 0, "the endpoint was stopped mid-transfer: the log fails"
            assert "upload of" in err or "unavailable" in err, err[-2000:]
            assert not api.artifact_exists("big:latest"), "a failed log leaves nothing visible"
            rerun = subprocess.run([sys.executable, "-c", _LOG, data], env=env, capture_output=True, text=True,
                                   timeout=300)
            assert rerun.returncode == 0, rerun.stderr[-3000:]
            assert rerun.stdout.strip() == "v0"
            art = api.artifact("big:v0")
            art.verify(art.download(str(tmp_path / "out")))
        finally:
            srv.stop()
    finally:
        endpoint.destroy()
