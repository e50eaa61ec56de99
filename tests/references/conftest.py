"""Endpoints for the reference-download tests: moto's S3 server, a GCS emulator, and the
isolated dirs both SDKs (artefact and wandb, the oracle) write to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, what: str) -> None:
    import urllib3

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            urllib3.request("GET", url, timeout=1, retries=False)
            return
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within 60 s")


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's S3 server as its own process on 127.0.0.1 (a free port)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    _wait_http(f"{endpoint}/moto-api/", proc, "moto server")
    return proc, endpoint


def aws_env(endpoint: str) -> dict[str, str]:
    """What both SDKs resolve S3 access from (wandb's s3_handler.py `init_boto`)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }  # fmt: skip


@pytest.fixture(scope="session")
def moto_endpoint():
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
    proc, endpoint = start_moto()
    yield endpoint
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """A boto3 client on moto, the AWS variables set, artefact's S3 handler reset."""
    import boto3

    for key, value in aws_env(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    from artefact.references import handlers
    from artefact.references.s3 import S3Handler

    for handler in handlers():
        if isinstance(handler, S3Handler):
            monkeypatch.setattr(handler, "_s3", None)  # other suites install a fake boto3
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def bucket(s3):
    """A fresh bucket with versioning on."""
    name = f"refs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture(scope="session")
def gcs_endpoint():
    """gcp-storage-emulator (PyPI) on 127.0.0.1: the JSON API calls both SDKs make through
    google-cloud-storage (get, list, alt=media download). It keeps no old generations."""
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        pytest.skip("gcp-storage-emulator is not installed (pip install -e '.[test]')")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
         "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    _wait_http(f"{endpoint}/storage/v1/b?project=test", proc, "gcp-storage-emulator")
    yield endpoint
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def gcs(gcs_endpoint, monkeypatch):
    """A google-cloud-storage client on the emulator; artefact's GCS handler reset."""
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    from artefact.references import handlers
    from artefact.references.gcs import GCSHandler

    for handler in handlers():
        if isinstance(handler, GCSHandler):
            monkeypatch.setattr(handler, "_client", None)
    client = storage.Client()
    return client.create_bucket(f"refs-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def azure_fake(tmp_path_factory):
    from ._azure_fake import AzureFake

    fake = AzureFake(str(tmp_path_factory.mktemp("azure")))
    yield fake
    fake.close()


@pytest.fixture
def azure(azure_fake, monkeypatch):
    """The fake Azure endpoint reachable as https://<account>.blob.core.windows.net, with
    the account key configured for artefact (env) and wandb (run setting)."""
    import json

    from ._azure_fake import ACCOUNT_KEY
    from ._diff import Wandb

    for key, value in azure_fake.env.items():
        monkeypatch.setenv(key, value)
    account = f"refs{uuid.uuid4().hex[:10]}"
    url = f"https://{account}.blob.core.windows.net"
    monkeypatch.setenv("ARTEFACT_AZURE_ACCOUNT_KEYS", json.dumps({url: ACCOUNT_KEY}))
    monkeypatch.setattr(Wandb, "azure_keys", {url: ACCOUNT_KEY})
    return azure_fake.store, account, url
