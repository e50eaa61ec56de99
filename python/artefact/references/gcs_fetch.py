"""Downloading `gs://` references with google-cloud-storage, as wandb 0.31.0 does.

wandb (gcs_handler.py `load_path`): a folder entry is skipped; the blob is the recorded
generation (`extra.versionID`) if that still exists, else the live blob; its etag must
equal the entry's digest. The SDK verifies the bytes while downloading (MD5 or CRC32C).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Optional

from .gcs import GCSHandler, parse_gcs_uri
from .transfer import write_atomically

if TYPE_CHECKING:
    from ..download import Entry


class GCSFolderError(Exception):
    """The entry names a folder: wandb skips it without a warning."""


def fetch_gcs(handler: GCSHandler, entry: "Entry", target: str, temp_dir: Optional[str] = None) -> None:
    """Download the blob of `entry` into `target` (temp file, then rename)."""
    assert entry.ref is not None
    client = handler.init_gcs()
    bucket_name, key, _ = parse_gcs_uri(entry.ref)
    bucket = client.bucket(bucket_name)
    if _is_dir(bucket, key, entry.size):
        raise GCSFolderError(f"Unable to download GCS folder {entry.ref!r}, skipping")
    extra = json.loads(entry.extra) if entry.extra else {}
    version_id = extra.get("versionID")
    obj = (version_id is not None and bucket.get_blob(key, generation=version_id)) or bucket.get_blob(key)
    if obj is None:
        raise ValueError(f"Unable to download object {entry.ref!r} with generation {version_id!r}")
    if obj.etag != entry.digest:
        raise ValueError(
            f"Digest mismatch for object {entry.ref!r}: expected {entry.digest!r} but found {obj.etag!r}"
        )
    # pinned to the generation just checked; the SDK checks the hash as it goes
    write_atomically(target, temp_dir, lambda f: obj.download_to_file(f, if_generation_match=obj.generation))


def _is_dir(bucket, key: str, entry_size) -> bool:  # type: ignore[no-untyped-def]
    # wandb's test: older manifests may name a folder without its trailing slash.
    return key.endswith("/") or (
        not (entry_size or PurePosixPath(key).suffix)
        and bucket.get_blob(key) is None
        and bucket.get_blob(f"{key}/") is not None
    )
