"""Logging and downloading a version, the batched way.

1. `lacking`: the client names a version's blobs (algorithm, digest, size), a thousand
   or more per call; the server answers with the ones this project lacks, each with a
   signed PUT URL (small ones may instead go many to one request, see blob_io.py).
   Content the project already holds never travels again (dedupe across versions and
   collections of a project); a re-run after a killed upload sends only the rest.
2. the bytes (PUT per blob, or a batch body).
3. `commit`: one call carrying the manifest. Every stored entry must be content this
   project holds, or the commit is refused and nothing is recorded. The version is
   created and its aliases moved in one catalog transaction, so it is invisible until
   then. `dedupe_only` first asks whether a committed twin (same digest) exists. The
   client sends its first commit with `or_lacking` before any bytes: a twin dedupes, a
   version whose blobs are all held commits, otherwise the answer is step 1's (the
   lacking blobs with PUT URLs, none for blobs up to the client's `batch_limit`, which
   go by batch) and nothing is recorded. So a version whose blobs the
   server holds costs one call, a new one three (commit, bytes, commit).
4. `locate`: signed GET URLs for a version's blobs, in batches (for a blob packed in
   S3, its pack's URL with the blob's offset and length; s3_packs.py).
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

from .. import _core
from ..side_work import beside, settle
from ..store.catalog import DedupeMissed
from ..store.errors import MissingBlobError, RunNotFoundError
from ..store.postgres import write_scope
from ..store.queries import project_id
from ..store.records import COMMITTED, decode_id
from ..validate import validate_artifact_name, validate_artifact_name_chars
from . import pending
from .auth import Forbidden, require
from .keys import ApiKey
from .rpc import can_read, readable_version
from .state import ServerState, object_hex
from .wire import dump, load_run

__all__ = ["lacking", "commit", "commit_inline", "locate", "have_blobs", "record_blobs", "MAX_BATCH"]

MAX_BATCH = 10_000  # blobs named in one lacking/locate call
_CHUNK = 500
_SHORT = {"MANIFEST_MD5": "MD5", "MANIFEST_XXH128": "XXH128"}


def _blob_list(value: Any, with_size: bool) -> list[tuple]:
    if not isinstance(value, list):
        raise ValueError("'blobs' must be a list of [algorithm, digest" + (", size]" if with_size else "]"))
    if len(value) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} blobs per call, got {len(value)}")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != (3 if with_size else 2):
            raise ValueError(f"bad blob item {item!r}")
        algorithm, digest = item[0], item[1]
        if algorithm not in ("MD5", "XXH128") or not isinstance(digest, str):
            raise ValueError(f"bad blob item {item!r}: algorithm must be MD5 or XXH128")
        try:
            object_hex(digest)
        except ValueError:
            raise ValueError(f"bad blob digest {digest!r}: not a base64 MD5/XXH128 digest") from None
        if with_size:
            if not isinstance(item[2], int) or item[2] < 0:
                raise ValueError(f"bad blob size in {item!r}")
            out.append((algorithm, digest, item[2]))
        else:
            out.append((algorithm, digest))
    return out


def project_pk(state: ServerState, entity: str, project: str, create: bool) -> Optional[int]:
    with state.catalog.transaction(write=False) as conn:
        pid = project_id(conn, entity, project)
    if pid is None and create:
        with state.catalog.transaction() as conn:
            pid = project_id(conn, entity, project, create_at=time.time())
    return pid


def have_blobs(state: ServerState, pid: int, blobs: list[tuple], conn: Any = None) -> set[tuple[str, str]]:
    """Those of `(algorithm, digest, ...)` the catalog records for this project (read in
    `conn`'s transaction if given, else in a snapshot of its own). The record is enough:
    a blob is recorded only once it is durable, and nothing deletes a recorded blob (the
    janitor removes only unfinished uploads), so no object is looked at (a re-log of
    10,000 files made 20,000 `stat`s here)."""
    if conn is None:
        with state.catalog.transaction(write=False) as conn:
            return have_blobs(state, pid, blobs, conn)
    found: set[tuple[str, str]] = set()
    digests = sorted({b[1] for b in blobs})
    for i in range(0, len(digests), _CHUNK):
        chunk = digests[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT algorithm, digest FROM project_blobs WHERE project_id = ? AND digest IN ({marks})",
            (pid, *chunk),
        ):
            found.add((row[0], row[1]))
    return found


def record_blobs(state: ServerState, pid: int, blobs: list[tuple[str, str, int]], conn: Any = None) -> None:
    """Note that this project holds these (already durable) blobs (in `conn`'s write
    transaction if given). In an object store that clients write to and the janitor
    cleans (S3), a blob stored outside a commit is only pending (pending.py) until the
    commit that names it claims it; `conn` is then that commit's transaction."""
    if conn is None and state.blobs.direct:  # those written into packs are held already
        packed = have_blobs(state, pid, blobs)
        return pending.issue(state, pid, [b for b in blobs if (b[0], b[1]) not in packed])
    if conn is None:
        with write_scope(f"project_blobs:{pid}"), state.catalog.transaction() as conn:  # inserts only
            return record_blobs(state, pid, blobs, conn)
    insert_held(conn, pid, blobs)


def insert_held(conn: Any, pid: int, blobs: list) -> None:
    """The `project_blobs` rows of `(algorithm, digest, size)` blobs, in `conn`'s transaction."""
    now = time.time()
    conn.executemany(  # in one order everywhere: two writers of the same blobs never wait on each other in a cycle
        "INSERT OR IGNORE INTO project_blobs (project_id, algorithm, digest, size, created_at) VALUES (?,?,?,?,?)",
        [(pid, algorithm, digest, size, now) for algorithm, digest, size in sorted(blobs)],
    )


def _unheld(state: ServerState, entity: str, project: str, keys: Any, held: frozenset,
            collection: Optional[str] = None) -> tuple[Optional[int], list]:
    """The project's key (None if it does not exist yet) and which of the blobs `keys`
    (a `_core.BlobKeys`) neither `held` (blobs the request stored) nor the project
    holds, in manifest order, read in one snapshot. Blobs that the newest committed
    version of `collection` names are held without a lookup (its commit needed them
    held, and nothing un-holds a blob), so a re-log of 10,000 files with one changed
    looks up none, and the set arithmetic runs in the core: no Python object per blob."""
    with state.catalog.transaction(write=False) as conn:
        pid = project_id(conn, entity, project)
        if pid is None:
            return pid, keys.without(held or None)
        prior = _prior_blobs(state, conn, pid, collection) if collection else frozenset()
        rest = keys.without(held or None, prior or None)
        if not rest:
            return pid, []
        have = have_blobs(state, pid, rest, conn)
        return pid, [b for b in rest if b not in have] if have else rest


def _held_by_recent(state: ServerState, entity: str, project: str, collection: Optional[str], keys: Any,
                    held: frozenset) -> bool:
    """Whether `held` and the version this process last committed to `collection` hold
    every blob of `keys`: then a re-log needs no catalog read at all."""
    recent = state.committed_here((entity, project, collection)) if collection else None
    if recent is None:
        return False
    try:
        prior = state.blobs_of_manifest(recent)
    except (OSError, ValueError):
        return False
    return not keys.without(held or None, prior)


def _prior_blobs(state: ServerState, conn: Any, pid: int, collection: str) -> frozenset:
    """The blobs of the newest committed version of `collection` (empty if none, or if
    its manifest cannot be read: then everything is looked up)."""
    row = conn.execute(
        "SELECT v.manifest_key FROM versions v JOIN collections c ON c.id = v.collection_id"
        " WHERE c.project_id = ? AND c.name = ? AND c.kind = 'sequence' AND v.state = ?"
        " ORDER BY v.version_index DESC LIMIT 1", (pid, collection, COMMITTED)).fetchone()
    if row is None:
        return frozenset()
    try:
        return state.blobs_of_manifest(row[0], conn)
    except (OSError, ValueError):
        return frozenset()


def _entity_project(a: dict) -> tuple[str, str]:
    entity, project = a.get("entity"), a.get("project")
    for what, value in (("entity", entity), ("project", project)):
        if not isinstance(value, str) or not value or "/" in value or len(value) > 128:
            raise ValueError(f"{what} {value!r} is not valid (1-128 characters, no '/')")
    return entity, project  # type: ignore[return-value]


def lacking(state: ServerState, key: ApiKey, a: dict) -> dict:
    """The blobs of `a["blobs"]` this project lacks, each with a signed PUT URL."""
    entity, project = _entity_project(a)
    require(key, entity, project, "writer")
    blobs = _blob_list(a.get("blobs"), with_size=True)
    pid = project_pk(state, entity, project, create=True)
    assert pid is not None
    return {"lacking": _put_urls(state, pid, blobs, have_blobs(state, pid, blobs), _batch_limit(a))}


def _batch_limit(a: dict) -> int:
    """`batch_limit`: blobs up to this size the client sends through the batch route
    (its `ARTEFACT_BATCH_FILE_SIZE`), so they need no signed URL; -1 when not given."""
    limit = a.get("batch_limit", -1)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ValueError(f"'batch_limit' must be an integer number of bytes, not {limit!r}")
    return limit


def _put_urls(state: ServerState, pid: int, blobs: list[tuple], have: set, batch_limit: int = -1) -> list[list]:
    """How each blob not in `have` travels (once each): `[algorithm, digest, signed PUT
    URL]`, plus for a store clients reach directly the signed headers or a multipart
    upload (blob_store.py). With the server's own directory, a blob of at most
    `batch_limit` bytes goes by batch: its URL is left empty (signing 10,000 URLs
    nobody uses was a quarter of a second)."""
    todo, seen = [], set()
    for algorithm, digest, size in blobs:
        if (algorithm, digest) in have or (algorithm, digest) in seen:
            continue
        seen.add((algorithm, digest))
        todo.append((algorithm, digest, size))
    packed: list = []
    if batch_limit >= 0 and state.blobs.direct and hasattr(state.blobs, "packable"):
        # small blobs go by batch into packs (s3_packs.py): never loose, so not probed
        loose = []
        for b in todo:
            if b[2] <= batch_limit and state.blobs.packable(b[2]):
                packed.append([b[0], b[1], ""])
            else:
                loose.append(b)
        todo = loose
    if todo and state.blobs.direct:  # finished by a killed run straight to the store: don't resend
        found = state.blobs.probe(pid, todo)
        done = {(b[0], b[1]) for b in found}
        todo = [b for b in todo if (b[0], b[1]) not in done]
        pending.issue(state, pid, found + todo)  # the commit claims them; else the janitor deletes them
    if batch_limit >= 0 and not state.blobs.direct:
        small = [[b[0], b[1], ""] for b in todo if b[2] <= batch_limit]
        return small + state.blobs.upload_plan(pid, [b for b in todo if b[2] > batch_limit])
    return packed + state.blobs.upload_plan(pid, todo)


def _fields(state: ServerState, key: ApiKey, a: dict, entity: str, project: str,
            fields_run: Optional[list] = None) -> dict:
    """The version's fields from request `a`; the run it names (if any) goes to
    `fields_run[0]`, for `_check_run`."""
    fields_run = fields_run if fields_run is not None else [None]
    name, type_ = a.get("name"), a.get("type")
    if not isinstance(name, str) or not isinstance(type_, str) or not type_:
        raise ValueError("'name' and 'type' must be non-empty strings")
    validate_artifact_name(validate_artifact_name_chars(name))
    algorithm = a.get("digest_algorithm", "MANIFEST_MD5")
    if algorithm not in _SHORT:
        raise ValueError(f"unknown digest algorithm {algorithm!r}; expected one of {sorted(_SHORT)}")
    run_pk = None
    if a.get("run") is not None:
        if not isinstance(a["run"], dict):
            raise ValueError("argument 'run' must be a run record object")
        run = load_run(a["run"])
        if (run.entity, run.project) != (entity, project):
            raise ValueError(f"run {run.path} cannot log into {entity}/{project}")
        run_pk = run.pk  # that it exists is checked in the commit's transaction (_check_run)
        fields_run[0] = run
    base = a.get("base_version_id")
    metadata = a.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("'metadata' must be an object")
    ttl = a.get("ttl_seconds")
    if ttl is not None and not isinstance(ttl, int):
        raise ValueError("'ttl_seconds' must be an integer or null")
    return dict(
        entity=entity, project=project, name=name, type=type_, digest_algorithm=algorithm,
        description=a.get("description"), metadata=metadata,
        aliases=[str(x) for x in a.get("aliases") or ()], tags=[str(x) for x in a.get("tags") or ()],
        ttl_seconds=ttl, ttl_inherited=bool(a.get("ttl_inherited", True)), run_pk=run_pk,
        history_step=a.get("history_step"), storage_region=a.get("storage_region"),
        base_version_pk=decode_id(base, "Artifact") if isinstance(base, str) else None,
    )


def _check_run(conn: Any, pid: int, run: Any) -> None:
    """That the run a commit names is still this project's run of that id (the check
    rides in the commit's transaction instead of costing one of its own)."""
    if run is None:
        return
    row = conn.execute("SELECT 1 FROM runs WHERE id = ? AND project_id = ? AND run_id = ?",
                       (run.pk, pid, run.run_id)).fetchone()
    if row is None:
        raise RunNotFoundError(f"run {run.path} not found")


class Lacking(Exception):
    """A commit's manifest names blobs the project does not hold yet (`or_lacking`):
    `missing`, its stored entries `(algorithm, digest, size)` of those, in manifest order."""

    def __init__(self, pid: int, missing: list) -> None:
        super().__init__("blobs lacking")
        self.pid, self.missing = pid, missing


def _checked_manifest(state: ServerState, a: dict, entity: str, project: str, or_lacking: bool = False,
                      held: frozenset = frozenset(), collection: Optional[str] = None,
                      parsed: Optional[Callable[[Any], None]] = None) -> tuple[Any, Optional[int], list, Any]:
    """The request's manifest, once every path is safe and every stored entry is content
    this project holds or among `held` (blobs this request stored; MissingBlobError
    otherwise, or Lacking with `or_lacking`: nothing is recorded). The project's key is
    None when nothing needed checking (the commit's transaction finds or makes it).
    Then, with an object store clients upload to: the blobs not held yet, which the
    commit's transaction must claim (pending.claim) before it records anything. Last,
    the distinct `(algorithm, digest)` of its stored entries (a `_core.BlobKeys`).
    `parsed(manifest)` is called once it is parsed, before any check."""
    text = a.get("manifest")
    if not isinstance(text, (str, bytes)):
        raise ValueError("'manifest' (the manifest's JSON text) is required")
    manifest = _core.Manifest.from_json(text)
    if parsed is not None:
        parsed(manifest)
    keys = _core.manifest_blob_keys(manifest)  # no absolute paths, no `..` (raises naming the first)
    if (held and keys.within(held)) or _held_by_recent(state, entity, project, collection, keys, held):
        return manifest, None, [], keys
    pid, lacking = _unheld(state, entity, project, keys, held, collection)
    missing: list = []
    if lacking:  # their entries, in manifest order, with sizes
        wanted = set(lacking)
        missing = [s for s in _core.stored_blobs(manifest) if (s[0], s[1]) in wanted]
    if missing and state.blobs.direct and not or_lacking:  # uploaded straight to the store: claimed in the commit
        pid = pid if pid is not None else project_pk(state, entity, project, create=True)
        return manifest, pid, missing, keys
    if missing and or_lacking:
        pid = pid if pid is not None else project_pk(state, entity, project, create=True)
        raise Lacking(pid, missing)  # type: ignore[arg-type]
    if missing:
        raise MissingBlobError(
            f"commit refused: {len(missing)} blob(s) named by the manifest are not stored in"
            f" {entity}/{project}, e.g. {missing[0][0]} {missing[0][1]}; upload them first"
        )
    if pid is None:
        pid = project_pk(state, entity, project, create=True)
    return manifest, pid, [], keys


def stage_patch(state: ServerState, key: ApiKey, a: dict) -> dict:
    """`upsert_artifact`: keep one part's manifest as a pending patch of
    `name`/`distributed_id` (its blobs must be held, as for a commit)."""
    entity, project = _entity_project(a)
    require(key, entity, project, "writer")
    name, dist = a.get("name"), a.get("distributed_id")
    if not isinstance(name, str) or not isinstance(dist, str):
        raise ValueError("'name' and 'distributed_id' must be strings")
    validate_artifact_name(validate_artifact_name_chars(name))
    manifest, pid, unheld, _keys = _checked_manifest(state, a, entity, project)
    manifest_key = state.store.blobs.put_manifest(manifest.to_wire_json())
    with state.catalog.transaction() as conn:
        pending.claim(conn, state, pid, unheld, f"{entity}/{project}")
        conn.execute(
            "INSERT OR IGNORE INTO pending_patches (project_id, collection, distributed_id, manifest_key,"
            " created_at) VALUES (?,?,?,?,?)", (pid, name, dist, manifest_key, time.time()))
    return {"manifest_key": manifest_key}


def patches(state: ServerState, key: ApiKey, a: dict, clear: bool) -> dict:
    """The pending patches' manifests, oldest first; or (`clear`) forget them."""
    entity, project = _entity_project(a)
    require(key, entity, project, "writer")
    pid = project_pk(state, entity, project, create=False)
    if pid is None:
        return {"manifests": []}
    where = " WHERE project_id = ? AND collection = ? AND distributed_id = ?"
    params = (pid, str(a.get("name")), str(a.get("distributed_id")))
    if clear:
        with state.catalog.transaction() as conn:
            conn.execute("DELETE FROM pending_patches" + where, params)
        return {"manifests": []}
    with state.catalog.transaction(write=False) as conn:
        keys = [r[0] for r in conn.execute(
            "SELECT manifest_key FROM pending_patches" + where + " ORDER BY created_at, rowid", params)]
    out = []
    for mkey in keys:
        with open(state.store.blobs.manifest_path(mkey), "rb") as f:
            out.append([mkey, f.read().decode("utf-8")])
    return {"manifests": out}


def commit(state: ServerState, key: ApiKey, a: dict, inline: Optional[list] = None) -> dict:
    """Commit a version whose blobs the project holds; `{"record": ...}`, or with
    `dedupe_only`, `{"record": null}` when no committed twin has the digest.

    With `or_lacking` (one round trip when the server holds everything): a committed
    twin (same digest) gets the aliases, else the version is committed if its blobs
    are held, else nothing is recorded and the answer is `{"record": null, "lacking":
    [[algorithm, digest, PUT URL], ...]}`, as `lacking` would answer.

    `inline`: `(algorithm, digest, size)` of blobs this request stored durably
    (commit_inline); they need no check and are recorded in the version's transaction."""
    entity, project = _entity_project(a)
    require(key, entity, project, "writer")
    run: list = [None]
    fields = _fields(state, key, a, entity, project, run)
    catalog = state.catalog
    inline = inline or []
    if a.get("dedupe_only"):
        return _recorded(state, entity, project, inline, _dedupe(state, a, fields, run[0]) or {"record": None})
    held = frozenset((alg, digest) for alg, digest, _size in inline)
    canonical: list = []  # the digest, canonical bytes and row of the manifest, made beside the check

    def start_canonical(manifest: Any) -> None:
        canonical.append(beside(len(manifest), _canonical, state, manifest, _SHORT[fields["digest_algorithm"]]))

    try:
        manifest, pid, unheld, keys = _checked_manifest(
            state, a, entity, project, or_lacking=bool(a.get("or_lacking")), held=held, collection=fields["name"],
            parsed=start_canonical)
    except Lacking as short:
        settle(canonical)
        if inline:
            record_blobs(state, short.pid, inline)
        twin = _dedupe(state, a, fields, run[0])
        if twin is not None:
            return twin
        return {"record": None, "lacking": _put_urls(state, short.pid, short.missing, frozenset(), _batch_limit(a))}
    except BaseException:
        settle(canonical)
        raise
    digest, wire, row = canonical[0].result()
    if a.get("digest") not in (None, digest):
        raise ValueError(f"manifest digest is {digest}, not {a.get('digest')!r} as the request says")
    manifest_key = row[0] if row is not None else state.store.blobs.put_manifest(wire)

    def note_inline(conn: Any, pid: int) -> None:
        _check_run(conn, pid, run[0])
        if state.blobs.direct:  # uploaded around this transaction: claimed, checked, then held
            pending.claim(conn, state, pid, [*inline, *unheld], f"{entity}/{project}")
        elif inline:
            record_blobs(state, pid, inline, conn)
        if row is not None:
            state.store.put_manifest_row(conn, row)

    with _collection_scope(fields):
        record = catalog.assign_version(
            digest=digest, manifest_key=manifest_key, size=manifest.size(), file_count=len(manifest),
            prepare=note_inline, **fields)
    state.remember_manifest(manifest_key, keys)
    if record.state == COMMITTED:
        state.remember_committed((entity, project, fields["name"]), manifest_key)
    return {"record": dump(record)}


def _canonical(state: ServerState, manifest: Any, algorithm: str) -> tuple[str, bytes, Optional[tuple]]:
    """A parsed manifest's digest, its canonical bytes (what is stored), and `(key, text)`
    of its catalog row if it is small enough for one (else it goes to a file)."""
    digest = manifest.digest(algorithm)
    wire = manifest.to_wire_json()
    return digest, wire, state.store.manifest_row(wire)


def _recorded(state: ServerState, entity: str, project: str, inline: list, answer: dict) -> dict:
    """`answer`, once the blobs an inline request stored are noted for the project."""
    if inline:
        record_blobs(state, project_pk(state, entity, project, create=True) or 0, inline)
    return answer


def commit_inline(state: ServerState, key: ApiKey, body: bytes) -> dict:
    """A small version's blobs and its commit in one call: the body is the commit's JSON
    on one line, then batch frames (wire.py). The blobs are checked and stored durably,
    then the commit runs as `commit` with `or_lacking` does.

    With `"manifest_bytes": N` in place of `"manifest"` (servers that say
    `"manifest_bytes": true` in `whoami`), the manifest's N bytes of JSON come raw right
    after the first line, before the frames: a 10,000-file manifest is then not escaped
    into a JSON string and parsed back out of one."""
    from .blob_io import split_frames

    end = body.find(b"\n")
    if end < 0:
        raise ValueError("inline commit: the first line must be the commit's JSON")
    try:
        a = json.loads(body[:end])
    except ValueError as exc:
        raise ValueError(f"inline commit: bad JSON on the first line: {exc}") from None
    if not isinstance(a, dict):
        raise ValueError("inline commit: the first line must be a JSON object")
    entity, project = _entity_project(a)
    require(key, entity, project, "writer")
    start = end + 1
    size = a.get("manifest_bytes")
    if size is not None:
        if "manifest" in a:
            raise ValueError("inline commit: give 'manifest' or 'manifest_bytes', not both")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= len(body) - start:
            raise ValueError(f"inline commit: 'manifest_bytes' must be the length of the manifest after the"
                             f" first line (1 to {len(body) - start} bytes), not {size!r}")
        a["manifest"] = body[start : start + size]
        start += size
    blobs = body[start:]
    frames = split_frames(blobs)
    if frames:
        # an object store keys blobs by project; the local directory is shared (pid unused)
        pid = project_pk(state, entity, project, create=True) if state.blobs.direct else 0
        assert pid is not None
        if state.blobs.direct:  # pending before the bytes land, so no object goes untracked
            pending.issue(state, pid, frames)
        state.blobs.store_batch(pid, blobs, frames, state.config.fsync)
    return commit(state, key, {**a, "or_lacking": True},
                  inline=[(alg, digest, size) for alg, digest, size, _off in frames])


def _collection_scope(fields: dict) -> Any:
    """Commits to one collection queue on its own lock, not the catalog-wide one (on
    PostgreSQL; index order, `latest` and dedupe are decided under it, and the unique
    (collection, index) and (collection, committed digest) keys are the backstop)."""
    return write_scope(f"collection:{fields['entity']}/{fields['project']}/{fields['name']}", deferred=True)


def _dedupe(state: ServerState, a: dict, fields: dict, run: Any = None) -> Optional[dict]:
    """`{"record": ...}` of the committed twin (same digest), now with the aliases; None if none."""
    digest = a.get("digest")
    if not isinstance(digest, str):
        raise ValueError("'digest' is required with dedupe_only / or_lacking")
    catalog = state.catalog
    twin = catalog.committed_with_digest(fields["entity"], fields["project"], fields["name"], digest,
                                         fields["digest_algorithm"])
    if twin is None:
        return None
    try:
        with _collection_scope(fields):
            record = catalog.assign_version(
                digest=digest, manifest_key=twin.manifest_key, size=twin.size, file_count=twin.file_count,
                dedupe_only=True, prepare=lambda conn, pid: _check_run(conn, pid, run), **fields)
    except DedupeMissed:
        return None
    return {"record": dump(record)}


def locate(state: ServerState, key: ApiKey, a: dict) -> dict:
    """Signed GET URLs for blobs of one readable version (each must be in its manifest)."""
    record = readable_version(state, key, a.get("record"))
    blobs = _blob_list(a.get("blobs"), with_size=False)
    allowed = state.manifest_blobs(record)
    for algorithm, digest in blobs:
        if (algorithm, digest) not in allowed:
            raise Forbidden(f"blob {algorithm} {digest} is not part of {record.qualified_name}")
    urls = state.blobs.get_urls(state.source_project(record), blobs)
    # a packed blob (S3): [alg, digest, URL of its pack, offset, length, pack size]
    return {"urls": [[a, d, *u] if isinstance(u, list) else [a, d, u] for (a, d), u in zip(blobs, urls)]}


class BlobList(list):
    """Blobs of one version, with `pid`: the project whose store holds them."""

    pid: int = 0


def readable_blobs(state: ServerState, key: ApiKey, a: dict) -> BlobList:
    """Blobs named by a batch fetch, checked as `locate` checks them."""
    record = readable_version(state, key, a.get("record"))
    blobs = BlobList(_blob_list(a.get("blobs"), with_size=False))
    allowed = state.manifest_blobs(record)
    for algorithm, digest in blobs:
        if (algorithm, digest) not in allowed:
            raise Forbidden(f"blob {algorithm} {digest} is not part of {record.qualified_name}")
    blobs.pid = state.source_project(record)
    return blobs


__all__ += ["readable_blobs", "project_pk", "can_read"]
