"""Garbage collection: TTL expiry, unreferenced content, the grace period, checking."""

from __future__ import annotations

import os
import time

import pytest

from artefact.store import ArtifactNotFoundError, collect_garbage, verify_store
from artefact.store.gc import grace_period, unreferenced

from .conftest import manifest_of


def test_gc_keeps_referenced_and_removes_deleted_content(store, tmp_path):
    shared = {"shared.txt": "both versions"}
    v0 = store.log_version("ent", "proj", "ds", "dataset",
                           manifest_of(tmp_path / "a", {**shared, "only0.txt": "zero"}))
    v1 = store.log_version("ent", "proj", "ds", "dataset",
                           manifest_of(tmp_path / "b", {**shared, "only1.txt": "one"}))
    assert unreferenced(store) == []
    store.delete_version(v0)
    orphans = unreferenced(store)
    assert len(orphans) == 2  # only0.txt's object and v0's manifest
    report = store.gc(grace_seconds=0)
    assert (report.objects_deleted, report.manifests_deleted) == (1, 1)
    assert report.bytes_freed > 0
    assert unreferenced(store) == [] and verify_store(store, rehash=True) == []
    assert store.load_manifest(v1).get("shared.txt") is not None


def test_grace_period_protects_fresh_content(store, tmp_path, monkeypatch):
    v0 = store.log_version("ent", "proj", "ds", "dataset", manifest_of(tmp_path / "a", {"x": "1"}))
    store.delete_version(v0, delete_aliases=True)
    report = store.gc()  # default grace: one hour
    assert report.objects_deleted == 0 and report.kept_in_grace == 2
    monkeypatch.setenv("ARTEFACT_GC_GRACE_SECONDS", "0")
    assert grace_period() == 0
    assert store.gc().objects_deleted == 1
    monkeypatch.setenv("ARTEFACT_GC_GRACE_SECONDS", "soon")
    with pytest.raises(ValueError, match="ARTEFACT_GC_GRACE_SECONDS='soon'"):
        grace_period()


def test_ttl_expiry_then_collection(store, tmp_path):
    v0 = store.log_version("ent", "proj", "ds", "dataset", manifest_of(tmp_path / "a", {"x": "1"}),
                           ttl_seconds=30, ttl_inherited=False)
    store.log_version("ent", "proj", "ds", "dataset", manifest_of(tmp_path / "b", {"y": "2"}))
    assert collect_garbage(store, grace_seconds=0).expired == []
    report = collect_garbage(store, grace_seconds=0, now=time.time() + 31)
    assert [r.pk for r in report.expired] == [v0.pk]
    assert report.objects_deleted == 1
    with pytest.raises(ArtifactNotFoundError):
        store.get_version("ent", "proj", "ds:v0")
    assert store.get_version("ent", "proj", "ds:latest").version_index == 1


def test_temp_leftovers_are_removed(store, tmp_path):
    tmp = os.path.join(store.blobs.objects_root, "tmp")
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, "half-written")
    with open(path, "wb") as f:
        f.write(b"partial")
    assert store.gc(grace_seconds=0).temp_deleted == 0  # may still be being written
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert store.gc(grace_seconds=0).temp_deleted == 1


def test_verify_store_finds_missing_and_corrupt_objects(store, tmp_path):
    v = store.log_version("ent", "proj", "ds", "dataset",
                          manifest_of(tmp_path / "a", {"x": "1", "y": "2"}))
    m = store.load_manifest(v)
    x, y = store.entry_blob_path(m.get("x")), store.entry_blob_path(m.get("y"))
    os.remove(x)
    os.chmod(y, 0o644)
    with open(y, "w") as f:
        f.write("3")
    assert verify_store(store) == [f"{x}: missing"]
    problems = verify_store(store, rehash=True)
    assert len(problems) == 2 and f"{x}: missing" in problems
    assert any(p.startswith(f"{y}: digest mismatch") for p in problems)
