"""References with schemes nobody handles: tracked by URI only (digest = ref = uri)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional
from urllib.parse import urlparse

from ..manifest import ArtifactManifestEntry
from ..term import termwarn
from .base import StorageHandler

if TYPE_CHECKING:
    from ..artifact import Artifact


class TrackingHandler(StorageHandler):
    """Tracks paths with no checksum, e.g. files on a share mounted everywhere."""

    def can_handle(self, parsed_url) -> bool:  # type: ignore[no-untyped-def]
        return parsed_url.scheme == ""

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        if name is None:
            raise ValueError(
                'You must pass name="<entry_name>" when tracking references with unknown'
                f" schemes. ref: {path}"
            )
        termwarn(f"Artifact references with unsupported schemes cannot be checksummed: {path}")
        name = name or urlparse(path).path[1:]
        return [ArtifactManifestEntry._new(name, path, ref=path)]

    def load_path(self, entry: ArtifactManifestEntry, local: bool = False) -> str:
        if local:
            scheme = urlparse(entry.ref).scheme
            raise ValueError(
                f"Cannot download file at path {entry.ref}, scheme {scheme} not recognized"
            )
        return str(entry.path)
