"""Read-only catalog queries the pages need and the store's public API does not offer
(the list of projects, per-collection totals), and one page of a collection's versions.

Each runs in one read transaction of the store's own `Catalog` and builds records with
the store's own row readers, so a page never loads a whole 10,000-version collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..store import LocalStore
from ..store.records import COMMITTED, CollectionRecord, VersionRecord

__all__ = ["ProjectRow", "CollectionSummary", "VersionPage", "list_projects",
           "collection_summaries", "version_page"]


@dataclass(frozen=True)
class ProjectRow:
    """A project with how many live collections it holds."""

    entity: str
    name: str
    collections: int


@dataclass(frozen=True)
class CollectionSummary:
    """A collection with its version count, total size and `alias -> v<N>` pairs."""

    record: CollectionRecord
    versions: int
    size: int
    aliases: tuple[tuple[str, int], ...]  # (alias, version index), latest first


@dataclass(frozen=True)
class VersionPage:
    """One page of a collection's committed versions, newest first."""

    versions: list[VersionRecord]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the collection has (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def list_projects(store: LocalStore) -> list[ProjectRow]:
    """Every project of the store, by entity then name."""
    with store.catalog.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT p.entity, p.name, COUNT(c.id) FROM projects p"
            " LEFT JOIN collections c ON c.project_id = p.id AND c.deleted_at IS NULL"
            " GROUP BY p.id ORDER BY p.entity, p.name"
        ).fetchall()
    return [ProjectRow(r[0], r[1], int(r[2])) for r in rows]


def collection_summaries(
    store: LocalStore, entity: str, project: str, type: Optional[str] = None
) -> list[CollectionSummary]:
    """Collections of a project (optionally one type) with counts, sizes and aliases,
    in three queries whatever the number of collections."""
    collections = store.list_collections(entity, project, type=type)
    if not collections:
        return []
    pks = [c.pk for c in collections]
    marks = ",".join("?" * len(pks))
    with store.catalog.transaction(write=False) as conn:
        totals = {
            r[0]: (int(r[1]), int(r[2] or 0))
            for r in conn.execute(
                "SELECT m.collection_id, COUNT(*), SUM(v.size) FROM memberships m"
                " JOIN versions v ON v.id = m.version_id"
                f" WHERE m.collection_id IN ({marks}) AND v.state = ? GROUP BY m.collection_id",
                (*pks, COMMITTED),
            )
        }
        aliases: dict[int, list[tuple[str, int]]] = {pk: [] for pk in pks}
        for coll, alias, index in conn.execute(
            "SELECT a.collection_id, a.alias, m.version_index FROM aliases a"
            " JOIN memberships m ON m.collection_id = a.collection_id AND m.version_id = a.version_id"
            f" WHERE a.collection_id IN ({marks}) ORDER BY m.version_index DESC, a.alias",
            pks,
        ):
            aliases[coll].append((alias, int(index)))
    return [
        CollectionSummary(c, *totals.get(c.pk, (0, 0)), tuple(aliases[c.pk]))
        for c in collections
    ]


def version_page(
    store: LocalStore, entity: str, project: str, name: str, page: int, per_page: int
) -> VersionPage:
    """Page `page` (1-based) of the committed versions of `name`, newest index first.
    Raises the store's ProjectNotFoundError / ArtifactNotFoundError."""
    page = max(1, page)
    versions, total = store.version_page(entity, project, name, offset=(page - 1) * per_page, limit=per_page)
    return VersionPage(versions, total, page, per_page)
