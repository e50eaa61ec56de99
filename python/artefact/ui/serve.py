"""`artefact ui [--port N] [--open] [--allow-writes]`: the pages over the embedded store,
on 127.0.0.1 only.

Read-only by default, as the issue asks of a local viewer; `--allow-writes` lets the
local user move aliases and tags from the page (with the same CSRF and origin checks the
server's writers get). Only `127.0.0.1`/`localhost` Host headers are answered, so a web
page elsewhere cannot reach the store by DNS rebinding.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import webbrowser
from typing import Optional

__all__ = ["add_parser", "run", "PORT_ENV", "DEFAULT_PORT"]

PORT_ENV = "ARTEFACT_UI_PORT"
DEFAULT_PORT = 8765
HOST = "127.0.0.1"


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register `artefact ui` on the CLI's subcommands."""
    ui = sub.add_parser("ui", help="browse the store in a web page (127.0.0.1)")
    ui.add_argument("--port", type=int, default=None,
                    help=f"port (default ${PORT_ENV} or {DEFAULT_PORT}; 0 picks a free one)")
    ui.add_argument("--open", action="store_true", help="open the page in the default browser")
    ui.add_argument("--allow-writes", action="store_true",
                    help="let the page move aliases and tags (default: read-only)")
    ui.add_argument("--store", help="store root (default $ARTEFACT_STORE)")


def _port(arg: Optional[int]) -> int:
    if arg is not None:
        value = arg
    else:
        raw = os.environ.get(PORT_ENV, "")
        try:
            value = int(raw) if raw else DEFAULT_PORT
        except ValueError:
            raise ValueError(f"{PORT_ENV} must be a port number, got {raw!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; prints the URL (with the real port) first."""
    try:
        import uvicorn

        from .app import create_app
    except ImportError as e:
        print(f'artefact: error: `artefact ui` needs the ui extra ({e.name} is missing):'
              ' pip install "artefact[ui]"', file=sys.stderr)
        return 2
    from ..store import LocalStore

    port = _port(args.port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {HOST}:{port}: {e.strerror}") from None
    sock.listen(128)
    port = sock.getsockname()[1]
    store = LocalStore.open(args.store)
    app = create_app(store, local_role="writer" if args.allow_writes else "reader",
                     allowed_hosts=[HOST, "localhost"])
    url = f"http://{HOST}:{port}/"
    mode = "aliases and tags can be moved" if args.allow_writes else "read-only"
    print(f"Serving {store.root} at {url} ({mode}); Ctrl+C stops.", flush=True)
    if args.open:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        store.close()
    return 0
