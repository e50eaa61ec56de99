"""The SQL connection under the catalog: pragmas, migrations, transactions.

A `postgresql://` location opens PostgreSQL instead, through the dialect layer in
postgres.py; the catalog's code is the same for both.

WAL mode lets readers run while one writer writes; every write transaction starts with
`BEGIN IMMEDIATE`, so writers from many processes queue on the lock (for up to
`ARTEFACT_LOCK_TIMEOUT`, saying so after LOCK_NOTICE_AFTER seconds) instead of failing
half-way with SQLITE_BUSY. `synchronous=FULL` makes a committed version survive power
loss, not only a process crash.

A catalog that cannot be written (read-only mount, no write permission) is opened
read-only: reads work, a write raises ReadOnlyStoreError. SQLite's errors (disk full,
read-only, locked, I/O error, corrupt file) become OSErrors naming the catalog file.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence, TypeVar

from .. import config as _config
from .errors import CatalogLockedError, ReadOnlyStoreError, StoreError
from .migrations import MIGRATIONS, Step, apply_migrations
from .postgres import PostgresEngine, is_postgres_url

__all__ = ["Database", "DEFAULT_TIMEOUT", "LOCK_NOTICE_AFTER"]

DEFAULT_TIMEOUT = _config.DEFAULT_LOCK_TIMEOUT  # seconds a writer waits for the lock
LOCK_NOTICE_AFTER = 2.0  # seconds of waiting for the lock before telling the user

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


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def sqlite_error(exc: sqlite3.Error, path: str, write: bool) -> "BaseException | None":
    """The error a raw SQLite failure on catalog `path` stands for, naming the file
    (None: leave it as is, e.g. a constraint or programming error)."""
    text = str(exc).lower()
    doing = "write" if write else "read"
    if "database or disk is full" in text or ("disk i/o error" in text and _full(path)):
        return OSError(errno.ENOSPC, f"No space left on device to {doing} the store's catalog", path)
    if "readonly" in text or "read-only" in text:
        return ReadOnlyStoreError(errno.EROFS, "the store is read-only; cannot change its catalog", path)
    if "disk i/o error" in text:
        return OSError(errno.EIO, f"I/O error while trying to {doing} the store's catalog", path)
    if "unable to open database file" in text:
        return OSError(errno.EACCES, f"cannot open the store's catalog to {doing} it ({exc})", path)
    if "malformed" in text or "not a database" in text:
        return StoreError(f"the store's catalog {path} is damaged ({exc}); restore it from a backup")
    return None


def _full(path: str) -> bool:
    """True if the filesystem holding `path` has no free blocks (SQLite reports some
    failed writes on a full disk as a generic I/O error)."""
    try:
        st = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def _unwritable(directory: str, path: str) -> bool:
    """True on a read-only mount or without write permission (root passes the latter)."""
    try:
        if os.statvfs(directory or ".").f_flag & getattr(os, "ST_RDONLY", 1):
            return True
    except OSError:
        pass
    if not os.access(directory or ".", os.W_OK):
        return True
    return os.path.exists(path) and not os.access(path, os.W_OK)


class Database:
    """One SQLite file, opened and migrated; safe to share between threads (serialised
    by a lock) and re-opened transparently in a child after `fork()`."""

    def __init__(
        self, path: str, *, timeout: Optional[float] = None, steps: Sequence[Step] = MIGRATIONS
    ) -> None:
        self._pg: "Optional[PostgresEngine]" = None
        if is_postgres_url(path):
            self.path = path
            timeout = _config.lock_timeout() if timeout is None else timeout
            self._pg = PostgresEngine(path, timeout=timeout, steps=steps)
            return
        self.path = os.path.abspath(path)
        self._timeout = _config.lock_timeout() if timeout is None else timeout
        self._steps = steps
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self.read_only = False
        self._full = False
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        try:
            return self._connect_writable()
        except sqlite3.Error as exc:
            self._full = _full(self.path)  # then reads still work; writes say the disk is full
            if not (self._full or _unwritable(parent, self.path)):
                if _is_locked(exc):  # migrating or switching to WAL mode
                    raise self._locked_error() from exc
                mapped = sqlite_error(exc, self.path, write=True)
                if mapped is None:
                    raise
                raise mapped from exc
        self.read_only = True
        return self._connect_read_only()

    def _connect_read_only(self) -> sqlite3.Connection:
        if not os.path.isfile(self.path):
            raise ReadOnlyStoreError(
                errno.EROFS, "no catalog here and the store directory is read-only", self.path
            )
        from urllib.parse import quote

        from .migrations import schema_version

        uri = "file:" + quote(self.path)
        last: Optional[sqlite3.Error] = None
        # `mode=ro` reads a live WAL; on a read-only mount without a -shm file only
        # `immutable=1` opens it (nobody can write there, so nothing changes under us).
        for suffix in ("?mode=ro", "?immutable=1"):
            conn = sqlite3.connect(uri + suffix, uri=True, isolation_level=None, check_same_thread=False)
            try:
                conn.row_factory = sqlite3.Row
                current = schema_version(conn)
            except sqlite3.Error as exc:
                conn.close()
                last = exc
                continue
            if current != len(self._steps):
                conn.close()
                raise StoreError(
                    f"the store's catalog {self.path} has schema version {current}, this artefact"
                    f" uses {len(self._steps)}; it is read-only here, so open it once with write"
                    " access (or use a matching artefact)"
                )
            return conn
        assert last is not None
        mapped = sqlite_error(last, self.path, write=False)
        if mapped is None:
            raise last
        raise mapped from last

    def _connect_writable(self) -> sqlite3.Connection:
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
    def transaction(self, write: bool = True, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction: `BEGIN IMMEDIATE` for writes (takes the write lock up front),
        a deferred `BEGIN` for a consistent read snapshot. Rolls back on any exception.

        `durable=False` (run bookkeeping: a run's row and state) commits without waiting
        for the disk: a crashed process still leaves it committed, and the next durable
        commit (a version) flushes it too, since the WAL is written in order; only power
        lost before that can undo it, never half of it. Versions are always durable."""
        if self._pg is not None:
            with self._pg.transaction(write) as pg_conn:
                yield pg_conn  # type: ignore[misc]
            return
        conn = self.conn
        # The write lock is waited for up to ARTEFACT_LOCK_TIMEOUT (_begin_immediate);
        # SQLite errors come out as OSErrors naming the catalog (sqlite_error).
        if write and self.read_only and self._full:
            raise OSError(errno.ENOSPC, "No space left on device to write the store's catalog", self.path)
        if write and self.read_only:
            raise ReadOnlyStoreError(
                errno.EROFS,
                "the store is opened read-only (read-only filesystem or no write permission);"
                " cannot change its catalog",
                self.path,
            )
        with self._lock:
            if write and not durable:
                conn.execute("PRAGMA synchronous = NORMAL")  # this commit only
            try:
                self._begin(conn, write)
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        try:
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass  # the original error says more
                    raise
            except sqlite3.Error as exc:
                mapped = sqlite_error(exc, self.path, write)
                if mapped is None:
                    raise
                raise mapped from exc
            finally:
                if write and not durable:
                    try:
                        conn.execute("PRAGMA synchronous = FULL")
                    except sqlite3.Error:
                        pass  # a broken connection: its own error is the one raised

    def _begin(self, conn: sqlite3.Connection, write: bool) -> None:
        """Begin the transaction: the write lock up front for a writer."""
        if write:
            self._begin_immediate(conn)
        else:
            conn.execute("BEGIN")

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """Take the write lock: wait quietly for LOCK_NOTICE_AFTER seconds, then say so
        and wait for the rest of the timeout, then raise CatalogLockedError."""
        quiet_wait = min(self._timeout, LOCK_NOTICE_AFTER)
        conn.execute(f"PRAGMA busy_timeout = {int(quiet_wait * 1000)}")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                if self._timeout <= quiet_wait:
                    raise self._locked_error() from exc
            from ..term import termwarn

            termwarn(
                f"waiting for the catalog lock on {self.path}: another process is writing"
                f" (giving up after {self._timeout:g} s in all; {_config.LOCK_TIMEOUT_ENV})"
            )
            conn.execute(f"PRAGMA busy_timeout = {int((self._timeout - quiet_wait) * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_locked(exc):
                    raise self._locked_error() from exc
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    def _locked_error(self) -> CatalogLockedError:
        return CatalogLockedError(
            errno.ETIMEDOUT,
            f"timed out after {self._timeout:g} s waiting for the catalog lock (another artefact"
            f" process held it all along); retry, or wait longer with {_config.LOCK_TIMEOUT_ENV}",
            self.path,
        )

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
