"""LocalStore.log_version and friends: real files in, records and objects out."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

from artefact import _core
from artefact.store import (
    ArtifactNotFoundError,
    CorruptBlobError,
    LocalStore,
    MissingBlobError,
    default_store_root,
    split_alias,
)
from artefact.store.gc import verify_store

from .conftest import manifest_of, write_tree


def test_log_stores_objects_manifest_and_version(store, tmp_path):
    m = manifest_of(tmp_path / "data", {"hello.txt": "hello world\n", "sub/b.bin": b"\x00" * 10})
    r = store.log_version("ent", "proj", "ds", "dataset", m, description="d", metadata={"a": 1},
                          tags=["t"])
    assert (r.name, r.created, r.aliases, r.tags) == ("ds:v0", True, ("latest",), ("t",))
    assert (r.size, r.file_count, r.description, r.metadata) == (22, 2, "d", {"a": 1})
    assert r.digest == m.digest("MD5")
    obj = store.blobs.objects_root + "/obj/md5/6f/5902ac237024bdd0c176cb93063dc4"
    assert Path(obj).read_text() == "hello world\n"
    data = Path(store.blobs.manifest_path(r.manifest_key)).read_bytes()
    assert hashlib.md5(data).hexdigest() == r.manifest_key
    assert data == m.to_wire_json()  # wire JSON, no local paths
    assert "local_path" not in json.loads(data)["contents"]["hello.txt"]
    loaded = store.load_manifest(r)
    assert loaded.digest("MD5") == r.digest and loaded.get("hello.txt")[6] is None
    assert verify_store(store, rehash=True) == []


def test_xxh128_entries_and_digest(store, tmp_path):
    m = manifest_of(tmp_path / "data", {"a": "x"}, algorithm="XXH128")
    r = store.log_version("ent", "proj", "ds", "dataset", m, digest_algorithm="MANIFEST_XXH128")
    assert r.digest == m.digest("XXH128") and r.digest_algorithm == "MANIFEST_XXH128"
    entry = m.get("a")
    assert os.path.isfile(store.entry_blob_path(entry))
    assert "/obj/xxh128/" in store.entry_blob_path(entry)
    with pytest.raises(ValueError, match="unknown digest algorithm"):
        store.log_version("ent", "proj", "ds", "dataset", m, digest_algorithm="SHA1")


def test_dedupe_uploads_nothing(store, tmp_path):
    m = manifest_of(tmp_path / "data", {"a": "1"})
    first = store.log_version("ent", "proj", "ds", "dataset", m)
    os.remove(store.entry_blob_path(m.get("a")))  # a dedupe must not need the files again
    again = store.log_version("ent", "proj", "ds", "dataset", m, aliases=["latest", "x"])
    assert not again.created and again.pk == first.pk and again.aliases == ("latest", "x")
    assert not os.path.exists(store.entry_blob_path(m.get("a")))


def test_incremental_draft_entries_need_stored_content(store, tmp_path):
    m = manifest_of(tmp_path / "data", {"a": "1", "b": "2"})
    v0 = store.log_version("ent", "proj", "ds", "dataset", m)
    # new_draft(): the manifest round-trips through JSON and loses local paths
    draft = _core.Manifest.from_json(store.load_manifest(v0).to_manifest_json())
    write_tree(tmp_path / "more", {"c": "3"})
    c_digest, c_size = _core.hash_file(str(tmp_path / "more" / "c"))
    draft.insert("c", c_digest, size=c_size, local_path=str(tmp_path / "more" / "c"))
    v1 = store.log_version("ent", "proj", "ds", "dataset", draft, base_version_id=v0.id)
    assert v1.version_index == 1 and v1.base_version_id == v0.id and v1.file_count == 3
    # if the base's content is gone, the log fails clearly and nothing is committed
    draft2 = _core.Manifest.from_json(store.load_manifest(v1).to_manifest_json())
    draft2.remove("b")
    os.remove(store.entry_blob_path(draft2.get("a")))
    with pytest.raises(MissingBlobError, match="entry 'a' has no local file"):
        store.log_version("ent", "proj", "ds", "dataset", draft2)
    assert [r.version_index for r in store.list_versions("ent", "proj", "ds")] == [1, 0]


def test_file_changed_after_add_is_refused(store, tmp_path):
    m = manifest_of(tmp_path / "data", {"a": "original"})
    write_tree(tmp_path / "data", {"a": "tampered"})
    with pytest.raises(ValueError, match="cannot store artifact entry 'a'.*modified after it was added"):
        store.log_version("ent", "proj", "ds", "dataset", m)
    with pytest.raises(LookupError):
        store.get_version("ent", "proj", "ds")


def test_references_are_not_stored(store, tmp_path):
    m = _core.Manifest()
    m.insert("remote.bin", "etag123", ref="https://example.com/remote.bin", size=5)
    r = store.log_version("ent", "proj", "refs", "dataset", m)
    assert r.file_count == 1 and list(store.blobs.iter_objects()) == []


def test_get_version_paths_and_errors(store, tmp_path):
    assert split_alias("ds") == ("ds", "latest") and split_alias("a:b:c") == ("a", "b:c")
    m = manifest_of(tmp_path / "data", {"a": "1"})
    store.log_version("ent", "proj", "ds", "dataset", m, aliases=["latest", "best"])
    assert store.get_version("ent", "proj", "ds").name == "ds:v0"
    assert store.get_version("ent", "proj", "ds:best").name == "ds:v0"
    with pytest.raises(ArtifactNotFoundError, match="artifact membership 'ds:v9' not found in 'ent/proj'"):
        store.get_version("ent", "proj", "ds:v9")
    with pytest.raises(LookupError, match="project 'nope' not found under entity 'ent'"):
        store.get_version("ent", "nope", "ds")


def test_corrupt_manifest_is_detected(store, tmp_path):
    r = store.log_version("ent", "proj", "ds", "dataset", manifest_of(tmp_path / "d", {"a": "1"}))
    path = store.blobs.manifest_path(r.manifest_key)
    with open(path, "ab") as f:
        f.write(b" ")
    with pytest.raises(CorruptBlobError, match="manifest .* is corrupt"):
        store.load_manifest(r)


def test_a_manifest_changed_after_a_verified_read_is_still_caught(store, tmp_path):
    # A verified read is remembered by the stat cache; a change to the file must end that.
    _core.set_statcache(str(tmp_path / "sc.bin"))
    try:
        r = store.log_version("ent", "proj", "ds", "dataset", manifest_of(tmp_path / "d", {"a": "1"}))
        time.sleep(0.06)  # older than the racy margin (50 ms), so the read is remembered
        first = store.load_manifest(r).to_manifest_json()
        assert store.load_manifest(r).to_manifest_json() == first
        path = store.blobs.manifest_path(r.manifest_key)
        with open(path, "r+b") as f:  # same length, one byte changed
            data = f.read()
            f.seek(0)
            f.write(data.replace(b'"size":1', b'"size":2'))
        with pytest.raises(CorruptBlobError, match="manifest .* is corrupt"):
            store.load_manifest(r)
    finally:
        _core.set_statcache(None)


def test_large_stored_manifest_reads_as_written(tmp_path):
    # Over the size at which the reader parses two halves on two cores.
    m = _core.Manifest()
    for i in range(6000):
        m.insert(f"d{i % 7}/f{i:05}.bin", _core.hash_bytes(str(i).encode()), size=i)
    data = m.to_wire_json()
    assert len(data) > 256 * 1024
    path = tmp_path / "m.json"
    path.write_bytes(data)
    key = hashlib.md5(data).hexdigest()
    read = _core.Manifest.read(str(path), key)
    assert read.to_manifest_json() == _core.Manifest.from_json(data).to_manifest_json()
    assert read.digest("MD5") == m.digest("MD5") and len(read) == 6000
    path.write_bytes(data.replace(b'"size":5999', b'"size":5998'))
    with pytest.raises(ValueError, match=f"its MD5 is .*, not {key}") as exc:
        _core.Manifest.read(str(path), key)
    assert exc.value.kind == "corrupt"
    with pytest.raises(FileNotFoundError, match="gone.json"):
        _core.Manifest.read(str(tmp_path / "gone.json"), key)


def test_log_stores_each_byte_once_and_fills_no_cache(store, cache, tmp_path):
    """wandb-core copies logged files into its cache; the embedded store's objects
    serve downloads directly, so a cache copy would be a second copy on disk."""
    m = manifest_of(tmp_path / "data", {"a": "1", "b": "2"})
    store.log_version("ent", "proj", "ds", "dataset", m, cache=cache)
    assert os.path.isfile(store.entry_blob_path(m.get("a")))
    assert not os.path.exists(cache.obj_dir)


def test_default_store_root(monkeypatch, tmp_path):
    monkeypatch.delenv("ARTEFACT_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_store_root() == str(tmp_path / "xdg" / "artefact" / "store")
    monkeypatch.setenv("ARTEFACT_STORE", str(tmp_path / "mine"))
    assert default_store_root() == str(tmp_path / "mine")
    s = LocalStore.open()
    assert s.root == str(tmp_path / "mine") and os.path.isfile(str(tmp_path / "mine" / "catalog.db"))
    s.close()


def test_store_facade_runs_and_links(store, tmp_path):
    run = store.create_run("ent", "proj", "r1", job_type="train")
    v = store.log_version("ent", "proj", "ds", "dataset", manifest_of(tmp_path / "d", {"a": "1"}), run=run)
    user = store.create_run("ent", "proj", "r2")
    store.record_use(user, v)
    assert store.logged_by(v).run_id == "r1" and [r.run_id for r in store.used_by(v)] == ["r2"]
    linked = store.link(v, "ent", "model-registry", "best-model", ["prod"])
    assert store.get_version("ent", "model-registry", "best-model:prod").source_name == "ds:v0"
    store.delete_version(linked)  # a link: unlinked
    with pytest.raises(ArtifactNotFoundError):
        store.get_version("ent", "model-registry", "best-model:prod")
    v = store.update_version(v, description="new", add_tags=["t"])
    assert v.description == "new" and v.tags == ("t",)
    assert store.list_types("ent", "proj") == ["dataset"]
    assert [c.name for c in store.list_collections("ent", "proj")] == ["ds"]
    store.finish_run(run)
    assert store.get_run("ent", "proj", "r1").state == "finished"


def test_shared_store_is_one_instance_per_root(tmp_path):
    a = LocalStore.shared()
    assert LocalStore.shared(os.environ["ARTEFACT_STORE"]) is a
    other = LocalStore.shared(str(tmp_path / "other"))
    assert other is not a
    a.close()
    other.close()
    b = LocalStore.shared()
    assert b is not a
    b.close()
