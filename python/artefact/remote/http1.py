"""One kept-alive HTTP/1.1 connection, for the remote client's JSON calls.

The standard library's `http.client` imports `email` (its header parser) and `ssl` as
it loads: 13 ms, a third of downloading a version already present. This speaks the
little the client needs over a plain socket: a request with a Content-Length body;
a response with a Content-Length or chunked body (or one ending at close); 1xx
answers skipped; `Connection: close` honoured. `ssl` is imported only for https.
Every failure is an OSError (HTTPProtocolError for a malformed answer).
"""

from __future__ import annotations

import socket
from typing import Any, Optional

__all__ = ["Connection", "HTTPProtocolError"]

_MAX_LINE = 65536
_MAX_HEADERS = 200


class HTTPProtocolError(OSError):
    """The server's answer is not HTTP/1.x as expected (or the connection closed mid-way)."""


class Connection:
    """A connection to `host:port` (TLS with `ssl_context`), opened on first use."""

    def __init__(self, host: str, port: Optional[int], ssl_context: Any = None, connect_timeout: float = 30.0) -> None:
        self.host, self.ssl_context, self.connect_timeout = host, ssl_context, connect_timeout
        self.port = port or (443 if ssl_context is not None else 80)
        default = 443 if ssl_context is not None else 80
        name = f"[{host}]" if ":" in host else host
        self.host_header = name if self.port == default else f"{name}:{self.port}"
        self.sock: Optional[socket.socket] = None
        self._rfile: Any = None

    def connect(self) -> None:
        # An ASCII host goes as bytes: a str makes getaddrinfo load the idna codec (and
        # with it stringprep and unicodedata) on every process's first call.
        host: Any = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock, self._rfile = sock, sock.makefile("rb")

    def close(self) -> None:
        sock, rfile, self.sock, self._rfile = self.sock, self._rfile, None, None
        for f in (rfile, sock):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    def exchange(self, method: str, path: str, headers: dict[str, str], body: Optional[bytes],
                 timeout: float) -> tuple[int, bytes, bool]:
        """Send one request and read its answer: (status, body, whether the server will
        close the connection). Opens the connection if it is not open."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.settimeout(timeout)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}", "Accept-Encoding: identity"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body and len(body) <= 65536:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            if body:
                self.sock.sendall(body)
        return self._response(method)

    def _line(self) -> bytes:
        line = self._rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise HTTPProtocolError("HTTP line too long")
        return line

    def _response(self, method: str) -> tuple[int, bytes, bool]:
        while True:
            status_line = self._line()
            if not status_line:
                raise HTTPProtocolError("the server closed the connection without an answer")
            parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise HTTPProtocolError(f"not an HTTP/1.x status line: {status_line[:100]!r}")
            status = int(parts[1])
            fields: dict[str, str] = {}
            for _ in range(_MAX_HEADERS + 1):
                line = self._line()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, sep, value = line.decode("latin-1").partition(":")
                if not sep:
                    raise HTTPProtocolError(f"malformed header line: {line[:100]!r}")
                key = name.strip().lower()
                fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
            else:
                raise HTTPProtocolError("too many header lines")
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and the like: the real answer follows
            break
        connection = fields.get("connection", "").lower()
        will_close = "close" in connection or (parts[0] == "HTTP/1.0" and "keep-alive" not in connection)
        if method == "HEAD" or status in (204, 304):
            return status, b"", will_close
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return status, self._chunked(), will_close
        length = fields.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise HTTPProtocolError(f"bad Content-Length {length!r}")
            return status, self._exactly(int(length)), will_close
        return status, self._rfile.read(), True  # delimited by the close

    def _exactly(self, n: int) -> bytes:
        data = self._rfile.read(n)
        if len(data) != n:
            raise HTTPProtocolError(f"the answer ended after {len(data)} of {n} bytes")
        return data

    def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise HTTPProtocolError(f"bad chunk size {size_line[:20]!r}") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return bytes(out)
            out += self._exactly(size)
            if self._line() not in (b"\r\n", b"\n"):
                raise HTTPProtocolError("a chunk did not end with CRLF")
