"""Which files of a log go into a pack, and writing that pack (rust/core/src/pack.rs).

A log that stores more than `FEW` (64) new blobs of at most `ARTEFACT_PACK_BLOB_BYTES`
(default 1MiB; 0 disables packs) writes those into one pack file per batch (a new pack
past `ARTEFACT_PACK_BYTES`, default 256MiB), with one flush for the lot, instead of one
file and one flush per blob. Larger blobs, small batches, and content the store already
holds (a loose object, or a row of `store_pack_entries`) go the loose way as before
(blobs.put_files), which also refreshes what is held and removes staged duplicates.

The pack is on disk, renamed into `packs/`, before its rows exist; the rows are inserted
in the version's transaction (catalog.assign_version's `packed`), after checking under
the write lock that the packs and the packed blobs deduped against are still there (gc
takes that lock to delete): anything gone is stored again, loose.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from .. import _core
from . import pack_rows

if TYPE_CHECKING:
    from .local import LocalStore

__all__ = ["PACK_BLOB_ENV", "PACK_BYTES_ENV", "FEW", "pack_blob_bytes", "pack_bytes", "PackPlan", "store_packed", "discard_unrecorded"]

PACK_BLOB_ENV = "ARTEFACT_PACK_BLOB_BYTES"
PACK_BYTES_ENV = "ARTEFACT_PACK_BYTES"
DEFAULT_PACK_BLOB = "1MiB"
DEFAULT_PACK_BYTES = "256MiB"
# Up to this many small blobs, a log stores them loose, as store_sync.rs's FEW fsyncs
# them one by one: a single file or a few keep their own objects.
FEW = 64


def pack_blob_bytes() -> int:
    """`ARTEFACT_PACK_BLOB_BYTES`: blobs up to this size may be packed (0: never). At most
    PACK_BLOB_MAX: each packed blob is read whole into memory, on every pool thread."""
    from ..settings import parse_size

    value = parse_size(os.environ.get(PACK_BLOB_ENV, "").strip() or DEFAULT_PACK_BLOB, PACK_BLOB_ENV)
    if value > PACK_BLOB_MAX:
        raise ValueError(f"{PACK_BLOB_ENV}={value}: at most {PACK_BLOB_MAX} bytes (64MiB); larger files are"
                         " better stored one file each")
    return value


PACK_BLOB_MAX = 64 << 20


def pack_bytes() -> int:
    """`ARTEFACT_PACK_BYTES`: a pack is closed once the next blob would take it past this."""
    from ..settings import parse_size

    value = parse_size(os.environ.get(PACK_BYTES_ENV, "").strip() or DEFAULT_PACK_BYTES, PACK_BYTES_ENV)
    if value <= 0:
        raise ValueError(f"{PACK_BYTES_ENV}={value}: a pack needs room for at least one byte")
    return value


class PackPlan(NamedTuple):
    """What a log stores how: `loose` files for blobs.put_files; `rows` of the blobs
    written into packs (algorithm, digest, pack, offset, length); `deduped` blobs a pack
    already held; `staged` copies to remove once committed; `items` by digest, to store
    loose again should a pack vanish before the commit."""

    loose: list[tuple[str, str, str, str]]
    rows: list[tuple[str, str, str, int, int]]
    deduped: list[tuple[str, str]]
    staged: list[str]
    items: dict[tuple[str, str], tuple[str, str, str, str]]


def store_packed(store: "LocalStore", files: Sequence[tuple[str, str, str, str]], sizes: Sequence[int],
                 progress: Any = None) -> PackPlan:
    """Write the small new blobs of `files` (`(src, digest, algorithm, path)`, `sizes`
    alike) into packs when there are more than FEW of them; the rest is left for the
    loose path. A file that no longer matches its digest raises ValueError naming the
    entry, and no pack is left."""
    limit = pack_blob_bytes()
    plan = PackPlan(list(files), [], [], [], {})
    if limit <= 0 or not store.has_packs:
        return plan
    small = [i for i, s in enumerate(sizes) if s <= limit]
    if not small:
        return plan
    pairs = [(files[i][2], files[i][1]) for i in small]
    # Asked even for a small log: content a pack holds is never copied loose as well.
    in_packs = pack_rows.held(store.catalog, pairs)
    if len(small) <= FEW and not in_packs:
        return plan
    rest = [i for i in small if (files[i][2], files[i][1]) not in in_packs]
    gone = _core.objects_missing(store.objects_root, [(files[i][1], files[i][2]) for i in rest])
    todo = [rest[j] for j in gone]
    if len(todo) <= FEW and not in_packs:
        return plan
    from ..staging import staged_prefix

    prefix = staged_prefix()
    chosen = set(todo)
    deduped = [i for i in small if (files[i][2], files[i][1]) in in_packs]
    if len(todo) > FEW:
        items = [(files[i][0], files[i][1], files[i][2], files[i][0].startswith(prefix)) for i in todo]
        try:
            placed = _core.write_packs(store.objects_root, items, pack_bytes(), progress)
        except ValueError as exc:
            entry_path = files[todo[getattr(exc, "index", 0)]][3]
            raise ValueError(
                f"cannot store artifact entry '{entry_path}': {exc} (was the file"
                " modified after it was added?)"
            ) from None
        plan.rows.extend((files[i][2], files[i][1], p[0], p[1], p[2]) for i, p in zip(todo, placed))
        plan.items.update(((files[i][2], files[i][1]), files[i]) for i in todo)
    else:
        chosen = set()
    skip = chosen | set(deduped)
    plan.loose[:] = [f for i, f in enumerate(files) if i not in skip]
    plan.deduped.extend((files[i][2], files[i][1]) for i in deduped)
    plan.items.update(((files[i][2], files[i][1]), files[i]) for i in deduped)
    plan.staged.extend(files[i][0] for i in sorted(skip) if files[i][0].startswith(prefix))
    return plan


def rows_at_commit(store: "LocalStore", plan: PackPlan, conn: Any) -> list[tuple[str, str, str, int, int]]:
    """Under the catalog's write lock (gc deletes under it too): the plan's rows whose
    pack is still there. Blobs whose pack vanished, or deduped against rows since
    removed, are stored again loose (rare: a gc with no grace ran meanwhile)."""
    packs = {r[2] for r in plan.rows}
    lost_packs = {p for p in packs if not os.path.isfile(pack_rows.pack_path(store.objects_root, p))}
    rows = [r for r in plan.rows if r[2] not in lost_packs]
    again = [plan.items[(r[0], r[1])] for r in plan.rows if r[2] in lost_packs]
    if plan.deduped:
        still = pack_rows.locations(store.catalog, plan.deduped, conn)
        again += [plan.items[p] for p in plan.deduped
                  if p not in still or not os.path.isfile(pack_rows.pack_path(store.objects_root, still[p][0]))]
    if again:
        store.blobs.put_files(again)
    return rows


def discard_unrecorded(store: "LocalStore", plan: PackPlan) -> None:
    """After a log failed before or in its commit: delete the packs it wrote that no row
    names (none can, unless the commit happened), rather than leave them to gc."""
    names = sorted({r[2] for r in plan.rows})
    if not names:
        return
    try:
        with store.catalog.transaction(write=False) as conn:
            marks = ",".join("?" * len(names))
            recorded = {r[0] for r in conn.execute(f"SELECT name FROM store_packs WHERE name IN ({marks})", names)}
        for name in names:
            if name not in recorded:
                try:
                    os.unlink(pack_rows.pack_path(store.objects_root, name))
                except FileNotFoundError:
                    pass
    except Exception:  # the log's own error matters more; gc removes what is left
        pass
