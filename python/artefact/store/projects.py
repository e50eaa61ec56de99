"""Project-level catalog calls: the collections and types a project holds.

A mixin of `Catalog` (it needs `transaction()` and `_retire()` from there).
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any, ContextManager, Iterable, Optional

from .errors import ArtifactNotFoundError, ProjectNotFoundError
from .queries import collection_record, collection_row, order_clause, project_id, version_records
from .records import COMMITTED, UNSET, CollectionRecord, VersionRecord


class ProjectsMixin:
    """Collections and types of a project; deleting and editing collections."""

    if TYPE_CHECKING:

        def transaction(self, write: bool = True) -> ContextManager[sqlite3.Connection]: ...

        def _retire(self, conn: sqlite3.Connection, version_pk: int, now: float) -> None: ...

    def get_collection(self, entity: str, project: str, name: str) -> CollectionRecord:
        """One collection by name (not deleted)."""
        with self.transaction(write=False) as conn:
            return collection_record(conn, self._existing_collection(conn, entity, project, name))

    def list_collections(
        self, entity: str, project: str, *, type: Optional[str] = None, kind: Optional[str] = None
    ) -> list[CollectionRecord]:
        """Collections of a project, optionally of one type and/or kind, oldest first."""
        with self.transaction(write=False) as conn:
            pid = project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFoundError(entity, project)
            sql = "SELECT * FROM collections WHERE project_id = ? AND deleted_at IS NULL"
            params: list[Any] = [pid]
            if type is not None:
                sql += " AND type = ?"
                params.append(type)
            if kind is not None:
                sql += " AND kind = ?"
                params.append(kind)
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
            return [collection_record(conn, row) for row in rows]

    def version_page(
        self,
        entity: str,
        project: str,
        name: str,
        *,
        offset: int = 0,
        limit: Optional[int] = None,
        order: Optional[str] = None,
    ) -> tuple[list[VersionRecord], int]:
        """One page of the committed versions of collection `name` (newest index first
        unless `order`), and how many there are in all."""
        with self.transaction(write=False) as conn:
            coll = self._existing_collection(conn, entity, project, name)
            where = "m.collection_id = ? AND v.state = ?"
            params = (coll["id"], COMMITTED)
            total = conn.execute(
                "SELECT COUNT(*) FROM memberships m JOIN versions v ON v.id = m.version_id"
                f" WHERE {where}",
                params,
            ).fetchone()[0]
            records = version_records(conn, where, params, order_clause(order), limit, offset)
        return records, int(total)

    def collection_page(
        self,
        entity: str,
        project: str,
        *,
        type: Optional[str] = None,
        offset: int = 0,
        limit: Optional[int] = None,
    ) -> tuple[list[CollectionRecord], int]:
        """One page of a project's collections (optionally of one type), oldest first,
        and how many there are in all."""
        with self.transaction(write=False) as conn:
            pid = project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFoundError(entity, project)
            where = "project_id = ? AND deleted_at IS NULL"
            params: list[Any] = [pid]
            if type is not None:
                where += " AND type = ?"
                params.append(type)
            total = conn.execute(f"SELECT COUNT(*) FROM collections WHERE {where}", params).fetchone()[0]
            sql = f"SELECT * FROM collections WHERE {where} ORDER BY id"
            if limit is not None:
                sql += " LIMIT ? OFFSET ?"
                params += [limit, offset]
            rows = conn.execute(sql, params).fetchall()
            return [collection_record(conn, row) for row in rows], int(total)

    def list_types(self, entity: str, project: str) -> list[str]:
        """The artifact types used in a project, sorted."""
        with self.transaction(write=False) as conn:
            pid = project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFoundError(entity, project)
            rows = conn.execute(
                "SELECT DISTINCT type FROM collections WHERE project_id = ? AND deleted_at IS NULL"
                " ORDER BY type",
                (pid,),
            ).fetchall()
        return [r[0] for r in rows]

    def project_exists(self, entity: str, project: str) -> bool:
        """True once anything was logged or run in `entity/project`."""
        with self.transaction(write=False) as conn:
            return project_id(conn, entity, project) is not None

    def update_collection(
        self,
        collection: CollectionRecord,
        *,
        name: Any = UNSET,
        type: Any = UNSET,
        description: Any = UNSET,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
    ) -> CollectionRecord:
        """Persist `ArtifactCollection.save()`: rename, retype (sequences only),
        description and tags."""
        now = time.time()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM collections WHERE id = ? AND deleted_at IS NULL", (collection.pk,)
            ).fetchone()
            if row is None:
                raise ArtifactNotFoundError(
                    collection.name, message=f"artifact collection '{collection.name}' not found"
                )
            sets: dict[str, Any] = {"updated_at": now}
            if name is not UNSET and name != row["name"]:
                if collection_row(conn, row["project_id"], name) is not None:
                    raise ValueError(f"an artifact collection named '{name}' already exists")
                sets["name"] = name
            if type is not UNSET and type != row["type"]:
                if row["kind"] != "sequence":
                    raise ValueError("Type can only be changed if the collection is a sequence.")
                sets["type"] = type
            if description is not UNSET:
                sets["description"] = description
            assignments = ", ".join(f"{col} = ?" for col in sets)
            conn.execute(
                f"UPDATE collections SET {assignments} WHERE id = ?", (*sets.values(), row["id"])
            )
            for tag in remove_tags:
                conn.execute(
                    "DELETE FROM collection_tags WHERE collection_id = ? AND tag = ?",
                    (row["id"], tag),
                )
            for tag in add_tags:
                conn.execute(
                    "INSERT OR IGNORE INTO collection_tags (collection_id, tag) VALUES (?, ?)",
                    (row["id"], tag),
                )
            row = conn.execute("SELECT * FROM collections WHERE id = ?", (row["id"],)).fetchone()
            return collection_record(conn, row)

    def delete_collection(self, collection: CollectionRecord) -> None:
        """Delete a collection: a sequence's versions become DELETED (and leave every
        portfolio); a portfolio only loses its links. The name becomes free again."""
        now = time.time()
        with self.transaction() as conn:
            if collection.kind == "sequence":
                for (version_pk,) in conn.execute(
                    "SELECT id FROM versions WHERE collection_id = ? AND state = ?",
                    (collection.pk, COMMITTED),
                ).fetchall():
                    self._retire(conn, version_pk, now)
            else:
                conn.execute("DELETE FROM aliases WHERE collection_id = ?", (collection.pk,))
                conn.execute("DELETE FROM memberships WHERE collection_id = ?", (collection.pk,))
            conn.execute(
                "UPDATE collections SET deleted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, collection.pk),
            )

    def _existing_collection(
        self, conn: sqlite3.Connection, entity: str, project: str, name: str
    ) -> sqlite3.Row:
        pid = project_id(conn, entity, project)
        if pid is None:
            raise ProjectNotFoundError(entity, project)
        row = collection_row(conn, pid, name)
        if row is None:
            raise ArtifactNotFoundError(
                name, entity, project,
                message=f"artifact collection '{name}' not found in '{entity}/{project}'",
            )
        return row

