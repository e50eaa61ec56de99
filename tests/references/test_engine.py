"""The Rust transfer engine of reference downloads on a real S3 endpoint (moto), with
faults: the endpoint stopped mid-download and started again, a wrong ETag or wrong
bytes refused with nothing placed, a download SIGKILLed half way and resumed, Ctrl-C.
Its SigV4 signatures are held against botocore's for the same requests.

The faults are made by `_proxy.Proxy`, a loopback TCP relay in front of moto that can be
slowed down, cut and restarted on the same port (moto itself keeps its objects).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from artefact import _core

from ._diff import Artefact, tree
from ._proxy import Proxy

pytestmark = pytest.mark.timeout(300)


# --- SigV4 against botocore -------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "headers", "token", "region"),
    [
        ("http://127.0.0.1:9000/bucket/data/x.bin?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY", {}, None, "us-east-1"),
        ("https://bkt.s3.eu-west-1.amazonaws.com/a%20b/%C3%A4~.txt", {"If-Match": '"0cc175b9c0f1b6a831c399e269772661"',
         "Range": "bytes=5-"}, "FQoGZXIvYXdzEJr//////////wEaDH", "eu-west-1"),
        ("https://s3.amazonaws.com/bkt/k", {"Range": "bytes=0-9"}, None, "us-east-1"),
    ],
    ids=["path-style-version", "virtual-hosted-token-ifmatch", "global"],
)
def test_sigv4_matches_botocore(url, headers, token, region):
    """The core's Authorization header is botocore's (botocore/auth.py S3SigV4Auth) for the
    same GET, credentials, region and time."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    now = 1_764_331_200  # 2025-11-28T12:00:00Z
    creds = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)
    ours = dict(_core.sigv4_sign_get(url, list(headers.items()), creds.access_key, creds.secret_key, token, region, now))
    request = AWSRequest(method="GET", url=url, headers=dict(headers))
    request.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    request.context["payload_signing_enabled"] = True  # the core always sends the empty body's hash
    auth = S3SigV4Auth(creds, "s3", region)
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    if token:
        request.headers["X-Amz-Security-Token"] = token
    request.headers["X-Amz-Content-SHA256"] = auth.payload(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert ours["Authorization"].endswith(f"Signature={signature}"), canonical
    assert ours["x-amz-date"] == request.context["timestamp"]
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]
    assert ours.get("x-amz-security-token") == token


# --- faults on moto -----------------------------------------------------------------------
def _logged(s3, bucket, key: str, body: bytes) -> Artefact:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    af = Artefact()
    af.add([[f"s3://{bucket}/{key}", {}]])
    return af


def _use_endpoint(monkeypatch, url: str) -> None:
    """Point the S3 handler (both SDKs resolve AWS_S3_ENDPOINT_URL) at `url`."""
    from artefact.references import handlers
    from artefact.references.s3 import S3Handler

    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", url)
    for handler in handlers():
        if isinstance(handler, S3Handler):
            monkeypatch.setattr(handler, "_s3", None)


def _tmp() -> str:
    """The cache's tmp/, where partial files of reference downloads live."""
    from artefact.cache import ArtifactCache

    return ArtifactCache().tmp_dir


def _partials() -> list[str]:
    tmp = _tmp()
    return [f for f in os.listdir(tmp) if f.endswith(".part")] if os.path.isdir(tmp) else []


def test_endpoint_stopped_mid_download_and_restarted(tmp_path, s3, bucket, moto_endpoint, monkeypatch):
    """The endpoint goes away after part of the body; the retry (after backoff) continues
    from the bytes already on disk with a Range request, and the file verifies."""
    body = os.urandom(6 * 2**20)
    af = _logged(s3, bucket, "big.bin", body)
    proxy = Proxy(moto_endpoint, rate=8 * 2**20)
    _use_endpoint(monkeypatch, proxy.url)
    import threading

    def cut_then_restart():
        while proxy.sent < 2 * 2**20:
            time.sleep(0.01)
        proxy.stop()
        time.sleep(1.0)
        proxy.start()

    chaos = threading.Thread(target=cut_then_restart)
    chaos.start()
    got = af.download(tmp_path / "root")
    chaos.join()
    assert got == {"ok": True}
    assert tree(tmp_path / "root") == {"big.bin": body}
    resumed = [r for r in proxy.ranges() if r]
    assert len(resumed) == 1 and int(resumed[0].split("=")[1].rstrip("-")) >= 2**20, proxy.ranges()
    assert _partials() == []
    proxy.stop()


def test_wrong_etag_or_bytes_are_refused_and_nothing_placed(tmp_path, s3, bucket):
    from artefact.download import Entry
    from artefact.references import handlers
    from artefact.references.s3 import S3Handler
    from artefact.references.s3_fetch import S3Fetcher
    from artefact.references.transfer import DigestMismatchError, fetch_all

    body = b"the real bytes"
    s3.put_object(Bucket=bucket, Key="e.txt", Body=body)
    fetcher = S3Fetcher(next(h for h in handlers() if isinstance(h, S3Handler)))
    good = hashlib.md5(body).hexdigest()
    entry = Entry("e.txt", good, f"s3://{bucket}/e.txt", None, len(body), "{}", None, False)
    out = tmp_path / "out"
    get = fetcher.get_for(entry, str(out / "e.txt"))
    assert get.signed and fetcher.auth is not None
    # a recorded ETag the object does not have: refused by the ETag header, no If-Match sent
    stale = get._replace(headers={}, etag="0" * 32, md5_hex="0" * 32)
    with pytest.raises(DigestMismatchError, match=f"expected {'0' * 32} but found {good}"):
        fetch_all([stale], s3=fetcher.auth)
    # the ETag matches but the bytes must hash to the MD5 too
    wrong_md5 = get._replace(md5_hex="f" * 32)
    with pytest.raises(DigestMismatchError, match="the bytes received hash to " + good):
        fetch_all([wrong_md5], s3=fetcher.auth)
    assert os.listdir(out) == []
    # with If-Match (what downloads send) S3 itself refuses: 412, handed back to settle
    [refused] = fetch_all([get._replace(headers={"If-Match": f'"{"0" * 32}"'})], s3=fetcher.auth)
    assert refused.status == 412 and os.listdir(out) == []
    [ok] = fetch_all([get], s3=fetcher.auth)
    assert ok.status == 200 and (out / "e.txt").read_bytes() == body


_CHILD = textwrap.dedent(
    """
    import sys, artefact
    (artefact.Api().artifact(sys.argv[1]).download(sys.argv[2]))
    """
)


def _start_child(tmp_path, name: str, root) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, name, str(root)], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _wait_partial(at_least: int, child: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        for f in _partials():
            try:
                size = os.path.getsize(os.path.join(_tmp(), f))
            except FileNotFoundError:
                continue
            if size >= at_least:
                return size
        time.sleep(0.02)
    raise AssertionError("no partial file appeared")


def test_killed_download_is_resumed(tmp_path, s3, bucket, moto_endpoint, monkeypatch):
    """SIGKILL half way: the partial file stays in the cache's tmp/, and the next run
    asks only for the rest (Range from at least where the killed run was)."""
    body = os.urandom(8 * 2**20)
    af = _logged(s3, bucket, "k.bin", body)
    name = af.logged.qualified_name
    slow = Proxy(moto_endpoint, rate=2 * 2**20)
    _use_endpoint(monkeypatch, slow.url)
    child = _start_child(tmp_path, name, tmp_path / "root")
    had = _wait_partial(2**20, child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    slow.stop()
    assert not (tmp_path / "root" / "k.bin").exists()
    fast = Proxy(moto_endpoint)
    _use_endpoint(monkeypatch, fast.url)
    assert af.download(tmp_path / "root") == {"ok": True}
    assert (tmp_path / "root" / "k.bin").read_bytes() == body
    [resumed] = fast.ranges()
    assert int(resumed.split("=")[1].rstrip("-")) >= had, resumed
    assert _partials() == []
    fast.stop()


def test_ctrl_c_stops_the_download(tmp_path, s3, bucket, moto_endpoint, monkeypatch):
    """SIGINT during the transfer: KeyboardInterrupt promptly, nothing placed, the
    partial kept for the next run."""
    af = _logged(s3, bucket, "c.bin", os.urandom(8 * 2**20))
    slow = Proxy(moto_endpoint, rate=1 * 2**20)
    _use_endpoint(monkeypatch, slow.url)
    child = _start_child(tmp_path, af.logged.qualified_name, tmp_path / "root")
    _wait_partial(2**19, child)
    child.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    _, err = child.communicate(timeout=30)
    assert time.monotonic() - t0 < 15 and child.returncode != 0  # prompt, not hung (a loaded machine is slow)
    assert "KeyboardInterrupt" in err
    assert not (tmp_path / "root" / "c.bin").exists() and _partials()
    slow.stop()


# --- gs:// and Azure through the same engine -----------------------------------------------
def _no_sdk_download(monkeypatch, module: str, name: str) -> None:
    """Make the SDK fallback fail loudly: the bytes must come through the core's engine."""
    import importlib

    def refuse(*args, **kwargs):
        raise AssertionError(f"{name} (the SDK download) was used")

    monkeypatch.setattr(importlib.import_module(module), name, refuse)


def test_gcs_bytes_come_through_the_engine(tmp_path, gcs, monkeypatch):
    """The SDK checks the recorded generation and etag; the GET of that generation is the
    core's, its body checked against the blob's MD5 (gcp-storage-emulator)."""
    body = os.urandom(300_000)
    gcs.blob("e/x.bin").upload_from_string(body)
    af = Artefact()
    af.add([[f"gs://{gcs.name}/e/x.bin", {}]])
    _no_sdk_download(monkeypatch, "artefact.references.gcs_fetch", "fetch_gcs")
    assert af.download(tmp_path / "root") == {"ok": True}
    assert tree(tmp_path / "root") == {"x.bin": body}


def test_azure_bytes_come_through_the_engine(tmp_path, azure, monkeypatch):
    """A read-only SAS of the account key authorises the core's GET (the fake recomputes
    it with azure-storage-blob), pinned to the recorded version."""
    store, account, url = azure
    first = os.urandom(50_000)
    store.put(account, "cont", "e.bin", first)
    af = Artefact()
    af.add([[f"{url}/cont/e.bin", {}]])
    store.put(account, "cont", "e.bin", b"a later version")
    _no_sdk_download(monkeypatch, "artefact.references.azure_fetch", "fetch_azure")
    assert af.download(tmp_path / "root") == {"ok": True}
    assert tree(tmp_path / "root") == {"e.bin": first}


def test_azure_bytes_that_do_not_match_content_md5_are_refused(tmp_path, azure):
    """Bytes that changed after Azure stored the blob's Content-MD5: refused, nothing placed."""
    from artefact.references.transfer import DigestMismatchError

    store, account, url = azure
    version = store.put(account, "cont", "rot.bin", b"the stored bytes")
    af = Artefact()
    af.add([[f"{url}/cont/rot.bin", {}]])
    version.body = b"the st0red bytes"  # same length, different content
    got = af.download(tmp_path / "root")
    assert got["error"][0] == DigestMismatchError.__name__ and "rot.bin" in got["error"][1]
    assert not (tmp_path / "root").exists() and _partials() == []
