"""Errors raised by the store, as plain ValueError/LookupError subclasses.

The API layer wraps them in `CommError`, as wandb's `normalize_exceptions` does with
the server's answers; the messages match what wandb users see from the server.
"""

from __future__ import annotations

__all__ = [
    "StoreError",
    "ProjectNotFoundError",
    "ArtifactNotFoundError",
    "RunNotFoundError",
    "TypeMismatchError",
    "DeleteRefusedError",
    "MissingBlobError",
    "CorruptBlobError",
    "StoreVersionError",
    "CatalogLockedError",
    "ReadOnlyStoreError",
]


class StoreError(Exception):
    """Base of every store error."""


class ProjectNotFoundError(StoreError, ValueError, LookupError):
    """`project '<p>' not found under entity '<e>'`."""

    def __init__(self, entity: str, project: str) -> None:
        super().__init__(f"project '{project}' not found under entity '{entity}'")
        self.entity, self.project = entity, project


class ArtifactNotFoundError(StoreError, ValueError, LookupError):
    """`artifact membership '<name>' not found in '<e>/<p>'` (or by id)."""

    def __init__(self, name: str, entity: str = "", project: str = "", message: str = "") -> None:
        super().__init__(message or f"artifact membership '{name}' not found in '{entity}/{project}'")
        self.name, self.entity, self.project = name, entity, project


class RunNotFoundError(StoreError, ValueError, LookupError):
    """`run <e>/<p>/<id> not found`."""


class TypeMismatchError(StoreError, ValueError):
    """A collection exists with another type than the one asked for."""


class DeleteRefusedError(StoreError, ValueError):
    """`delete()` of a version that still has aliases, without `delete_aliases=True`."""


class MissingBlobError(StoreError, FileNotFoundError):
    """An entry's content is neither a local file nor an object in the store."""


class CorruptBlobError(StoreError, ValueError):
    """A stored object does not hash to its digest (disk corruption or tampering)."""


class StoreVersionError(StoreError, RuntimeError):
    """The catalog was written by a newer artefact (its schema is ahead of ours)."""


class CatalogLockedError(StoreError, TimeoutError):
    """Another process held the catalog's write lock past `ARTEFACT_LOCK_TIMEOUT`."""


class ReadOnlyStoreError(StoreError, PermissionError):
    """A write to a store that is opened read-only (read-only mount or permissions)."""
