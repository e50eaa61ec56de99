"""`artefact login`: remember a team server and API key, as `wandb login` does.

    artefact login [KEY] --host https://artefact.example.com   (KEY, else $ARTEFACT_API_KEY, else a prompt)
    artefact login --relogin / --verify

The key is checked against the server (`/api/v1/whoami`) before it is saved, then
written with the server URL and the key's entity to `<ARTEFACT_CONFIG_DIR or
~/.config/artefact>/settings` (mode 0600). Environment variables still win over the file.
"""

from __future__ import annotations

import argparse
import configparser
import getpass
import os
import sys

from .. import config

__all__ = ["add_parser", "run", "save_login"]


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register `login` on the artefact CLI."""
    p = sub.add_parser("login", help="save a team server URL and API key (like `wandb login`)")
    p.add_argument("key", nargs="?", help="the API key (default $ARTEFACT_API_KEY, else asked for)")
    p.add_argument("--host", "--base-url", dest="host", help="the server's URL (default $ARTEFACT_BASE_URL)")
    p.add_argument("--relogin", action="store_true", help="ask for a key even if one is saved")
    p.add_argument("--verify", action="store_true", help="only check the saved/configured key")


def save_login(base_url: str, api_key: str, entity: str) -> str:
    """Write the settings file (0600); its path."""
    path = config.settings_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    if not parser.has_section("default"):
        parser.add_section("default")
    parser["default"].update({"base_url": base_url.rstrip("/"), "api_key": api_key, "entity": entity})
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        parser.write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def run(args: argparse.Namespace) -> int:
    """The `login` command."""
    from .store import RemoteStore

    base = args.host or config.base_url()
    if not base:
        raise ValueError("no server given: pass --host URL or set ARTEFACT_BASE_URL")
    key = args.key or (None if args.relogin else config.api_key())
    if not key and not args.verify:
        key = getpass.getpass(f"API key for {base}: ").strip()
    if not key:
        raise ValueError("no API key given")
    who = RemoteStore(base, key).whoami()
    scope = f"{who['entity']}/{who['project'] or '*'}"
    if args.verify:
        print(f"API key {who['key_id']} is valid: {who['role']} in {scope} at {base}")
        return 0
    path = save_login(base, key, who["entity"])
    print(f"Logged in to {base} as {who['role']} in {scope}; saved to {path}", file=sys.stderr)
    return 0
