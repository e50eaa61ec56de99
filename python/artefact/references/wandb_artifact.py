"""References to entries of other artifacts.

`wandb-artifact://<hex artifact id>/<path>` points into a logged artifact; chains of such
references resolve to the final artifact, and the entry gets its digest with size 0.
`wandb-client-artifact://<client id>/<path>` points into an artifact of this process,
identified by its client id (the store rewrites it to `wandb-artifact://` on save).
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Optional
from urllib.parse import urlparse

from .. import _core, instance_cache
from ..errors import Error
from ..manifest import ArtifactManifestEntry
from .base import StorageHandler

if TYPE_CHECKING:
    from ..artifact import Artifact


def hex_to_b64_id(hex_id: str) -> str:
    """The server id (base64) of a `wandb-artifact://` host part (hex)."""
    return base64.standard_b64encode(bytes.fromhex(hex_id)).decode("utf-8")


def artifact_from_id(artifact_id: str) -> Optional["Artifact"]:
    """A logged artifact by server id, as wandb's `Api()._artifact_from_id`: this
    process's instances first, then the store (what `log_artifact` wrote)."""
    from ..store.backend import StoreBackend

    backend = StoreBackend.default()
    artifact = instance_cache.artifact_by_id(artifact_id)
    # Ids are per store ("Artifact:1" exists in every store): a cached instance from
    # another store (another ARTEFACT_STORE, or a server) is not this id.
    if artifact is not None and _store_root(artifact) in (None, backend.store.root):
        return artifact
    try:
        record = backend.store.version_by_id(artifact_id)
    except (LookupError, ValueError):
        return None
    return backend.artifact(record)


def _store_root(artifact: "Artifact") -> Optional[str]:
    """The root (embedded store path or server URL) an artifact was logged to or fetched from."""
    return getattr(getattr(getattr(artifact, "_store", None), "store", None), "root", None)


def _artifact_or_error(artifact_id: str, uri: str) -> "Artifact":
    artifact = artifact_from_id(artifact_id)
    if artifact is None:
        raise Error(
            f"Cannot resolve reference {uri!r}: artifact {artifact_id!r} is not in this"
            " process nor in the artifact store."
        )
    return artifact


def referenced_object(artifact_id: str, entry: ArtifactManifestEntry) -> object:
    """`Artifact.get` of an entry that references another artifact's object: that
    artifact's `get(<path in it>)`, as wandb does."""
    assert entry.ref is not None
    target = _artifact_or_error(artifact_id, entry.ref)
    path = urlparse(entry.ref).path
    return target.get(path[1:] if path.startswith("/") else path)


class WBArtifactHandler(StorageHandler):
    """Handles `wandb-artifact://` references."""

    scheme = "wandb-artifact"

    def load_path(self, entry: ArtifactManifestEntry, local: bool = False) -> str:
        assert entry.ref is not None
        parsed = urlparse(entry.ref)
        target = _artifact_or_error(hex_to_b64_id(parsed.netloc), entry.ref)
        target_entry = target.get_entry(parsed.path.removeprefix("/"))
        return target_entry.download() if local else target_entry.ref_target()

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        current: Optional[str] = path
        target = entry = None
        file_path = ""
        # Follow reference chains until a concrete entry.
        while current and (parsed := urlparse(current)).scheme == self.scheme:
            file_path = parsed.path.removeprefix("/")
            target = _artifact_or_error(hex_to_b64_id(parsed.netloc), current)
            entry = target.manifest.get_entry_by_path(file_path)
            if entry is None:
                raise ValueError(f"Path not contained in artifact: {file_path}")
            current = entry.ref
        assert target is not None and entry is not None and target.id is not None
        ref = f"{self.scheme}://{_core.b64_to_hex(target.id)}/{file_path}"
        return [ArtifactManifestEntry._new(name or os.path.basename(ref), entry.digest, ref=ref, size=0)]


class WBLocalArtifactHandler(StorageHandler):
    """Handles `wandb-client-artifact://` references."""

    scheme = "wandb-client-artifact"

    def load_path(self, entry: ArtifactManifestEntry, local: bool = False) -> str:
        raise NotImplementedError(
            "Should not be loading a path for an artifact entry with unresolved client id."
        )

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        from ..artifact import Artifact

        parsed = urlparse(path)
        target = instance_cache.by_client_id.get(parsed.netloc)
        if not isinstance(target, Artifact):
            raise TypeError("Artifact passed to store_path() must be a wandb.Artifact.")
        target_entry = target.manifest.entries[parsed.path.lstrip("/")]
        return [
            ArtifactManifestEntry._new(
                name or os.path.basename(path), target_entry.digest, ref=path, size=0
            )
        ]
