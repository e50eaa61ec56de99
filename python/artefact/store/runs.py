"""Runs, their history rows, and lineage (which run logged or used which version).

A mixin of `Catalog`: it only needs `self.transaction()`. Runs are identified by
`entity/project/run_id` as in wandb; methods take the `RunRecord` `create_run` returned.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any, ContextManager, Optional

from .errors import RunNotFoundError
from .queries import project_id, run_record, version_records
from .records import RunRecord, VersionRecord

_RUN_SELECT = (
    "SELECT r.*, p.entity AS entity, p.name AS project FROM runs r"
    " JOIN projects p ON p.id = r.project_id"
)


class RunsMixin:
    """Run and lineage methods of the catalog."""

    if TYPE_CHECKING:

        def transaction(self, write: bool = True, durable: bool = True) -> ContextManager[sqlite3.Connection]: ...

    def create_run(
        self,
        entity: str,
        project: str,
        run_id: str,
        *,
        name: Optional[str] = None,
        job_type: Optional[str] = None,
        group: Optional[str] = None,
        config: Optional[dict] = None,
        resume: bool = False,
    ) -> RunRecord:
        """Start run `entity/project/run_id` (the project is created if needed).

        An existing id raises ValueError unless `resume`, which returns it, running again.
        """
        now = time.time()
        # Not waited onto the disk: the version a run logs flushes its row with it
        # (see Database.transaction), and a run without versions is bookkeeping.
        with self.transaction(durable=False) as conn:
            pid = project_id(conn, entity, project, create_at=now)
            row = conn.execute(
                "SELECT id FROM runs WHERE project_id = ? AND run_id = ?", (pid, run_id)
            ).fetchone()
            if row is not None:
                if not resume:
                    raise ValueError(
                        f"run '{entity}/{project}/{run_id}' already exists; pass resume=True"
                        " to continue it"
                    )
                conn.execute(
                    "UPDATE runs SET state = 'running', finished_at = NULL, exit_code = NULL"
                    " WHERE id = ?",
                    (row[0],),
                )
                pk = int(row[0])
            else:
                cur = conn.execute(
                    "INSERT INTO runs (project_id, run_id, name, job_type, group_name, config,"
                    " state, created_at) VALUES (?,?,?,?,?,?,'running',?)",
                    (pid, run_id, name, job_type, group, json.dumps(config or {}), now),
                )
                pk = int(cur.lastrowid)
            return self._run(conn, pk)

    def get_run(self, entity: str, project: str, run_id: str) -> RunRecord:
        """A run by path; RunNotFoundError if there is none."""
        with self.transaction(write=False) as conn:
            row = conn.execute(
                _RUN_SELECT + " WHERE p.entity = ? AND p.name = ? AND r.run_id = ?",
                (entity, project, run_id),
            ).fetchone()
        if row is None:
            raise RunNotFoundError(f"run '{entity}/{project}/{run_id}' not found")
        return run_record(row)

    def list_runs(self, entity: str, project: str) -> list[RunRecord]:
        """Runs of a project, oldest first."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                _RUN_SELECT + " WHERE p.entity = ? AND p.name = ? ORDER BY r.id",
                (entity, project),
            ).fetchall()
        return [run_record(r) for r in rows]

    def finish_run(
        self, run: RunRecord, exit_code: int = 0, state: Optional[str] = None
    ) -> RunRecord:
        """Mark a run finished (`exit_code` 0) or failed (any other), or `state` as given."""
        state = state or ("finished" if exit_code == 0 else "failed")
        with self.transaction(durable=False) as conn:
            conn.execute(
                "UPDATE runs SET state = ?, exit_code = ?, finished_at = ? WHERE id = ?",
                (state, exit_code, time.time(), run.pk),
            )
            return self._run(conn, run.pk)

    def set_config(self, run: RunRecord, config: dict[str, Any]) -> None:
        """Replace the run's config (the Run layer holds the merged dict)."""
        self._set_json(run, "config", config)

    def set_summary(self, run: RunRecord, summary: dict[str, Any]) -> None:
        """Replace the run's summary."""
        self._set_json(run, "summary", summary)

    def _set_json(self, run: RunRecord, column: str, value: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (json.dumps(value), run.pk))

    def log_row(self, run: RunRecord, step: int, row: dict[str, Any]) -> None:
        """Store history row `step` (a later row for the same step replaces it)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO run_history (run_pk, step, row, created_at)"
                " VALUES (?,?,?,?)",
                (run.pk, step, json.dumps(row), time.time()),
            )

    def history(self, run: RunRecord) -> list[dict[str, Any]]:
        """The run's history rows in step order, each with its `_step`."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT step, row FROM run_history WHERE run_pk = ? ORDER BY step", (run.pk,)
            ).fetchall()
        return [{**json.loads(r["row"]), "_step": r["step"]} for r in rows]

    # --- lineage -------------------------------------------------------------------
    def record_use(self, run: RunRecord, version: VersionRecord, used_as: Optional[str] = None) -> None:
        """Record that `run` used `version` (idempotent)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO run_inputs (run_pk, version_id, used_as, created_at)"
                " VALUES (?,?,?,?)",
                (run.pk, version.pk, used_as, time.time()),
            )

    def logged_by(self, version: VersionRecord) -> Optional[RunRecord]:
        """The run that created the version, or None (logged outside a run)."""
        with self.transaction(write=False) as conn:
            row = conn.execute(
                _RUN_SELECT + " WHERE r.id = (SELECT run_pk FROM versions WHERE id = ?)",
                (version.pk,),
            ).fetchone()
        return run_record(row) if row is not None else None

    def used_by(self, version: VersionRecord) -> list[RunRecord]:
        """Runs that used the version, in the order they first used it."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                _RUN_SELECT + " JOIN run_inputs i ON i.run_pk = r.id WHERE i.version_id = ?"
                " ORDER BY i.created_at, r.id",
                (version.pk,),
            ).fetchall()
        return [run_record(r) for r in rows]

    def logged_versions(self, run: RunRecord) -> list[VersionRecord]:
        """Versions the run logged (including ones deduplicated to an existing version)."""
        return self._lineage(run, "run_outputs")

    def used_versions(self, run: RunRecord) -> list[VersionRecord]:
        """Versions the run used."""
        return self._lineage(run, "run_inputs")

    def lineage_page(
        self, run: RunRecord, mode: str, *, offset: int = 0, limit: Optional[int] = None
    ) -> tuple[list[VersionRecord], int]:
        """One page of the versions the run logged (`mode` "logged") or used ("used"),
        oldest first, and how many there are in all."""
        table = {"logged": "run_outputs", "used": "run_inputs"}[mode]
        where = (
            f"m.collection_id = v.collection_id AND v.id IN"
            f" (SELECT version_id FROM {table} WHERE run_pk = ?)"
        )
        with self.transaction(write=False) as conn:
            total = conn.execute(
                f"SELECT COUNT(*) FROM memberships m JOIN versions v ON v.id = m.version_id WHERE {where}",
                (run.pk,),
            ).fetchone()[0]
            records = version_records(conn, where, (run.pk,), "v.id", limit, offset)
        return records, int(total)

    def _lineage(self, run: RunRecord, table: str) -> list[VersionRecord]:
        with self.transaction(write=False) as conn:
            return version_records(
                conn,
                f"m.collection_id = v.collection_id AND v.id IN"
                f" (SELECT version_id FROM {table} WHERE run_pk = ?)",
                (run.pk,),
                "v.id",
            )

    @staticmethod
    def _run(conn: sqlite3.Connection, pk: int) -> RunRecord:
        return run_record(conn.execute(_RUN_SELECT + " WHERE r.id = ?", (pk,)).fetchone())
