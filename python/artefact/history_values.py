"""What `run.log` stores for each value: wandb's `val_to_json` for the history row and
the summary.

Plain JSON values are stored as they are. A media object (anything with wandb's media
interface: `to_json(run_or_artifact)`, and `bind_to_run(run, key, step)` where it keeps
a file) is bound to the run and stored as the JSON it returns for the run. A `Table`
(`_log_type == "table"`) is also logged, as wandb does, as the artifact
`run-<run id>-<key>` of type `run_table` holding `<key>.table.json`, so that
`Api().artifact("run-<id>-<key>:latest").get(key)` reads it back; its history value
is wandb's `table-file` dict pointing at that artifact entry and at the run's copy under
`media/table/`. An INCREMENTAL table is logged as wandb's increments: each `run.log`
after rows were added stores only the new rows, as the next version of the
`run-<run id>-incr-<key>` artifact of type `wandb-run-incremental-table` (each version
holds every increment so far), and its history value is an `incremental-table-file`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runs import Run

__all__ = ["history_row", "history_value", "internal_artifact"]

_TABLE_TYPES = ("table", "partitioned-table", "joined-table")


def history_row(run: "Run", row: dict, step: int) -> dict:
    """`row` with every value as wandb stores it in the history (media bound to `run`)."""
    _check_row(run, row)  # before any value logs an artifact
    return {key: history_value(run, key, value, step) for key, value in row.items()}


def _check_row(run: "Run", row: dict) -> None:
    # wandb raises this AssertionError while logging; checked first (with the values
    # artefact refuses) so nothing of a refused row is stored.
    for key, value in row.items():
        for item in value if isinstance(value, (list, tuple)) else ():
            if callable(getattr(item, "_check_loggable", None)):
                item._check_loggable()
        if isinstance(value, dict):
            _check_row(run, value)
        elif callable(getattr(value, "_check_loggable", None)):
            value._check_loggable()
        elif _is_incremental(value):
            target = value._run_target_for_increments
            if target is not None and target is not run:
                raise AssertionError("An incremental Table can only be logged to one Run.")


def _is_incremental(value: Any) -> bool:
    return getattr(value, "_log_type", None) == "table" and getattr(value, "log_mode", None) == "INCREMENTAL"


def _is_media(value: Any) -> bool:
    return callable(getattr(value, "to_json", None)) and hasattr(value, "_log_type")


def history_value(run: "Run", key: str, value: Any, step: Any) -> Any:
    """One logged value as wandb's `val_to_json(run, key, value, namespace=step)` makes it."""
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    if isinstance(value, (list, tuple)) and value and all(_is_media(v) for v in value):
        first = value[0]
        if callable(getattr(first, "seq_to_json", None)) and all(type(v) is type(first) for v in value):
            items = list(value)[: getattr(first, "MAX_ITEMS", len(value))]
            for item in items:
                item.bind_to_run(run, key, step)
            return first.seq_to_json(items, run, key, step)
        return [history_value(run, key, v, step) for v in value]
    if _is_media(value):
        if getattr(value, "_log_type", None) == "table":
            return _table_value(run, key, value, step)
        bind = getattr(value, "bind_to_run", None)
        is_bound = getattr(value, "is_bound", None)
        if callable(bind) and not (callable(is_bound) and is_bound()):
            bind(run, key, step)
        return value.to_json(run)
    if isinstance(value, dict):
        return {k: history_value(run, k, v, step) for k, v in value.items()}  # wandb: the inner key
    if isinstance(value, (list, tuple)):
        return [history_value(run, key, v, step) for v in value]
    from .validate import json_friendly_val

    return json_friendly_val(value)


def internal_artifact(name: str, type: str) -> Any:
    """wandb's `InternalArtifact`: an artifact of an internal type (`run_table`, `wandb-*`,
    ...), its name sanitized (other characters dropped, a CRC32 suffix added)."""
    import base64
    import re
    import zlib

    from .artifact import Artifact

    sanitized = re.sub(r"[^a-zA-Z0-9_\-.]+", "", name)
    if sanitized != name:
        crc = (zlib.crc32(name.encode("utf-8")) & 0xFFFFFFFF).to_bytes(4, byteorder="big")
        sanitized = f"{sanitized}-{base64.urlsafe_b64encode(crc).rstrip(b'=').decode('ascii')}"
    artifact = Artifact(sanitized, "PLACEHOLDER")
    artifact._type = type
    return artifact


def _table_value(run: "Run", key: str, table: Any, step: Any) -> dict:
    incremental = _is_incremental(table)
    _check_row(run, {key: table})
    # The run's own copy, as wandb's Table.bind_to_run writes it (compact JSON of the
    # cells as given; an INCREMENTAL table's rows not logged yet).
    rows = table._rows_to_log(table.MAX_ROWS) if incremental else table.data[: table.MAX_ROWS]
    body = json.dumps({"columns": table.columns, "data": rows},
                      separators=(",", ":"), ensure_ascii=False, default=_fallback).encode("utf-8")
    sha256 = hashlib.sha256(body).hexdigest()
    mode = getattr(table, "log_mode", "IMMUTABLE")
    bound = getattr(table, "_artefact_bound", None)  # (run, sha256, value) of its first log
    # As wandb: a table already bound to this run is not logged again (an IMMUTABLE one
    # even if changed since; a MUTABLE one unless changed; an INCREMENTAL one until a row
    # is added), only its row counts are new.
    if bound is not None and bound[0] is run and (mode != "MUTABLE" or bound[1] == sha256):
        return {**bound[2], "ncols": len(table.columns), "nrows": len(table.data)}
    if mode == "MUTABLE":  # changed since its last log: stored anew, not referenced
        table._artifact_target = None
    if incremental:
        artifact, entry_name = _increment_artifact(run, key, table)
    else:
        artifact, entry_name = internal_artifact(f"run-{run.id}-{key}", "run_table"), key
    entry = artifact.add(table, entry_name)
    logged = run.log_artifact(artifact).wait()
    safe_key = str(key).lstrip("/").replace("..", "_")
    media_path = os.path.join("media", "table", f"{safe_key}_{step}_{sha256[:20]}.table.json")
    target = os.path.join(run.dir, media_path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    _write_atomic(target, body)
    collection = logged.source_name.split(":")[0]
    value = {
        "_type": "table-file",
        "sha256": sha256,
        "size": len(body),
        "artifact_path": f"wandb-artifact://{_hex_id(logged.id)}/{entry.path}",
        "_latest_artifact_path":
            f"wandb-artifact://{logged.source_entity}/{logged.source_project}/{collection}:latest/{entry.path}",
        "path": media_path,
        "ncols": len(table.columns),
        "nrows": len(table.data),
        "log_mode": mode,
    }
    if incremental:  # wandb's key order: the increment fields come after "path"
        value["_type"] = "incremental-table-file"
        tail = {k: value.pop(k) for k in ("ncols", "nrows", "log_mode")}
        value.update(increment_num=table._increment_num,
                     previous_increments_paths=list(table._previous_increments_paths), **tail)
        table._last_logged_idx = len(table.data) - 1
    table._artefact_bound = (run, sha256, value)
    return dict(value)


def _increment_artifact(run: "Run", key: str, table: Any) -> tuple[Any, str]:
    """wandb's `_log_table_artifact` for an INCREMENTAL table: the incremental artifact
    `run-<id>-incr-<key>` and the entry name `<increment>-<epoch ms>.<key>`."""
    import time

    if run.resumed and table._previous_increments_paths is None and table._increment_num is None:
        _resume_increments(run, key, table)
    elif table._run_target_for_increments is None:
        table._run_target_for_increments = run
    artifact = internal_artifact(f"run-{run.id}-incr-{key}", "wandb-run-incremental-table")
    artifact._incremental = True  # the server-side merge of wandb's `incremental_beta1`
    # The first increment's number is still None here in wandb 0.31.0 ("None-<ms>.<key>").
    return artifact, f"{table._increment_num}-{time.time_ns() // 1_000_000}.{key}"


def _resume_increments(run: "Run", key: str, table: Any) -> None:
    """wandb's `_load_incremental_table_state_from_resumed_run`: a table logged to the
    key of a resumed run continues its increments."""
    table._run_target_for_increments = run
    last = run.summary.get(key)
    if not isinstance(last, dict) or last.get("_type") != "incremental-table-file":
        return
    previous = list(last.get("previous_increments_paths", []))
    if last.get("artifact_path"):
        previous.append(last["artifact_path"])
    table._increment_num = last.get("increment_num", 0) + 1
    table._previous_increments_paths = previous


def _hex_id(artifact_id: str) -> str:
    import base64

    return base64.b64decode(artifact_id).hex()


def _fallback(value: Any) -> Any:
    for convert in ("tolist", "item", "isoformat"):
        method = getattr(value, convert, None)
        if callable(method):
            return method()
    return str(value)


def _write_atomic(path: str, body: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
