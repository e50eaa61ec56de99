"""The artifact file cache: wandb's layout, verified puts, cleanup rules, the size cap."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from artefact import _core
from artefact.cache import ArtifactCache, from_human_size

from .conftest import write_tree

HELLO_DIGEST = "b1kCrCNwJL3QwXbLkwY9xA=="


def test_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "w"))
    assert ArtifactCache().root == str(tmp_path / "a" / "artifacts")
    monkeypatch.delenv("ARTEFACT_CACHE_DIR")
    assert ArtifactCache().root == str(tmp_path / "w" / "artifacts")


def test_layout_matches_wandb(cache):
    assert cache.object_path(HELLO_DIGEST).endswith("obj/md5/6f/5902ac237024bdd0c176cb93063dc4")
    empty = _core.hash_bytes(b"")
    assert cache.object_path(empty).endswith("obj/md5/d4/1d8cd98f00b204e9800998ecf8427e")
    assert "/obj/xxh128/" in cache.object_path(HELLO_DIGEST, "XXH128")
    assert "/obj/etag/" in cache.etag_path("https://x/y", "abc")
    entry = ("a", HELLO_DIGEST, None, None, 12, '{"alg":"XXH128"}', None, False)
    assert "/obj/xxh128/" in cache.entry_path(entry)
    ref = ("r", "etag", "s3://b/k", None, 1, "{}", None, False)
    assert cache.entry_path(ref) == cache.etag_path("s3://b/k", "etag")
    fileref = ("r", HELLO_DIGEST, "file:///x", None, 1, "{}", None, False)
    assert cache.entry_path(fileref) == cache.object_path(HELLO_DIGEST)
    assert cache.entry_path(("r", "x", "foo://bar", None, 1, "{}", None, False)) is None


def test_put_verifies_and_hit_checks_size(cache, tmp_path):
    src = write_tree(tmp_path / "src", {"hello": "hello world\n"}) + "/hello"
    path = cache.put(src, HELLO_DIGEST)
    assert path == cache.object_path(HELLO_DIGEST) and Path(path).read_text() == "hello world\n"
    assert cache.is_hit(path, 12) and not cache.is_hit(path, 11)
    assert not cache.is_hit(cache.object_path(_core.hash_bytes(b"x")), 1)
    wrong = _core.hash_bytes(b"something else")
    with pytest.raises(ValueError, match=f"{src} cannot enter the artifact cache"):
        cache.put(src, wrong)
    assert not os.path.exists(cache.object_path(wrong))
    assert os.listdir(cache.tmp_dir) == []


def test_hit_refreshes_access_time(cache, tmp_path):
    src = write_tree(tmp_path / "src", {"hello": "hello world\n"}) + "/hello"
    path = cache.put(src, HELLO_DIGEST)
    os.utime(path, (1000, 1000))
    assert cache.is_hit(path, 12)
    assert os.stat(path).st_atime > time.time() - 60 and os.stat(path).st_mtime == 1000


def _fill(cache, tmp_path, sizes):
    """One object per size; returns their paths, oldest access first."""
    paths = []
    for i, size in enumerate(sizes):
        src = write_tree(tmp_path / "fill", {f"f{i}": bytes([i]) * size}) + f"/f{i}"
        path = cache.put(src, _core.hash_file(src)[0])
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        paths.append(path)
    return paths


def test_cleanup_argument_rules(cache):
    with pytest.raises(ValueError, match="Cannot specify both target_size and target_fraction"):
        cache.cleanup(target_size=1, target_fraction=0.5)
    with pytest.raises(ValueError, match="target_size must be non-negative"):
        cache.cleanup(target_size=-1)
    with pytest.raises(ValueError, match="target_fraction must be between 0 and 1"):
        cache.cleanup(target_fraction=1.5)
    assert cache.cleanup() == 0  # empty cache: nothing to do


def test_cleanup_removes_least_recently_used_first(cache, tmp_path):
    paths = _fill(cache, tmp_path, [100, 100, 100, 100])
    os.utime(paths[0], (2_000_000, 2_000_000))  # the oldest object was just used
    assert cache.cleanup(target_size=250) == 200
    assert [os.path.exists(p) for p in paths] == [True, False, False, True]
    assert cache.cleanup(target_fraction=0.5) == 100
    assert [os.path.exists(p) for p in paths] == [True, False, False, False]
    assert cache.cleanup() == 100 and not any(os.path.exists(p) for p in paths)


def test_cleanup_counts_temp_files_and_removes_them_on_request(cache, tmp_path, capsys):
    paths = _fill(cache, tmp_path, [100, 100])
    with open(os.path.join(cache.tmp_dir, "partial"), "wb") as f:
        f.write(b"x" * 50)
    cache.cleanup(target_size=150)  # 50 of temp + 100 of objects
    assert [os.path.exists(p) for p in paths] == [False, True]
    assert "temporary files" in capsys.readouterr().err
    assert cache.cleanup(target_size=1000, remove_temp=True) == 50
    assert os.listdir(cache.tmp_dir) == []


def test_from_human_size_reads_wandbs_forms_strictly():
    assert from_human_size("10") == 10
    assert from_human_size("10B") == 10
    assert from_human_size("10 kb") == 10_000
    assert from_human_size("1.5GB") == 1_500_000_000
    assert from_human_size("2TB") == 2 * 10**12
    with pytest.raises(ValueError, match="'lots' is not a size"):
        from_human_size("lots")


def test_cap_is_enforced_after_fill(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "1KB")
    m = _core.Manifest()
    data = write_tree(tmp_path / "data", {f"f{i}": bytes([i]) * 300 for i in range(10)})
    m.add_dir(data, None, "MD5", "immutable", None, False, False)
    added = cache.fill_after_log(m)
    assert added == 10
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache.obj_dir) for f in fs)
    assert 0 < total <= 1000
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "garbage")
    with pytest.raises(ValueError, match="ARTEFACT_CACHE_MAX='garbage'"):
        cache.enforce_cap()


def test_fill_after_log_reports_changed_files(cache, tmp_path, capsys):
    m = _core.Manifest()
    data = write_tree(tmp_path / "data", {"a": "one", "b": "two"})
    m.add_dir(data, None, "MD5", "immutable", None, False, False)
    write_tree(tmp_path / "data", {"a": "changed"})
    assert cache.fill_after_log(m) == 1
    assert "could not add" in capsys.readouterr().err
    assert not os.path.exists(cache.entry_path(m.get("a")))


def test_unwritable_cache_gives_wandbs_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    root = tmp_path / "ro"
    root.mkdir()
    os.chmod(root, 0o500)
    try:
        with pytest.raises(PermissionError, match="Unable to write to"):
            ArtifactCache(str(root / "artifacts")).ensure_writable()
    finally:
        os.chmod(root, 0o700)


def test_cap_defaults_to_100gb_and_can_be_turned_off(cache, monkeypatch):
    monkeypatch.delenv("ARTEFACT_CACHE_MAX", raising=False)
    assert cache.max_size() == 100 * 10**9
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "off")
    assert cache.max_size() is None
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "2.5KB")
    assert cache.max_size() == 2500
    monkeypatch.setenv("ARTEFACT_CACHE_MAX", "lots")
    with pytest.raises(ValueError, match="ARTEFACT_CACHE_MAX='lots'"):
        cache.max_size()
