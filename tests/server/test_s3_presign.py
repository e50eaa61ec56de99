"""The core's presigned S3 URLs (`_core.sigv4_presign_batch`, rust/core/src/sigv4.rs) are
botocore's (botocore/auth.py `S3SigV4QueryAuth`, what boto3's `generate_presigned_url`
uses) for the same request, credentials, region and time: the same signature, path and
query parameters. test_s3_signatures.py proves them on an endpoint that checks them
(s3s-fs); the Rust tests check AWS's published presigned-URL example.
"""

from __future__ import annotations

import datetime
import urllib.parse

import pytest

from artefact import _core

NOW = 1_764_331_200  # 2025-11-28T12:00:00Z
ACCESS, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

CASES = [
    # (base, method, path, query, headers, token, region)
    ("http://127.0.0.1:9000", "GET", "/bkt/blobs/p1/md5/0cc175b9c0f1b6a831c399e269772661", {}, {}, None,
     "us-east-1"),
    ("http://127.0.0.1:9000", "PUT", "/bkt/blobs/p7/xxh128/ab12", {},
     {"Content-Length": "4096", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "If-None-Match": "*"},
     "FwoGZXIvYXdzEJr//////////session+token=", "eu-west-3"),
    ("https://bkt.s3.eu-central-1.amazonaws.com", "PUT", "/pre fix/p2/md5/ä+b", {"partNumber": "12",
     "uploadId": "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--/+="},
     {"Content-Length": "16777216", "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg=="}, None, "eu-central-1"),
    ("http://localhost:4566/", "GET", "/b/k", {}, {}, "tok", "us-west-2"),
]


def _botocore(monkeypatch, base, method, path, query, headers, token, region, expires):
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fixed = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: fixed)
    url = base.rstrip("/") + urllib.parse.quote(path, safe="/-_.~")
    request = AWSRequest(method=method, url=url, headers=dict(headers), params=dict(query))
    botocore.auth.S3SigV4QueryAuth(Credentials(ACCESS, SECRET, token), "s3", region, expires=expires).add_auth(request)
    return request.url


def _parts(url: str) -> tuple[str, str, dict]:
    p = urllib.parse.urlsplit(url)
    return p.netloc, p.path, dict(urllib.parse.parse_qsl(p.query, keep_blank_values=True))


@pytest.mark.parametrize("case", CASES, ids=["get", "create-only-put-token", "virtual-host-part", "token-get"])
def test_presigned_urls_match_botocore(monkeypatch, case):
    base, method, path, query, headers, token, region = case
    (ours,) = _core.sigv4_presign_batch(base, [(method, path, list(query.items()), list(headers.items()))],
                                        ACCESS, SECRET, token, region, 900, NOW)
    theirs = _botocore(monkeypatch, base, method, path, query, headers, token, region, 900)
    assert _parts(ours) == _parts(theirs)
    assert _parts(ours)[2]["X-Amz-Signature"] == _parts(theirs)[2]["X-Amz-Signature"]


def test_a_batch_signs_each_request_as_alone():
    items = [(m, p, list(q.items()), list(h.items())) for _b, m, p, q, h, _t, _r in CASES[:3]]
    batch = _core.sigv4_presign_batch("http://127.0.0.1:9000", items, ACCESS, SECRET, None, "us-east-1", 60, NOW)
    alone = [_core.sigv4_presign_batch("http://127.0.0.1:9000", [i], ACCESS, SECRET, None, "us-east-1", 60, NOW)[0]
             for i in items]
    assert batch == alone and len(set(batch)) == 3
    # Any change to what is signed changes the signature.
    other = _core.sigv4_presign_batch("http://127.0.0.1:9000", [items[1]], ACCESS, SECRET, None, "us-east-1", 61, NOW)
    assert _parts(other[0])[2]["X-Amz-Signature"] != _parts(batch[1])[2]["X-Amz-Signature"]
