"""The core pieces a re-log of a large tree leans on: `AddedFiles` (what `add_dir`
returns, kept in Rust until asked) and `BlobKeys` (the server's set of a manifest's
blobs, checked against what it holds without a Python tuple per blob). Real files in a
temp dir; the answers are compared with what the plain Python definitions give."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from artefact import _core
from artefact.artifact import Artifact


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    for i in range(30):
        sub = root / f"d{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:02d}.txt").write_text(f"file {i}\n" if i % 5 else "same\n")
    return root


def test_add_dir_returns_the_added_pairs_in_path_order(tree, tmp_path):
    m = _core.Manifest("V2")
    staging = tmp_path / "staging"
    staging.mkdir()
    added = m.add_dir(str(tree), "ds", "MD5", "mutable", str(staging), False, False)
    expected = sorted(
        (os.path.join(str(tree), d, f), f"ds/{d}/{f}") for d in os.listdir(tree) for f in os.listdir(tree / d)
    )
    assert len(added) == 30
    assert list(added) == expected
    assert added[0] == expected[0] and added[-1] == expected[-1]
    assert added.logical_paths() == [logical for _, logical in expected]
    with pytest.raises(IndexError, match="index 30 out of range for 30 added files"):
        added[30]


def test_get_added_local_path_name_after_two_adds(tree, tmp_path):
    a = Artifact("d", "dataset")
    a.add_dir(str(tree), name="one")
    a.add_dir(str(tree / "d1"), name="two")
    assert a.get_added_local_path_name(str(tree / "d0" / "f00.txt")) == "one/d0/f00.txt"
    # the later add wins for a file added twice, as in wandb
    assert a.get_added_local_path_name(str(tree / "d1" / "f01.txt")) == "two/f01.txt"


def test_a_failed_add_dir_still_reports_the_files_that_went_in(tree, tmp_path):
    m = _core.Manifest("V2")
    m.add_dir(str(tree), None, "MD5", "immutable", None, False, False)
    (tree / "d1" / "f01.txt").write_text("changed\n")
    (tree / "d1" / "new.txt").write_text("new\n")
    with pytest.raises(ValueError, match="Cannot add the same path twice: 'd1/f01.txt'") as info:
        m.add_dir(str(tree), None, "MD5", "immutable", None, False, False)
    assert len(info.value.added) == 30  # every file but the changed one, the new one among them
    assert ("d1/new.txt" in info.value.added.logical_paths()) and "d1/f01.txt" not in info.value.added.logical_paths()


def _manifest(entries: dict) -> "_core.Manifest":
    return _core.Manifest.from_json(json.dumps({"version": 1, "storagePolicy": "wandb-storage-policy-v1",
                                                "storagePolicyConfig": {}, "contents": entries}).encode())


def test_blob_keys_are_the_distinct_stored_blobs():
    m = _manifest({
        "a": {"digest": "YLcl8QychccNl4gN/oGRsw==", "size": 2},
        "b": {"digest": "YLcl8QychccNl4gN/oGRsw==", "size": 2},  # same content: one key
        "c": {"digest": "uCd0vW1lwC6pp9AyPNgUqg==", "size": 3, "extra": {"alg": "XXH128"}},
        "r": {"digest": "etag", "ref": "s3://bucket/key", "size": 1},  # a reference: no blob
    })
    keys = _core.manifest_blob_keys(m)
    plain = frozenset((a, d) for a, d, _ in _core.stored_blobs(m))
    assert len(keys) == len(plain) == 2
    assert set(keys) == plain and list(keys) == [("MD5", "YLcl8QychccNl4gN/oGRsw=="), ("XXH128", "uCd0vW1lwC6pp9AyPNgUqg==")]
    assert ("MD5", "YLcl8QychccNl4gN/oGRsw==") in keys
    assert ("XXH128", "YLcl8QychccNl4gN/oGRsw==") not in keys  # the algorithm is part of the key
    assert ("SHA1", "YLcl8QychccNl4gN/oGRsw==") not in keys and "MD5" not in keys and ("MD5",) not in keys


def test_without_and_within_against_native_sets_python_sets_and_none():
    m = _manifest({f"f{i}": {"digest": f"{i:022d}", "size": i} for i in range(50)})
    keys = _core.manifest_blob_keys(m)
    every = list(keys)
    prior = _core.manifest_blob_keys(_manifest({f"f{i}": {"digest": f"{i:022d}", "size": i} for i in range(40)}))
    held = frozenset(every[45:47])
    assert keys.without() == every
    assert keys.without(None, prior) == every[40:]
    assert keys.without(held, prior) == every[40:45] + every[47:]
    assert keys.without(set(every[40:]), prior) == []
    assert keys.without(frozenset(every[:40]), frozenset(every[40:])) == []
    assert keys.within(frozenset(every)) and not keys.within(frozenset(every[1:]))
    assert keys.within(keys) and prior.within(keys) and not keys.within(prior)
    with pytest.raises(TypeError, match="expected BlobKeys"):
        keys.without(every)


def test_blob_keys_refuse_an_escaping_path_naming_it():
    m = _manifest({"../up": {"digest": "YLcl8QychccNl4gN/oGRsw==", "size": 2}})
    with pytest.raises(ValueError, match=r"\.\./up"):
        _core.manifest_blob_keys(m)


def test_a_relog_imports_no_tempfile_idna_or_thread_pool(tmp_path):
    """The remote log path loads none of the modules a re-log paid for before (tempfile
    with shutil/bz2/lzma, the idna codec, concurrent.futures): checked in a fresh
    process that opens a connection and probes the cache like a log does."""
    code = (
        "import sys, socket\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n"
        "before = set(sys.modules)\n"
        "from artefact.remote.http1 import Connection\n"
        "from artefact.remote import direct_upload\n"
        "from artefact.cache import ArtifactCache\n"
        "c = Connection('127.0.0.1', srv.getsockname()[1]); c.connect(); c.close()\n"
        f"ArtifactCache({str(tmp_path / 'cache')!r}).ensure_writable()\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    for name in ("tempfile", "shutil", "encodings.idna", "concurrent.futures"):
        assert name not in loaded, loaded
    assert os.listdir(tmp_path / "cache" / "tmp") == []  # the probe file is gone
