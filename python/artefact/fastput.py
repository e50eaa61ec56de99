"""`artefact put DIR` of a tree unchanged since it was last put, without loading the SDK.

When the stat cache knows every file under DIR (same inode, size, mtime and ctime as
when it was hashed), the artifact digest is known without reading a byte
(`_core.KnownDir`, reput.rs). If a committed version of the collection has that digest,
the put is wandb's dedupe: the existing version is returned, `latest` and the given
aliases move to it, the tags are added, and a finished `put` run records it as its
output. This module writes exactly those catalog rows (the ones `Run.log_artifact`
writes through `Catalog.assign_version` on a dedupe, with the run's `create_run` and
`finish_run`) in one durable transaction, while the walk runs on a native thread.

Anything else (a changed or new file, no such version, a team server, an old schema,
a locked catalog, any error before the commit) answers None, and `cli._put` takes the
ordinary path, which hashes, stores and reports errors as always. Only the standard
library's `os`, `sys`, `time` and `sqlite3`'s C module, the native core and the catalog's shared
statements (store/version_rows.py) are imported here: the SDK's imports alone cost more
than the walk of a 10k-file tree.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import sqlite3
    from typing import Optional

FAST_REPUT_ENV = "ARTEFACT_FAST_REPUT"  # 0/false/off/no: always the ordinary path
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
# How long to wait for another writer's lock (a concurrent re-put holds it a few ms);
# past that, the ordinary path waits, says so after 2 s, and gives up at the timeout.
_LOCK_WAIT_MS = 100
# The WAL a fast re-put leaves is checkpointed and truncated past this size (_trim_wal).
_WAL_MAX = 1 << 20
# The catalog connection of a fast re-put, left open until the process ends: `artefact
# put` then exits without SQLite's checkpoint at close (cli._exit_now), so the WAL stays
# for the next process rather than being checkpointed, deleted and made anew (three of a
# re-put's five fdatasyncs). The commit itself is durable (synchronous=FULL: the WAL is
# fsynced before COMMIT returns).
_open: list = []


def _run_id() -> str:
    """8 characters of [a-z0-9], as `runs._new_run_id` (uniform: bytes ≥ 252 dropped)."""
    out: list[str] = []
    while len(out) < 8:
        out.extend(_ID_CHARS[b % 36] for b in os.urandom(16) if b < 252)
    return "".join(out[:8])


def reput_unchanged(args: "argparse.Namespace") -> "Optional[int]":
    """Log `args.path` as in `cli._put` if it is a directory the stat cache knows whole
    and a committed version of the collection has its digest; the exit code, or None
    (nothing written) for the ordinary path."""
    from . import config

    if os.environ.get(FAST_REPUT_ENV, "").strip().lower() in ("0", "false", "off", "no"):
        return None
    path = os.path.abspath(args.path)
    statcache = config.statcache_path()
    if statcache is None or config.base_url() or not os.path.isdir(path):
        return None
    catalog = os.path.join(os.path.abspath(os.path.expanduser(config.store_root())), "catalog.db")
    if not os.path.isfile(catalog):
        return None
    if ":" in args.name or "/" in args.name:
        return None  # the ordinary path refuses these
    aliases, tags = args.alias, args.tag
    if aliases or tags:  # refused (ValueError) before anything, as cli._put does
        from .store.version_rows import is_version_alias
        from .validate import validate_aliases, validate_tags

        if any(is_version_alias(a) for a in aliases):
            return None  # the ordinary path warns about `v<N>` aliases
        aliases, tags = validate_aliases(aliases), validate_tags(tags)
    from . import _core

    started = time.monotonic()
    _core.set_statcache(statcache)  # loads on its own thread; the walk waits for it
    walk = _core.KnownDir(path, "MD5")  # the walk starts now, the catalog opens meanwhile
    entity = args.entity or config.default_entity()
    project = args.project or config.default_project()
    conn = _connect(catalog)
    if conn is None:
        walk.result()
        return None
    try:
        known = walk.result()
        logged = _dedupe(conn, known[0], entity, project, args.name, args.type, aliases, tags) if known else None
    except Exception:
        logged = None  # the ordinary path meets the same problem and reports it
    if logged is None:
        conn.close()
        return None
    _open.append(conn)
    if not config.quiet() or "logging" in sys.modules:  # as Artifact.add_dir says it
        from .term import info_enabled, termlog

        if info_enabled():
            termlog(f"Adding directory to artifact ({path})... ", newline=False)
            termlog("Done. %.1fs" % (time.monotonic() - started), prefix=False)
    index, aliases, size, files, digest = logged
    print(f"{entity}/{project}/{args.name}:v{index}  {files} files  {size} bytes  digest {digest}"
          + (f"  aliases: {', '.join(aliases)}" if aliases else ""))
    return 0


def _sqlite3():  # noqa: ANN202 (the sqlite3 module or its C module)
    """The `_sqlite3` C module that `sqlite3` re-exports (connect, Error, Connection...),
    without the package's own imports (datetime, collections.abc...: ~1 ms, on the CPU
    the walk needs); `sqlite3` where there is no such module."""
    try:
        import _sqlite3

        return _sqlite3
    except ImportError:
        import sqlite3

        return sqlite3


def _connect(catalog: str) -> "Optional[sqlite3.Connection]":
    """The catalog, opened as `store.db.Database` opens it, if its schema is current."""
    sqlite3 = _sqlite3()

    from .store.migrations import STORE_MIGRATIONS

    try:
        conn = sqlite3.connect(catalog, timeout=_LOCK_WAIT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {_LOCK_WAIT_MS}")
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != len(STORE_MIGRATIONS):
            raise sqlite3.DatabaseError("not this version's schema: the ordinary path migrates it")
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            raise sqlite3.DatabaseError("not in WAL mode: the ordinary path sets it")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # No automatic checkpoint at the commit: see _trim_wal.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    except sqlite3.Error:
        conn.close()
        return None
    return conn


def _dedupe(conn: "sqlite3.Connection", digest: str, entity: str, project: str, name: str, type: str,
            aliases: list, tags: list) -> "Optional[tuple]":
    """In one write transaction: the committed version of `args.name` with the known
    digest, its aliases and tags, a finished `put` run that logged it (as the ordinary
    path's create_run, assign_version(dedupe) and finish_run). None, rolled back, when
    there is no such version or anything differs from the plain case."""
    # Imported once the walk runs (store/__init__ and this: ~0.2 ms before it otherwise).
    from .store.version_rows import ADD_RUN_OUTPUT, ADD_TAG, MOVE_ALIAS, is_version_alias

    # wandb's alias list: the given ones (or none) plus `latest`, no repeats.
    aliases = list(dict.fromkeys([*aliases, "latest"]))
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _find(conn, entity, project, name, type, digest)
        if found is None:
            conn.execute("ROLLBACK")
            return None
        pid, coll, version, index, size, files = found
        run_id = _run_id()
        if conn.execute("SELECT 1 FROM runs WHERE project_id = ? AND run_id = ?", (pid, run_id)).fetchone():
            conn.execute("ROLLBACK")
            return None
        now = time.time()
        run_pk = conn.execute(
            "INSERT INTO runs (project_id, run_id, name, job_type, group_name, config, state, created_at,"
            " finished_at, exit_code) VALUES (?,?,NULL,'put',NULL,'{}','finished',?,?,0)",
            (pid, run_id, now, now),
        ).lastrowid
        conn.executemany(MOVE_ALIAS, [(coll, a, version) for a in aliases])
        conn.executemany(ADD_TAG, [(version, t) for t in tags])
        conn.execute(ADD_RUN_OUTPUT, (run_pk, version, now))
        held = sorted(r[0] for r in conn.execute(
            "SELECT alias FROM aliases WHERE collection_id = ? AND version_id = ?", (coll, version)))
        _failpoint("before_commit")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    _failpoint("after_commit")
    _trim_wal(conn)
    return index, [a for a in held if not is_version_alias(a)], size, files, digest


def _find(conn: "sqlite3.Connection", entity: str, project: str, name: str, type: str,
          digest: str) -> "Optional[tuple]":
    """(project id, collection id, version id, index, size, file count) of the newest
    committed version of sequence `name` (of this type) with `digest`, else None."""
    row = conn.execute(
        "SELECT p.id, c.id, c.type, c.kind FROM projects p JOIN collections c ON c.project_id = p.id"
        " WHERE p.entity = ? AND p.name = ? AND c.name = ? AND c.deleted_at IS NULL",
        (entity, project, name),
    ).fetchone()
    if row is None or row[2] != type or row[3] != "sequence":
        return None  # a type mismatch or a portfolio: the ordinary path says so
    pid, coll = row[0], row[1]
    v = conn.execute(
        "SELECT v.id, m.version_index, v.size, v.file_count FROM versions v"
        " JOIN memberships m ON m.version_id = v.id AND m.collection_id = v.collection_id"
        " WHERE v.collection_id = ? AND v.digest = ? AND v.digest_algorithm = 'MANIFEST_MD5'"
        " AND v.state = 'COMMITTED' ORDER BY v.version_index DESC LIMIT 1",
        (coll, digest),
    ).fetchone()
    if v is None:
        return None
    return pid, coll, v[0], v[1], v[2], v[3]


def _trim_wal(conn: "sqlite3.Connection") -> None:
    """Checkpoint the WAL into the catalog and truncate it once it holds more than
    _WAL_MAX bytes. A process that leaves its WAL (the fast exit) never restarts it, and
    the next one recovers it whole on open (~0.35 ms per MiB) and counts every frame as
    not yet checkpointed, so without this the WAL would only grow, and every commit past
    SQLite's auto-checkpoint threshold would copy all of it again. Best effort: a busy
    reader only postpones it to a later put."""
    sqlite3 = _sqlite3()
    try:
        if os.path.getsize(conn.execute("PRAGMA database_list").fetchone()[2] + "-wal") > _WAL_MAX:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except (OSError, sqlite3.Error):
        pass


def _failpoint(name: str) -> None:
    """The crash tests' kill points (store/failpoints.py), where the ordinary path has them."""
    if os.environ.get("ARTEFACT_FAILPOINT"):
        from .store.failpoints import failpoint

        failpoint(name)


def close() -> None:
    """Close the connection a fast re-put left open (for in-process callers of cli.main)."""
    while _open:
        _open.pop().close()
