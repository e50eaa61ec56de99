"""Downloading Azure blob references: wandb 0.31.0's steps, the bytes through the core.

wandb (azure_handler.py `load_path`): a recorded version id is downloaded as such;
without one the current blob is downloaded only if its ETag is the digest
(`If-Match`), else the blob's versions are searched for that ETag. Credentials: an
account key from `ARTEFACT_AZURE_ACCOUNT_KEYS` (wandb's `azure_account_url_to_access_key`
run setting, as JSON `{"<account url>": "<key>"}`), else `DefaultAzureCredential`
(see `azure.credential_for`).

`azure_get` makes that first request a GET for the core's engine: the version id in the
URL, or `If-Match: <etag>`; authorised by a read-only SAS for that blob (an account key)
or an OAuth bearer token (a token credential). The body is checked against the
`Content-MD5` Azure announces. A GET that does not succeed (412: the blob changed, 404)
runs `fetch_azure`, wandb's steps through azure-storage-blob, for its exact answer.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import TYPE_CHECKING, Optional
from urllib.parse import quote

from ..errors import Error
from .azure import AZURE_REQUIRED, credential_for, parse_azure_uri
from .transfer import Get, write_atomically

if TYPE_CHECKING:
    from ..download import Entry


_SAS_HOURS = 6
_API_VERSION = "2021-08-06"


def azure_get(entry: "Entry", target: str, temp_dir: Optional[str] = None) -> Get:
    """The first request of wandb's steps for `entry`, as a GET for the core's engine."""
    try:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas
    except ImportError:
        raise Error(AZURE_REQUIRED) from None
    assert entry.ref is not None
    account_url, container, blob_name, _ = parse_azure_uri(entry.ref)
    version_id = (json.loads(entry.extra) if entry.extra else {}).get("versionID")
    url = f"{account_url}/{container}/{quote(blob_name, safe='/~')}"
    query, headers = [], {}
    if version_id is not None:
        query.append(f"versionid={quote(version_id, safe='')}")
    else:
        headers["If-Match"] = entry.digest
    credential = credential_for(account_url)
    if isinstance(credential, str):  # an account key: a read-only SAS of this blob (version)
        account = account_url.split("//", 1)[1].split(".", 1)[0]
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=_SAS_HOURS)
        query.append(generate_blob_sas(account, container, blob_name, account_key=credential,
                                       permission=BlobSasPermissions(read=True), expiry=expiry,
                                       version_id=version_id))  # fmt: skip
    else:
        headers["Authorization"] = f"Bearer {_token(account_url, credential)}"
        headers["x-ms-version"] = _API_VERSION
    if query:
        url += "?" + "&".join(query)
    return Get(url, headers, target, entry.size, None, None, entry.ref, temp_dir=temp_dir)


_tokens: dict[str, tuple[str, float]] = {}  # account URL -> (OAuth token, expires on)
_tokens_lock = threading.Lock()


def _token(account_url: str, credential) -> str:  # type: ignore[no-untyped-def]
    """A storage-scoped OAuth token of `credential`, reused until 5 minutes before it expires."""
    with _tokens_lock:
        token, expires = _tokens.get(account_url, ("", 0.0))
        if time.time() > expires - 300:
            got = credential.get_token("https://storage.azure.com/.default")
            token, expires = got.token, float(got.expires_on)
            _tokens[account_url] = (token, expires)
        return token


def fetch_azure(entry: "Entry", target: str, temp_dir: Optional[str] = None) -> None:
    """Download the blob of `entry` into `target` with the SDK (temp file, then rename)."""
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
