"""`artefact server` as a real process on loopback, for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Optional

import requests

from ._postgres import free_port


def cli(*args: str, env: Optional[dict] = None) -> str:
    """Run the artefact CLI; its stdout (raises with stderr on failure)."""
    done = subprocess.run([sys.executable, "-m", "artefact", *args], capture_output=True, text=True,
                          timeout=120, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"artefact {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


class ServerProcess:
    """One server process over `catalog` and `blobs`; `url` is where it listens.

    While `s3` is set (tests/server/conftest.py's `s3_blobs`), every server made keeps
    its blobs in that endpoint's bucket instead (`--blobs s3://bucket/prefix`); its
    manifests then live in the `blobs` directory, and `s3_bucket` is set."""

    s3: Optional[tuple] = None  # (endpoint, bucket)

    def __init__(self, catalog: str, blobs: str, port: Optional[int] = None, log: Optional[str] = None,
                 tls: Optional[tuple[str, str]] = None, env: Optional[dict] = None) -> None:
        self.catalog, self.blobs, self.tls = catalog, blobs, tls
        self.extra_env = dict(env or {})
        self.blobs_arg, self.s3_endpoint, self.s3_bucket = blobs, None, None
        if ServerProcess.s3 is not None:
            self.s3_endpoint, self.s3_bucket = ServerProcess.s3
            self.blobs_arg = f"s3://{self.s3_bucket}/blobs"
            self.extra_env.update(self.s3_endpoint.env())
            self.extra_env["ARTEFACT_SERVER_DIR"] = blobs  # manifests and temp files
        self.port = port or free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = log or os.path.join(blobs + "-server-%d.log" % self.port)
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        out = open(self.log, "ab")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ARTEFACT_BASE_URL", "ARTEFACT_API_KEY", "WANDB_BASE_URL", "WANDB_API_KEY"))}
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "artefact", "server", "--catalog", self.catalog, "--blobs", self.blobs_arg,
             "--host", "127.0.0.1", "--port", str(self.port),
             *(["--ssl-keyfile", self.tls[0], "--ssl-certfile", self.tls[1]] if self.tls else [])],
            stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{open(self.log).read()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=2, verify=self.tls[1] if self.tls else True).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow on a loaded machine
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not answer /healthz within 60 s")

    def stored_objects(self) -> list[str]:
        """Every stored blob: object files under the local directory, or bucket keys."""
        if self.s3_bucket is not None:
            return self.s3_endpoint.keys(self.s3_bucket)
        root = os.path.join(self.blobs, "objects", "obj")
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def make_key(self, entity: str, role: str, project: Optional[str] = None) -> str:
        args = ["server", "keys", "create", "--catalog", self.catalog, "--blobs", self.blobs,
                "--entity", entity, "--role", role]
        if project:
            args += ["--project", project]
        return cli(*args).strip()


def use_server(monkeypatch, srv: ServerProcess, entity: str, key: Optional[str] = None) -> str:
    """Point this test's SDK at `srv` as `entity` (a new writer key unless `key` is given); the key."""
    key = key or srv.make_key(entity, "writer")
    monkeypatch.setenv("ARTEFACT_BASE_URL", srv.url)
    monkeypatch.setenv("ARTEFACT_API_KEY", key)
    monkeypatch.setenv("ARTEFACT_ENTITY", entity)
    return key
