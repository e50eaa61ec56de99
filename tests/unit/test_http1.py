"""The remote client's HTTP/1.1 connection (remote/http1.py) against a real server on
loopback that answers each request with the bytes a test gives it: the framings the
client must read (Content-Length, chunked, to the close, after a 100 Continue), kept-
alive reuse, and the failures it must report as OSError."""

from __future__ import annotations

import socket
import threading

import pytest

from artefact.remote.http1 import Connection, HTTPProtocolError


class CannedServer:
    """Accepts connections on 127.0.0.1; for each request read (up to the blank line and
    a Content-Length body), sends the next canned answer; `None` closes the connection."""

    def __init__(self, answers: list) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buf = b""
                while self.answers:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    if b"\r\n\r\n" not in buf:
                        break
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    while len(buf) < length:
                        buf += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + buf[:length])
                    buf = buf[length:]
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def canned():
    servers = []

    def make(*answers):
        servers.append(CannedServer(list(answers)))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_content_length_answers_reuse_one_connection(canned):
    srv = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                 b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}")
    conn = Connection("127.0.0.1", srv.port)
    assert conn.exchange("POST", "/a", {"X-K": "v"}, b'{"x":1}', 5) == (200, b"hello", False)
    assert conn.exchange("GET", "/b", {}, None, 5) == (404, b"{}", False)
    assert srv.connections == 1
    first, second = srv.requests
    assert first.startswith(b"POST /a HTTP/1.1\r\n") and b"\r\nX-K: v\r\n" in first
    assert b"\r\nContent-Length: 7\r\n" in first and first.endswith(b'{"x":1}')
    assert second.startswith(b"GET /b HTTP/1.1\r\n") and b"Content-Length" not in second
    assert f"Host: 127.0.0.1:{srv.port}".encode() in first
    conn.close()


def test_chunked_continue_and_close_delimited_answers(canned):
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n")
    srv = canned(chunked, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
    conn = Connection("127.0.0.1", srv.port)
    assert conn.exchange("GET", "/c", {}, None, 5) == (200, b"abcdefg", False)
    status, body, will_close = conn.exchange("GET", "/d", {}, None, 5)
    assert (status, body, will_close) == (200, b"until the end", True)
    conn.close()


@pytest.mark.parametrize("answer, message", [
    (None, "closed the connection"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort", "ended after 5 of 10"),
    (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
])
def test_broken_answers_are_os_errors_naming_the_fault(canned, answer, message):
    srv = canned(answer)
    conn = Connection("127.0.0.1", srv.port)
    with pytest.raises(HTTPProtocolError, match=message) as info:
        conn.exchange("GET", "/", {}, None, 5)
    assert isinstance(info.value, OSError)
    conn.close()


def test_the_client_replaces_a_kept_alive_connection_the_server_closed(canned):
    """The server answers once, then closes the idle connection before the second
    request: the client opens a new one and gets the answer there."""
    from artefact.remote.client import Client

    srv = canned(b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a": 1}', None,
                 b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"b": 2}')
    client = Client(f"http://127.0.0.1:{srv.port}", "secret")
    assert client.request("GET", "/x") == {"a": 1}
    assert client.request("GET", "/y") == {"b": 2}
    assert srv.connections == 2
    assert all(b"\r\nAuthorization: Bearer secret\r\n" in r for r in srv.requests)
    client.close()
