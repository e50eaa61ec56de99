"""API keys: made once, shown once, stored only as a hash, compared in constant time.

A key reads `ak_<key id>_<secret>`. The key id finds the row; the secret (32 random
bytes) is checked against its SHA-256 with `hmac.compare_digest`. A random 256-bit
secret needs no slow password hash: nothing can be guessed from its SHA-256.

A key belongs to an entity, optionally narrowed to one project, with one role:
reader (read), writer (read, log, alias, link, delete), admin (all that, and keys).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Optional

from ..store.catalog import Catalog

__all__ = ["ApiKey", "ROLES", "create_key", "list_keys", "revoke_key", "authenticate", "KeyError_", "KeyCache",
           "KEY_CACHE_ENV"]

ROLES = ("reader", "writer", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
_FORMAT = re.compile(r"^ak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class KeyError_(ValueError):
    """A bad key request (unknown role, bad entity name, unknown key id)."""


@dataclass(frozen=True)
class ApiKey:
    """A key's row, without its secret."""

    key_id: str
    entity: str
    project: Optional[str]
    role: str
    description: Optional[str]
    created_at: float
    revoked_at: Optional[float]

    def allows(self, entity: str, project: str, role: str) -> bool:
        """True if this key may act as `role` in `entity/project`."""
        if self.revoked_at is not None or entity != self.entity:
            return False
        if self.project is not None and project != self.project:
            return False
        return _RANK[self.role] >= _RANK[role]

    def as_json(self) -> dict:
        return {"key_id": self.key_id, "entity": self.entity, "project": self.project, "role": self.role,
                "description": self.description, "created_at": self.created_at, "revoked_at": self.revoked_at}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _check_name(what: str, value: str) -> None:
    if not _NAME.match(value):
        raise KeyError_(f"{what} {value!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'")


def create_key(catalog: Catalog, entity: str, role: str, project: Optional[str] = None,
               description: Optional[str] = None) -> tuple[str, ApiKey]:
    """A new key for `entity` (and `project`, if given) with `role`; returns
    `(the key, shown only now, its row)`."""
    if role not in ROLES:
        raise KeyError_(f"role {role!r} is not one of {', '.join(ROLES)}")
    _check_name("entity", entity)
    if project is not None:
        _check_name("project", project)
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    now = time.time()
    with catalog.transaction() as conn:
        conn.execute(
            "INSERT INTO api_keys (key_id, secret_hash, entity, project, role, description, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (key_id, _hash(secret), entity, project, role, description, now),
        )
    return f"ak_{key_id}_{secret}", ApiKey(key_id, entity, project, role, description, now, None)


def _row_key(row) -> ApiKey:
    return ApiKey(row["key_id"], row["entity"], row["project"], row["role"], row["description"],
                  float(row["created_at"]), row["revoked_at"])


def list_keys(catalog: Catalog, entity: Optional[str] = None) -> list[ApiKey]:
    """Every key (of `entity`, if given), oldest first; secrets are never stored."""
    sql, params = "SELECT * FROM api_keys", ()
    if entity is not None:
        sql, params = sql + " WHERE entity = ?", (entity,)
    with catalog.transaction(write=False) as conn:
        return [_row_key(r) for r in conn.execute(sql + " ORDER BY id", params).fetchall()]


def get_key(catalog: Catalog, key_id: str) -> ApiKey:
    """One key's row by its id; KeyError_ naming it if there is none."""
    with catalog.transaction(write=False) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
    if row is None:
        raise KeyError_(f"no API key with id {key_id!r}")
    return _row_key(row)


def revoke_key(catalog: Catalog, key_id: str) -> ApiKey:
    """Revoke a key for good (its row stays, so `keys list` shows when)."""
    with catalog.transaction() as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            raise KeyError_(f"no API key with id {key_id!r}")
        if row["revoked_at"] is None:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (time.time(), key_id))
    return get_key(catalog, key_id)


def authenticate(catalog: Catalog, presented: str) -> Optional[ApiKey]:
    """The live key `presented` is, or None (malformed, unknown, wrong secret, revoked).
    The secret is compared in constant time."""
    m = _FORMAT.match(presented or "")
    if m is None:
        return None
    key_id, secret = m.groups()
    with catalog.transaction(write=False) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
    # Hash even when the id is unknown, so timing does not tell ids apart.
    expected = row["secret_hash"] if row is not None else _hash("x" * 43)
    if not hmac.compare_digest(_hash(secret), expected) or row is None:
        return None
    key = _row_key(row)
    return key if key.revoked_at is None else None


KEY_CACHE_ENV = "ARTEFACT_SERVER_KEY_CACHE_SECONDS"


class KeyCache:
    """Keys this process checked lately, so a burst of calls costs one catalog read.

    Only live keys are kept, by the whole presented string (a wrong secret never hits),
    for `seconds` (`ARTEFACT_SERVER_KEY_CACHE_SECONDS`, default 5; 0 turns it off). A key
    revoked through this process is dropped at once; one revoked elsewhere (another
    server process, the CLI) is refused within `seconds`."""

    _MAX = 4096

    def __init__(self, seconds: Optional[float] = None) -> None:
        if seconds is None:
            value = os.environ.get(KEY_CACHE_ENV, "5")
            try:
                seconds = float(value)
            except ValueError:
                raise ValueError(f"{KEY_CACHE_ENV}={value!r}: expected a number of seconds") from None
        self.seconds = max(0.0, seconds)
        self._keys: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, presented: str) -> Optional[ApiKey]:
        """The live key cached for `presented`, or None (never seen, or too old)."""
        hit = self._keys.get(presented)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, presented: str, key: ApiKey) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._keys) >= self._MAX:
                self._keys.clear()
            self._keys[presented] = (time.monotonic() + self.seconds, key)

    def forget(self, key_id: str) -> None:
        """Drop every cached form of the key `key_id` (it was just revoked)."""
        with self._lock:
            for presented in [p for p, (_t, k) in self._keys.items() if k.key_id == key_id]:
                del self._keys[presented]
