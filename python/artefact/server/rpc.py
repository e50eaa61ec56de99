"""The catalog calls of the SDK's store, one route each: `POST /api/v1/store/<method>`.

Each method names the role it needs and where. Records sent by the client are only
handles: the server fetches them again (by key) and checks the role against what the
catalog says, never against fields the client could forge.
"""

from __future__ import annotations

from typing import Any, Callable

from ..store.errors import ArtifactNotFoundError, RunNotFoundError
from ..store.records import CollectionRecord, RunRecord, VersionRecord
from .auth import Forbidden, require
from .keys import ApiKey
from .state import ServerState
from .wire import dump, load_collection, load_run, load_version

__all__ = ["METHODS", "call"]

Handler = Callable[[ServerState, ApiKey, dict], Any]
METHODS: dict[str, Handler] = {}

_UPDATE_VERSION = {"description", "metadata", "ttl_seconds", "ttl_inherited", "add_aliases",
                   "remove_aliases", "add_tags", "remove_tags"}
_UPDATE_COLLECTION = {"name", "type", "description", "add_tags", "remove_tags"}
_RUN_FIELDS = {"name", "job_type", "group", "config", "resume"}


def method(fn: Handler) -> Handler:
    METHODS[fn.__name__] = fn
    return fn


def _str(args: dict, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"argument {name!r} must be a non-empty string, got {value!r}")
    return value


def _only(changes: Any, allowed: set[str], what: str) -> dict:
    if not isinstance(changes, dict):
        raise ValueError(f"{what} changes must be an object")
    bad = sorted(set(changes) - allowed)
    if bad:
        raise ValueError(f"unknown {what} change(s) {bad}; allowed: {sorted(allowed)}")
    return changes


def _project(key: ApiKey, a: dict, role: str) -> tuple[str, str]:
    """The call's `entity` and `project`, once `key` may act as `role` there."""
    entity, project = _str(a, "entity"), _str(a, "project")
    require(key, entity, project, role)
    return entity, project


def can_read(state: ServerState, key: ApiKey, record: VersionRecord) -> bool:
    """Readable through the collection it was fetched by, its source, or any link."""
    if key.allows(record.entity, record.project, "reader"):
        return True
    if key.allows(record.source_entity, record.source_project, "reader"):
        return True
    return any(key.allows(r.entity, r.project, "reader") for r in state.store.links_of(record))


def readable_version(state: ServerState, key: ApiKey, data: Any) -> VersionRecord:
    """The current record for a client's handle, if the key may read it (else 404/403)."""
    if not isinstance(data, dict):
        raise ValueError("argument 'record' must be a version record object")
    fresh = state.store.refresh(load_version(data))
    if not can_read(state, key, fresh):
        raise Forbidden(f"API key {key.key_id} may not read {fresh.qualified_name}")
    return fresh


def writable_version(state: ServerState, key: ApiKey, data: Any) -> VersionRecord:
    fresh = readable_version(state, key, data)
    require(key, fresh.entity, fresh.project, "writer")
    return fresh


def _collection(state: ServerState, key: ApiKey, data: Any, role: str) -> CollectionRecord:
    if not isinstance(data, dict):
        raise ValueError("argument 'collection' must be a collection record object")
    given = load_collection(data)
    require(key, given.entity, given.project, role)
    fresh = state.store.get_collection(given.entity, given.project, given.name)
    if fresh.pk != given.pk:
        raise ArtifactNotFoundError(given.name, message=f"artifact collection '{given.name}' not found")
    return fresh


def _run(state: ServerState, key: ApiKey, data: Any, role: str) -> RunRecord:
    if not isinstance(data, dict):
        raise ValueError("argument 'run' must be a run record object")
    given = load_run(data)
    require(key, given.entity, given.project, role)
    fresh = state.store.get_run(given.entity, given.project, given.run_id)
    if fresh.pk != given.pk:
        raise RunNotFoundError(f"run {given.path} not found")
    return fresh


# --- reads by project ----------------------------------------------------------------------
@method
def get_version(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return dump(state.store.get_version(entity, project, _str(a, "name"), a.get("type")))


@method
def list_versions(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return dump(state.store.list_versions(entity, project, _str(a, "name"), order=a.get("order"),
                                          tags=list(a.get("tags") or ())))


def _page(a: dict) -> dict:
    """offset / limit of a paginated listing, checked."""
    offset, limit = a.get("offset", 0), a.get("limit")
    if not isinstance(offset, int) or offset < 0 or (limit is not None and (not isinstance(limit, int) or limit < 0)):
        raise ValueError(f"bad page: offset {offset!r}, limit {limit!r} (non-negative integers)")
    return {"offset": offset, "limit": limit}


@method
def version_page(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    records, total = state.store.version_page(entity, project, _str(a, "name"), order=a.get("order"), **_page(a))
    return [dump(records), total]


@method
def collection_page(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    records, total = state.store.collection_page(entity, project, type=a.get("type"), **_page(a))
    return [dump(records), total]


@method
def lineage_page(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "reader")
    mode = a.get("mode")
    if mode not in ("logged", "used"):
        raise ValueError(f"mode {mode!r} must be 'logged' or 'used'")
    records, total = state.store.lineage_page(run, mode, **_page(a))
    return [dump(records), total]


@method
def get_collection(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return dump(state.store.get_collection(entity, project, _str(a, "name")))


@method
def list_collections(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return dump(state.store.list_collections(entity, project, type=a.get("type"), kind=a.get("kind")))


@method
def list_types(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return state.store.list_types(entity, project)


@method
def project_exists(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return state.store.project_exists(entity, project)


@method
def get_run(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return dump(state.store.get_run(entity, project, _str(a, "run_id")))


@method
def list_runs(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "reader")
    return dump(state.store.list_runs(entity, project))


# --- reads by version ------------------------------------------------------------------------
@method
def version_by_id(state: ServerState, key: ApiKey, a: dict) -> Any:
    record = state.store.version_by_id(_str(a, "artifact_id"))
    if not can_read(state, key, record):
        raise Forbidden(f"API key {key.key_id} may not read {record.qualified_name}")
    return dump(record)


@method
def refresh(state: ServerState, key: ApiKey, a: dict) -> Any:
    return dump(readable_version(state, key, a.get("record")))


@method
def load_manifest(state: ServerState, key: ApiKey, a: dict) -> Any:
    record = readable_version(state, key, a.get("record"))
    return {"manifest": state.store.manifest_bytes(record.manifest_key).decode("utf-8"),
            "manifest_key": record.manifest_key}


@method
def links_of(state: ServerState, key: ApiKey, a: dict) -> Any:
    record = readable_version(state, key, a.get("record"))
    return dump([r for r in state.store.links_of(record) if key.allows(r.entity, r.project, "reader")])


@method
def logged_by(state: ServerState, key: ApiKey, a: dict) -> Any:
    return dump(state.store.logged_by(readable_version(state, key, a.get("record"))))


@method
def used_by(state: ServerState, key: ApiKey, a: dict) -> Any:
    runs = state.store.used_by(readable_version(state, key, a.get("record")))
    return dump([r for r in runs if key.allows(r.entity, r.project, "reader")])


# --- edits ---------------------------------------------------------------------------------
@method
def update_version(state: ServerState, key: ApiKey, a: dict) -> Any:
    record = writable_version(state, key, a.get("record"))
    changes = _only(a.get("changes", {}), _UPDATE_VERSION, "version")
    return dump(state.store.update_version(record, **changes))


@method
def delete_version(state: ServerState, key: ApiKey, a: dict) -> Any:
    record = writable_version(state, key, a.get("record"))
    state.store.delete_version(record, delete_aliases=bool(a.get("delete_aliases")))
    return None


@method
def link(state: ServerState, key: ApiKey, a: dict) -> Any:
    record = readable_version(state, key, a.get("record"))
    entity, project = _project(key, a, "writer")
    aliases = [str(x) for x in a.get("aliases") or ()]
    return dump(state.store.link(record, entity, project, _str(a, "portfolio"), aliases))


@method
def unlink(state: ServerState, key: ApiKey, a: dict) -> Any:
    state.store.unlink(writable_version(state, key, a.get("record")))
    return None


@method
def update_collection(state: ServerState, key: ApiKey, a: dict) -> Any:
    coll = _collection(state, key, a.get("collection"), "writer")
    changes = _only(a.get("changes", {}), _UPDATE_COLLECTION, "collection")
    return dump(state.store.update_collection(coll, **changes))


@method
def delete_collection(state: ServerState, key: ApiKey, a: dict) -> Any:
    state.store.delete_collection(_collection(state, key, a.get("collection"), "writer"))
    return None


# --- runs and lineage --------------------------------------------------------------------------
@method
def create_run(state: ServerState, key: ApiKey, a: dict) -> Any:
    entity, project = _project(key, a, "writer")
    fields = _only(a.get("fields", {}), _RUN_FIELDS, "run")
    return dump(state.store.create_run(entity, project, _str(a, "run_id"), **fields))


@method
def finish_run(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "writer")
    return dump(state.store.finish_run(run, int(a.get("exit_code") or 0)))


@method
def log_row(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "writer")
    row = a.get("row")
    if not isinstance(row, dict):
        raise ValueError("argument 'row' must be an object")
    state.store.log_row(run, int(a.get("step", 0)), row)
    return None


@method
def set_config(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "writer")
    state.store.set_config(run, dict(a.get("config") or {}))
    return None


@method
def set_summary(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "writer")
    state.store.set_summary(run, dict(a.get("summary") or {}))
    return None


@method
def record_use(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "writer")
    record = readable_version(state, key, a.get("record"))
    state.store.record_use(run, record, a.get("used_as"))
    return None


@method
def logged_versions(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "reader")
    return dump(state.store.logged_versions(run))


@method
def used_versions(state: ServerState, key: ApiKey, a: dict) -> Any:
    run = _run(state, key, a.get("run"), "reader")
    return dump([r for r in state.store.used_versions(run) if can_read(state, key, r)])


@method
def history(state: ServerState, key: ApiKey, a: dict) -> Any:
    return state.store.history(_run(state, key, a.get("run"), "reader"))


def call(state: ServerState, key: ApiKey, name: str, args: Any) -> Any:
    """Run one store method for `key`; LookupError for an unknown method."""
    handler = METHODS.get(name)
    if handler is None:
        raise LookupError(f"no store method {name!r}; known: {', '.join(sorted(METHODS))}")
    if not isinstance(args, dict):
        raise ValueError("the request body must be a JSON object of arguments")
    return handler(state, key, args)
