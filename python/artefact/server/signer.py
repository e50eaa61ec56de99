"""Signed byte URLs: short-lived, bound to one blob, one method and one project.

`/blobs/<algorithm>/<digest hex>?p=<project id>&n=<size>&m=<method>&e=<expiry>&s=<sig>`
where `sig` is HMAC-SHA256 over every other part. The URL carries its own authority
(no API key travels with the bytes, as with S3's presigned URLs): changing any part,
using it after `e`, or with another method is refused. A PUT URL is also create-only:
replayed after its blob was stored, it is refused and writes nothing.

The secret is shared through the catalog (server_settings), so every server process on
one database signs and checks alike; `ARTEFACT_SERVER_SECRET` overrides it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Optional

from ..store.catalog import Catalog

__all__ = ["Signer", "SignedBlob", "load_secret", "SECRET_ENV", "DEFAULT_TTL"]

SECRET_ENV = "ARTEFACT_SERVER_SECRET"
DEFAULT_TTL = 900  # seconds a byte URL stays valid (a slow 2 GiB upload fits)


def load_secret(catalog: Catalog) -> bytes:
    """The URL-signing secret: `$ARTEFACT_SERVER_SECRET`, else the catalog's (made once)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    fresh = secrets.token_hex(32)
    with catalog.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO server_settings (name, value) VALUES (?, ?)",
                     ("url_signing_secret", fresh))
        row = conn.execute("SELECT value FROM server_settings WHERE name = ?", ("url_signing_secret",)).fetchone()
    return str(row[0]).encode()


@dataclass(frozen=True)
class SignedBlob:
    """What a checked URL grants."""

    algorithm: str
    digest_hex: str
    project_pk: int
    size: int
    method: str


class Signer:
    """Makes and checks byte URLs under one secret."""

    def __init__(self, secret: bytes, public_url: str, ttl: int = DEFAULT_TTL) -> None:
        self._secret = secret
        self.public_url = public_url.rstrip("/")
        self.ttl = ttl

    def _sig(self, path: str, project_pk: int, size: int, method: str, expires: int) -> str:
        msg = f"{method}\n{path}\n{project_pk}\n{size}\n{expires}".encode()
        mac = hmac.new(self._secret, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, algorithm: str, digest_hex: str, project_pk: int, size: int, method: str,
            now: Optional[float] = None) -> str:
        """A URL for `method` (GET or PUT) on one blob, valid for `ttl` seconds."""
        path = f"/blobs/{algorithm.lower()}/{digest_hex}"
        expires = int((now if now is not None else time.time()) + self.ttl)
        query = urllib.parse.urlencode({
            "p": project_pk, "n": size, "m": method, "e": expires,
            "s": self._sig(path, project_pk, size, method, expires),
        })
        return f"{self.public_url}{path}?{query}"

    def check(self, algorithm: str, digest_hex: str, method: str, query: dict[str, str],
              now: Optional[float] = None) -> SignedBlob:
        """What the URL grants; PermissionError saying why it is refused."""
        path = f"/blobs/{algorithm.lower()}/{digest_hex}"
        try:
            project_pk, size = int(query["p"]), int(query["n"])
            signed_method, expires, sig = query["m"], int(query["e"]), query["s"]
        except (KeyError, ValueError):
            raise PermissionError("byte URL is not signed (p, n, m, e and s are required)") from None
        good = self._sig(path, project_pk, size, signed_method, expires)
        if not hmac.compare_digest(good.encode(), sig.encode()):
            raise PermissionError("byte URL signature does not match (tampered or from another server)")
        if signed_method != method:
            raise PermissionError(f"byte URL was signed for {signed_method}, not {method}")
        if (now if now is not None else time.time()) > expires:
            raise PermissionError("byte URL has expired; ask the server for a fresh one")
        return SignedBlob(algorithm, digest_hex, project_pk, size, method)
