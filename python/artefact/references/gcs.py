"""`gs://bucket/key[#generation]` references, through google-cloud-storage (optional).

The blob's etag is the digest and its generation goes to `extra.versionID` (an int).
A missing blob or a name ending in `/` lists the prefix (`max_results=max_objects`).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

from ..errors import Error
from ..manifest import ArtifactManifestEntry
from ..term import termlog
from .base import DEFAULT_MAX_OBJECTS, StorageHandler, timed

if TYPE_CHECKING:
    from ..artifact import Artifact

GCS_REQUIRED = "gs:// references require the google-cloud-storage library, run pip install wandb[gcp]"


def parse_gcs_uri(uri: str) -> tuple[str, str, Optional[str]]:
    """(bucket, key, generation or None)."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/"), parsed.fragment or None


class GCSHandler(StorageHandler):
    """Handles `gs://` references."""

    scheme = "gs"

    def __init__(self) -> None:
        self._client: Any = None

    def init_gcs(self) -> Any:
        """The storage client; errors.Error with wandb's message if the library is missing."""
        if self._client is None:
            try:
                from google.cloud import storage
            except ImportError:
                raise Error(GCS_REQUIRED) from None
            self._client = storage.Client()
        return self._client

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        client = self.init_gcs()
        bucket_name, key, version = parse_gcs_uri(path)
        path = f"{self.scheme}://{bucket_name}/{key}"
        max_objects = max_objects or DEFAULT_MAX_OBJECTS
        if not checksum:
            return [ArtifactManifestEntry._new(name or key, path, ref=path)]
        bucket = client.bucket(bucket_name)
        obj = bucket.get_blob(key, generation=version)
        if obj is None and version is not None:
            raise ValueError(f"Object does not exist: {path}#{version}")
        multi = obj is None or obj.name.endswith("/")
        with timed(multi):
            if multi:
                termlog(
                    f"Generating checksum for up to {max_objects} objects with prefix {key!r}... ",
                    newline=False,
                )
                objects = bucket.list_blobs(prefix=key, max_results=max_objects)
            else:
                objects = [obj]
            entries = [
                self._entry_from_obj(o, path, name, prefix=key, multi=multi)
                for o in objects
                if o and not o.name.endswith("/")
            ]
        if len(entries) > max_objects:
            raise ValueError(f"Exceeded {max_objects!r} objects tracked, pass max_objects to add_reference")
        return entries

    def _entry_from_obj(self, obj: Any, path: str, name: Optional[str], prefix: str, multi: bool) -> ArtifactManifestEntry:
        bucket_name, key, _ = parse_gcs_uri(path)
        posix_key = PurePosixPath(obj.name)
        posix_path = PurePosixPath(bucket_name, key)
        posix_prefix = PurePosixPath(prefix)
        if name is None:
            if posix_prefix in posix_key.parents:
                posix_name = posix_key.relative_to(posix_prefix)
                posix_ref = posix_path / posix_name
            else:
                posix_name = PurePosixPath(posix_key.name)
                posix_ref = posix_path
        elif multi:
            relpath = posix_key.relative_to(posix_prefix)
            posix_name = PurePosixPath(name) / relpath
            posix_ref = posix_path / relpath
        else:
            posix_name = PurePosixPath(name or "")
            posix_ref = posix_path
        return ArtifactManifestEntry._new(
            posix_name,
            obj.etag,
            ref=f"{self.scheme}://{posix_ref}",
            size=obj.size,
            extra={"versionID": obj.generation},
        )
