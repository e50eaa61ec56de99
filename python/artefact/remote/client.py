"""The HTTP client of the remote backend: JSON calls with the API key, retried.

Connection failures, 429 and 5xx (the server restarting, PostgreSQL restarting under
it) are retried with backoff for up to `ARTEFACT_HTTP_RETRY_SECONDS` (default 60). The
server's errors come back as the same exception classes the embedded store raises.

It speaks HTTP/1.1 over one kept-alive connection per thread (http1.py): importing
`requests`, or even `http.client`, cost more than a good part of a download of a
version already present. HTTPS verifies against the system's CAs, or the file named by
`REQUESTS_CA_BUNDLE` / `SSL_CERT_FILE` (as with requests).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from typing import Any, Optional
from urllib.parse import urlsplit

from ..server.wire import ServerError, raise_error
from .http1 import Connection

__all__ = ["Client", "RETRY_ENV", "shared_client"]

RETRY_ENV = "ARTEFACT_HTTP_RETRY_SECONDS"
_RETRY_STATUS = {429, 500, 502, 503, 504}
_CONNECT_TIMEOUT = 30.0


def _retry_budget() -> float:
    try:
        return float(os.environ.get(RETRY_ENV, "60"))
    except ValueError:
        raise ValueError(f"{RETRY_ENV}={os.environ[RETRY_ENV]!r}: expected a number of seconds") from None


def _ssl_context() -> Any:
    import ssl

    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or None
    return ssl.create_default_context(cafile=cafile)


class Client:
    """Calls to one server with one API key (a kept-alive connection per thread)."""

    def __init__(self, base_url: str, api_key: Optional[str]) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"server URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        parts = urlsplit(self.base_url)
        if not parts.hostname:
            raise ValueError(f"server URL {base_url!r} names no host")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._local = threading.local()
        self._pid = os.getpid()
        self._open: list[Connection] = []  # every thread's, for close()
        self._open_lock = threading.Lock()

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _connection(self) -> tuple[Connection, bool]:
        """This thread's connection, and whether it was used before (it may have been
        closed by the server since)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._pid == os.getpid():
            return conn, True
        self._pid = os.getpid()  # a forked child opens its own
        conn = Connection(self._host, self._port, _ssl_context() if self._https else None, _CONNECT_TIMEOUT)
        self._local.conn = conn
        with self._open_lock:
            self._open = [c for c in self._open if c.sock is not None]
            self._open.append(conn)
        return conn, False

    def close(self) -> None:
        """Close every thread's kept-alive connection (a later call opens a new one)."""
        with self._open_lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _send(self, method: str, path: str, data: Optional[bytes], timeout: float) -> tuple[int, bytes]:
        """One exchange: the status and body. A kept-alive connection the server closed
        meanwhile is replaced at once; other connection failures raise OSError."""
        headers = {**self.auth_header, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        while True:
            conn, reused = self._connection()
            try:
                status, payload, will_close = conn.exchange(method, self._prefix + path, headers, data, timeout)
            except OSError:
                self._drop()
                if reused:  # closed while idle (keep-alive timeout): a fresh connection
                    continue
                raise
            if will_close:
                self._drop()
            return status, payload

    def request(self, method: str, path: str, *, body: Any = None, raw: Optional[bytes] = None,
                timeout: float = 300.0) -> Any:
        """One JSON call (or `raw` bytes sent as they are); the decoded answer. Retries
        transient failures."""
        data = raw if raw is not None else (
            json.dumps(body, separators=(",", ":")).encode("utf-8") if body is not None else None)
        deadline = time.monotonic() + _retry_budget()
        delay = 0.1
        self._local.resent = False
        while True:
            try:
                status, payload = self._send(method, path, data, timeout)
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ServerError(f"cannot reach the artefact server at {self.base_url}: {exc}") from None
            else:
                if status < 400:
                    return json.loads(payload) if payload else None
                if status not in _RETRY_STATUS or time.monotonic() > deadline:
                    try:
                        answer = json.loads(payload)
                    except ValueError:
                        answer = None
                    raise_error(answer, status, payload.decode("utf-8", "replace"))
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
            self._local.resent = True

    def resent(self) -> bool:
        """Whether this thread's last request was sent more than once (an earlier send may
        have taken effect although its answer was lost)."""
        return getattr(self._local, "resent", False)

    def call(self, method: str, **args: Any) -> Any:
        """`POST /api/v1/store/<method>` with `args`; its `result`."""
        return self.request("POST", f"/api/v1/store/{method}", body=args)["result"]


_SHARED: dict[tuple[str, Optional[str]], Client] = {}
_SHARED_LOCK = threading.Lock()


def shared_client(base_url: str, api_key: Optional[str]) -> Client:
    """This process's client for `base_url` with `api_key`: the store's calls and the
    add's `whoami` go over the same kept-alive connection (a second one cost a re-log a
    TCP handshake and the server an accept)."""
    key = (base_url.rstrip("/"), api_key)
    with _SHARED_LOCK:
        client = _SHARED.get(key)
        if client is None:
            client = _SHARED[key] = Client(base_url, api_key)
        return client
