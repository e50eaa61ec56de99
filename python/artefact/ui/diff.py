"""The difference between two versions of a collection: files added, removed and
changed (by digest), and metadata keys added, removed and changed.

Works on the two FileIndexes (sorted paths), merging them in one pass; the page shows
a bounded number of files per kind, with counts of the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .tree import FileEntry, FileIndex

__all__ = ["FileChange", "MetaChange", "VersionDiff", "diff_versions"]


@dataclass(frozen=True)
class FileChange:
    """A file whose content differs: the entry in the old and in the new version."""

    old: FileEntry
    new: FileEntry


@dataclass(frozen=True)
class MetaChange:
    """A metadata key: `kind` is added, removed or changed; values as JSON text."""

    key: str
    kind: str
    old: str
    new: str


@dataclass
class VersionDiff:
    """Counts of every kind, and the first `limit` files of each."""

    added: list[FileEntry] = field(default_factory=list)
    removed: list[FileEntry] = field(default_factory=list)
    changed: list[FileChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"added": 0, "removed": 0, "changed": 0, "same": 0})
    metadata: list[MetaChange] = field(default_factory=list)
    limit: int = 1000


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def diff_versions(
    old: FileIndex, new: FileIndex, old_meta: dict, new_meta: dict, limit: int = 1000
) -> VersionDiff:
    """What changed from `old` to `new` (files compared by path, then digest and ref)."""
    out = VersionDiff(limit=limit)
    a, b = old.paths, new.paths
    i = j = 0

    def keep(kind: str, item: Any) -> None:
        out.counts[kind] += 1
        bucket = getattr(out, kind)
        if len(bucket) < limit:
            bucket.append(item)

    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and a[i] < b[j]):
            keep("removed", old._entry(i))
            i += 1
        elif i >= len(a) or b[j] < a[i]:
            keep("added", new._entry(j))
            j += 1
        else:
            if old.content_key(i) != new.content_key(j):
                keep("changed", FileChange(old._entry(i), new._entry(j)))
            else:
                out.counts["same"] += 1
            i += 1
            j += 1
    for key in sorted(set(old_meta) | set(new_meta)):
        if key not in old_meta:
            out.metadata.append(MetaChange(key, "added", "", _json(new_meta[key])))
        elif key not in new_meta:
            out.metadata.append(MetaChange(key, "removed", _json(old_meta[key]), ""))
        elif _json(old_meta[key]) != _json(new_meta[key]):
            out.metadata.append(MetaChange(key, "changed", _json(old_meta[key]), _json(new_meta[key])))
    return out
