"""The HTTP client of the remote backend: JSON calls with the API key, retried.

Connection failures, 429 and 5xx (the server restarting, PostgreSQL restarting under
it) are retried with backoff for up to `ARTEFACT_HTTP_RETRY_SECONDS` (default 60). The
server's errors come back as the same exception classes the embedded store raises.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from typing import Any, Optional

import requests

from ..server.wire import ServerError, raise_error

__all__ = ["Client", "RETRY_ENV"]

RETRY_ENV = "ARTEFACT_HTTP_RETRY_SECONDS"
_RETRY_STATUS = {429, 500, 502, 503, 504}


def _retry_budget() -> float:
    try:
        return float(os.environ.get(RETRY_ENV, "60"))
    except ValueError:
        raise ValueError(f"{RETRY_ENV}={os.environ[RETRY_ENV]!r}: expected a number of seconds") from None


class Client:
    """Calls to one server with one API key (a requests.Session per thread)."""

    def __init__(self, base_url: str, api_key: Optional[str]) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"server URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._local = threading.local()
        self._pid = os.getpid()

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None or self._pid != os.getpid():
            self._pid = os.getpid()
            session = self._local.session = requests.Session()
            session.headers.update(self.auth_header)
        return session

    def request(self, method: str, path: str, *, body: Any = None, raw: Optional[bytes] = None,
                timeout: float = 300.0) -> Any:
        """One JSON call (or `raw` bytes sent as they are); the decoded answer. Retries
        transient failures."""
        url = self.base_url + path
        data = raw if raw is not None else json.dumps(body, separators=(",", ":")) if body is not None else None
        deadline = time.monotonic() + _retry_budget()
        delay = 0.1
        while True:
            try:
                resp = self._session().request(
                    method, url, data=data, timeout=(30, timeout),
                    headers={"Content-Type": "application/json"} if data is not None else None,
                )
            except requests.ConnectionError as exc:
                if time.monotonic() > deadline:
                    raise ServerError(f"cannot reach the artefact server at {self.base_url}: {exc}") from None
            else:
                if resp.status_code < 400:
                    return resp.json() if resp.content else None
                if resp.status_code not in _RETRY_STATUS or time.monotonic() > deadline:
                    try:
                        payload = resp.json()
                    except ValueError:
                        payload = None
                    raise_error(payload, resp.status_code, resp.text)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)

    def call(self, method: str, **args: Any) -> Any:
        """`POST /api/v1/store/<method>` with `args`; its `result`."""
        return self.request("POST", f"/api/v1/store/{method}", body=args)["result"]
