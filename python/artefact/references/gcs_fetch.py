"""Downloading `gs://` references: wandb 0.31.0's checks through google-cloud-storage,
the bytes through the core's transfer engine.

wandb (gcs_handler.py `load_path`): a folder entry is skipped; the blob is the recorded
generation (`extra.versionID`) if that still exists, else the live blob; its etag must
equal the entry's digest. `gcs_get` runs those checks with the SDK and returns the GET of
that exact generation (its media link, the client's OAuth token; none for the emulator),
to be checked against the blob's MD5 as it streams. A GET that does not succeed is
downloaded by the SDK (`fetch_gcs`), which gives wandb's errors and checks MD5/CRC32C.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Optional

from .gcs import GCSHandler, parse_gcs_uri
from .transfer import Get, write_atomically

if TYPE_CHECKING:
    from ..download import Entry


class GCSFolderError(Exception):
    """The entry names a folder: wandb skips it without a warning."""


def gcs_get(handler: GCSHandler, entry: "Entry", target: str, temp_dir: Optional[str] = None) -> Get:
    """wandb's checks for `entry`, then the GET of the checked generation into `target`."""
    obj = _checked_blob(handler, entry)
    url = obj.media_link or f"{obj.client._connection.API_BASE_URL}/download/storage/v1{obj.path}?alt=media"
    if "generation=" not in url:
        url += ("&" if "?" in url else "?") + f"generation={obj.generation}"
    md5 = base64.b64decode(obj.md5_hash).hex() if obj.md5_hash else None  # composite objects have none
    crc = int.from_bytes(base64.b64decode(obj.crc32c), "big") if obj.crc32c else None  # every object has one
    return Get(url, auth_headers(handler), target, obj.size, md5, None, entry.ref or "", temp_dir=temp_dir, crc32c=crc)


def auth_headers(handler: GCSHandler) -> dict:
    """The client's OAuth header (refreshed if needed); none for anonymous credentials."""
    client = handler.init_gcs()
    creds = getattr(client, "_credentials", None)
    from google.auth.credentials import AnonymousCredentials

    if creds is None or isinstance(creds, AnonymousCredentials):
        return {}
    with _token_lock:
        if not creds.valid:
            import google.auth.transport.requests

            creds.refresh(google.auth.transport.requests.Request())
        headers: dict = {}
        creds.apply(headers)
    return headers


_token_lock = threading.Lock()


def fetch_gcs(handler: GCSHandler, entry: "Entry", target: str, temp_dir: Optional[str] = None) -> None:
    """Download the blob of `entry` into `target` with the SDK (temp file, then rename)."""
    obj = _checked_blob(handler, entry)
    # pinned to the generation just checked; the SDK checks the hash as it goes
    write_atomically(target, temp_dir, lambda f: obj.download_to_file(f, if_generation_match=obj.generation))


def _checked_blob(handler: GCSHandler, entry: "Entry"):  # type: ignore[no-untyped-def]
    """The blob wandb would download for `entry`, or wandb's error."""
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
    return obj


def _is_dir(bucket, key: str, entry_size) -> bool:  # type: ignore[no-untyped-def]
    # wandb's test: older manifests may name a folder without its trailing slash.
    return key.endswith("/") or (
        not (entry_size or PurePosixPath(key).suffix)
        and bucket.get_blob(key) is None
        and bucket.get_blob(f"{key}/") is not None
    )
