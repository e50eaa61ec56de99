"""Uploads straight to the object store that no commit has claimed yet (`pending_uploads`).

With S3 blobs the client PUTs bytes to the bucket itself, so the server learns of a
blob only when a commit names it; a client that dies before its commit leaves an object
nobody names. To let the janitor delete those without ever deleting a blob a version
names, every blob the server expects in the bucket gets a *pending* row (project,
algorithm, digest, issued time) when its upload URL is handed out, when an upload or
batch through the server stored it, or when `lacking` found it already there:

- a commit's transaction *claims* the pending rows of the blobs it names that the project
  does not hold yet (deletes them), then checks the objects are in the bucket, then
  records them held (`project_blobs`); a blob neither held nor pending is refused
  (MissingBlobError, a 409 naming it) and the transaction records nothing;
- the janitor, for rows older than `ARTEFACT_SERVER_PENDING_TTL`, first marks them
  `deleting` (with its sweep's token) in a committed transaction (a marked row can be
  neither claimed nor issued again), then deletes the objects, then the rows.

So the row is the lock between the two: a commit that claimed it first keeps its blob
(the janitor's mark finds no row), and a janitor that marked it first makes the commit
fail (the client uploads again). The bucket is checked after the claim, inside the
transaction, so an object deleted by an earlier sweep is never recorded held.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from ..store.errors import MissingBlobError
from ..settings import env_seconds
from ..store.failpoints import failpoint
from ..store.postgres import write_scope

__all__ = ["issue", "claim", "expire", "ttl_setting", "TTL_ENV"]

TTL_ENV = "ARTEFACT_SERVER_PENDING_TTL"
_CHUNK = 500


def ttl_setting() -> float:
    """Seconds an upload may stay unclaimed by a commit before the janitor deletes it
    (`ARTEFACT_SERVER_PENDING_TTL`, default 86400: a day)."""
    return env_seconds(TTL_ENV, 86400.0)


def issue(state: Any, pid: int, blobs: list, conn: Any = None) -> None:
    """Note that `(algorithm, digest, size, ...)` blobs may be (or were) uploaded to the
    project's store: pending rows, made young again if they exist (unless the janitor is
    deleting them: that upload's commit will be refused, and its re-run uploads again)."""
    if not blobs:
        return
    if conn is None:
        with write_scope(f"pending:{pid}"), state.catalog.transaction() as conn:
            return issue(state, pid, blobs, conn)
    now = time.time()
    rows = sorted({(b[0], b[1]): b[2] for b in blobs}.items())  # one order: no lock cycles
    conn.executemany(
        "INSERT INTO pending_uploads (project_id, algorithm, digest, size, issued_at, deleting)"
        " VALUES (?,?,?,?,?,0) ON CONFLICT (project_id, algorithm, digest)"
        " DO UPDATE SET issued_at = excluded.issued_at WHERE pending_uploads.deleting = 0",
        [(pid, alg, digest, size, now) for (alg, digest), size in rows],
    )


def claim(conn: Any, state: Any, pid: int, blobs: list, where: str) -> list:
    """In a commit's write transaction: make the project hold `blobs` (not held when the
    commit looked), each of which must be pending and in the bucket. Raises
    MissingBlobError naming the first that is not (the transaction then records
    nothing). Returns the blobs it recorded held."""
    from .protocol import have_blobs, insert_held

    want = {(b[0], b[1]): (b[0], b[1], b[2]) for b in blobs}
    if not want:
        return []
    claimed: set = set()
    digests = sorted({d for _a, d in want})
    for i in range(0, len(digests), _CHUNK):
        chunk = digests[i: i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
                f"DELETE FROM pending_uploads WHERE project_id = ? AND deleting = 0 AND digest IN ({marks})"
                " RETURNING algorithm, digest", (pid, *chunk)).fetchall():
            claimed.add((row[0], row[1]))
    rest = [b for k, b in want.items() if k not in claimed]
    if rest:  # held meanwhile (another commit claimed it)?
        held = have_blobs(state, pid, rest, conn)
        gone = [b for b in rest if (b[0], b[1]) not in held]
        if gone:
            raise MissingBlobError(
                f"commit refused: blob {gone[0][0]} {gone[0][1]} named by the manifest is not stored in {where}"
                f" ({len(gone)} such blob(s): never uploaded, or unclaimed for longer than {TTL_ENV} and"
                " removed by the janitor); upload it again")
    mine = [b for k, b in want.items() if k in claimed]
    if mine:  # written into packs by this server (s3_packs.py) are held already: no object to check
        packed = have_blobs(state, pid, mine, conn)
        mine = [b for b in mine if (b[0], b[1]) not in packed]
    if mine:
        recorded = 0 if len(mine) <= 64 else int(conn.execute(  # counted here: no second transaction
            "SELECT COUNT(*) FROM project_blobs WHERE project_id = ?", (pid,)).fetchone()[0])
        how = state.blobs.probe_how(pid, len(mine), recorded)
        there = {(b[0], b[1]) for b in state.blobs.probe(pid, mine, how)}
        absent = [b for b in mine if (b[0], b[1]) not in there]
        if absent:
            raise MissingBlobError(
                f"commit refused: blob {absent[0][0]} {absent[0][1]} named by the manifest is not stored in"
                f" {where} ({len(absent)} such blob(s) were never uploaded, or not completely); upload it again")
        insert_held(conn, pid, mine)
    return mine


def expire(state: Any, ttl: Optional[float] = None, now: Optional[float] = None,
           grace: Optional[float] = None) -> int:
    """The janitor's part: delete objects whose upload no commit claimed within `ttl`
    seconds; returns how many. Each sweep marks rows with its own token and finishes
    only those, so two server processes sweeping at once never act on each other's
    rows; rows another sweep marked more than `grace` seconds ago (a killed sweep's; the
    janitor's age) are taken over and finished."""
    import secrets

    ttl = ttl_setting() if ttl is None else ttl
    now = time.time() if now is None else now
    grace = 86400.0 if grace is None else grace
    delete = getattr(state.blobs, "delete_blob", None)
    if delete is None:  # the server's own directory: nothing is uploaded around the server
        return 0
    token = secrets.randbits(62) + 1
    held = ("EXISTS (SELECT 1 FROM project_blobs b WHERE b.project_id = pending_uploads.project_id"
            " AND b.algorithm = pending_uploads.algorithm AND b.digest = pending_uploads.digest)")
    with state.catalog.transaction() as conn:  # committed before any object is touched
        conn.execute(f"DELETE FROM pending_uploads WHERE deleting = 0 AND issued_at < ? AND {held}", (now - ttl,))
        conn.execute("UPDATE pending_uploads SET deleting = ?, marked_at = ? WHERE deleting = 0 AND issued_at < ?"
                     f" AND NOT {held}", (token, now, now - ttl))
        conn.execute("UPDATE pending_uploads SET deleting = ?, marked_at = ? WHERE deleting <> 0 AND deleting <> ?"
                     " AND marked_at < ?", (token, now, token, now - grace))
        marked = [(int(r[0]), r[1], r[2]) for r in conn.execute(
            "SELECT project_id, algorithm, digest FROM pending_uploads WHERE deleting = ?", (token,)).fetchall()]
    failpoint("janitor_after_mark")
    for pid, algorithm, digest in marked:
        delete(pid, algorithm, digest)
    failpoint("janitor_after_delete")
    with state.catalog.transaction() as conn:
        conn.execute("DELETE FROM pending_uploads WHERE deleting = ?", (token,))
    return len(marked)
