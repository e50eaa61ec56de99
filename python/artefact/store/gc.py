"""Garbage collection of the embedded store (its checking is in verify.py).

Rule: a version whose TTL has run out (counted from its creation) is marked DELETED,
losing its aliases and links; its row stays so `v<N>` is never reused. Then every
object or manifest that no COMMITTED version references is deleted, provided it is
older than the grace period (`ARTEFACT_GC_GRACE_SECONDS`, default 3600).

A damaged manifest does not stop gc: one that still parses keeps what it names; one
that cannot be read at all means gc cannot know what it references, so that run
deletes no objects (everything else goes ahead) and says which version is at fault.

Why that is safe next to a running logger: the deletion pass holds the catalog's write
lock, so no version commits while gc decides; and a logger re-checks its content under
that same lock just before inserting its version, putting back anything collected
since it wrote it (local.py). So a committed version never lacks content, whatever the
grace; the grace only spares a running logger from re-copying its files. Temp files of interrupted writes are removed once they have not
changed for the grace period, and never sooner than TEMP_MIN_AGE. Packs (pack_rows.py)
lose the rows of blobs no committed version uses; a pack left with no rows is deleted
past the grace period, or, if it never had rows (a log in flight, or killed), as a temp
file; a partly dead pack stays whole. Staged copies of
processes that died before logging them are removed too (`remove_stale_staging`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

from .. import _core
from . import pack_rows
from ..settings import env_seconds
from .distributed import pending_manifest_keys
from .blobs import BlobStore
from .errors import CorruptBlobError, MissingBlobError
from .queries import version_records
from .records import COMMITTED, VersionRecord
from .verify import stored_objects, verify_store  # verify_store: re-exported, for `artefact.store`

if TYPE_CHECKING:
    from .local import LocalStore

__all__ = ["GcReport", "collect_garbage", "grace_period", "verify_store", "unreferenced", "GRACE_ENV"]

GRACE_ENV = "ARTEFACT_GC_GRACE_SECONDS"
DEFAULT_GRACE = 3600.0
# A temp file is an in-flight write until it has not changed for this long, whatever the
# grace period: even with grace 0, gc must not pull a file from under a running put.
TEMP_MIN_AGE = 600.0


@dataclass
class GcReport:
    """What one `collect_garbage` run did."""

    expired: list[VersionRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # damaged manifests, skipped work
    objects_deleted: int = 0
    manifests_deleted: int = 0
    temp_deleted: int = 0
    bytes_freed: int = 0
    kept_in_grace: int = 0  # unreferenced, but too young to delete
    staging_deleted: int = 0  # staged copies of dead processes (see remove_stale_staging)
    packs_deleted: int = 0  # pack files no committed version uses any blob of


def grace_period() -> float:
    """`ARTEFACT_GC_GRACE_SECONDS`, default 3600."""
    return env_seconds(GRACE_ENV, DEFAULT_GRACE)


def referenced_objects(blobs: BlobStore, keys: Iterable[str]) -> set[str]:
    """Object paths (relative to objects/, `/`-separated) the given manifests use.
    An unreadable manifest raises: gc must not guess what it referenced."""
    refs: set[str] = set()
    for key in keys:
        refs.update(rel for _p, _d, _a, rel in stored_objects(blobs.load_manifest(key)))
    return refs


def _tolerant_refs(
    store: "LocalStore", keys: Iterable[str], report: GcReport, conn: "Optional[sqlite3.Connection]" = None
) -> tuple[set[str], bool]:
    """`referenced_objects`, going on past damaged manifests (noted in `report`).
    Returns the refs and whether all of them are known."""
    blobs = store.blobs
    refs: set[str] = set()
    complete = True
    for key in sorted(keys):
        try:
            refs |= referenced_objects(blobs, [key])
            continue
        except (CorruptBlobError, MissingBlobError, OSError, ValueError) as exc:
            problem = str(exc)
        try:  # a damaged but parsable manifest still says what it references
            with open(blobs.manifest_path(key), "rb") as f:
                manifest = _core.Manifest.from_json(f.read())
            refs.update(rel for _p, _d, _a, rel in stored_objects(manifest))
            report.problems.append(f"{problem} ({_users(store, key, conn)}); the objects it names were kept")
        except (OSError, ValueError):
            complete = False
            report.problems.append(
                f"{problem} ({_users(store, key, conn)}); no objects were deleted, since what it"
                " references is unknown: delete that version or restore the manifest"
            )
    return refs, complete


def _users(store: "LocalStore", key: str, conn: "Optional[sqlite3.Connection]") -> str:
    where = "m.collection_id = v.collection_id AND v.manifest_key = ? AND v.state = ?"
    if conn is not None:  # inside gc's write transaction
        records = version_records(conn, where, (key, COMMITTED))
    else:
        with store.catalog.transaction(write=False) as c:
            records = version_records(c, where, (key, COMMITTED))
    names = sorted(r.source_qualified_name for r in records)
    return "version " + ", ".join(names) if names else "no committed version"


def collect_garbage(
    store: "LocalStore", *, grace_seconds: Optional[float] = None, now: Optional[float] = None
) -> GcReport:
    """Expire TTLs, then delete unreferenced objects, manifests and temp files older
    than the grace period. Returns a GcReport."""
    grace = grace_period() if grace_seconds is None else grace_seconds
    report = GcReport(expired=store.catalog.expire_versions(now))
    blobs = store.blobs
    # Most of the reading happens before taking the lock; under it, only versions
    # committed since are added (deletes only shrink the set, so this is a superset).
    keys, top = store.catalog.live_manifest_keys()
    keys |= pending_manifest_keys(store)
    refs, complete = _tolerant_refs(store, keys, report)
    with store.catalog.transaction(write=True) as conn:
        new_keys, _ = store.catalog.live_manifest_keys(conn, after_pk=top)
        new_refs, new_complete = _tolerant_refs(store, new_keys - keys, report, conn)
        refs |= new_refs
        complete = complete and new_complete
        keys |= new_keys
        cutoff = time.time() - grace
        for entry in blobs.iter_objects() if complete else ():
            rel = os.path.relpath(entry.path, blobs.objects_root).replace(os.sep, "/")
            if rel not in refs:
                _delete_if_old(entry.path, cutoff, report, "objects_deleted")
        for key, entry in blobs.iter_manifests():
            if key not in keys:
                _delete_if_old(entry.path, cutoff, report, "manifests_deleted")
        temp_cutoff = min(cutoff, time.time() - TEMP_MIN_AGE)
        if complete:
            _collect_packs(store, conn, refs, cutoff, temp_cutoff, report)
        for entry in blobs.iter_temp():
            _delete_if_old(entry.path, temp_cutoff, report, "temp_deleted")
    remove_stale_staging(report, grace)
    return report


def _collect_packs(store: "LocalStore", conn: "sqlite3.Connection", refs: set[str], cutoff: float,
                   temp_cutoff: float, report: GcReport) -> None:
    """Under gc's write lock: forget the rows of packed blobs no committed version uses,
    then delete each pack left without rows. A pack whose rows this run removed is
    deleted past the grace period, as loose objects are; one that never had rows is a
    log in flight (its rows come with its commit) or one a kill stopped, and waits as a
    temp file does. A pack with some live rows stays whole: its dead ranges are freed
    only once all of it is dead."""
    rows = pack_rows.all_rows(conn)
    dead = [(a, d) for a, d, _p, _o, _l in rows if _core.object_relpath(d, a) not in refs]
    if dead:
        pack_rows.delete_rows(conn, dead)
    dead_set = set(dead)
    live = {p for a, d, p, _o, _l in rows if (a, d) not in dead_set}
    had_rows = {p for _a, _d, p, _o, _l in rows}
    for entry in pack_rows.pack_files(store.objects_root):
        if entry.name in live:
            continue
        if _delete_if_old(entry.path, cutoff if entry.name in had_rows else temp_cutoff, report, "packs_deleted"):
            pack_rows.forget_pack(conn, entry.name)


def remove_stale_staging(report: GcReport, grace: float) -> None:
    """Delete staged copies that no process will log: those of processes that are gone
    (killed or crashed before their commit), and untagged ones (wandb's) not changed
    for the grace period (at least TEMP_MIN_AGE). See staging.py."""
    from ..staging import remove_stale

    removed, freed = remove_stale(max(grace, TEMP_MIN_AGE))
    report.staging_deleted += removed
    report.bytes_freed += freed


def _delete_if_old(path: str, cutoff: float, report: GcReport, counter: str) -> bool:
    """Delete `path` unless changed after `cutoff`; whether it is gone now."""
    try:
        st = os.stat(path)  # fresh: a logger may have touched it a moment ago
        if st.st_mtime > cutoff:
            report.kept_in_grace += 1
            return False
        os.unlink(path)
    except FileNotFoundError:
        return True
    setattr(report, counter, getattr(report, counter) + 1)
    report.bytes_freed += st.st_size
    return True


def unreferenced(store: "LocalStore") -> list[str]:
    """Paths of objects and manifests no committed version references (any age)."""
    keys, _ = store.catalog.live_manifest_keys()
    keys |= pending_manifest_keys(store)
    refs = referenced_objects(store.blobs, keys)
    found = []
    for entry in store.blobs.iter_objects():
        rel = os.path.relpath(entry.path, store.blobs.objects_root).replace(os.sep, "/")
        if rel not in refs:
            found.append(entry.path)
    found += [e.path for key, e in store.blobs.iter_manifests() if key not in keys]
    with store.catalog.transaction(write=False) as conn:
        rows = pack_rows.all_rows(conn)
    live = {p for a, d, p, _o, _l in rows if _core.object_relpath(d, a) in refs}
    found += [e.path for e in pack_rows.pack_files(store.objects_root) if e.name not in live]
    return found
