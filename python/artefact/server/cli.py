"""`artefact server`: run the team server, and manage its API keys.

    artefact server [--catalog PATH|postgresql://...] [--blobs DIR] [--host H] [--port P]
                    [--public-url URL] [--ssl-keyfile F --ssl-certfile F]
    artefact server keys create --entity E [--project P] --role reader|writer|admin
    artefact server keys list [--entity E]
    artefact server keys revoke KEY_ID
    artefact server janitor [--age SECONDS]

`--blobs s3://bucket/prefix` keeps blobs in S3 (or any S3-compatible store): clients
move bytes straight to the bucket on presigned URLs; endpoint, region and credentials
come from the AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...), see
s3_blobs.py. `janitor` aborts stale multipart uploads and removes temp files and
unfinished distributed parts older than the grace (janitor.py).

`keys` works on the catalog directly (whoever can reach the database is its admin), so
the first admin key can be made before any key exists. Every option has an environment
variable (ARTEFACT_SERVER_CATALOG, _BLOBS, _HOST, _PORT, _PUBLIC_URL, _DIR, _SECRET, _URL_TTL,
_MAX_BODY_BYTES, _FSYNC, _JANITOR_AGE, _JANITOR_INTERVAL, _S3_MULTIPART_BYTES, _S3_PART_BYTES,
_S3_CREATE_ONLY, _S3_PUBLIC_ENDPOINT).
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_parser", "run"]


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"ARTEFACT_SERVER_{name}", default)


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register `server` (and `server keys ...`) on the artefact CLI."""
    server = sub.add_parser("server", help="run the team server (shared catalog, API keys)")
    _catalog_args(server)
    server.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=int(_env("PORT", "8080")), help="port (default 8080)")
    server.add_argument("--public-url", default=_env("PUBLIC_URL"),
                        help="base URL clients reach this server at, written into byte URLs"
                             " (default http(s)://HOST:PORT)")
    server.add_argument("--ssl-keyfile", help="TLS private key (uvicorn)")
    server.add_argument("--ssl-certfile", help="TLS certificate (uvicorn)")
    server.add_argument("--ssl-keyfile-password", help="password of the TLS key (uvicorn)")
    server.add_argument("--ssl-ca-certs", help="CA bundle for client certificates (uvicorn)")
    server.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    keys = server.add_subparsers(dest="server_command")
    k = keys.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = k.add_parser("create", help="make a key (printed once, stored only as a hash)")
    _catalog_args(create)
    create.add_argument("--entity", required=True)
    create.add_argument("--project", help="limit the key to one project (default: every project of the entity)")
    create.add_argument("--role", required=True, choices=("reader", "writer", "admin"))
    create.add_argument("--description")
    ls = k.add_parser("list", help="list keys (never their secrets)")
    _catalog_args(ls)
    ls.add_argument("--entity")
    revoke = k.add_parser("revoke", help="revoke a key for good")
    _catalog_args(revoke)
    revoke.add_argument("key_id", help="the id shown by `keys list` (or a whole key)")
    janitor = keys.add_parser("janitor", help="abort stale multipart uploads, remove stale temp files and parts")
    _catalog_args(janitor)
    janitor.add_argument("--age", type=float, default=None,
                         help="grace in seconds: newer leftovers are kept (default $ARTEFACT_SERVER_JANITOR_AGE or 86400)")


def _catalog_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", default=_env("CATALOG"),
                   help="SQLite file or postgresql:// URL (default <data dir>/catalog.db)")
    p.add_argument("--blobs", default=_env("BLOBS"),
                   help="blob directory (default <data dir>/blobs), or s3://bucket/prefix")


def _config(args: argparse.Namespace, public_url: str = ""):  # noqa: ANN202
    from .state import ServerConfig

    ttl = _env("URL_TTL", "900")
    if not ttl.isdigit() or int(ttl) < 1:
        raise ValueError(f"ARTEFACT_SERVER_URL_TTL={ttl!r}: expected a positive number of seconds")
    limit = _env("MAX_BODY_BYTES", str(256 * 2**20))
    if not limit.isdigit():
        raise ValueError(f"ARTEFACT_SERVER_MAX_BODY_BYTES={limit!r}: expected a number of bytes")
    fsync = _env("FSYNC", "1").strip().lower()
    if fsync not in ("0", "1", "true", "false", "on", "off"):
        raise ValueError(f"ARTEFACT_SERVER_FSYNC={fsync!r}: expected 1 or 0")
    return ServerConfig(catalog=args.catalog, blobs=args.blobs, public_url=public_url or "http://127.0.0.1:8080",
                        url_ttl=int(ttl), max_json_bytes=int(limit), max_batch_bytes=int(limit),
                        fsync=fsync in ("1", "true", "on"))


def run(args: argparse.Namespace) -> int:
    """The `server` command."""
    if getattr(args, "server_command", None) == "keys":
        return _keys(args)
    if getattr(args, "server_command", None) == "janitor":
        return _janitor(args)
    import uvicorn

    from .app import create_app

    scheme = "https" if args.ssl_certfile else "http"
    public = args.public_url or f"{scheme}://{args.host}:{args.port}"
    app = create_app(_config(args, public))
    print(f"artefact server on {scheme}://{args.host}:{args.port} (public URL {public})", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                ssl_keyfile=args.ssl_keyfile, ssl_certfile=args.ssl_certfile,
                ssl_keyfile_password=args.ssl_keyfile_password, ssl_ca_certs=args.ssl_ca_certs,
                timeout_keep_alive=30)
    return 0


def _keys(args: argparse.Namespace) -> int:
    from .keys import create_key, list_keys, revoke_key
    from .state import ServerStore

    cfg = _config(args).resolved()
    store = ServerStore(cfg.catalog, cfg.local_root())
    try:
        if args.keys_command == "create":
            secret, key = create_key(store.catalog, args.entity, args.role, args.project, args.description)
            scope = f"{key.entity}/{key.project or '*'}"
            print(f"created {key.role} key {key.key_id} for {scope}; it is shown only now:", file=sys.stderr)
            print(secret)
        elif args.keys_command == "list":
            for key in list_keys(store.catalog, args.entity):
                state = "revoked" if key.revoked_at is not None else "active"
                print(f"{key.key_id}\t{key.entity}/{key.project or '*'}\t{key.role}\t{state}\t{key.description or ''}")
        else:
            key_id = args.key_id.split("_")[1] if args.key_id.startswith("ak_") else args.key_id
            key = revoke_key(store.catalog, key_id)
            print(f"revoked key {key.key_id} ({key.entity}/{key.project or '*'} {key.role})")
    finally:
        store.catalog.close()
    return 0


def _janitor(args: argparse.Namespace) -> int:
    from .janitor import sweep
    from .state import ServerState

    state = ServerState(_config(args))
    try:
        print(f"janitor: {sweep(state, args.age)}")
    finally:
        state.close()
    return 0
