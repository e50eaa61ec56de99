"""S3-compatible endpoints as real processes on loopback, for the server's S3 blobs.

- `MotoS3`: moto's threaded server (in memory; multipart and `If-None-Match: *` work,
  signatures are not checked), bound to 127.0.0.1 on a free port. Each test gets a
  fresh bucket with versioning on.
- `S3sFs`: the `s3s-fs` binary (file-backed, checks SigV4 signatures, presigned URLs
  included; it also refuses a second create-only PUT with 412; no
  ListMultipartUploads), installed by
  scripts/install-s3s-fs.sh into ~/.cache/artefact-tools.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from typing import Optional

import requests

from ._postgres import free_port

S3S_FS = os.path.join(os.environ.get("ARTEFACT_TOOLS_DIR", os.path.expanduser("~/.cache/artefact-tools")),
                      "s3s-fs", "bin", "s3s-fs")
ACCESS, SECRET = "artefacttest", "artefacttestsecret0123456789"


def _wait(url: str, proc: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"S3 endpoint exited with {proc.returncode}:\n{open(log).read()[-3000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # refused, or not answering yet
            time.sleep(0.1)
    raise RuntimeError(f"S3 endpoint at {url} did not answer within 60 s")


class _Endpoint:
    url: str
    proc: Optional[subprocess.Popen] = None

    def env(self) -> dict[str, str]:
        """What an `artefact server` (or boto3) needs to reach this endpoint."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self):  # noqa: ANN201 - a boto3 S3 client
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                            region_name="us-east-1")

    def new_bucket(self, versioning: bool = True) -> str:
        name = "art-" + uuid.uuid4().hex[:12]
        c = self.client()
        c.create_bucket(Bucket=name)
        if versioning:
            c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def keys(self, bucket: str) -> list[str]:
        out = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)


class MotoS3(_Endpoint):
    """`moto.server` on 127.0.0.1."""

    def __init__(self, log: str) -> None:
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        _wait(self.url + "/moto-api/", self.proc, self.log)


class S3sFs(_Endpoint):
    """`s3s-fs` over a directory (survives a restart: its data are files)."""

    def __init__(self, root: str, log: str, port: Optional[int] = None) -> None:
        self.root, self.log = root, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        os.makedirs(root, exist_ok=True)
        self.start()

    @staticmethod
    def available() -> bool:
        return os.access(S3S_FS, os.X_OK)

    def start(self) -> None:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [S3S_FS, "--host", "127.0.0.1", "--port", str(self.port), "--access-key", ACCESS,
             "--secret-key", SECRET, self.root], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        _wait(self.url, self.proc, self.log)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
