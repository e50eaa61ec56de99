"""The catalog: collections, versions, aliases, tags and links, in SQLite.

Every method is one transaction, so a crash or a concurrent writer never sees half of
an operation. Versioning follows wandb's server: each committed version of a sequence
gets the next `v<N>` (never reused), `latest` moves to the newest, a log whose digest
matches a committed version returns that version instead (dedupe), and a link places a
version in a portfolio with its own index and aliases. Collections of a project are in
projects.py, runs and lineage in runs.py (both mixed in here).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from typing import Any, Callable, Iterable, Optional, Sequence

from .db import Database
from .errors import (
    ArtifactNotFoundError,
    DeleteRefusedError,
    ProjectNotFoundError,
    TypeMismatchError,
)
from .failpoints import failpoint
from .postgres import lock_scope
from .queries import (
    collection_row,
    is_version_alias,
    order_clause,
    project_id,
    version_index,
    version_records,
)
from .projects import ProjectsMixin
from .records import COMMITTED, DELETED, UNSET, VersionRecord, decode_id
from .runs import RunsMixin
from .version_rows import ADD_RUN_OUTPUT, ADD_TAG, MOVE_ALIAS

__all__ = ["Catalog", "UNSET", "COMMITTED", "DELETED", "DedupeMissed"]

LATEST = "latest"


class DedupeMissed(LookupError):
    """`assign_version(dedupe_only=True)` found no committed version with the digest."""


class Catalog(ProjectsMixin, RunsMixin, Database):
    """Collections, versions, aliases, tags, links, runs and lineage of one store."""

    # --- logging -----------------------------------------------------------------
    def assign_version(
        self,
        *,
        entity: str,
        project: str,
        name: str,
        type: str,
        digest: str,
        digest_algorithm: str,
        manifest_key: str,
        size: int,
        file_count: int,
        description: Optional[str] = None,
        metadata: Optional[dict] = None,
        aliases: Iterable[str] = (),
        tags: Iterable[str] = (),
        ttl_seconds: Optional[int] = None,
        ttl_inherited: bool = True,
        run_pk: Optional[int] = None,
        history_step: Optional[int] = None,
        storage_region: Optional[str] = None,
        base_version_pk: Optional[int] = None,
        dedupe_only: bool = False,
        before_insert: Optional[Callable[[], None]] = None,
        prepare: Optional[Callable[[Any, int], None]] = None,
        packed: Optional[Callable[[Any], Iterable[tuple[str, str, str, int, int]]]] = None,
    ) -> VersionRecord:
        """Commit a version of `entity/project/name` in one transaction.

        Creates the project and sequence if needed (a sequence of another type raises
        TypeMismatchError with wandb's message). If a committed version of the sequence
        has the same digest, that version gets the aliases and tags and is returned
        (`created` False). Otherwise the next `v<N>` is inserted, `latest` and `aliases`
        move to it and `created` is True; with `dedupe_only`, DedupeMissed is raised
        instead. `before_insert` runs under the write lock just before a new version is
        inserted (the store checks its content there, where gc cannot delete it).
        `prepare(conn, project id)` runs first in the same transaction (the server notes
        the blobs a commit carried there, so they cost no transaction of their own),
        before the collection's deferred lock is taken (see postgres.write_scope).
        `packed(conn)`, called after `before_insert`, gives the rows of the blobs this log
        wrote into packs (pack_rows.py), inserted with the version.
        """
        now = time.time()
        aliases = _clean_aliases(aliases)
        with self.transaction() as conn:
            # Lookups first; the collection's lock (PostgreSQL, write_scope(deferred=True))
            # only once the index, `latest` and dedupe are to be decided. Two first commits
            # may both make the project: the second waits for the first's row, then uses it.
            pid = project_id(conn, entity, project)
            if pid is None:
                conn.execute("INSERT OR IGNORE INTO projects (entity, name, created_at) VALUES (?,?,?)",
                             (entity, project, now))
                pid = project_id(conn, entity, project)
                assert pid is not None
            if prepare is not None:
                prepare(conn, pid)
            lock_scope(conn)
            coll = self._ensure_collection(conn, pid, name, type, "sequence", now)
            row = conn.execute(
                "SELECT id FROM versions WHERE collection_id = ? AND digest = ? AND"
                " digest_algorithm = ? AND state = ? ORDER BY version_index DESC LIMIT 1",
                (coll["id"], digest, digest_algorithm, COMMITTED),
            ).fetchone()
            created = row is None
            if created and dedupe_only:
                raise DedupeMissed(digest)
            if created:
                if before_insert is not None:
                    before_insert()
                if packed is not None:
                    from .pack_rows import insert

                    insert(conn, packed(conn))
                index = coll["next_index"]
                cur = conn.execute(
                    "INSERT INTO versions (collection_id, version_index, digest, digest_algorithm,"
                    " manifest_key, size, file_count, description, metadata, ttl_seconds,"
                    " ttl_inherited, state, created_at, updated_at, commit_hash, run_pk,"
                    " history_step, storage_region, base_version_id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (coll["id"], index, digest, digest_algorithm, manifest_key, size,
                     file_count, description, json.dumps(metadata or {}), ttl_seconds,
                     int(ttl_inherited), COMMITTED, now, now, secrets.token_hex(6), run_pk,
                     history_step, storage_region, base_version_pk),
                )
                version_pk = int(cur.lastrowid)
                conn.execute(
                    "INSERT INTO memberships (collection_id, version_id, version_index, created_at)"
                    " VALUES (?,?,?,?)",
                    (coll["id"], version_pk, index, now),
                )
                conn.execute(
                    "UPDATE collections SET next_index = ?, updated_at = ? WHERE id = ?",
                    (index + 1, now, coll["id"]),
                )
                aliases = [LATEST] + [a for a in aliases if a != LATEST]
            else:
                version_pk = int(row["id"])
            self._move_aliases(conn, coll["id"], version_pk, aliases)
            self._add_tags(conn, version_pk, tags)
            if run_pk is not None:
                conn.execute(ADD_RUN_OUTPUT, (run_pk, version_pk, now))
            failpoint("before_commit")
            (record,) = version_records(
                conn, "m.collection_id = ? AND m.version_id = ?", (coll["id"], version_pk)
            )
        if created:
            record = _with_created(record)
        return record

    # --- reading -----------------------------------------------------------------
    def resolve(
        self,
        entity: str,
        project: str,
        name: str,
        alias: str = LATEST,
        type: Optional[str] = None,
    ) -> VersionRecord:
        """The committed version `name:alias` (`alias` may be `v<N>`) in `entity/project`,
        through a sequence or a portfolio. Errors carry wandb's messages."""
        with self.transaction(write=False) as conn:
            pid = project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFoundError(entity, project)
            not_found = ArtifactNotFoundError(f"{name}:{alias}", entity, project)
            coll = collection_row(conn, pid, name)
            if coll is None:
                raise not_found
            if is_version_alias(alias):
                index = version_index(alias)
                if index is None:  # v½, or past any index SQLite can hold: no such version
                    raise not_found
                where = "m.collection_id = ? AND m.version_index = ?"
                params: tuple = (coll["id"], index)
            else:
                where = (
                    "m.collection_id = ? AND m.version_id ="
                    " (SELECT version_id FROM aliases WHERE collection_id = ? AND alias = ?)"
                )
                params = (coll["id"], coll["id"], alias)
            found = version_records(conn, where + " AND v.state = ?", (*params, COMMITTED))
        if not found:
            raise not_found
        record = found[0]
        if type is not None and type != record.type:
            raise TypeMismatchError(
                f"type '{type}' specified but this artifact is of type '{record.type}'"
            )
        return record

    def committed_with_digest(
        self, entity: str, project: str, name: str, digest: str, digest_algorithm: str
    ) -> Optional[VersionRecord]:
        """The newest committed version of sequence `name` with this digest, if any."""
        with self.transaction(write=False) as conn:
            pid = project_id(conn, entity, project)
            coll = collection_row(conn, pid, name) if pid is not None else None
            if coll is None:
                return None
            found = version_records(
                conn,
                "m.collection_id = ? AND v.collection_id = ? AND v.digest = ?"
                " AND v.digest_algorithm = ? AND v.state = ?",
                (coll["id"], coll["id"], digest, digest_algorithm, COMMITTED),
            )
        return found[0] if found else None

    def version_by_id(self, artifact_id: str, include_deleted: bool = False) -> VersionRecord:
        """A version by its id (`encode_id("Artifact", pk)`), seen through its own sequence."""
        pk = decode_id(artifact_id, "Artifact")
        where = "m.version_id = ? AND m.collection_id = v.collection_id"
        params: tuple = (pk,)
        if not include_deleted:
            where += " AND v.state = ?"
            params += (COMMITTED,)
        with self.transaction(write=False) as conn:
            found = version_records(conn, where, params) if pk is not None else []
        if not found:
            raise ArtifactNotFoundError(
                artifact_id, message=f"artifact with id '{artifact_id}' not found"
            )
        return found[0]

    def _membership(self, conn: sqlite3.Connection, record: VersionRecord) -> VersionRecord:
        found = version_records(
            conn,
            "m.version_id = ? AND m.collection_id = ?",
            (record.pk, decode_id(record.collection_id, "ArtifactCollection")),
        )
        if not found:
            raise ArtifactNotFoundError(record.name, record.entity, record.project)
        return found[0]

    def links_of(self, record: VersionRecord) -> list[VersionRecord]:
        """The version as seen through every portfolio it is linked into."""
        with self.transaction(write=False) as conn:
            return version_records(
                conn, "m.version_id = ? AND m.collection_id != v.collection_id", (record.pk,)
            )

    def refresh(self, record: VersionRecord) -> VersionRecord:
        """The current state of `record` through the same collection."""
        with self.transaction(write=False) as conn:
            return self._membership(conn, record)

    def list_versions(
        self,
        entity: str,
        project: str,
        name: str,
        *,
        order: Optional[str] = None,
        tags: Sequence[str] = (),
        states: Sequence[str] = (COMMITTED,),
    ) -> list[VersionRecord]:
        """Versions in collection `name` (a sequence or portfolio), newest index first
        unless `order` says otherwise (`+field`/`-field`: version_index, created_at,
        updated_at, size, or their camelCase forms). `tags`: keep versions having all."""
        with self.transaction(write=False) as conn:
            coll = self._existing_collection(conn, entity, project, name)
            marks = ",".join("?" * len(states))
            records = version_records(
                conn,
                f"m.collection_id = ? AND v.state IN ({marks})",
                (coll["id"], *states),
                order_clause(order),
            )
        wanted = set(tags)
        return [r for r in records if wanted.issubset(r.tags)]

    # --- updating ----------------------------------------------------------------
    def update_version(
        self,
        record: VersionRecord,
        *,
        description: Any = UNSET,
        metadata: Any = UNSET,
        ttl_seconds: Any = UNSET,
        ttl_inherited: Any = UNSET,
        add_aliases: Iterable[str] = (),
        remove_aliases: Iterable[str] = (),
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
    ) -> VersionRecord:
        """Persist `Artifact.save()` on a logged artifact. Aliases act in the collection
        `record` was fetched through (a link's aliases live in its portfolio)."""
        now = time.time()
        sets: dict[str, Any] = {}
        if description is not UNSET:
            sets["description"] = description
        if metadata is not UNSET:
            sets["metadata"] = json.dumps(metadata or {})
        if ttl_seconds is not UNSET:
            sets["ttl_seconds"] = ttl_seconds
        if ttl_inherited is not UNSET:
            sets["ttl_inherited"] = int(bool(ttl_inherited))
        with self.transaction() as conn:
            current = self._membership(conn, record)
            coll_pk = decode_id(current.collection_id, "ArtifactCollection")
            sets["updated_at"] = now
            assignments = ", ".join(f"{col} = ?" for col in sets)
            conn.execute(
                f"UPDATE versions SET {assignments} WHERE id = ?", (*sets.values(), record.pk)
            )
            for alias in remove_aliases:
                conn.execute(
                    "DELETE FROM aliases WHERE collection_id = ? AND alias = ? AND version_id = ?",
                    (coll_pk, alias, record.pk),
                )
            self._move_aliases(conn, coll_pk, record.pk, _clean_aliases(add_aliases))
            for tag in remove_tags:
                conn.execute(
                    "DELETE FROM version_tags WHERE version_id = ? AND tag = ?", (record.pk, tag)
                )
            self._add_tags(conn, record.pk, add_tags)
            return self._membership(conn, record)

    # --- deleting, linking -------------------------------------------------------
    def delete_version(self, record: VersionRecord, delete_aliases: bool = False) -> None:
        """wandb's `Artifact.delete()`: on a link, unlink; otherwise refuse while the
        version has aliases (unless `delete_aliases`), then mark it DELETED, drop its
        links, and move `latest` back to the newest remaining version."""
        if record.is_link:
            self.unlink(record)
            return
        now = time.time()
        with self.transaction() as conn:
            current = self._membership(conn, record)
            if current.state != COMMITTED:
                return
            if current.aliases and not delete_aliases:
                raise DeleteRefusedError(
                    f"cannot delete artifact '{current.qualified_name}' because it has aliases"
                    f" ({', '.join(current.aliases)}); remove them first or call"
                    " delete(delete_aliases=True)"
                )
            self._retire(conn, record.pk, now)

    def _retire(self, conn: sqlite3.Connection, version_pk: int, now: float) -> None:
        had_latest = [
            r[0]
            for r in conn.execute(
                "SELECT collection_id FROM aliases WHERE version_id = ? AND alias = ?",
                (version_pk, LATEST),
            )
        ]
        conn.execute("DELETE FROM aliases WHERE version_id = ?", (version_pk,))
        conn.execute(
            "DELETE FROM memberships WHERE version_id = ? AND collection_id !="
            " (SELECT collection_id FROM versions WHERE id = ?)",
            (version_pk, version_pk),
        )
        conn.execute(
            "UPDATE versions SET state = ?, updated_at = ? WHERE id = ?",
            (DELETED, now, version_pk),
        )
        for coll_pk in had_latest:
            self._reassign_latest(conn, coll_pk)

    def link(
        self,
        record: VersionRecord,
        entity: str,
        project: str,
        portfolio: str,
        aliases: Iterable[str] = (),
    ) -> VersionRecord:
        """Place a committed version in portfolio `entity/project/portfolio` (created on
        first use) with the next index there; `latest` there moves to it. Linking a
        version that is already a member only adds the aliases."""
        now = time.time()
        aliases = _clean_aliases(aliases)
        with self.transaction() as conn:
            version = conn.execute(
                "SELECT state FROM versions WHERE id = ?", (record.pk,)
            ).fetchone()
            if version is None or version["state"] != COMMITTED:
                raise ArtifactNotFoundError(
                    record.name, message=f"artifact '{record.source_qualified_name}' is not committed"
                )
            pid = project_id(conn, entity, project, create_at=now)
            coll = self._ensure_collection(conn, pid, portfolio, record.type, "portfolio", now)
            member = conn.execute(
                "SELECT id FROM memberships WHERE collection_id = ? AND version_id = ?",
                (coll["id"], record.pk),
            ).fetchone()
            if member is None:
                conn.execute(
                    "INSERT INTO memberships (collection_id, version_id, version_index, created_at)"
                    " VALUES (?,?,?,?)",
                    (coll["id"], record.pk, coll["next_index"], now),
                )
                conn.execute(
                    "UPDATE collections SET next_index = ?, updated_at = ? WHERE id = ?",
                    (coll["next_index"] + 1, now, coll["id"]),
                )
                aliases = [LATEST] + [a for a in aliases if a != LATEST]
            self._move_aliases(conn, coll["id"], record.pk, aliases)
            (linked,) = version_records(
                conn, "m.collection_id = ? AND m.version_id = ?", (coll["id"], record.pk)
            )
            return linked

    def unlink(self, record: VersionRecord) -> None:
        """Remove a link (a portfolio membership); the source version is untouched."""
        if not record.is_link:
            raise ValueError(
                f"Artifact '{record.qualified_name}' is not a linked artifact and cannot be"
                " unlinked.  To delete it, use 'Artifact.delete' instead."
            )
        coll_pk = decode_id(record.collection_id, "ArtifactCollection")
        with self.transaction() as conn:
            had_latest = conn.execute(
                "SELECT 1 FROM aliases WHERE collection_id = ? AND version_id = ? AND alias = ?",
                (coll_pk, record.pk, LATEST),
            ).fetchone()
            conn.execute(
                "DELETE FROM aliases WHERE collection_id = ? AND version_id = ?",
                (coll_pk, record.pk),
            )
            conn.execute(
                "DELETE FROM memberships WHERE collection_id = ? AND version_id = ?",
                (coll_pk, record.pk),
            )
            if had_latest:
                self._reassign_latest(conn, coll_pk)

    # --- TTL and garbage collection support --------------------------------------
    def expire_versions(self, now: Optional[float] = None) -> list[VersionRecord]:
        """Mark DELETED every committed version whose TTL has run out (counted from its
        creation), aliases and links included. Returns them as they were."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            expired = version_records(
                conn,
                "m.collection_id = v.collection_id AND v.state = ? AND v.ttl_seconds IS NOT NULL"
                " AND v.ttl_seconds > 0 AND v.created_at + v.ttl_seconds <= ?",
                (COMMITTED, now),
            )
            for record in expired:
                self._retire(conn, record.pk, now)
        return expired

    def live_manifest_keys(
        self, conn: Optional[sqlite3.Connection] = None, after_pk: int = 0
    ) -> tuple[set[str], int]:
        """Manifest keys of committed versions with pk > after_pk, and the largest pk
        seen (pass it back to get only versions committed since)."""

        def query(c: sqlite3.Connection) -> tuple[set[str], int]:
            rows = c.execute(
                "SELECT id, manifest_key FROM versions WHERE state = ? AND id > ?",
                (COMMITTED, after_pk),
            ).fetchall()
            top = c.execute("SELECT COALESCE(MAX(id), 0) FROM versions").fetchone()[0]
            return {r["manifest_key"] for r in rows}, max(int(top), after_pk)

        if conn is not None:
            return query(conn)
        with self.transaction(write=False) as c:
            return query(c)

    # --- helpers -----------------------------------------------------------------
    @staticmethod
    def _ensure_collection(
        conn: sqlite3.Connection, pid: int, name: str, type: str, kind: str, now: float
    ) -> sqlite3.Row:
        row = collection_row(conn, pid, name)
        if row is None:
            conn.execute(
                "INSERT INTO collections (project_id, name, type, kind, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?)",
                (pid, name, type, kind, now, now),
            )
            return collection_row(conn, pid, name)
        if row["type"] != type:
            raise TypeMismatchError(
                f"Artifact {name} already exists with type '{row['type']}'; "
                f"cannot create another with type '{type}'"
            )
        if row["kind"] != kind:
            what = "a sequence of logged versions" if row["kind"] == "sequence" else "a portfolio of links"
            raise ValueError(
                f"artifact collection '{name}' is {what}; cannot use it as a {kind}"
            )
        return row

    @staticmethod
    def _move_aliases(
        conn: sqlite3.Connection, coll_pk: int, version_pk: int, aliases: Iterable[str]
    ) -> None:
        conn.executemany(MOVE_ALIAS, [(coll_pk, alias, version_pk) for alias in aliases])

    @staticmethod
    def _add_tags(conn: sqlite3.Connection, version_pk: int, tags: Iterable[str]) -> None:
        conn.executemany(ADD_TAG, [(version_pk, tag) for tag in tags])

    @staticmethod
    def _reassign_latest(conn: sqlite3.Connection, coll_pk: int) -> None:
        row = conn.execute(
            "SELECT m.version_id FROM memberships m JOIN versions v ON v.id = m.version_id"
            " WHERE m.collection_id = ? AND v.state = ? ORDER BY m.version_index DESC LIMIT 1",
            (coll_pk, COMMITTED),
        ).fetchone()
        if row is not None:
            conn.execute(MOVE_ALIAS, (coll_pk, LATEST, row[0]))


def _clean_aliases(aliases: Iterable[str]) -> list[str]:
    """Aliases in first-seen order, without duplicates or `v<N>` (those are implicit)."""
    seen: dict[str, None] = {}
    for alias in aliases:
        if not is_version_alias(alias):
            seen.setdefault(alias, None)
    return list(seen)


def _with_created(record: VersionRecord) -> VersionRecord:
    from dataclasses import replace

    return replace(record, created=True)
