"""The server's HTTP face: a Starlette app over one ServerState.

Routes (JSON in and out, `Authorization: Bearer <key>` unless said otherwise):

| route | role | what |
|---|---|---|
| GET  /healthz | none | liveness (also checks the catalog answers) |
| GET  /api/v1/whoami | any key | the key's entity, project, role; what the server takes (`manifest_bytes`) |
| POST /api/v1/store/<method> | per method (rpc.py) | catalog reads and edits |
| POST /api/v1/blobs/lacking | writer | which blobs the project lacks, with PUT URLs |
| POST /api/v1/blobs/batch?entity=&project= | writer | many small blobs in one body |
| POST /api/v1/commit | writer | commit a version (manifest included) |
| POST /api/v1/commit/inline | writer | a small version's blobs and its commit in one body (the manifest raw with `manifest_bytes`) |
| POST /api/v1/patches, /patches/list, /patches/clear | writer | distributed artifacts' parts |
| POST /api/v1/blobs/parts, /blobs/complete | writer | multipart uploads to S3 blobs (multipart.py) |
| POST /api/v1/blobs/locate | reader | signed GET URLs for a version's blobs |
| POST /api/v1/blobs/fetch | reader | many small blobs of a version in one body |
| PUT/GET /blobs/<alg>/<hex>?... | signed URL | one blob's bytes |
| GET/POST /api/v1/keys, DELETE /api/v1/keys/<id> | admin | manage keys |
| / (everything else) | login with a key | the web pages (web.py, artefact.ui) |

Errors are `{"error": {"type", "message"}}` with 400 (bad input), 401, 403, 404, 409
(content missing, delete refused), 413 (too large), 503 (catalog unavailable).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from ..store import errors as store_errors
from . import keys as keymod
from .auth import Forbidden, Unauthorized, cached_key, check_key, require
from ..store.blobs import fsync_dir
from .blob_io import BlobWriter, receive_batch, stream_batch
from .protocol import (commit, commit_inline, have_blobs, lacking, locate, patches, project_pk, readable_blobs, record_blobs,
                       stage_patch)
from .rpc import call
from . import multipart
from .state import ServerConfig, ServerState, digest_from_hex
from .web import api_fallback, web_app
from .wire import PROTOCOL, error_body

__all__ = ["create_app"]


# Bytes per read of a blob GET: Starlette's 64 KiB default costs a thread hop per
# chunk, 16,384 of them for 1 GiB.
_GET_CHUNK = 4 << 20


class TooLarge(OverflowError):
    """A body over its limit (413)."""


class AlreadyStored(FileExistsError):
    """A PUT URL replayed after its blob was stored (409: refused, nothing written)."""


def _status(exc: BaseException) -> int:
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, (Forbidden, PermissionError)):
        return 403
    if isinstance(exc, (store_errors.ArtifactNotFoundError, store_errors.ProjectNotFoundError,
                        store_errors.RunNotFoundError)):
        return 404
    if isinstance(exc, (store_errors.MissingBlobError, store_errors.DeleteRefusedError, AlreadyStored)):
        return 409
    if isinstance(exc, OverflowError):
        return 413
    if isinstance(exc, (ValueError, TypeError, LookupError, json.JSONDecodeError, UnicodeDecodeError)):
        return 400
    return 0


def _unavailable(exc: BaseException) -> bool:
    if type(exc).__module__.startswith("botocore") and "Connect" in type(exc).__name__:
        return True  # the blob store (S3) is unreachable: the client retries
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout))


def _error(exc: BaseException) -> JSONResponse:
    status = _status(exc)
    if status == 0:
        if not _unavailable(exc):
            raise exc
        return JSONResponse(error_body("ServiceUnavailable", f"catalog or blob store unavailable: {exc}"), 503,
                            headers={"Retry-After": "1"})
    name = type(exc).__name__
    if isinstance(exc, (Unauthorized, Forbidden, AlreadyStored)):
        name = "PermissionError" if not isinstance(exc, AlreadyStored) else "AlreadyStored"
    elif isinstance(exc, json.JSONDecodeError):
        name = "ValueError"
    message = str(exc) if not isinstance(exc, KeyError) else f"missing field {exc}"
    return JSONResponse(error_body(name, message), status)


def _guarded(fn: Callable) -> Callable:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except Exception as exc:  # noqa: BLE001 - mapped to a status, or re-raised
            return _error(exc)

    return endpoint


async def _read_json(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"request body of {length} bytes is over the {limit} byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body is over the {limit} byte limit")
    if not body:
        return {}
    return json.loads(body)


def create_app(cfg: ServerConfig) -> Starlette:
    """The ASGI app for one server process (one ServerState: catalog pool, signer)."""
    state = ServerState(cfg)
    limit = state.config.max_json_bytes

    keycache = keymod.KeyCache()

    async def key_of(request: Request) -> keymod.ApiKey:
        header = request.headers.get("authorization")
        return cached_key(keycache, header) or await run_in_threadpool(check_key, state.catalog, header, keycache)

    async def healthz(request: Request) -> Response:
        await run_in_threadpool(state.catalog.project_exists, "-", "-")
        return JSONResponse({"ok": True, "protocol": PROTOCOL})

    async def whoami(request: Request) -> Response:
        key = await key_of(request)
        return JSONResponse({**key.as_json(), "protocol": PROTOCOL, "public_url": state.signer.public_url,
                             "direct_blobs": state.blobs.direct,
                             "part_bytes": getattr(state.blobs, "part_bytes", None),
                             "manifest_bytes": True})  # commit/inline takes the manifest raw

    async def store_call(request: Request) -> Response:
        key = await key_of(request)
        args = await _read_json(request, limit)
        result = await run_in_threadpool(call, state, key, request.path_params["method"], args)
        return JSONResponse({"result": result})

    def json_route(handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            key = await key_of(request)
            args = await _read_json(request, limit)
            if not isinstance(args, dict):
                raise ValueError("the request body must be a JSON object")
            return JSONResponse(await run_in_threadpool(handler, state, key, args))

        return endpoint

    async def batch_upload(request: Request) -> Response:
        key = await key_of(request)
        entity, project = request.query_params.get("entity", ""), request.query_params.get("project", "")
        require(key, entity, project, "writer")
        pid = await run_in_threadpool(project_pk, state, entity, project, True)
        stored = await receive_batch(state, request.stream(), state.config.max_batch_bytes, pid)
        await run_in_threadpool(record_blobs, state, pid, stored)
        return JSONResponse({"stored": len(stored)})

    async def commit_inline_route(request: Request) -> Response:
        key = await key_of(request)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > state.config.max_batch_bytes:
                raise TooLarge(f"request body is over the {state.config.max_batch_bytes} byte limit")
        return JSONResponse(await run_in_threadpool(commit_inline, state, key, bytes(body)))

    async def batch_fetch(request: Request) -> Response:
        key = await key_of(request)
        args = await _read_json(request, limit)
        blobs = await run_in_threadpool(readable_blobs, state, key, args)
        missing = await run_in_threadpool(state.blobs.missing, blobs.pid, blobs)
        if missing:
            raise store_errors.MissingBlobError(f"blob {missing[0][1]} is missing from the server's store")
        return StreamingResponse(stream_batch(state, blobs), media_type="application/octet-stream")

    def _blob(request: Request, method: str):
        algorithm, hex_digest = request.path_params["algorithm"].upper(), request.path_params["hex"]
        digest = digest_from_hex(hex_digest)
        if algorithm not in ("MD5", "XXH128") or digest is None:
            raise ValueError(f"no blob {algorithm}/{hex_digest}")
        grant = state.signer.check(algorithm, hex_digest, method, dict(request.query_params))
        return grant, algorithm, digest

    async def blob_get(request: Request) -> Response:
        _grant, algorithm, digest = _blob(request, "GET")
        path = state.store.blobs.object_path(digest, algorithm)
        if not os.path.isfile(path):
            raise store_errors.MissingBlobError(f"blob {digest} is not stored")
        resp = FileResponse(path, media_type="application/octet-stream")
        resp.chunk_size = _GET_CHUNK
        return resp

    async def blob_put(request: Request) -> Response:
        grant, algorithm, digest = _blob(request, "PUT")
        dest = state.store.blobs.object_path(digest, algorithm)
        have = await run_in_threadpool(have_blobs, state, grant.project_pk, [(algorithm, digest)])
        if (algorithm, digest) in have:  # create-only: a replay after the blob was stored writes nothing
            raise AlreadyStored(f"blob {digest} is already stored; this byte URL cannot write again")
        writer = BlobWriter(state, algorithm, digest, grant.size, durable=state.config.fsync)
        try:
            async for chunk in request.stream():
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        await run_in_threadpool(writer.finish)
        if state.config.fsync:
            await run_in_threadpool(fsync_dir, os.path.dirname(dest))
        await run_in_threadpool(record_blobs, state, grant.project_pk, [(algorithm, digest, grant.size)])
        return JSONResponse({"stored": 1}, 201)

    async def keys_list(request: Request) -> Response:
        key = await key_of(request)
        entity = request.query_params.get("entity", key.entity)
        require(key, entity, key.project or "*", "admin")
        found = await run_in_threadpool(keymod.list_keys, state.catalog, entity)
        return JSONResponse({"keys": [k.as_json() for k in found if key.project in (None, k.project)]})

    async def keys_create(request: Request) -> Response:
        key = await key_of(request)
        args = await _read_json(request, limit)
        entity, project = args.get("entity", key.entity), args.get("project")
        require(key, entity, project if project else (key.project or "*"), "admin")
        if key.project is not None and project != key.project:
            raise Forbidden(f"API key {key.key_id} may only make keys for project {key.project}")
        secret, made = await run_in_threadpool(
            keymod.create_key, state.catalog, entity, args.get("role", ""), project, args.get("description"))
        return JSONResponse({"key": secret, **made.as_json()}, 201)

    async def keys_revoke(request: Request) -> Response:
        key = await key_of(request)
        target = await run_in_threadpool(keymod.get_key, state.catalog, request.path_params["key_id"])
        require(key, target.entity, target.project or key.project or "*", "admin")
        if key.project is not None and target.project != key.project:
            raise Forbidden(f"API key {key.key_id} may only revoke keys of project {key.project}")
        revoked = await run_in_threadpool(keymod.revoke_key, state.catalog, target.key_id)
        keycache.forget(target.key_id)
        return JSONResponse(revoked.as_json())

    routes = [
        Route("/healthz", _guarded(healthz), methods=["GET"]),
        Route("/api/v1/whoami", _guarded(whoami), methods=["GET"]),
        Route("/api/v1/store/{method}", _guarded(store_call), methods=["POST"]),
        Route("/api/v1/blobs/lacking", _guarded(json_route(lacking)), methods=["POST"]),
        Route("/api/v1/blobs/batch", _guarded(batch_upload), methods=["POST"]),
        Route("/api/v1/commit", _guarded(json_route(commit)), methods=["POST"]),
        Route("/api/v1/commit/inline", _guarded(commit_inline_route), methods=["POST"]),
        Route("/api/v1/patches", _guarded(json_route(stage_patch)), methods=["POST"]),
        Route("/api/v1/patches/list", _guarded(json_route(lambda st, k, a: patches(st, k, a, False))), methods=["POST"]),
        Route("/api/v1/patches/clear", _guarded(json_route(lambda st, k, a: patches(st, k, a, True))), methods=["POST"]),
        Route("/api/v1/blobs/locate", _guarded(json_route(locate)), methods=["POST"]),
        Route("/api/v1/blobs/parts", _guarded(json_route(multipart.part_urls)), methods=["POST"]),
        Route("/api/v1/blobs/complete", _guarded(json_route(multipart.complete)), methods=["POST"]),
        Route("/api/v1/blobs/fetch", _guarded(batch_fetch), methods=["POST"]),
        Route("/blobs/{algorithm}/{hex}", _guarded(blob_get), methods=["GET", "HEAD"]),
        Route("/blobs/{algorithm}/{hex}", _guarded(blob_put), methods=["PUT"]),
        Route("/api/v1/keys", _guarded(keys_list), methods=["GET"]),
        Route("/api/v1/keys", _guarded(keys_create), methods=["POST"]),
        Route("/api/v1/keys/{key_id}", _guarded(keys_revoke), methods=["DELETE"]),
    ]
    # The web pages, last: they answer every path the API does not (web.py).
    routes.append(Mount("/", app=api_fallback(list(routes), web_app(state))))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        import asyncio

        from .janitor import run_periodically

        janitor = asyncio.create_task(run_periodically(state))  # stale uploads (janitor.py)
        yield
        janitor.cancel()
        state.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.artefact = state
    return app
