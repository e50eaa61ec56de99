"""What `run.log` stores for each value: wandb's `val_to_json` for the history row and
the summary.

Plain JSON values are stored as they are. A media object (anything with wandb's media
interface: `to_json(run_or_artifact)`, and `bind_to_run(run, key, step)` where it keeps
a file) is bound to the run and stored as the JSON it returns for the run. A `Table`
(`_log_type == "table"`) is also logged, as wandb does, as the artifact
`run-<run id>-<key>` of type `run_table` holding `<key>.table.json`, so that
`Api().artifact("run-<id>-<key>:latest").get(key)` reads it back; its history value
is wandb's `table-file` dict pointing at that artifact entry and at the run's copy under
`media/table/`.
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
    _refuse_incremental(row)  # before any value logs an artifact
    return {key: history_value(run, key, value, step) for key, value in row.items()}


def _refuse_incremental(row: dict) -> None:
    for key, value in row.items():
        if isinstance(value, dict):
            _refuse_incremental(value)
        elif getattr(value, "_log_type", None) == "table" and getattr(value, "log_mode", None) == "INCREMENTAL":
            # wandb logs those as `wandb-run-incremental-table` increments; writing them as
            # a plain run_table would read back differently, so they are refused instead.
            raise ValueError(
                f"run.log of a Table with log_mode='INCREMENTAL' (key {key!r}) is not supported by"
                " artefact; log it with log_mode='IMMUTABLE' or 'MUTABLE', or add it to an artifact"
            )


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
    _refuse_incremental({key: table})
    # The run's own copy, as wandb's Table.bind_to_run writes it (compact JSON of the
    # cells as given).
    body = json.dumps({"columns": table.columns, "data": table.data[: table.MAX_ROWS]},
                      separators=(",", ":"), ensure_ascii=False, default=_fallback).encode("utf-8")
    sha256 = hashlib.sha256(body).hexdigest()
    mode = getattr(table, "log_mode", "IMMUTABLE")
    bound = getattr(table, "_artefact_bound", None)  # (run, sha256, value) of its first log
    # As wandb: a table already bound to this run is not logged again (an IMMUTABLE one
    # even if changed since; a MUTABLE one unless changed), only its row counts are new.
    if bound is not None and bound[0] is run and (mode == "IMMUTABLE" or bound[1] == sha256):
        return {**bound[2], "ncols": len(table.columns), "nrows": len(table.data)}
    if mode == "MUTABLE":  # changed since its last log: stored anew, not referenced
        table._artifact_target = None
    artifact = internal_artifact(f"run-{run.id}-{key}", "run_table")
    entry = artifact.add(table, key)
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
    table._artefact_bound = (run, sha256, value)
    return dict(value)


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
