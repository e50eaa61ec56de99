"""`http://` and `https://` references: the ETag is the digest, Content-Length the size.

One streamed GET (the body is not read). Redirects are followed and the final URL is the
`ref`. `digest` is the ETag with `"` stripped from both ends (`W/"x"` -> `W/"x`), or the
URL if there is no ETag; `extra.etag` keeps the raw header. checksum=False makes no
request: digest = ref = the URI, no size.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Optional

from ..manifest import ArtifactManifestEntry
from .base import StorageHandler

if TYPE_CHECKING:
    import requests

    from ..artifact import Artifact

_session_lock = threading.Lock()
_session: Optional["requests.Session"] = None


def _raise_for_status(response: Any, *_: Any, **__: Any) -> None:
    response.raise_for_status()


def make_http_session() -> "requests.Session":
    """A `requests.Session` with wandb's retry policy that raises on HTTP errors."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(
        backoff_factor=1,
        total=16,
        # 401/403 are not retried: an expired presigned URL needs a new URL, not a retry.
        status_forcelist=(308, 408, 409, 429, 500, 502, 503, 504),
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=64, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.hooks["response"].append(_raise_for_status)
    return session


def http_session() -> "requests.Session":
    """The process-wide session for http(s) references (created on first use)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = make_http_session()
        return _session


class HTTPHandler(StorageHandler):
    """Handles one of `http` or `https`."""

    def __init__(self, scheme: str = "http") -> None:
        self.scheme = scheme

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        name = name or os.path.basename(path)  # keeps the query string: "q.bin?v=1"
        if not checksum:
            return [ArtifactManifestEntry._new(name, path, ref=path)]
        with http_session().get(path, stream=True) as response:
            etag = response.headers.get("etag")
            ref_url = response.request.url  # the final URL after redirects
            length = response.headers.get("content-length")
            return [
                ArtifactManifestEntry._new(
                    name,
                    etag.strip('"') if etag else ref_url,
                    ref=ref_url,
                    size=int(length) if length is not None else None,
                    extra={"etag": etag} if etag else {},
                )
            ]
