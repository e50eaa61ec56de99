"""The catalog schema, as an ordered list of migration steps.

`PRAGMA user_version` holds how many steps a database has applied. Opening a catalog
applies the missing ones inside one `BEGIN IMMEDIATE` transaction, so two processes
opening a fresh store at the same time cannot both migrate it. Never edit a released
step: append a new one.

Conventions: times are epoch seconds (REAL); JSON columns hold objects as text;
`collections.next_index` only grows, so `v<N>` is never reused after a delete or unlink.
"""

from __future__ import annotations

from .errors import StoreVersionError

TYPE_CHECKING = False  # typing costs a re-put (fastput.py) more than it checks
if TYPE_CHECKING:
    import sqlite3  # annotations only: a re-put imports the C module alone (fastput.py)
    from typing import Sequence

    Step = Sequence[str]
else:
    Step = tuple  # a step is a tuple of SQL statements

V1: Step = (
    """CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        entity TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (entity, name))""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        run_id TEXT NOT NULL,
        name TEXT,
        job_type TEXT,
        group_name TEXT,
        config TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'running',
        created_at REAL NOT NULL,
        finished_at REAL,
        exit_code INTEGER,
        UNIQUE (project_id, run_id))""",
    """CREATE TABLE run_history (
        run_pk INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        row TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_pk, step))""",
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('sequence', 'portfolio')),
        description TEXT,
        next_index INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deleted_at REAL)""",
    # A deleted collection keeps its rows (versions point at it) but frees its name.
    """CREATE UNIQUE INDEX collections_by_name ON collections (project_id, name)
        WHERE deleted_at IS NULL""",
    """CREATE TABLE collection_tags (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (collection_id, tag))""",
    # A version belongs to one sequence (collection_id, version_index) for ever.
    """CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        version_index INTEGER NOT NULL,
        digest TEXT NOT NULL,
        digest_algorithm TEXT NOT NULL,
        manifest_key TEXT NOT NULL,
        size INTEGER NOT NULL,
        file_count INTEGER NOT NULL,
        description TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        ttl_seconds INTEGER,
        ttl_inherited INTEGER NOT NULL DEFAULT 1,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        commit_hash TEXT NOT NULL,
        run_pk INTEGER REFERENCES runs(id),
        history_step INTEGER,
        storage_region TEXT,
        base_version_id INTEGER,
        UNIQUE (collection_id, version_index))""",
    "CREATE INDEX versions_by_digest ON versions (collection_id, digest)",
    "CREATE INDEX versions_by_state ON versions (state)",
    # Where a version can be found: its own sequence (index = version_index) and every
    # portfolio it is linked into (each with its own index).
    """CREATE TABLE memberships (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        version_index INTEGER NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (collection_id, version_index),
        UNIQUE (collection_id, version_id))""",
    "CREATE INDEX memberships_by_version ON memberships (version_id)",
    """CREATE TABLE aliases (
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        alias TEXT NOT NULL,
        version_id INTEGER NOT NULL REFERENCES versions(id),
        PRIMARY KEY (collection_id, alias))""",
    "CREATE INDEX aliases_by_version ON aliases (version_id)",
    """CREATE TABLE version_tags (
        version_id INTEGER NOT NULL REFERENCES versions(id),
        tag TEXT NOT NULL,
        PRIMARY KEY (version_id, tag))""",
    # Lineage: runs that used a version, runs that logged it (dedupes included).
    """CREATE TABLE run_inputs (
        run_pk INTEGER NOT NULL REFERENCES runs(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        used_as TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_pk, version_id))""",
    """CREATE TABLE run_outputs (
        run_pk INTEGER NOT NULL REFERENCES runs(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        created_at REAL NOT NULL,
        PRIMARY KEY (run_pk, version_id))""",
    "CREATE INDEX run_inputs_by_version ON run_inputs (version_id)",
)

# Frozen: the store (STORE_MIGRATIONS) and the server (server/schema.py) each append their
# own steps to it and number their databases by the total, so a step both need must be
# appended to both lists, never here.
MIGRATIONS: list[Step] = [V1]

# The embedded store's packs (rust/core/src/pack.rs): where each small blob of a packed
# log lives. A row is inserted in the transaction of the version that first stored the
# blob, so a pack without rows is one a killed log left (gc removes it). First location
# wins: a digest has one row. Only the embedded store's catalog (always SQLite) takes
# this step (the server's schema, server/schema.py, builds on MIGRATIONS and keeps its
# own numbering).
STORE_V2_PACKS: Step = (
    "CREATE TABLE store_packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    # WITHOUT ROWID: each row is stored once, in its key's B-tree (10k rows of a 10k-file
    # log take ~0.5 MB, not the ~1.7 MB a rowid table with names and an index took).
    """CREATE TABLE store_pack_entries (
        algorithm TEXT NOT NULL,
        digest TEXT NOT NULL,
        pack_id INTEGER NOT NULL REFERENCES store_packs(id),
        byte_offset INTEGER NOT NULL CHECK (byte_offset >= 0),
        byte_length INTEGER NOT NULL CHECK (byte_length >= 0),
        PRIMARY KEY (algorithm, digest)) WITHOUT ROWID""",
)

STORE_MIGRATIONS: list[Step] = [*MIGRATIONS, STORE_V2_PACKS]


def schema_version(conn: sqlite3.Connection) -> int:
    """How many migration steps this database has applied."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def apply_migrations(conn: sqlite3.Connection, steps: Sequence[Step] = MIGRATIONS) -> int:
    """Bring the schema up to `len(steps)` in one write transaction; returns the version.

    The connection must be in autocommit mode (`isolation_level=None`). A database
    ahead of `steps` raises StoreVersionError rather than being touched.
    """
    target = len(steps)
    if _check(schema_version(conn), target):  # the common case: no write lock needed
        return target
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)  # re-read under the lock: another process may have won
        _check(current, target)
        for step in steps[current:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target


def _check(current: int, target: int) -> bool:
    """True if up to date; raises if the database is ahead of this code."""
    if current > target:
        raise StoreVersionError(
            f"the artefact store catalog has schema version {current}, newer than this "
            f"artefact understands ({target}); upgrade artefact"
        )
    return current == target
