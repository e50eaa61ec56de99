"""The server's janitor: clears what interrupted logs leave behind, older than a grace.

- multipart uploads to the object store that were never completed (a killed client's;
  a re-run within the grace reuses and finishes its upload instead),
- temp files of interrupted PUTs and batches in the server's own directory,
- parts of distributed artifacts (`upsert_artifact`) never finished (`pending_patches`),
- objects uploaded straight to the object store that no commit claimed within
  `ARTEFACT_SERVER_PENDING_TTL` seconds (default a day; pending.py says how a commit and
  this sweep never both win).

It never deletes a blob a project holds, nor a manifest: a committed version only ever
names blobs that were complete and recorded (claimed) in its commit, and those stay.

Run it as `artefact server janitor [--age SECONDS]`, or let the server run it every
`ARTEFACT_SERVER_JANITOR_INTERVAL` seconds (default 3600; 0 turns it off). The grace is
`ARTEFACT_SERVER_JANITOR_AGE` (default 86400 s: a day).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Optional

from ..store.blobs import age_seconds
from ..settings import env_seconds
from .pending import expire
from .state import ServerState

__all__ = ["JanitorReport", "sweep", "age_setting", "interval_setting", "run_periodically",
           "AGE_ENV", "INTERVAL_ENV"]

AGE_ENV = "ARTEFACT_SERVER_JANITOR_AGE"
INTERVAL_ENV = "ARTEFACT_SERVER_JANITOR_INTERVAL"


def age_setting() -> float:
    """The grace: leftovers younger than this are kept (`ARTEFACT_SERVER_JANITOR_AGE`)."""
    return env_seconds(AGE_ENV, 86400.0)


def interval_setting() -> float:
    """Seconds between the server's own sweeps (`ARTEFACT_SERVER_JANITOR_INTERVAL`, 0: never)."""
    return env_seconds(INTERVAL_ENV, 3600.0)


@dataclass
class JanitorReport:
    """What one sweep removed."""

    uploads_aborted: int = 0
    temp_files_removed: int = 0
    patches_removed: int = 0
    uploads_deleted: int = 0
    note: str = ""

    def __str__(self) -> str:
        text = (f"aborted {self.uploads_aborted} stale multipart upload(s), removed {self.temp_files_removed}"
                f" temp file(s) and {self.patches_removed} unfinished distributed part(s), deleted"
                f" {self.uploads_deleted} uploaded blob(s) no commit claimed")
        return text + (f"; {self.note}" if self.note else "")


def sweep(state: ServerState, age: Optional[float] = None, now: Optional[float] = None,
          pending_ttl: Optional[float] = None) -> JanitorReport:
    """Remove leftovers older than `age` seconds (default `age_setting()`), and uploads no
    commit claimed within `pending_ttl` (default `pending.ttl_setting()`)."""
    age = age_setting() if age is None else age
    now = time.time() if now is None else now
    report = JanitorReport()
    stale_uploads = getattr(state.blobs, "stale_uploads", None)
    if stale_uploads is not None:
        try:
            found = stale_uploads(now - age)
        except Exception as exc:  # noqa: BLE001 - e.g. a store without ListMultipartUploads
            report.note = f"could not list multipart uploads: {exc}"
            found = []
        for key, upload_id in found:
            state.blobs.abort(key, upload_id)  # type: ignore[attr-defined]
            report.uploads_aborted += 1
    for entry in state.store.blobs.iter_temp():
        try:
            if age_seconds(entry, now) > age:
                os.unlink(entry.path)
                report.temp_files_removed += 1
        except FileNotFoundError:  # finished (renamed) meanwhile
            pass
    with state.catalog.transaction() as conn:
        cur = conn.execute("DELETE FROM pending_patches WHERE created_at < ?", (now - age,))
        report.patches_removed = max(0, cur.rowcount or 0)
    report.uploads_deleted = expire(state, pending_ttl, now, grace=age)
    return report


async def run_periodically(state: ServerState) -> None:
    """Sweep every `interval_setting()` seconds until cancelled (the server's lifespan)."""
    interval = interval_setting()
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(sweep, state)
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not stop the server
            import sys

            print(f"artefact server janitor: {exc}", file=sys.stderr, flush=True)
