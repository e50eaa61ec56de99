"""The SQL connection under the catalog: pragmas, migrations, transactions.

A `postgresql://` location opens PostgreSQL instead, through the dialect layer in
postgres.py; the catalog's code is the same for both.

WAL mode lets readers run while one writer writes; every write transaction starts with
`BEGIN IMMEDIATE`, so writers from many processes queue on the lock (for up to
`busy_timeout`) instead of failing half-way with SQLITE_BUSY. `synchronous=FULL`
makes a committed version survive power loss, not only a process crash.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence, TypeVar

from .migrations import MIGRATIONS, Step, apply_migrations
from .postgres import PostgresEngine, is_postgres_url

__all__ = ["Database", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 120.0  # seconds a writer waits for the lock before giving up

T = TypeVar("T")

# Connections inherited through fork(): kept referenced so the child never finalises
# (closes) them; closing a parent's SQLite handle in a child is unsafe.
_INHERITED: list[sqlite3.Connection] = []


def _retry_locked(fn: Callable[[], T], timeout: float) -> T:
    """Run `fn`, retrying "database is locked": switching to WAL mode on a fresh file
    needs an exclusive lock and SQLite does not call the busy handler for it."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class Database:
    """One SQLite file, opened and migrated; safe to share between threads (serialised
    by a lock) and re-opened transparently in a child after `fork()`."""

    def __init__(
        self, path: str, *, timeout: float = DEFAULT_TIMEOUT, steps: Sequence[Step] = MIGRATIONS
    ) -> None:
        self._pg: "Optional[PostgresEngine]" = None
        if is_postgres_url(path):
            self.path = path
            self._pg = PostgresEngine(path, timeout=timeout, steps=steps)
            return
        self.path = os.path.abspath(path)
        self._timeout = timeout
        self._steps = steps
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            mode = _retry_locked(
                lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0], self._timeout
            )
            if str(mode).lower() != "wal":  # e.g. a filesystem without shared memory
                raise sqlite3.OperationalError(f"cannot use WAL mode for {self.path}: got {mode}")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            _retry_locked(lambda: apply_migrations(conn, self._steps), self._timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection of this process (a forked child gets its own)."""
        if os.getpid() != self._pid:
            # Never touch the parent's connection in the child: its locks belong to the parent.
            _INHERITED.append(self._conn)
            self._lock = threading.RLock()
            self._pid = os.getpid()
            self._conn = self._connect()
        return self._conn

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction: `BEGIN IMMEDIATE` for writes (takes the write lock up front),
        a deferred `BEGIN` for a consistent read snapshot. Rolls back on any exception."""
        if self._pg is not None:
            with self._pg.transaction(write) as pg_conn:
                yield pg_conn  # type: ignore[misc]
            return
        conn = self.conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (only this process's)."""
        if self._pg is not None:
            self._pg.close()
            return
        if os.getpid() == self._pid:
            with self._lock:
                self._conn.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
