"""Large files downloaded from a server with S3 blobs (`artefact server --blobs s3://...`):
each is fetched on its own presigned GET, hashed as it arrives, and written twice (the
cache object, and a spare copy made from it as it is written, that the download renames
into the root instead of copying the cache object after the transfer;
`rust/core/src/transfer/get.rs`, `remote/transfer.py`). The root's file and the cache
object are the logged bytes and two files, not links; a body corrupted in its middle
is refused before anything is placed; a download killed mid-transfer, or between the
transfer and the placement, leaves no file in the root and no partial cache object,
and the next download finishes.

wandb 0.31.0 downloads into its cache and copies from there into the root
(`wandb/sdk/artifacts/artifact.py`, `_download_using_core`/`download`, and
`storage_policies/wandb_storage_policy.py`, `load_file`), so after a download both hold
the file as separate copies; that is what these tests hold us to.
"""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

import artefact as wandb
from artefact.store.errors import CorruptBlobError

from ._server import ServerProcess, use_server

_MIB = 12  # above the 4 MiB from which the transfer writes a spare, below multipart


def _log(tmp_path, mib: int = _MIB) -> tuple[bytes, str]:
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(mib << 20)
    (src / "weights.bin").write_bytes(data)
    (src / "small.txt").write_text("beside the big one\n")
    with wandb.init(project="big") as run:
        art = wandb.Artifact("model", "model")
        art.add_dir(str(src))
        run.log_artifact(art).wait()
    return data, hashlib.md5(data).hexdigest()


def _cache_object(cache, md5_hex: str) -> str:
    return os.path.join(str(cache), "artifacts", "obj", "md5", md5_hex[:2], md5_hex[2:])


def _leftovers(cache) -> list[str]:
    """Temp files and spares under the cache: in-flight writes a kill may leave."""
    return [os.path.join(d, n) for d, _dirs, names in os.walk(str(cache)) for n in names
            if n.startswith(".") or n.startswith("spare-")]


@pytest.fixture
def s3_server(s3_blobs, tmp_path):
    srv = ServerProcess(str(tmp_path / "catalog.db"), str(tmp_path / "server"))
    try:
        yield srv
    finally:
        srv.stop()


def test_the_root_file_and_the_cache_object_are_the_logged_bytes_in_files_of_their_own(s3_server, tmp_path, monkeypatch):
    use_server(monkeypatch, s3_server, "tester")
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-log"))
    data, md5_hex = _log(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(cache))
    art = wandb.Api(overrides={"project": "big"}).artifact("model:v0")
    root = art.download(str(tmp_path / "out"))
    placed, obj = os.path.join(root, "weights.bin"), _cache_object(cache, md5_hex)
    with open(placed, "rb") as f:
        assert f.read() == data
    with open(obj, "rb") as f:
        assert f.read() == data
    a, b = os.stat(placed), os.stat(obj)
    assert a.st_ino != b.st_ino and a.st_nlink == 1 and b.st_nlink == 1, "two files, never a link"
    assert _leftovers(cache) == [], "no spare or temp file left behind"
    # An edit of the placed file leaves the cache object as it was.
    with open(placed, "r+b") as f:
        f.write(b"edited")
    with open(obj, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == md5_hex
    art.verify(art.download(str(tmp_path / "again")))
    # skip_cache: fetched into a scratch directory, the spare placed; nothing new cached.
    fresh = tmp_path / "cache-skip"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(fresh))
    skipped = wandb.Api(overrides={"project": "big"}).artifact("model:v0").download(str(tmp_path / "skip"), skip_cache=True)
    with open(os.path.join(skipped, "weights.bin"), "rb") as f:
        assert f.read() == data
    assert not os.path.exists(_cache_object(fresh, md5_hex)) and _leftovers(fresh) == []
    # Hard links asked for: the cache object is linked as wandb's option does, the spare
    # is not used and is removed.
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-link"))
    monkeypatch.setenv("ARTEFACT_CACHE_LINK", "hardlink")
    linked = wandb.Api(overrides={"project": "big"}).artifact("model:v0").download(str(tmp_path / "link"))
    obj = _cache_object(tmp_path / "cache-link", md5_hex)
    assert os.stat(os.path.join(linked, "weights.bin")).st_ino == os.stat(obj).st_ino
    assert _leftovers(tmp_path / "cache-link") == []


def test_a_body_corrupted_in_its_middle_is_refused_and_nothing_is_placed(s3_server, s3_blobs, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    use_server(monkeypatch, s3_server, "tester")
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-log"))
    monkeypatch.setenv("ARTEFACT_TRANSFER_RETRIES", "1")
    data, md5_hex = _log(tmp_path)
    (key,) = [k for k in endpoint.keys(bucket) if k.endswith("/" + md5_hex)]
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x01  # one bit, in the middle of the file
    endpoint.client().put_object(Bucket=bucket, Key=key, Body=bytes(bad))
    cache = tmp_path / "cache"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(cache))
    with pytest.raises(CorruptBlobError, match="hashes to"):
        wandb.Api(overrides={"project": "big"}).artifact("model:v0").download(str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out" / "weights.bin")
    assert not os.path.exists(_cache_object(cache, md5_hex))
    assert _leftovers(cache) == [], "no temp file and no spare left"


_GET = """
import sys, artefact as wandb
wandb.Api(overrides={"project": "big"}).artifact("model:v0").download(sys.argv[1])
"""


def _get(s3_server, key: str, cache, out, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "ARTEFACT_BASE_URL": s3_server.url, "ARTEFACT_API_KEY": key, "ARTEFACT_ENTITY": "tester",
           "ARTEFACT_CACHE_DIR": str(cache), **extra}
    return subprocess.Popen([sys.executable, "-c", _GET, str(out)], env=env, stderr=subprocess.PIPE, text=True)


def _nothing_placed(out, cache, md5_hex: str) -> None:
    assert not os.path.exists(os.path.join(str(out), "weights.bin")), "no file in the root"
    obj = _cache_object(cache, md5_hex)
    if os.path.exists(obj):  # only ever whole and verified
        with open(obj, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == md5_hex


@pytest.mark.parametrize("when", ["mid-transfer", "after the fetch"])
def test_a_download_killed_leaves_nothing_half_placed_and_the_next_one_finishes(s3_server, tmp_path, monkeypatch, when):
    key = use_server(monkeypatch, s3_server, "tester")
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache-log"))
    data, md5_hex = _log(tmp_path, mib=96)
    cache, out = tmp_path / "cache", tmp_path / "out"
    if when == "after the fetch":
        proc = _get(s3_server, key, cache, out, ARTEFACT_FAILPOINT="after_download_fetch")
        proc.wait(timeout=300)
    else:
        proc = _get(s3_server, key, cache, out)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            parts = [p for p in glob.glob(os.path.join(str(cache), "artifacts", "obj", "**", ".*.part"), recursive=True)
                     if os.path.getsize(p) > 0]
            if parts:
                proc.kill()
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]
    _nothing_placed(out, cache, md5_hex)
    if when == "after the fetch":
        assert [os.path.basename(p)[:6] for p in _leftovers(cache)] == ["spare-"], "the spare waits in tmp/"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(cache))
    art = wandb.Api(overrides={"project": "big"}).artifact("model:v0")
    root = art.download(str(out))
    with open(os.path.join(root, "weights.bin"), "rb") as f:
        assert f.read() == data
    art.verify(root)
