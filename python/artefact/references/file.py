"""`file://` references: files and directories on a filesystem (e.g. an NFS mount).

checksum=True: digest = MD5 of the content. checksum=False: digest = MD5 of the
resolved, percent-encoded `file://` URI, so only a path change makes a new version
(directories are still walked, one entry per file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .. import _core
from ..manifest import ArtifactManifestEntry
from ..term import termlog
from .base import DEFAULT_MAX_OBJECTS, StorageHandler, timed

if TYPE_CHECKING:
    from ..artifact import Artifact


def local_file_uri_to_path(uri: str) -> str:
    """The filesystem path of a `file:` URI (percent-escapes decoded); others unchanged."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    path = urlparse(uri).path if uri.startswith("file:") else uri
    return url2pathname(path)


def path_uri_digest(path: str) -> str:
    """checksum=False digest: base64 MD5 of `Path(path).resolve().as_uri()`."""
    return _core.hash_bytes(Path(path).resolve().as_uri().encode("utf-8"), "MD5")


def _digests(paths: list[str], checksum: bool) -> list[str]:
    if not checksum:
        return [path_uri_digest(p) for p in paths]
    return [digest for digest, _size in _core.hash_files(paths, "MD5")]


class LocalFileHandler(StorageHandler):
    """Handles `file://` references."""

    scheme = "file"

    def load_path(self, entry: ArtifactManifestEntry, local: bool = False) -> str:
        """The ref (local=False), or the path of a verified copy in the artifact cache.

        A checksum=False entry can never be loaded locally: its digest is the URI's,
        so the content check fails, exactly as in wandb.
        """
        from .. import config

        if entry.ref is None:
            raise ValueError(f"Cannot add path with no ref: {entry.path}")
        if not local:
            return entry.ref
        local_path = local_file_uri_to_path(entry.ref)
        if not os.path.exists(local_path):
            raise ValueError(f"Local file reference: Failed to find file at path {local_path!r}")
        root = config.artifacts_cache_dir()
        cached = os.path.join(root, _core.object_relpath(entry.digest, "MD5"))
        if os.path.isfile(cached) and os.path.getsize(cached) == (entry.size or 0):
            return cached
        digest, _size = _core.hash_file(local_path, "MD5")
        if digest != entry.digest:
            raise ValueError(
                f"Local file reference: Digest mismatch for path {local_path!r}: expected"
                f" {entry.digest!r} but found {digest!r}"
            )
        path, _written = _core.put_object(root, local_path, entry.digest, "MD5")
        return path

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        local_path = local_file_uri_to_path(path)
        max_objects = max_objects or DEFAULT_MAX_OBJECTS

        if os.path.isdir(local_path):
            if checksum:
                termlog(
                    f"Generating checksum for up to {max_objects!r} files in {local_path!r}... ",
                    newline=False,
                )
            with timed(checksum):
                physical_paths: list[str] = []
                # No followlinks: symlinked dirs are skipped, symlinked files included.
                for root, _, files in os.walk(local_path):
                    for sub in files:
                        if len(physical_paths) >= max_objects:
                            raise ValueError(
                                f"Exceeded {max_objects!r} objects tracked, pass max_objects"
                                " to add_reference"
                            )
                        physical_paths.append(os.path.join(root, sub))
                sizes = [os.path.getsize(p) for p in physical_paths]
                digests = _digests(physical_paths, checksum)
                entries = []
                for physical, size, digest in zip(physical_paths, sizes, digests):
                    rel = os.path.relpath(physical, start=local_path)
                    entries.append(
                        ArtifactManifestEntry._new(
                            os.path.join(name or "", rel),
                            digest,
                            # the URI keeps its own spelling (e.g. %20)
                            ref=os.path.join(path, rel),
                            size=size,
                        )
                    )
            return entries

        if os.path.isfile(local_path):
            size = os.path.getsize(local_path)
            (digest,) = _digests([local_path], checksum)
            return [
                ArtifactManifestEntry._new(
                    name or os.path.basename(local_path), digest, ref=path, size=size
                )
            ]
        raise ValueError(f"Path {path!r} must be a valid file or directory path")
