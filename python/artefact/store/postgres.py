"""The catalog's second SQL engine: PostgreSQL through psycopg 3, behind the same queries.

The catalog's queries and migrations are written once, in the SQL that SQLite and
PostgreSQL share. This module is the thin dialect layer that lets PostgreSQL run them:

- placeholders: `?` becomes `%s` (a literal `%` is escaped);
- `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`, `INSERT OR REPLACE` an upsert on
  the table's key, and an INSERT into a table with an `id` key gets `RETURNING id`, which
  the cursor hands back as `lastrowid`, as sqlite3 does;
- schema: `INTEGER PRIMARY KEY` becomes an identity column, INTEGER BIGINT, REAL
  DOUBLE PRECISION, TEXT sorts bytewise (`COLLATE "C"`, as SQLite does); a table
  without an `id` gets a `rowid` identity, so `ORDER BY rowid` (insertion order) holds;
- `PRAGMA user_version` is a one-row table;
- `BEGIN IMMEDIATE` (one writer at a time, waiting for the lock) becomes a transaction
  that first takes one transaction-scoped advisory lock. Writers from every server
  process on the database queue on it, so each write transaction sees the state the
  previous one committed, exactly the serial order SQLite gives; the unique constraints
  (collection, index), (collection, alias), ... stay the backstop. A commit runs in a
  `write_scope` of its collection instead: it takes that scope's lock plus the global
  one shared, so commits to different collections run side by side. Readers take a
  REPEATABLE READ snapshot, as SQLite's deferred `BEGIN` does, and never wait.

Rows answer both `row[0]` and `row["name"]`, as `sqlite3.Row` does.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Iterator, Optional, Sequence

from .errors import StoreVersionError

__all__ = ["PostgresEngine", "is_postgres_url", "lock_scope", "schema_for_postgres", "translate", "write_scope"]

# Any 64-bit constant works; this one spells "artefact" (so it stands out in pg_locks).
_WRITE_LOCK = 0x6172746566616374
_CONFLICT_KEYS = {"aliases": ("collection_id", "alias"), "run_history": ("run_pk", "step")}


_SCOPE: ContextVar[Optional[tuple[str, bool]]] = ContextVar("artefact_pg_write_scope", default=None)


@contextmanager
def write_scope(scope: str, deferred: bool = False) -> Iterator[None]:
    """Write transactions opened inside this block lock only `scope` (say one collection).

    They run in parallel with writers of other scopes, in series with writers of the same
    scope, and never beside an unscoped writer (which still excludes every other one).
    The caller promises that the block writes nothing another scope's writer reads to
    decide what to write. SQLite ignores it (its one write lock serialises everything).

    `deferred`: the scope's lock is taken only when the transaction calls
    `lock_scope(conn)`, so the statements before it (lookups, inserts that ignore
    conflicts) do not hold up the scope's other writers."""
    token = _SCOPE.set((scope, deferred))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def lock_scope(conn: Any) -> None:
    """Take the deferred scope lock of `conn`'s transaction now (once; a no-op on SQLite,
    whose `BEGIN IMMEDIATE` already holds the only write lock, and for other writers)."""
    take = getattr(conn, "lock_scope", None)
    if take is not None:
        take()


def is_postgres_url(path: str) -> bool:
    """True for `postgresql://...` / `postgres://...` catalog locations."""
    return path.startswith(("postgresql://", "postgres://"))


class Row(tuple):
    """A result row readable by position and by column name (like sqlite3.Row)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> "Row":
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or ()
    index: dict[str, int] = {}
    for i, column in enumerate(description):
        index.setdefault(column.name, i)  # first wins, as sqlite3.Row does
    return lambda values: Row(values, index)


_INSERT = re.compile(r"^\s*INSERT\s+(OR\s+(IGNORE|REPLACE)\s+)?INTO\s+(\w+)\s*\(([^)]*)\)", re.I | re.S)


@lru_cache(maxsize=1024)
def translate(sql: str, id_tables: frozenset[str] = frozenset()) -> tuple[str, bool]:
    """The PostgreSQL text of one catalog statement, and whether it returns the new id."""
    returning = False
    m = _INSERT.match(sql)
    if m:
        mode, table, columns = (m.group(2) or "").upper(), m.group(3), m.group(4)
        sql = sql[: m.start(1)] + sql[m.end(1):] if m.group(1) else sql
        if mode == "IGNORE":
            sql += " ON CONFLICT DO NOTHING"
        elif mode == "REPLACE":
            keys = _CONFLICT_KEYS.get(table)
            if keys is None:
                raise ValueError(f"INSERT OR REPLACE INTO {table}: no conflict key known for it")
            cols = [c.strip() for c in columns.split(",")]
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in keys)
            sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        if table in id_tables and "RETURNING" not in sql.upper():
            sql += " RETURNING id"
            returning = True
    return sql.replace("%", "%%").replace("?", "%s"), returning


_ID_KEY = re.compile(r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b", re.I)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(\w+)\s*\(", re.I)


def schema_for_postgres(statement: str) -> str:
    """One migration statement (SQLite spelling) in PostgreSQL's."""
    s = _ID_KEY.sub("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", statement)
    m = _CREATE_TABLE.match(s)
    if m and not _ID_KEY.search(statement):
        s = s[: m.end()] + "rowid BIGINT GENERATED ALWAYS AS IDENTITY, " + s[m.end():]
    s = re.sub(r"\bINTEGER\b", "BIGINT", s)
    s = re.sub(r"\bREAL\b", "DOUBLE PRECISION", s)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', s)


def id_tables(steps: Sequence[Sequence[str]]) -> frozenset[str]:
    """Tables whose key is an `id` column (their INSERTs return it)."""
    found = set()
    for step in steps:
        for statement in step:
            m = _CREATE_TABLE.match(statement)
            if m and _ID_KEY.search(statement):
                found.add(m.group(1))
    return frozenset(found)


class Cursor:
    """The part of sqlite3.Cursor the catalog uses."""

    def __init__(self, cur: Any, returning: bool) -> None:
        self._cur = cur
        self.lastrowid: Optional[int] = None
        if returning:
            row = cur.fetchone()
            self.lastrowid = int(row[0]) if row is not None else None

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list:
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


class Connection:
    """One psycopg connection inside a transaction, speaking the catalog's SQL."""

    def __init__(self, raw: Any, id_tables: frozenset[str], scope: Optional[str] = None) -> None:
        self.raw = raw
        self._ids = id_tables
        self._scope = scope  # a deferred scope lock not taken yet

    def lock_scope(self) -> None:
        """Take this transaction's deferred scope lock (write_scope(deferred=True))."""
        if self._scope is not None:
            self.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._scope,))
            self._scope = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        text, returning = translate(sql, self._ids)
        cur = self.raw.cursor()
        cur.execute(text, tuple(params) if params else None)
        return Cursor(cur, returning)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        """One statement over many rows, pipelined (one round trip, not one per row)."""
        rows = [tuple(p) for p in seq]
        if rows:
            text, _returning = translate(sql, frozenset())  # no ids: sqlite3 gives none either
            self.raw.cursor().executemany(text, rows)

    @property
    def in_transaction(self) -> bool:
        return True


class PostgresEngine:
    """A pool of connections to one PostgreSQL database, migrated on open."""

    def __init__(self, url: str, *, timeout: Optional[float], steps: Sequence[Sequence[str]],
                 pool_size: int = 8) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                f"a PostgreSQL catalog ({url.split('@')[-1]}) needs psycopg: pip install 'artefact[server]'"
            ) from exc
        self._psycopg = psycopg
        if timeout is None:  # ARTEFACT_LOCK_TIMEOUT, as the SQLite engine waits
            from .. import config

            timeout = config.lock_timeout()
        self.url = url
        self._timeout = timeout
        self._ids = id_tables(steps)
        lock_ms = int(timeout * 1000)

        def configure(conn: Any) -> None:
            conn.row_factory = _row_factory
            conn.execute(f"SET lock_timeout = {lock_ms}")
            conn.commit()

        # No check on checkout (a round trip per transaction): a connection that died
        # (PostgreSQL restarted) fails its transaction, which the client retries (503),
        # and the pool drops it when it comes back broken.
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=timeout, configure=configure,
            open=True, name="artefact-catalog",
        )
        self._closed = False
        self._lock = threading.Lock()
        self.migrate(steps)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """A write transaction (serialised with every other writer) or a read snapshot."""
        with self._pool.connection() as raw:
            with raw.transaction():
                scoped = _SCOPE.get()
                deferred = None
                if write and scoped is None:
                    raw.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                elif write and scoped[1]:  # the scope's own lock when the caller asks (lock_scope)
                    raw.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_WRITE_LOCK,))
                    deferred = scoped[0]
                elif write:  # shared with other scopes, exclusive within this one
                    raw.execute("SELECT pg_advisory_xact_lock_shared(%s),"  # one round trip, in this order
                                " pg_advisory_xact_lock(hashtextextended(%s, 0))", (_WRITE_LOCK, scoped[0]))
                else:
                    raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                conn = Connection(raw, self._ids, deferred)
                yield conn
                conn.lock_scope()  # a deferred lock never asked for is still taken before COMMIT

    def migrate(self, steps: Sequence[Sequence[str]]) -> int:
        """Apply missing steps under the write lock; raises if the database is ahead."""
        target = len(steps)
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS artefact_schema (version BIGINT NOT NULL)")
            row = conn.execute("SELECT version FROM artefact_schema").fetchone()
            current = int(row[0]) if row else 0
            if current > target:
                raise StoreVersionError(
                    f"the artefact catalog at {self.url.split('@')[-1]} has schema version"
                    f" {current}, newer than this artefact understands ({target}); upgrade artefact"
                )
            for step in steps[current:]:
                for statement in step:
                    conn.execute(schema_for_postgres(statement))
            if row is None:
                conn.execute("INSERT INTO artefact_schema (version) VALUES (?)", (target,))
            else:
                conn.execute("UPDATE artefact_schema SET version = ?", (target,))
        return target

    def schema_version(self) -> int:
        with self.transaction(write=False) as conn:
            return int(conn.execute("SELECT version FROM artefact_schema").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._pool.close()
