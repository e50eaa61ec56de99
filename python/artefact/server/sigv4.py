"""AWS Signature Version 4 presigned URLs (query-string auth), for the S3 blob store.

botocore's `generate_presigned_url` costs about a millisecond a URL; a version of
10,000 files needs 10,000 of them, so the server signs here instead (tens of
microseconds each: the signing key is derived once per day and region). Only the
request kinds the server hands out are covered: GET, PUT of an object or of one part,
with the headers the URL binds (`content-md5`, `content-length`, `if-none-match`).
Endpoints that check signatures (AWS, s3s-fs in the tests) refuse any change to the
method, key, query, signed headers, or use after `X-Amz-Expires`.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass
from typing import Optional

__all__ = ["Credentials", "presign"]

_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class Credentials:
    """An access key (and session token, for temporary credentials)."""

    access_key: str
    secret_key: str
    token: Optional[str] = None


def _quote(value: str, safe: str = "") -> str:
    return urllib.parse.quote(value, safe=_UNRESERVED + safe)


_KEYS: dict[tuple[str, str, str], bytes] = {}


def _signing_key(secret: str, day: str, region: str) -> bytes:
    cached = _KEYS.get((secret, day, region))
    if cached is None:
        k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
        for part in (region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        if len(_KEYS) > 16:
            _KEYS.clear()
        _KEYS[(secret, day, region)] = cached = k
    return cached


def presign(method: str, endpoint: str, path: str, creds: Credentials, region: str, expires: int,
            query: Optional[dict[str, str]] = None, headers: Optional[dict[str, str]] = None,
            now: Optional[datetime.datetime] = None) -> str:
    """A URL for `method` on `endpoint` + `path` (path already the bucket/key path,
    unencoded), valid `expires` seconds, that the caller must send with `headers`
    (they are signed; `host` is added). `query` holds extra parameters such as
    `partNumber` and `uploadId`."""
    when = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(endpoint)
    host = parts.netloc
    signed = {k.lower(): " ".join(str(v).split()) for k, v in (headers or {}).items()}
    signed["host"] = host
    names = sorted(signed)
    params = dict(query or {})
    params.update({
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{creds.access_key}/{day}/{region}/s3/aws4_request",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(int(expires)),
        "X-Amz-SignedHeaders": ";".join(names),
    })
    if creds.token:
        params["X-Amz-Security-Token"] = creds.token
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()))
    full_path = parts.path.rstrip("/") + "/" + path.lstrip("/")
    canonical_path = _quote(full_path, safe="/")
    canonical = "\n".join([
        method, canonical_path, canonical_query,
        "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names), "UNSIGNED-PAYLOAD",
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    sig = hmac.new(_signing_key(creds.secret_key, day, region), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{host}{canonical_path}?{canonical_query}&X-Amz-Signature={sig}"
