"""A large blob downloaded through the server (its own signed GET): hashed on a thread
of its own while it arrives into the cache (transfer/get.rs), then placed in the root.

What must hold: the root file and the cache object are two full, separate copies
(editing the downloaded file never touches the cache), content that does not hash to
its digest is never placed, and no temporary file is left in the root.
"""

from __future__ import annotations

import os

import pytest

import artefact as wandb
from artefact.store.errors import CorruptBlobError


def _log(tmp_path, name: str = "big.bin", size: int = 3 << 20) -> tuple[wandb.Artifact, bytes]:
    data = os.urandom(size)
    src = tmp_path / "src"
    os.makedirs(src / "sub", exist_ok=True)
    (src / "sub" / name).write_bytes(data)
    (src / "small.txt").write_text("small\n")
    with wandb.init(project="onepass") as run:
        art = wandb.Artifact("big", "dataset")
        art.add_dir(str(src))
        run.log_artifact(art).wait()
    return art, data


def _files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_download_writes_root_and_cache_as_separate_full_copies(remote, tmp_path, monkeypatch):
    art, data = _log(tmp_path)
    cache = tmp_path / "fresh-cache"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(cache))
    root = tmp_path / "root"
    wandb.Api().artifact("onepass/big:v0").download(str(root))
    assert _files(root) == ["small.txt", os.path.join("sub", "big.bin")]  # no temp file left
    placed = root / "sub" / "big.bin"
    assert placed.read_bytes() == data
    obj = cache / "artifacts" / _core_relpath(art.manifest.entries["sub/big.bin"].digest)
    assert obj.read_bytes() == data
    assert os.stat(placed).st_ino != os.stat(obj).st_ino and os.stat(placed).st_nlink == 1
    # A user's edit of the downloaded file leaves the cache intact: the next download
    # (a fresh root, same cache) is right.
    with open(placed, "r+b") as f:
        f.write(b"edited by the user")
    again = tmp_path / "again"
    wandb.Api().artifact("onepass/big:v0").download(str(again))
    assert (again / "sub" / "big.bin").read_bytes() == data
    assert obj.read_bytes() == data


def test_a_file_already_right_in_the_root_is_not_fetched_again(remote, tmp_path, monkeypatch):
    _art, data = _log(tmp_path)
    root = tmp_path / "root"
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "c1"))
    wandb.Api().artifact("onepass/big:v0").download(str(root))
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "c2"))  # an empty cache
    wandb.Api().artifact("onepass/big:v0").download(str(root))
    assert (root / "sub" / "big.bin").read_bytes() == data
    assert _files(root) == ["small.txt", os.path.join("sub", "big.bin")]


def test_corrupted_bytes_leave_nothing_in_the_root(remote, tmp_path, monkeypatch):
    if remote.s3_bucket is not None:
        pytest.skip("corrupts the server's local object file")
    art, _data = _log(tmp_path)
    digest = art.manifest.entries["sub/big.bin"].digest
    obj = os.path.join(remote.blobs, "objects", wandb._core.object_relpath(digest, "MD5"))
    with open(obj, "r+b") as f:
        f.write(b"X" * 8)
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "fresh-cache"))
    monkeypatch.setenv("ARTEFACT_TRANSFER_RETRIES", "1")  # wrong on every try: two prove it (eight: ~23 s of backoff)
    root = tmp_path / "root"
    with pytest.raises(CorruptBlobError, match="hashes to"):
        wandb.Api().artifact("onepass/big:v0").download(str(root))
    left = _files(root) if root.exists() else []
    assert os.path.join("sub", "big.bin") not in left
    assert not [f for f in left if os.path.basename(f).startswith(".")], left  # no temp copies


def _core_relpath(digest: str) -> str:
    return wandb._core.object_relpath(digest, "MD5")
