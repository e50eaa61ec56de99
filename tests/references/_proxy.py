"""A loopback TCP proxy in front of a real endpoint (moto) that tests can slow down,
stop mid-transfer and start again on the same port, and that records the request
heads it relayed (to see `Range` requests of resumed downloads)."""

from __future__ import annotations

import socket
import threading
import time


class Proxy:
    def __init__(self, upstream: str, rate: float | None = None) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.rate = rate  # bytes per second towards the client, None: as fast as it goes
        self.sent = 0  # response bytes relayed so far
        self.heads: list[dict[str, str]] = []  # request line and headers (lowercase names)
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        """Listen (again) on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut every open connection (the endpoint goes away)."""
        if self._listener is not None:
            try:  # wakes the accept() thread and frees the port; close() alone does neither
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def ranges(self) -> list[str]:
        """The Range headers of the GETs relayed ('' for none)."""
        with self._lock:
            return [h.get("range", "") for h in self.heads if h[":line"].startswith("GET ")]

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._responses, args=(server, client), daemon=True).start()

    def _requests(self, src: socket.socket, dst: socket.socket) -> None:
        buf = b""
        try:
            while data := src.recv(65536):
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self._record(head)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src, dst)

    def _record(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        if not lines or not lines[0].split(" ")[0].isupper():
            return  # a request body, not a head
        headers = {":line": lines[0]}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        with self._lock:
            self.heads.append(headers)

    def _responses(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(16384):
                if self.rate:
                    time.sleep(len(data) / self.rate)
                dst.sendall(data)
                with self._lock:
                    self.sent += len(data)
        except OSError:
            pass
        finally:
            _close(src, dst)


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
