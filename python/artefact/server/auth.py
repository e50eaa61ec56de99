"""Auth at the door: every API route names the role it needs in which project.

`Authorization: Bearer <key>` (also `Basic` with the key as password, as wandb's
`api:<key>` does). No key, a malformed, unknown or revoked key: 401. A live key without
the role in that project: 403. Byte URLs carry their own authority (signer.py).
"""

from __future__ import annotations

import base64
from typing import Optional

from .keys import ApiKey, KeyCache, authenticate

__all__ = ["Unauthorized", "Forbidden", "presented_key", "require", "check_key", "cached_key"]


class Unauthorized(PermissionError):
    """No usable API key (401)."""


class Forbidden(PermissionError):
    """A live key without the needed role in the project (403)."""


def presented_key(header: Optional[str]) -> str:
    """The key in an Authorization header; Unauthorized if there is none."""
    if not header:
        raise Unauthorized("no API key: send 'Authorization: Bearer <key>' (see `artefact login`)")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user_pass = base64.b64decode(value, validate=True).decode()
        except ValueError:
            raise Unauthorized("malformed Basic authorization header") from None
        return user_pass.partition(":")[2]
    raise Unauthorized("Authorization header must be 'Bearer <key>'")


def check_key(catalog, header: Optional[str], cache: Optional[KeyCache] = None) -> ApiKey:
    """The live key of a request; Unauthorized otherwise. A key `cache` holds is not
    looked up again (see KeyCache for how soon a revocation takes effect)."""
    presented = presented_key(header)
    key = cache.get(presented) if cache is not None else None
    if key is not None:
        return key
    key = authenticate(catalog, presented)
    if key is None:
        raise Unauthorized("API key is not valid (malformed, unknown or revoked)")
    if cache is not None:
        cache.put(presented, key)
    return key


def cached_key(cache: KeyCache, header: Optional[str]) -> Optional[ApiKey]:
    """The key of a request if `cache` holds it (no catalog read, no thread hop)."""
    try:
        return cache.get(presented_key(header))
    except Unauthorized:
        return None


def require(key: ApiKey, entity: str, project: str, role: str) -> None:
    """Forbidden unless `key` may act as `role` in `entity/project`."""
    if not key.allows(entity, project, role):
        scope = f"{key.entity}/{key.project}" if key.project else f"{key.entity}/*"
        raise Forbidden(
            f"API key {key.key_id} ({key.role} in {scope}) may not act as {role} in {entity}/{project}"
        )
