"""A call whose answer is lost (the server restarted, or the connection broke, after it
committed) is sent again; the retry must not turn the call's own effect into an error.
wandb creates runs with `upsertBucket` (wandb/sdk/internal/internal_api.py, 0.31.0), an
upsert, so a re-sent create is harmless there too."""

from __future__ import annotations

import socket
import threading

import pytest

import artefact as wandb

from ._server import ServerProcess


class AnswerDropper:
    """A TCP relay to a server that cuts the connection in place of relaying the answer to
    the first request whose bytes contain `marker` (the server has acted on it by then)."""

    def __init__(self, target_port: int, marker: bytes) -> None:
        self.target_port, self.marker = target_port, marker
        self.dropped = 0
        self._armed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(1 << 16):
                if self.marker in data and not self.dropped:
                    self._armed.set()  # before the server can answer
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(upstream)

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(1 << 16):
                if self._armed.is_set():
                    self._armed.clear()
                    self.dropped += 1
                    break  # the request was served; its answer never arrives
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)

    def close(self) -> None:
        _close(self._listener)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def dropping(tmp_path, monkeypatch):
    srv = ServerProcess(str(tmp_path / "c.db"), str(tmp_path / "blobs"))
    relay = AnswerDropper(srv.port, b"/api/v1/store/create_run")
    try:
        monkeypatch.setenv("ARTEFACT_BASE_URL", f"http://127.0.0.1:{relay.port}")
        monkeypatch.setenv("ARTEFACT_API_KEY", srv.make_key("acme", "writer"))
        monkeypatch.setenv("ARTEFACT_ENTITY", "acme")
        monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache"))
        yield relay
    finally:
        relay.close()
        srv.stop()


def test_a_run_created_whose_answer_was_lost_is_the_run_not_a_clash(dropping, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.txt").write_text("a\n")
    with wandb.init(project="p", id="lostanswer") as run:
        art = wandb.Artifact("ds", "dataset")
        art.add_dir(str(data))
        run.log_artifact(art).wait()
    assert dropping.dropped == 1, "the relay cut the first create_run's answer"
    runs = wandb.Api().runs("acme/p")
    assert [r.id for r in runs] == ["lostanswer"]
    assert [a.qualified_name for a in runs[0].logged_artifacts()] == ["acme/p/ds:v0"]


def test_a_true_clash_is_still_refused(dropping, tmp_path):
    """Not re-sent, an existing id is the error it always was (pass resume to continue it)."""
    with wandb.init(project="p", id="twice"):
        pass
    assert dropping.dropped == 1
    with pytest.raises(ValueError, match="already exists"):
        wandb.init(project="p", id="twice")
