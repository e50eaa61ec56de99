"""The catalog's index of packed blobs (`store_pack_entries`, migrations.STORE_V2_PACKS).

A log of many small files writes them into one pack file (rust/core/src/pack.rs,
`<objects>/packs/<name>`); each blob is a row (algorithm, digest, pack, offset,
length) of `store_pack_entries`, the pack's name kept once in `store_packs`. The
rows go in with the version that first stored them, in its transaction,
after the pack is on disk: a pack with no rows is one a killed log left, which `gc`
removes once it is older than its grace period. A digest has one row (the first
location wins), and a blob is held by the store if a loose object or a row holds it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Optional

__all__ = ["PACKS_DIR", "pack_path", "held", "locations", "insert", "has_rows"]

PACKS_DIR = "packs"  # below the store's objects dir, beside obj/ and tmp/
_CHUNK = 500  # digests per IN (...) query: well under SQLite's variable limit


def pack_path(objects_root: str, pack: str) -> str:
    """The file of pack `pack` (a name from a row; never a path of its own)."""
    if not pack or "/" in pack or pack.startswith("."):
        raise ValueError(f"bad pack name {pack!r} in the store's catalog")
    return os.path.join(objects_root, PACKS_DIR, pack)


def has_rows(conn: Any) -> bool:
    """Whether the store holds any packed blob (most stores: none, and the add skips the lookup)."""
    return conn.execute("SELECT 1 FROM store_packs LIMIT 1").fetchone() is not None


def locations(catalog: Any, pairs: Iterable[tuple[str, str]], conn: Any = None) -> dict[tuple[str, str], tuple[str, int, int]]:
    """`(algorithm, digest)` → `(pack, offset, length)` for those of `pairs` held in packs."""
    wanted = sorted(set(pairs))
    out: dict[tuple[str, str], tuple[str, int, int]] = {}
    if not wanted:
        return out

    def query(c: Any) -> None:
        by_alg: dict[str, list[str]] = {}
        for alg, digest in wanted:
            by_alg.setdefault(alg, []).append(digest)
        for alg, digests in by_alg.items():
            for i in range(0, len(digests), _CHUNK):
                part = digests[i:i + _CHUNK]
                marks = ",".join("?" * len(part))
                for row in c.execute(
                    "SELECT b.digest, p.name, b.byte_offset, b.byte_length FROM store_pack_entries b"
                    f" JOIN store_packs p ON p.id = b.pack_id WHERE b.algorithm = ? AND b.digest IN ({marks})",
                    (alg, *part),
                ):
                    out[(alg, row[0])] = (row[1], int(row[2]), int(row[3]))

    if conn is not None:
        query(conn)
    else:
        with catalog.transaction(write=False) as c:
            query(c)
    return out


def download_rows(catalog: Any, objects_root: str, manifest_size: int,
                  pairs: "Callable[[], Iterable[tuple[str, str]]]") -> list[tuple[str, str, str, int, int]]:
    """`(algorithm, digest, pack file, offset, length)` of the packed blobs a download of
    a manifest of `manifest_size` entries may need: every row when the store holds not
    many more than that (one query, the pack's path made by SQLite: no Python per row),
    else the rows of `pairs()`. Rows of blobs the manifest lacks are harmless extras."""
    with catalog.transaction(write=False) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM store_packs")]
        for name in names:
            pack_path(objects_root, name)  # refuses a name that is not a plain file name
        if not names:
            return []
        prefix = os.path.join(objects_root, PACKS_DIR, "")
        if conn.execute("SELECT count(*) FROM store_pack_entries").fetchone()[0] <= 2 * manifest_size + 1000:
            cur = conn.cursor()
            cur.row_factory = None  # plain tuples, as the core takes them
            return cur.execute(
                "SELECT b.algorithm, b.digest, ? || p.name, b.byte_offset, b.byte_length"
                " FROM store_pack_entries b JOIN store_packs p ON p.id = b.pack_id", (prefix,),
            ).fetchall()
        found = locations(catalog, pairs(), conn)
    return [(a, d, prefix + p, o, n) for (a, d), (p, o, n) in found.items()]


def held(catalog: Any, pairs: Iterable[tuple[str, str]], conn: Any = None) -> set[tuple[str, str]]:
    """The `(algorithm, digest)` of `pairs` that a pack holds (one query per 500)."""
    return set(locations(catalog, pairs, conn))


def insert(conn: Any, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
    """Record `(algorithm, digest, pack, offset, length)` rows in the caller's
    transaction; a digest already recorded keeps its first location."""
    rows = list(rows)
    ids: dict[str, int] = {}
    for name in sorted({r[2] for r in rows}):
        conn.execute("INSERT OR IGNORE INTO store_packs (name) VALUES (?)", (name,))
        ids[name] = int(conn.execute("SELECT id FROM store_packs WHERE name = ?", (name,)).fetchone()[0])
    conn.executemany(
        "INSERT OR IGNORE INTO store_pack_entries (algorithm, digest, pack_id, byte_offset, byte_length)"
        " VALUES (?,?,?,?,?)", [(a, d, ids[p], o, n) for a, d, p, o, n in rows],
    )


def pack_location(catalog: Any, objects_root: str, digest: str, algorithm: str) -> Optional[tuple[str, int, int]]:
    """`(pack file, offset, length)` of one packed blob, or None if it is not packed."""
    found = locations(catalog, [(algorithm, digest)]).get((algorithm, digest))
    if found is None:
        return None
    return pack_path(objects_root, found[0]), found[1], found[2]


def all_rows(conn: Any) -> list[tuple[str, str, str, int, int]]:
    """Every `(algorithm, digest, pack, offset, length)` row."""
    return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in conn.execute(
        "SELECT b.algorithm, b.digest, p.name, b.byte_offset, b.byte_length FROM store_pack_entries b"
        " JOIN store_packs p ON p.id = b.pack_id")]


def delete_rows(conn: Any, pairs: Iterable[tuple[str, str]]) -> None:
    """Forget the `(algorithm, digest)` rows (gc: no committed version uses them)."""
    conn.executemany("DELETE FROM store_pack_entries WHERE algorithm = ? AND digest = ?", list(pairs))


def forget_pack(conn: Any, name: str) -> None:
    """Drop the name of a pack whose file gc deleted (none of its rows remain)."""
    conn.execute("DELETE FROM store_packs WHERE name = ? AND NOT EXISTS"
                 " (SELECT 1 FROM store_pack_entries b WHERE b.pack_id = store_packs.id)", (name,))


def pack_files(objects_root: str) -> list[os.DirEntry]:
    """Every file in `packs/` (none if it does not exist)."""
    try:
        return [e for e in os.scandir(os.path.join(objects_root, PACKS_DIR)) if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []
