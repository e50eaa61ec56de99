"""Read helpers shared by the catalog's methods: rows in, records out.

Each takes an open connection so the caller decides the transaction.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any, Iterable, Optional, Sequence

from .records import (
    CollectionRecord,
    RunRecord,
    VersionRecord,
    encode_id,
    iso_time,
    json_loads_or_empty,
)
from .version_rows import is_version_alias

__all__ = ["is_version_alias"]  # re-exported: the UI imports it from here

_CHUNK = 500  # keeps IN (...) lists under SQLite's variable limit

# A membership row, joined with its version, both collections and both projects.
_VERSION_SELECT = """
SELECT v.*, m.collection_id AS m_collection_id, m.version_index AS m_index,
       m.created_at AS m_created_at, m.id AS m_id,
       c.name AS c_name, c.kind AS c_kind, p.entity AS c_entity, p.name AS c_project,
       sc.name AS s_name, sc.type AS s_type, sp.entity AS s_entity, sp.name AS s_project,
       r.run_id AS logged_by
FROM memberships m
JOIN versions v ON v.id = m.version_id
JOIN collections c ON c.id = m.collection_id
JOIN projects p ON p.id = c.project_id
JOIN collections sc ON sc.id = v.collection_id
JOIN projects sp ON sp.id = sc.project_id
LEFT JOIN runs r ON r.id = v.run_pk
"""

_ORDER_FIELDS = {
    "version_index": "m.version_index",
    "versionIndex": "m.version_index",
    "created_at": "v.created_at",
    "createdAt": "v.created_at",
    "updated_at": "v.updated_at",
    "updatedAt": "v.updated_at",
    "size": "v.size",
}


def version_index(alias: str) -> Optional[int]:
    """The N of a `v<N>` alias, or None if N is no integer (`v½` passes wandb's
    isnumeric test) or is past what SQLite's INTEGER holds."""
    try:
        index = int(alias[1:])
    except ValueError:
        return None
    return index if index < 1 << 63 else None


def order_clause(order: Optional[str]) -> str:
    """SQL ORDER BY for `+field`/`-field` (default: newest index first)."""
    if not order:
        return "m.version_index DESC"
    direction = "DESC" if order.startswith("-") else "ASC"
    name = order.lstrip("+-")
    if name not in _ORDER_FIELDS:
        valid = ", ".join(sorted(_ORDER_FIELDS))
        raise ValueError(f"cannot order versions by {name!r}; valid fields: {valid}")
    return f"{_ORDER_FIELDS[name]} {direction}, m.id {direction}"


def project_id(
    conn: sqlite3.Connection, entity: str, project: str, create_at: Optional[float] = None
) -> Optional[int]:
    """The project's key; created when `create_at` (a timestamp) is given."""
    row = conn.execute(
        "SELECT id FROM projects WHERE entity = ? AND name = ?", (entity, project)
    ).fetchone()
    if row is not None:
        return int(row[0])
    if create_at is None:
        return None
    cur = conn.execute(
        "INSERT INTO projects (entity, name, created_at) VALUES (?,?,?)",
        (entity, project, create_at),
    )
    return int(cur.lastrowid)


def collection_row(conn: sqlite3.Connection, pid: int, name: str) -> Optional[sqlite3.Row]:
    """The live (not deleted) collection `name` of a project."""
    return conn.execute(
        "SELECT * FROM collections WHERE project_id = ? AND name = ? AND deleted_at IS NULL",
        (pid, name),
    ).fetchone()


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def version_records(
    conn: sqlite3.Connection,
    where: str,
    params: Sequence[Any],
    order: str = "m.version_index DESC",
    limit: Optional[int] = None,
    offset: int = 0,
) -> list[VersionRecord]:
    """VersionRecords for the membership rows matching `where` (aliases and tags fetched
    in batches, not per row); `limit`/`offset` select one page of them."""
    sql = f"{_VERSION_SELECT} WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = (*params, limit, offset)
    rows = conn.execute(sql, params).fetchall()
    if not rows:
        return []
    aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
    tags: dict[int, list[str]] = defaultdict(list)
    version_ids = sorted({int(r["id"]) for r in rows})
    for chunk in _chunks(version_ids):
        marks = ",".join("?" * len(chunk))
        for a in conn.execute(
            f"SELECT collection_id, version_id, alias FROM aliases WHERE version_id IN ({marks})"
            " ORDER BY alias",
            chunk,
        ):
            aliases[(a[0], a[1])].append(a[2])
        for t in conn.execute(
            f"SELECT version_id, tag FROM version_tags WHERE version_id IN ({marks}) ORDER BY rowid",
            chunk,
        ):
            tags[t[0]].append(t[1])
    return [
        _version_record(r, aliases[(r["m_collection_id"], r["id"])], tags[r["id"]]) for r in rows
    ]


def _version_record(row: sqlite3.Row, aliases: list[str], tags: list[str]) -> VersionRecord:
    is_link = row["m_collection_id"] != row["collection_id"]
    base = row["base_version_id"]
    return VersionRecord(
        pk=int(row["id"]),
        id=encode_id("Artifact", row["id"]),
        entity=row["c_entity"],
        project=row["c_project"],
        collection=row["c_name"],
        collection_id=encode_id("ArtifactCollection", row["m_collection_id"]),
        collection_kind=row["c_kind"],
        type=row["s_type"],
        version_index=int(row["m_index"]),
        source_entity=row["s_entity"],
        source_project=row["s_project"],
        source_collection=row["s_name"],
        source_collection_id=encode_id("ArtifactCollection", row["collection_id"]),
        source_version_index=int(row["version_index"]),
        is_link=is_link,
        aliases=tuple(aliases),
        tags=tuple(tags),
        digest=row["digest"],
        digest_algorithm=row["digest_algorithm"],
        size=int(row["size"]),
        file_count=int(row["file_count"]),
        description=row["description"],
        metadata=json_loads_or_empty(row["metadata"]),
        ttl_seconds=row["ttl_seconds"],
        ttl_inherited=bool(row["ttl_inherited"]),
        state=row["state"],
        created_at=iso_time(row["created_at"]) or "",
        updated_at=iso_time(row["updated_at"]) or "",
        commit_hash=row["commit_hash"],
        manifest_key=row["manifest_key"],
        storage_region=row["storage_region"],
        history_step=row["history_step"],
        logged_by_run_id=row["logged_by"],
        base_version_id=encode_id("Artifact", base) if base is not None else None,
        linked_at=iso_time(row["m_created_at"]) if is_link else None,
    )


def collection_record(conn: sqlite3.Connection, row: sqlite3.Row) -> CollectionRecord:
    """A CollectionRecord for a `collections` row."""
    project = conn.execute(
        "SELECT entity, name FROM projects WHERE id = ?", (row["project_id"],)
    ).fetchone()
    tags = [t[0] for t in conn.execute(
        "SELECT tag FROM collection_tags WHERE collection_id = ? ORDER BY rowid", (row["id"],)
    )]
    aliases = [a[0] for a in conn.execute(
        "SELECT DISTINCT alias FROM aliases WHERE collection_id = ? ORDER BY alias", (row["id"],)
    )]
    count = conn.execute(
        "SELECT COUNT(*) FROM memberships m JOIN versions v ON v.id = m.version_id"
        " WHERE m.collection_id = ? AND v.state = 'COMMITTED'",
        (row["id"],),
    ).fetchone()[0]
    return CollectionRecord(
        pk=int(row["id"]),
        id=encode_id("ArtifactCollection", row["id"]),
        entity=project["entity"],
        project=project["name"],
        name=row["name"],
        type=row["type"],
        kind=row["kind"],
        description=row["description"],
        tags=tuple(tags),
        aliases=tuple(aliases),
        version_count=int(count),
        created_at=iso_time(row["created_at"]) or "",
        updated_at=iso_time(row["updated_at"]) or "",
    )


def run_record(row: sqlite3.Row) -> RunRecord:
    """A RunRecord for a `runs` row joined with its project (`entity`, `project`)."""
    return RunRecord(
        pk=int(row["id"]),
        entity=row["entity"],
        project=row["project"],
        run_id=row["run_id"],
        name=row["name"],
        job_type=row["job_type"],
        group=row["group_name"],
        config=json_loads_or_empty(row["config"]),
        summary=json_loads_or_empty(row["summary"]),
        state=row["state"],
        created_at=iso_time(row["created_at"]) or "",
        finished_at=iso_time(row["finished_at"]),
        exit_code=row["exit_code"],
    )
