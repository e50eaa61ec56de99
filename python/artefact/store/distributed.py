"""Distributed artifacts: several runs `upsert_artifact` parts of one version under a
shared `distributed_id`, and `finish_artifact` commits their union.

Each upsert stores its files right away (so nothing depends on the upserting process
staying alive) and records its manifest as a pending patch: an empty marker file
`<store>/pending/<group key>/<manifest key>`. gc keeps the manifests and objects of
pending patches alive. Finishing merges the patches in the order they were made (later
ones win a path), logs the result as a normal version, then drops the markers.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from .. import _core

if TYPE_CHECKING:
    from .local import LocalStore


def _group_dir(store: "LocalStore", entity: str, project: str, name: str, distributed_id: str) -> str:
    key = hashlib.sha256("\0".join((entity, project, name, distributed_id)).encode()).hexdigest()
    return os.path.join(store.root, "pending", key)


def stage_patch(store: "LocalStore", entity: str, project: str, name: str, distributed_id: str,
                manifest: "_core.Manifest") -> str:
    """Store the files of one upsert and record its manifest as a pending patch."""
    if hasattr(store, "stage_patch"):  # the remote backend keeps patches on the server
        return store.stage_patch(entity, project, name, distributed_id, manifest)
    from .local import _split_entries

    files, carried, _ = _split_entries(manifest)
    store._require_carried(carried)  # loose or packed
    store.blobs.put_files(files)
    key = store.blobs.put_manifest(manifest.to_wire_json())
    group = _group_dir(store, entity, project, name, distributed_id)
    os.makedirs(group, exist_ok=True)
    marker = os.path.join(group, key)
    if not os.path.exists(marker):
        with open(marker, "x"):
            pass
    return key


def merged_patches(store: "LocalStore", entity: str, project: str, name: str, distributed_id: str,
                   storage_layout: str = "V2") -> "_core.Manifest":
    """The union of every pending patch of the group, oldest first."""
    if hasattr(store, "merged_patches"):
        return store.merged_patches(entity, project, name, distributed_id, storage_layout)
    group = _group_dir(store, entity, project, name, distributed_id)
    merged = _core.Manifest(storage_layout)
    markers = sorted(os.scandir(group), key=lambda e: e.stat().st_mtime_ns) if os.path.isdir(group) else []
    for marker in markers:
        patch = store.blobs.load_manifest(marker.name)
        for path, digest, ref, birth, size, extra, _local, skip in patch.entries():
            merged.insert(path, digest, ref, birth, size, extra, None, skip, overwrite=True)
    return merged


def clear_patches(store: "LocalStore", entity: str, project: str, name: str, distributed_id: str) -> None:
    """Forget the group's pending patches (after they were committed)."""
    if hasattr(store, "clear_patches"):
        return store.clear_patches(entity, project, name, distributed_id)
    group = _group_dir(store, entity, project, name, distributed_id)
    if os.path.isdir(group):
        for marker in os.scandir(group):
            os.remove(marker.path)
        os.rmdir(group)


def pending_manifest_keys(store: "LocalStore") -> set[str]:
    """Manifest keys of every pending patch (gc treats them as live)."""
    root = os.path.join(store.root, "pending")
    if not os.path.isdir(root):
        return set()
    return {m.name for g in os.scandir(root) if g.is_dir() for m in os.scandir(g.path)}
