"""Issue 11, items 4 and 5: symlinks planted in a download root or in the file cache
never make a download write (or link) outside them."""

from __future__ import annotations

import os

import pytest

from artefact import _core

from .conftest import cli, put, write_files

FILES = {"sub/a.txt": b"new a", "b.txt": b"bbb"}


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "a.txt").write_bytes(b"precious")
    return d


def _listing(d) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir()}


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_a_symlinked_directory_in_the_root_is_refused_and_nothing_outside_changes(tmp_path, outside, link):
    """Item 4: `root/sub` is a symlink to a directory outside the root. wandb-style
    path joining would replace `outside/a.txt`; the download refuses, naming the link."""
    put(write_files(tmp_path / "src", FILES))
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    p = cli("get", "ds:v0", "--root", str(root), check=False, env={**os.environ, "ARTEFACT_CACHE_LINK": link})
    assert p.returncode != 0, p.stdout
    assert str(root / "sub") in p.stderr and "symlink" in p.stderr, p.stderr
    assert _listing(outside) == {"a.txt": b"precious"}


def test_a_symlinked_destination_file_is_replaced_not_written_through(tmp_path, outside):
    """Item 4: `root/b.txt` is a symlink to a file outside: the link is replaced by the
    entry's file, the file it pointed to is untouched."""
    put(write_files(tmp_path / "src", FILES))
    root = tmp_path / "root"
    root.mkdir()
    (root / "b.txt").symlink_to(outside / "a.txt")
    cli("get", "ds:v0", "--root", str(root))
    assert not (root / "b.txt").is_symlink() and (root / "b.txt").read_bytes() == b"bbb"
    assert _listing(outside) == {"a.txt": b"precious"}


def _cache_object(tmp_path, data: bytes) -> str:
    return os.path.join(str(tmp_path / "cachedir" / "artifacts"), _core.object_relpath(_core.hash_bytes(data)))


def test_a_symlinked_cache_object_is_a_miss_and_never_linked_into_the_root(tmp_path, outside):
    """Item 5: in hardlink mode, a cache object that is a symlink to a file outside (of
    the right size) would be linked into the root as that symlink."""
    put(write_files(tmp_path / "src", FILES))
    obj = _cache_object(tmp_path, b"bbb")
    os.makedirs(os.path.dirname(obj), exist_ok=True)
    if os.path.lexists(obj):
        os.remove(obj)
    (outside / "three").write_bytes(b"xyz")
    os.symlink(outside / "three", obj)
    root = tmp_path / "root"
    cli("get", "ds:v0", "--root", str(root), env={**os.environ, "ARTEFACT_CACHE_LINK": "hardlink"})
    assert not (root / "b.txt").is_symlink() and (root / "b.txt").read_bytes() == b"bbb"
    assert not os.path.islink(obj), "the bad cache object was replaced"
    assert (outside / "three").read_bytes() == b"xyz"


def test_a_directory_as_cache_object_is_a_miss(tmp_path):
    """Item 5: a directory where a cache object should be is a miss, not an error."""
    put(write_files(tmp_path / "src", FILES))
    obj = _cache_object(tmp_path, b"bbb")
    if os.path.lexists(obj):
        os.remove(obj)
    os.makedirs(obj)
    root = tmp_path / "root"
    cli("get", "ds:v0", "--root", str(root))
    assert (root / "b.txt").read_bytes() == b"bbb"


def test_a_symlinked_shard_directory_never_makes_a_fill_write_outside_the_cache(tmp_path, outside, monkeypatch):
    """Item 5: `obj/md5/<2 hex>` is a symlink out of the cache; fills into it would
    land outside. The shard is made a real directory again, and nothing outside changes.
    Linked downloads go through the cache (copies come straight from the store's blobs)."""
    monkeypatch.setenv("ARTEFACT_CACHE_LINK", "hardlink")
    put(write_files(tmp_path / "src", FILES))
    obj = _cache_object(tmp_path, b"new a")
    shard = os.path.dirname(obj)
    import shutil

    shutil.rmtree(shard, ignore_errors=True)
    os.makedirs(os.path.dirname(shard), exist_ok=True)
    os.symlink(outside, shard)
    root = tmp_path / "root"
    cli("get", "ds:v0", "--root", str(root))
    assert (root / "sub" / "a.txt").read_bytes() == b"new a"
    assert _listing(outside) == {"a.txt": b"precious"}
    assert os.path.isdir(shard) and not os.path.islink(shard)
