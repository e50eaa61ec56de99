"""Azure Blob Storage references: `https://<account>.blob.core.windows.net/<container>/<blob>`.

checksum=False needs no library (digest = ref = the URI without query). Otherwise the
azure-storage-blob and azure-identity packages are used: an account key from
`ARTEFACT_AZURE_ACCOUNT_KEYS` (wandb's `azure_account_url_to_access_key` run setting, as
JSON `{"<account url>": "<key>"}`), else `DefaultAzureCredential()`, as wandb resolves them.
"""

from __future__ import annotations

import json
import os
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import parse_qsl, urlparse

from ..errors import Error
from ..manifest import ArtifactManifestEntry
from ..term import termwarn
from .base import DEFAULT_MAX_OBJECTS, StorageHandler

if TYPE_CHECKING:
    from ..artifact import Artifact

AZURE_REQUIRED = "Azure references require the azure library, run pip install wandb[azure]"


def parse_azure_uri(uri: str) -> tuple[str, str, str, dict[str, str]]:
    """(account URL, container, blob name, query dict)."""
    parsed = urlparse(uri)
    _, container, blob = parsed.path.split("/", 2)
    return f"{parsed.scheme}://{parsed.netloc}", container, blob, dict(parse_qsl(parsed.query))


ACCOUNT_KEYS_ENV = "ARTEFACT_AZURE_ACCOUNT_KEYS"


def credential_for(account_url: str) -> Any:
    """An account key configured for `account_url`, else DefaultAzureCredential()."""
    raw = os.environ.get(ACCOUNT_KEYS_ENV, "").strip()
    if raw:
        try:
            keys = json.loads(raw)
        except ValueError:
            raise ValueError(f"{ACCOUNT_KEYS_ENV}={raw!r}: expected a JSON object of account URL to key") from None
        if account_url in keys:
            return keys[account_url]
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise Error(AZURE_REQUIRED) from None
    return DefaultAzureCredential()


def _is_directory_stub(props: Any) -> bool:
    metadata = getattr(props, "metadata", None) or {}
    return metadata.get("hdi_isfolder") == "true"


class AzureHandler(StorageHandler):
    """Handles https references to Azure blobs."""

    scheme = "https"

    def can_handle(self, parsed_url) -> bool:  # type: ignore[no-untyped-def]
        return parsed_url.scheme == self.scheme and parsed_url.netloc.endswith(".blob.core.windows.net")

    def _service_client(self, account_url: str) -> Any:
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            raise Error(AZURE_REQUIRED) from None
        return BlobServiceClient(account_url, credential=credential_for(account_url))

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        account_url, container, blob_name, query = parse_azure_uri(path)
        path = f"{account_url}/{container}/{blob_name}"
        if not checksum:
            return [ArtifactManifestEntry._new(name or blob_name, path, ref=path)]
        service = self._service_client(account_url)
        blob_client = service.get_blob_client(container=container, blob=blob_name)
        version_id = query.get("versionId")
        if blob_client.exists(version_id=version_id):
            props = blob_client.get_blob_properties(version_id=version_id)
            if not _is_directory_stub(props):
                ref = f"{account_url}/{container}/{props.name}"
                return [self._entry(props, name or PurePosixPath(blob_name).name, ref)]
        entries: list[ArtifactManifestEntry] = []
        max_objects = max_objects or DEFAULT_MAX_OBJECTS
        container_client = service.get_container_client(container)
        for props in container_client.list_blobs(name_starts_with=f"{blob_name}/"):
            if len(entries) >= max_objects:
                termwarn(
                    f"Found more than {max_objects} objects under path, limiting upload "
                    f"to {max_objects} objects. Increase max_objects to upload more"
                )
                break
            if not _is_directory_stub(props):
                suffix = PurePosixPath(props.name).relative_to(blob_name)
                entry_path = PurePosixPath(name) / suffix if name else suffix
                entries.append(self._entry(props, entry_path, f"{account_url}/{container}/{props.name}"))
        return entries

    @staticmethod
    def _entry(props: Any, path: Any, ref: str) -> ArtifactManifestEntry:
        etag = props.etag.strip('"')
        extra = {"etag": etag}
        if props.version_id:
            extra["versionID"] = props.version_id
        return ArtifactManifestEntry._new(path, etag, ref=ref, size=props.size, extra=extra)
