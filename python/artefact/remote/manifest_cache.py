"""Manifests the client has read, kept in the artifact cache by their key.

A version's manifest never changes once committed, and its key (`manifest_key`) is the
MD5 of its bytes. So the cache keeps it as an ordinary object under that MD5
(`obj/md5/<2>/<30>`, evicted under the cap like any other), and a later download of
the same version reads it there instead of asking the server again. The version
itself is still resolved by the server on every call (aliases move), and the bytes
read back must hash to the record's key, so a torn or tampered copy is only a miss.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING, Optional

from .. import _core
from ..references.transfer import write_atomically

if TYPE_CHECKING:
    from ..cache import ArtifactCache

__all__ = ["cached_manifest", "keep_manifest"]


def _object_path(cache: "ArtifactCache", key: str) -> Optional[str]:
    """Where the manifest of MD5 hex `key` is kept (None: not an MD5 hex key)."""
    if len(key) != 32:
        return None
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        return None
    return cache.object_path(binascii.b2a_base64(raw, newline=False).decode("ascii"), "MD5")


def cached_manifest(cache: "ArtifactCache", key: str) -> "Optional[_core.Manifest]":
    """The manifest `key` if the cache holds it whole (its bytes hash to `key`), else None."""
    path = _object_path(cache, key)
    if path is None:
        return None
    try:
        # Checked against `key` (a file the stat cache knows unchanged since it matched
        # is not hashed again), and parsed on two cores when large.
        return _core.Manifest.read(path, key)
    except (OSError, ValueError):  # absent, unreadable, torn or altered: ask the server
        return None


def keep_manifest(cache: "ArtifactCache", key: str, data: bytes) -> None:
    """Keep manifest bytes `data` (already checked to hash to `key`) in the cache:
    written to a temp file and renamed into place, so readers see all of it or none.
    A cache that cannot be written only costs the next read a request."""
    path = _object_path(cache, key)
    if path is None:
        return
    try:
        write_atomically(path, cache.tmp_dir, lambda f: f.write(data))
    except OSError:
        pass
