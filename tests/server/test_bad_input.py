"""Bad input at the HTTP layer gets a 4xx with a message naming what is wrong, and
nothing is stored: no version, no object, no manifest."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
import requests

from ._server import ServerProcess


@pytest.fixture
def srv(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEFACT_SERVER_MAX_BODY_BYTES", str(1 << 20))
    s = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "blobs"))
    s.key = s.make_key("acme", "writer")
    yield s
    s.stop()


def _files(root: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if "/tmp" not in d)


def _post(srv, path, body=None, data=None, headers=None):
    h = {"Authorization": f"Bearer {srv.key}", **(headers or {})}
    return requests.post(srv.url + path, json=body, data=data, headers=h, timeout=60)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _manifest(entries: dict) -> str:
    return json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                       "storagePolicyConfig": {"storageLayout": "V2"}, "contents": entries})


def _versions(srv) -> list:
    r = _post(srv, "/api/v1/store/list_collections", {"entity": "acme", "project": "p"})
    return r.json().get("result", []) if r.status_code == 200 else []


def test_bad_requests_get_4xx_and_store_nothing(srv):
    payload = b"real content\n"
    cases = [
        ("malformed JSON", "/api/v1/commit", None, b"{not json", 400, "Expecting"),
        ("JSON not an object", "/api/v1/blobs/lacking", None, b"[1, 2]", 400, "object"),
        ("huge body", "/api/v1/commit", None, b"x" * (2 << 20), 413, "limit"),
        ("entity with a slash", "/api/v1/blobs/lacking", {"entity": "a/b", "project": "p", "blobs": []}, None, 400, "entity"),
        ("name escaping", "/api/v1/commit", {"entity": "acme", "project": "p", "name": "../evil", "type": "t",
                                             "manifest": _manifest({})}, None, 400, "../evil"),
        ("bad digest", "/api/v1/blobs/lacking", {"entity": "acme", "project": "p", "blobs": [["MD5", "%%%", 1]]},
         None, 400, "%%%"),
        ("bad algorithm", "/api/v1/blobs/lacking", {"entity": "acme", "project": "p", "blobs": [["SHA1", "x", 1]]},
         None, 400, "algorithm"),
        ("too many blobs", "/api/v1/blobs/lacking", {"entity": "acme", "project": "p",
                                                     "blobs": [["MD5", _md5(b"%d" % i), 1] for i in range(10_001)]},
         None, 400, "at most 10000"),
        ("manifest path escaping", "/api/v1/commit", {"entity": "acme", "project": "p", "name": "ds", "type": "t",
            "manifest": _manifest({"../../etc/passwd": {"digest": _md5(payload), "size": len(payload)}})}, None, 400, "etc/passwd"),
        ("absolute manifest path", "/api/v1/commit", {"entity": "acme", "project": "p", "name": "ds", "type": "t",
            "manifest": _manifest({"/etc/passwd": {"digest": _md5(payload), "size": len(payload)}})}, None, 400, "passwd"),
        ("blob never uploaded", "/api/v1/commit", {"entity": "acme", "project": "p", "name": "ds", "type": "t",
            "manifest": _manifest({"a.txt": {"digest": _md5(payload), "size": len(payload)}})}, None, 409, "not stored"),
        ("manifest not JSON", "/api/v1/commit", {"entity": "acme", "project": "p", "name": "ds", "type": "t",
                                                 "manifest": "{{"}, None, 400, ""),
        ("wrong batch digest", "/api/v1/blobs/batch?entity=acme&project=p", None,
         b"MD5 " + _md5(b"other").encode() + b" %d\n" % len(payload) + payload, 400, "hashes to"),
        ("truncated batch", "/api/v1/blobs/batch?entity=acme&project=p", None,
         b"MD5 " + _md5(payload).encode() + b" 999\n" + payload, 400, "truncated"),
        ("batch header garbage", "/api/v1/blobs/batch?entity=acme&project=p", None, b"hello world\n", 400, "header"),
        ("unknown run", "/api/v1/store/finish_run", {"run": {"pk": 1}}, None, 400, ""),
        ("batch_limit not a number", "/api/v1/blobs/lacking", {"entity": "acme", "project": "p", "blobs": [],
                                                               "batch_limit": "big"}, None, 400, "batch_limit"),
    ]
    before = _files(srv.blobs)
    for what, path, body, data, status, words in cases:
        r = _post(srv, path, body=body, data=data)
        assert r.status_code == status, (what, r.status_code, r.text[:300])
        message = r.json()["error"]["message"]
        assert message and words in message, (what, message)
        assert _files(srv.blobs) == before, f"{what} stored something"
        assert _versions(srv) == [], what
    put = _post(srv, "/api/v1/blobs/lacking", {"entity": "acme", "project": "p",
                                               "blobs": [["MD5", _md5(payload), len(payload)]]}).json()["lacking"][0][2]
    for bad in (payload + b"extra", payload[:-1], b"X" * len(payload)):
        r = requests.put(put, data=bad, timeout=30)
        assert r.status_code == 400, r.text
    assert _files(srv.blobs) == before
    assert os.listdir(os.path.join(srv.blobs, "objects", "tmp")) == [], "temp files are cleaned up"


def test_a_commit_naming_a_run_that_is_not_there_is_refused(srv):
    """The run a commit names is checked inside the commit's own transaction
    (protocol._check_run): a forged run key gets a 404 naming the run and no version."""
    run = _post(srv, "/api/v1/store/create_run", {"entity": "acme", "project": "p", "run_id": "r1",
                                                  "fields": {}}).json()["result"]
    commit = {"entity": "acme", "project": "p", "name": "ds", "type": "t", "manifest": _manifest({})}
    r = _post(srv, "/api/v1/commit", {**commit, "run": {**run, "pk": run["pk"] + 1000}})
    assert r.status_code == 404, r.text
    assert "acme/p/r1" in r.json()["error"]["message"]
    assert _versions(srv) == []
    r = _post(srv, "/api/v1/commit", {**commit, "run": {**run, "project": "other"}})
    assert r.status_code == 400 and "cannot log into" in r.text, r.text
    r = _post(srv, "/api/v1/commit", {**commit, "run": run})
    assert r.status_code == 200, r.text
    assert r.json()["record"]["version_index"] == 0
    logged = _post(srv, "/api/v1/store/logged_versions", {"run": run}).json()["result"]
    assert [v["version_index"] for v in logged] == [0]


def test_unknown_routes_and_methods(srv):
    assert requests.get(srv.url + "/api/v1/nothing", timeout=30).status_code == 404
    assert requests.get(srv.url + "/blobs/md5/../../etc/passwd", timeout=30).status_code in (400, 403, 404)
    assert requests.get(srv.url + "/blobs/md5/zz", timeout=30).status_code == 400
