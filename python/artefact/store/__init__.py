"""The embedded artifact store: a SQLite catalog plus content-addressed files on disk.

`LocalStore.open()` is the entry point for the Run/Artifact/Api layers; see local.py.
Layout and crash-safety rules are described in blobs.py and gc.py.

Names load on first use (PEP 562), so importing one submodule (`store.local` for a
put) does not import them all (gc, verify...).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import is a sixth of a re-put (fastput.py)
if TYPE_CHECKING:
    from typing import Any

_WHERE = {
    "STORE_ENV": "blobs", "BlobStore": "blobs", "default_store_root": "blobs", "entry_algorithm": "blobs",
    "UNSET": "catalog", "Catalog": "catalog",
    "ArtifactNotFoundError": "errors", "CorruptBlobError": "errors", "DeleteRefusedError": "errors",
    "MissingBlobError": "errors", "ProjectNotFoundError": "errors", "RunNotFoundError": "errors",
    "StoreError": "errors", "StoreVersionError": "errors", "TypeMismatchError": "errors",
    "GcReport": "gc", "collect_garbage": "gc", "verify_store": "gc",
    "LocalStore": "local", "split_alias": "local",
    "CollectionRecord": "records", "RunRecord": "records", "VersionRecord": "records",
    "decode_id": "records", "encode_id": "records",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'artefact.store' has no attribute {name!r}")
    import sys  # importlib.import_module without importlib (~1 ms of a re-put: fastput.py)

    __import__(f"{__name__}.{module}")
    value = getattr(sys.modules[f"{__name__}.{module}"], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:
    from .blobs import STORE_ENV, BlobStore, default_store_root, entry_algorithm
    from .catalog import UNSET, Catalog
    from .errors import (
        ArtifactNotFoundError,
        CorruptBlobError,
        DeleteRefusedError,
        MissingBlobError,
        ProjectNotFoundError,
        RunNotFoundError,
        StoreError,
        StoreVersionError,
        TypeMismatchError,
    )
    from .gc import GcReport, collect_garbage, verify_store
    from .local import LocalStore, split_alias
    from .records import CollectionRecord, RunRecord, VersionRecord, decode_id, encode_id

__all__ = [
    "LocalStore",
    "Catalog",
    "BlobStore",
    "VersionRecord",
    "CollectionRecord",
    "RunRecord",
    "GcReport",
    "UNSET",
    "STORE_ENV",
    "default_store_root",
    "entry_algorithm",
    "split_alias",
    "collect_garbage",
    "verify_store",
    "encode_id",
    "decode_id",
    "StoreError",
    "ProjectNotFoundError",
    "ArtifactNotFoundError",
    "RunNotFoundError",
    "TypeMismatchError",
    "DeleteRefusedError",
    "MissingBlobError",
    "CorruptBlobError",
    "StoreVersionError",
]
