"""Downloading Azure blob references with azure-storage-blob, as wandb 0.31.0 does.

wandb (azure_handler.py `load_path`): a recorded version id is downloaded as such;
without one the current blob is downloaded only if its ETag is the digest
(`If-Match`), else the blob's versions are searched for that ETag. Credentials: an
account key from `ARTEFACT_AZURE_ACCOUNT_KEYS` (wandb's `azure_account_url_to_access_key`
run setting, as JSON `{"<account url>": "<key>"}`), else `DefaultAzureCredential`
(see `azure.credential_for`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from ..errors import Error
from .azure import AZURE_REQUIRED, credential_for, parse_azure_uri
from .transfer import write_atomically

if TYPE_CHECKING:
    from ..download import Entry


def fetch_azure(entry: "Entry", target: str, temp_dir: Optional[str] = None) -> None:
    """Download the blob of `entry` into `target` (temp file, then rename)."""
    try:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError
        from azure.storage.blob import BlobServiceClient
    except ImportError:
        raise Error(AZURE_REQUIRED) from None
    assert entry.ref is not None
    account_url, container, blob_name, _ = parse_azure_uri(entry.ref)
    service = BlobServiceClient(account_url, credential=credential_for(account_url))
    blob_client = service.get_blob_client(container=container, blob=blob_name)
    version_id = (json.loads(entry.extra) if entry.extra else {}).get("versionID")
    if version_id is None:
        try:
            downloader = blob_client.download_blob(etag=entry.digest, match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            container_client = service.get_container_client(container)
            for props in container_client.walk_blobs(name_starts_with=blob_name, include=["versions"]):
                if props.name == blob_name and props.etag == entry.digest and props.version_id is not None:
                    downloader = blob_client.download_blob(version_id=props.version_id)
                    break
            else:
                raise ValueError(
                    f"Couldn't find blob version for {entry.ref} matching etag {entry.digest}."
                ) from None
    else:
        downloader = blob_client.download_blob(version_id=version_id)
    write_atomically(target, temp_dir, downloader.readinto)
