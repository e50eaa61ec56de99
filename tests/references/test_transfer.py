"""The byte mover of reference downloads against a loopback HTTP server that misbehaves:
retries with backoff, statuses handed back, nothing half-written, ranges retried alone."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading

import pytest

from artefact.references.transfer import DigestMismatchError, Get, fetch_all

BODY = os.urandom(3 * 2**20 + 11)


class _Flaky(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    failures: dict[str, int] = {}  # path -> 503s still to send
    seen: list[tuple[str, str]] = []  # (path, Range)
    lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        with self.lock:
            self.seen.append((self.path, self.headers.get("Range", "")))
            key = f"{self.path}|{self.headers.get('Range', '')}"
            left = self.failures.get(key, self.failures.get(self.path, 0))
            if left:
                self.failures[key if key in self.failures else self.path] = left - 1
        if self.path == "/missing":
            return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
        if left:
            return self._send(503, b"slow down")
        body, status, headers = BODY, 200, {}
        if self.headers.get("Range"):
            first, last = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
            body, status = BODY[first:last + 1], 206
            headers["Content-Range"] = f"bytes {first}-{last}/{len(BODY)}"
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (a transfer that was cancelled)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("ARTEFACT_REFERENCE_RETRIES", "3")
    _Flaky.failures, _Flaky.seen = {}, []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _get(url: str, target, md5: str | None = None) -> Get:
    return Get(url, {}, str(target), len(BODY), md5 or hashlib.md5(BODY).hexdigest(), None, url)


def test_transient_errors_are_retried(server, tmp_path):
    _Flaky.failures["/obj"] = 2
    [got] = fetch_all([_get(f"{server}/obj", tmp_path / "o")])
    assert got.status == 200 and (tmp_path / "o").read_bytes() == BODY
    assert [p for p, _ in _Flaky.seen].count("/obj") == 3


def test_retries_run_out_with_a_clear_error(server, tmp_path):
    _Flaky.failures["/obj"] = 100
    with pytest.raises(ConnectionError, match=r"Failed to download .*/obj after 4 attempts: HTTP 503"):
        fetch_all([_get(f"{server}/obj", tmp_path / "o")])
    assert os.listdir(tmp_path) == []


def test_other_statuses_are_handed_back(server, tmp_path):
    good, missing = fetch_all([_get(f"{server}/obj", tmp_path / "a"), _get(f"{server}/missing", tmp_path / "b")])
    assert good.status == 200 and missing.status == 404 and b"NoSuchKey" in missing.body
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_a_wrong_body_is_never_placed_and_stops_the_rest(server, tmp_path):
    gets = [_get(f"{server}/obj", tmp_path / f"f{i}", md5="0" * 32 if i == 0 else None) for i in range(20)]
    with pytest.raises(DigestMismatchError):
        fetch_all(gets)
    assert not (tmp_path / "f0").exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".artefact-ref-")]


def test_ranges_are_retried_alone(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEFACT_REFERENCE_RANGE_THRESHOLD", str(2**20))
    # one 16 MiB range covers the 3 MiB body; it fails once and is fetched again alone
    _Flaky.failures[f"/obj|bytes=0-{len(BODY) - 1}"] = 1
    [got] = fetch_all([_get(f"{server}/obj", tmp_path / "r")])
    assert got.status == 200 and (tmp_path / "r").read_bytes() == BODY
    ranges = [r for p, r in _Flaky.seen if p == "/obj"]
    assert ranges == [f"bytes=0-{len(BODY) - 1}"] * 2


def test_part_aligned_ranges_in_parallel(server, tmp_path, monkeypatch):
    """Parts of 1 MiB: four ranges, one failing once, the multipart ETag recomputed."""
    monkeypatch.setenv("ARTEFACT_REFERENCE_RANGE_THRESHOLD", str(2**20))
    part = 2**20
    parts = [BODY[i:i + part] for i in range(0, len(BODY), part)]
    etag = f"{hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts)).hexdigest()}-{len(parts)}"
    _Flaky.failures[f"/obj|bytes={2 * part}-{3 * part - 1}"] = 1
    get = Get(f"{server}/obj", {}, str(tmp_path / "m"), len(BODY), None, etag, "m", part_size=part)
    [got] = fetch_all([get])
    assert got.status == 200 and (tmp_path / "m").read_bytes() == BODY
    ranges = [r for p, r in _Flaky.seen if p == "/obj"]
    assert len(ranges) == len(parts) + 1 and ranges.count(f"bytes={2 * part}-{3 * part - 1}") == 2
    with pytest.raises(DigestMismatchError):
        fetch_all([get._replace(etag="0" * 32 + "-4", target=str(tmp_path / "bad"))])
    assert not (tmp_path / "bad").exists()
