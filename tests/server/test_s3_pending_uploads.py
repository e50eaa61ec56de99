"""The janitor deletes objects uploaded to the bucket but never committed (server/pending.py),
and never one a committed version names, whichever of a commit and a sweep comes first.

Real processes on loopback: `artefact server --blobs s3://...` on moto's server (a fresh
versioned bucket per test), the janitor as `artefact server janitor`, PostgreSQL and SQLite
catalogs. The bytes go as the SDK sends them: PUT straight to the presigned URL that
`lacking` hands out. The orders are driven by killing the janitor between its steps
(`ARTEFACT_FAILPOINT=janitor_after_mark|janitor_after_delete`), killing the server in the
middle of a commit (`before_commit`), and on PostgreSQL by holding the pending row's lock
in the test while the other side runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

import artefact as wandb

from ._server import ServerProcess, cli, use_server

ENTITY, PROJECT = "tester", "pend"


@pytest.fixture(params=["sqlite", "postgres"])
def s3_server(request, s3_blobs, tmp_path):
    catalog = (request.getfixturevalue("pg_url") if request.param == "postgres"
               else str(tmp_path / "catalog.db"))
    # packs off: these small blobs must go as the SDK sends larger ones, straight to the bucket
    srv = ServerProcess(catalog, str(tmp_path / "server"), env={"ARTEFACT_SERVER_JANITOR_INTERVAL": "0",
                                                              "ARTEFACT_SERVER_S3_PACK_BLOB_BYTES": "0"})
    try:
        yield srv
    finally:
        srv.stop()


def _janitor(srv: ServerProcess, ttl: str, failpoint: str = "", age: str = "3600") -> subprocess.CompletedProcess:
    env = {**os.environ, **srv.extra_env, "ARTEFACT_SERVER_PENDING_TTL": ttl, "ARTEFACT_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-m", "artefact", "server", "janitor", "--catalog", srv.catalog,
                           "--blobs", srv.blobs_arg, "--age", age], env=env, capture_output=True, text=True,
                          timeout=120)


def _blob(text: str) -> tuple[bytes, str]:
    data = text.encode()
    return data, base64.b64encode(hashlib.md5(data).digest()).decode()


def _post(srv: ServerProcess, key: str, path: str, body: dict) -> requests.Response:
    return requests.post(srv.url + path, json=body, timeout=60, headers={"Authorization": f"Bearer {key}"})


def _upload(srv: ServerProcess, key: str, data: bytes, digest: str) -> None:
    """As the SDK does: ask which blobs the project lacks, PUT to the presigned URL."""
    r = _post(srv, key, "/api/v1/blobs/lacking", {"entity": ENTITY, "project": PROJECT,
                                                   "blobs": [["MD5", digest, len(data)]]})
    assert r.status_code == 200, r.text
    ((alg, got, url, extra),) = r.json()["lacking"]
    assert (alg, got) == ("MD5", digest) and url
    put = requests.put(url, data=data, headers=extra["headers"], timeout=60)
    assert put.status_code == 200, put.text


def _commit(srv: ServerProcess, key: str, digest: str, size: int, name: str = "ds") -> requests.Response:
    manifest = json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1", "storagePolicyConfig": {},
                           "contents": {"x.txt": {"digest": digest, "size": size}}})
    return _post(srv, key, "/api/v1/commit", {"entity": ENTITY, "project": PROJECT, "name": name,
                                              "type": "dataset", "manifest": manifest})


def _object(srv: ServerProcess, digest: str) -> list[str]:
    endpoint, bucket = ServerProcess.s3
    return [k for k in endpoint.keys(bucket) if k.endswith("/md5/" + base64.b64decode(digest).hex())]


def _versions(srv: ServerProcess, key: str, name: str = "ds") -> list:
    r = _post(srv, key, "/api/v1/store/list_collections", {"entity": ENTITY, "project": PROJECT})
    assert r.status_code == 200, r.text
    if not any(c["name"] == name for c in r.json()["result"]):
        return []
    r = _post(srv, key, "/api/v1/store/list_versions", {"entity": ENTITY, "project": PROJECT, "name": name})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _pending_rows(srv: ServerProcess) -> list:
    sql = "SELECT algorithm, digest, deleting FROM pending_uploads"
    if srv.catalog.startswith("postgres"):
        import psycopg

        with psycopg.connect(srv.catalog) as conn:
            return conn.execute(sql).fetchall()
    import sqlite3

    conn = sqlite3.connect(srv.catalog)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _log_with_sdk(srv: ServerProcess, key: str, tmp_path, text: str, monkeypatch) -> None:
    """A re-run through the SDK (no inline commit: the bytes go to presigned URLs)."""
    use_server(monkeypatch, srv, ENTITY, key)
    monkeypatch.setenv("ARTEFACT_INLINE_BYTES", "0")
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "x.txt").write_text(text)
    with wandb.init(project=PROJECT) as run:
        art = wandb.Artifact("ds", "dataset")
        art.add_file(str(src / "x.txt"))
        run.log_artifact(art).wait()


def _downloads(srv: ServerProcess, tmp_path, text: str, alias: str = "latest") -> None:
    got = wandb.Api(overrides={"project": PROJECT}).artifact(f"ds:{alias}")
    root = got.download(str(tmp_path / f"out-{alias}"))
    got.verify(root)
    assert open(os.path.join(root, "x.txt")).read() == text


def test_an_upload_never_committed_is_deleted_after_the_ttl_and_then_refused(s3_server):
    key = s3_server.make_key(ENTITY, "writer")
    data, digest = _blob("uploaded, never committed\n")
    _upload(s3_server, key, data, digest)
    assert _object(s3_server, digest)
    young = _janitor(s3_server, "3600")
    assert young.returncode == 0 and "deleted 0 uploaded blob(s)" in young.stdout, young.stdout + young.stderr
    assert _object(s3_server, digest), "an upload younger than the TTL is kept (its commit may still come)"
    old = _janitor(s3_server, "0")
    assert old.returncode == 0 and "deleted 1 uploaded blob(s)" in old.stdout, old.stdout + old.stderr
    assert not _object(s3_server, digest)
    late = _commit(s3_server, key, digest, len(data))
    assert late.status_code == 409, late.text
    assert digest in late.json()["error"]["message"]
    assert _versions(s3_server, key) == []


def test_a_blob_committed_in_time_is_never_deleted(s3_server, tmp_path, monkeypatch):
    key = s3_server.make_key(ENTITY, "writer")
    text = "committed in time\n" * 10
    _log_with_sdk(s3_server, key, tmp_path, text, monkeypatch)
    assert _pending_rows(s3_server) == [], "the commit claimed its upload"
    for _ in range(2):
        out = _janitor(s3_server, "0")
        assert out.returncode == 0 and "deleted 0 uploaded blob(s)" in out.stdout, out.stdout + out.stderr
    assert _object(s3_server, _blob(text)[1])
    _downloads(s3_server, tmp_path, text)


@pytest.mark.parametrize("point", ["janitor_after_mark", "janitor_after_delete"])
def test_janitor_first_the_commit_is_refused_and_the_rerun_uploads_again(s3_server, tmp_path, monkeypatch, point):
    """The janitor marks the upload (and, at the second point, deletes its object) and is
    killed: a commit naming the blob is refused, nothing is committed; the next sweep
    finishes the job and a re-run uploads again and commits."""
    key = s3_server.make_key(ENTITY, "writer")
    text = "the janitor wins\n"
    data, digest = _blob(text)
    _upload(s3_server, key, data, digest)
    killed = _janitor(s3_server, "0", failpoint=point)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert bool(_object(s3_server, digest)) == (point == "janitor_after_mark")
    refused = _commit(s3_server, key, digest, len(data))
    assert refused.status_code == 409, refused.text
    assert digest in refused.json()["error"]["message"]
    assert _versions(s3_server, key) == []
    kept = _janitor(s3_server, "3600")  # another sweep's marks are its own while younger than the age
    assert kept.returncode == 0 and "deleted 0 uploaded blob(s)" in kept.stdout, kept.stdout + kept.stderr
    refused = _commit(s3_server, key, digest, len(data))
    assert refused.status_code == 409, refused.text
    done = _janitor(s3_server, "3600", age="0")  # a killed sweep's marked rows, idle past the age, are finished
    assert done.returncode == 0 and "deleted 1 uploaded blob(s)" in done.stdout, done.stdout + done.stderr
    assert not _object(s3_server, digest) and _pending_rows(s3_server) == []
    _log_with_sdk(s3_server, key, tmp_path, text, monkeypatch)
    assert _object(s3_server, digest)
    assert len(_versions(s3_server, key)) == 1
    _downloads(s3_server, tmp_path, text)


def test_server_killed_mid_commit_the_janitor_then_deletes_and_the_rerun_commits(s3_server, tmp_path, monkeypatch):
    """The commit's transaction dies after claiming the upload (server SIGKILLed before
    COMMIT): the claim is rolled back with it, so the upload is still pending, the janitor
    deletes it, nothing committed names it, and a re-run uploads again."""
    key = s3_server.make_key(ENTITY, "writer")
    text = "the server dies mid-commit\n"
    data, digest = _blob(text)
    _upload(s3_server, key, data, digest)
    s3_server.stop()
    dying = ServerProcess(s3_server.catalog, s3_server.blobs, port=s3_server.port,
                          env={**s3_server.extra_env, "ARTEFACT_FAILPOINT": "before_commit"})
    with pytest.raises(requests.ConnectionError):
        _commit(dying, key, digest, len(data))
    dying.proc.wait(timeout=30)
    s3_server.start()
    assert _versions(s3_server, key) == []
    out = _janitor(s3_server, "0")
    assert "deleted 1 uploaded blob(s)" in out.stdout, out.stdout + out.stderr
    assert not _object(s3_server, digest)
    _log_with_sdk(s3_server, key, tmp_path, text, monkeypatch)
    _downloads(s3_server, tmp_path, text)


def _hold_pending_row(pg_url: str, sql: str, started: threading.Event, release: threading.Event) -> None:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        with conn.transaction():
            conn.execute(sql)
            started.set()
            release.wait(60)


def test_race_on_postgres_in_both_orders(s3_server, tmp_path):
    """With the pending row locked mid-transaction by the other side, the second comer
    waits and then sees the first one's outcome: a commit whose claim is in flight keeps
    its blob from a sweep; a sweep whose mark is in flight makes the commit fail."""
    if not s3_server.catalog.startswith("postgres"):
        pytest.skip("row locks of two transactions at once: PostgreSQL (SQLite runs writers one at a time)")
    key = s3_server.make_key(ENTITY, "writer")
    # 1. the commit first: its claim (DELETE of the row, project_blobs insert) holds the row
    data, digest = _blob("the commit wins\n")
    _upload(s3_server, key, data, digest)
    started, release = threading.Event(), threading.Event()
    claim = ("WITH c AS (DELETE FROM pending_uploads WHERE digest = '%s' RETURNING project_id, algorithm, digest, size)"
             " INSERT INTO project_blobs (project_id, algorithm, digest, size, created_at)"
             " SELECT project_id, algorithm, digest, size, 0 FROM c" % digest)
    holder = threading.Thread(target=_hold_pending_row, args=(s3_server.catalog, claim, started, release))
    holder.start()
    assert started.wait(30)
    sweep = subprocess.Popen([sys.executable, "-m", "artefact", "server", "janitor", "--catalog", s3_server.catalog,
                              "--blobs", s3_server.blobs_arg], text=True, stdout=subprocess.PIPE,
                             env={**os.environ, **s3_server.extra_env, "ARTEFACT_SERVER_PENDING_TTL": "0"})
    time.sleep(3)  # the sweep is now waiting on the row
    assert sweep.poll() is None, sweep.communicate()
    release.set()
    holder.join()
    out, _ = sweep.communicate(timeout=60)
    assert "deleted 0 uploaded blob(s)" in out, out
    assert _object(s3_server, digest)
    ok = _commit(s3_server, key, digest, len(data))
    assert ok.status_code == 200, ok.text
    # 2. the sweep first: its mark holds the row; the commit waits, then is refused
    data2, digest2 = _blob("the janitor wins\n")
    _upload(s3_server, key, data2, digest2)
    started, release = threading.Event(), threading.Event()
    mark = "UPDATE pending_uploads SET deleting = 7, marked_at = 0 WHERE digest = '%s'" % digest2
    holder = threading.Thread(target=_hold_pending_row, args=(s3_server.catalog, mark, started, release))
    holder.start()
    assert started.wait(30)
    answer: list = []
    committer = threading.Thread(target=lambda: answer.append(_commit(s3_server, key, digest2, len(data2), "ds2")))
    committer.start()
    time.sleep(3)
    assert not answer, "the commit waits for the row"
    release.set()
    holder.join()
    committer.join(60)
    assert answer and answer[0].status_code == 409, answer and answer[0].text
    assert _versions(s3_server, key, "ds2") == []
    done = _janitor(s3_server, "3600", age="0")  # the test's own mark stands in for a killed sweep's
    assert "deleted 1 uploaded blob(s)" in done.stdout, done.stdout + done.stderr
    assert not _object(s3_server, digest2) and _object(s3_server, digest)
