"""Auth of the S3 blobs' own routes (multipart.py): `/api/v1/blobs/parts` and
`/api/v1/blobs/complete` × {no key, malformed, revoked, reader, writer, admin, a key of
another project}. Only writers and admins of the project get through; a refused call
signs nothing and completes nothing (the upload stays open, no object appears)."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
import requests

from ._server import ServerProcess

IDENTITIES = ("none", "malformed", "revoked", "reader", "writer", "admin", "other")


@pytest.fixture
def world(s3_blobs, tmp_path):
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"),
                        env={"ARTEFACT_SERVER_S3_MULTIPART_BYTES": str(6 << 20),
                             "ARTEFACT_SERVER_S3_PART_BYTES": str(5 << 20)})
    keys = {"reader": srv.make_key("acme", "reader", "p"), "writer": srv.make_key("acme", "writer", "p"),
            "admin": srv.make_key("acme", "admin"), "other": srv.make_key("acme", "writer", "q"),
            "revoked": srv.make_key("acme", "writer", "p")}
    r = requests.delete(f"{srv.url}/api/v1/keys/{keys['revoked'].split('_')[1]}", timeout=30,
                        headers={"Authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 200, r.text
    try:
        yield srv, keys
    finally:
        srv.stop()


def _post(srv, keys, who, path, body):
    headers = {} if who == "none" else {"Authorization": "Bearer ak_zz_bad" if who == "malformed"
                                        else f"Bearer {keys[who]}"}
    return requests.post(srv.url + path, json=body, headers=headers, timeout=60)


def test_multipart_routes_allow_exactly_writers_of_the_project(world, s3_blobs):
    srv, keys = world
    endpoint, bucket = s3_blobs
    data = os.urandom(7 << 20)
    digest = base64.b64encode(hashlib.md5(data).digest()).decode()
    ep = {"entity": "acme", "project": "p"}
    lack = _post(srv, keys, "writer", "/api/v1/blobs/lacking", {**ep, "blobs": [["MD5", digest, len(data)]]})
    (alg, dig, url, extra), = lack.json()["lacking"]
    assert url is None and extra["multipart"]["part_size"] == 5 << 20
    upload = {"algorithm": alg, "digest": dig, "size": len(data), "upload_id": extra["multipart"]["upload_id"]}
    parts = [data[: 5 << 20], data[5 << 20:]]
    md5s = [base64.b64encode(hashlib.md5(p).digest()).decode() for p in parts]
    ask = {**ep, "uploads": [{**upload, "parts": [[1, md5s[0]], [2, md5s[1]]]}]}
    for who in IDENTITIES:
        r = _post(srv, keys, who, "/api/v1/blobs/parts", ask)
        if who in ("writer", "admin"):
            assert r.status_code == 200, (who, r.text)
        else:
            assert r.status_code == (401 if who in ("none", "malformed", "revoked") else 403), (who, r.text)
    signed = _post(srv, keys, "writer", "/api/v1/blobs/parts", ask).json()["uploads"][0]
    etags = []
    for (n, part_url, headers), body in zip(signed, parts):
        r = requests.put(part_url, data=body, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        etags.append([n, r.headers["ETag"]])
    finish = {**ep, "uploads": [{**upload, "parts": etags}]}
    for who in ("none", "malformed", "revoked", "reader", "other"):
        r = _post(srv, keys, who, "/api/v1/blobs/complete", finish)
        assert r.status_code in (401, 403), (who, r.text)
    assert [k for k in endpoint.keys(bucket) if k.startswith("blobs/p")] == [], "a refused complete completes nothing"
    r = _post(srv, keys, "writer", "/api/v1/blobs/complete", finish)
    assert r.status_code == 200, r.text
    (obj,) = [k for k in endpoint.keys(bucket) if k.startswith("blobs/p")]
    assert endpoint.client().get_object(Bucket=bucket, Key=obj)["Body"].read() == data
    assert _post(srv, keys, "writer", "/api/v1/blobs/lacking", {**ep, "blobs": [["MD5", digest, len(data)]]}
                 ).json()["lacking"] == []


def test_a_part_url_is_bound_to_its_part(world, s3_blobs):
    """Out-of-range part numbers and malformed MD5s are refused, naming the value."""
    srv, keys = world
    ep = {"entity": "acme", "project": "p"}
    data = os.urandom(6 << 20)
    digest = base64.b64encode(hashlib.md5(data).digest()).decode()
    (_a, _d, _u, extra), = _post(srv, keys, "writer", "/api/v1/blobs/lacking",
                                 {**ep, "blobs": [["MD5", digest, len(data)]]}).json()["lacking"]
    upload = {"algorithm": "MD5", "digest": digest, "size": len(data), "upload_id": extra["multipart"]["upload_id"]}
    r = _post(srv, keys, "writer", "/api/v1/blobs/parts", {**ep, "uploads": [{**upload, "parts": [[3, digest]]}]})
    assert r.status_code == 400 and "part 3 is out of range" in r.text
    r = _post(srv, keys, "writer", "/api/v1/blobs/parts", {**ep, "uploads": [{**upload, "parts": [[1, "zz"]]}]})
    assert r.status_code == 400 and "'zz' is not a base64 MD5" in r.text
