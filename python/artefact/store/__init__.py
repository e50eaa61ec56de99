"""The embedded artifact store: a SQLite catalog plus content-addressed files on disk.

`LocalStore.open()` is the entry point for the Run/Artifact/Api layers; see local.py.
Layout and crash-safety rules are described in blobs.py and gc.py.
"""

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
