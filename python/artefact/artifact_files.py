"""Local copies of a logged artifact: download roots, download, checkout, verify, file.

Downloads themselves are the store's (`_store.download`, `_store.download_entry`);
this mixin holds wandb's root rules and the checks that need only the manifest.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _core, config
from .enums import NAME_BY_ALGORITHM
from .guards import ensure_logged
from .paths import validate_artifact_root_name, validate_fspath
from .term import termwarn

if TYPE_CHECKING:
    from .manifest import ArtifactManifestEntry


class LocalFilesMixin:
    """Download roots and on-disk operations of a logged artifact (mixed into `Artifact`)."""

    _download_roots: set[str]
    _store: Any
    _require_store: Any  # LoggedArtifactMixin's

    def _default_root(self, include_version: bool = True) -> str:
        name = self.source_name if include_version else self.source_name.split(":")[0]
        root = os.path.join(config.artifact_dir(), validate_artifact_root_name(name))
        return root.replace(":", "-") if os.name == "nt" and not os.path.exists(root) else root

    def _add_download_root(self, dir_path: Optional[str]) -> str:
        root = str(dir_path or self._default_root())
        self._download_roots.add(os.path.abspath(root))
        return root

    def _download_entry(
        self, entry: "ArtifactManifestEntry", root: Optional[str], skip_cache: Optional[bool], executor: Any = None
    ) -> str:
        store = self._require_store("download")
        return store.download_entry(self, entry, self._add_download_root(root), skip_cache)

    @ensure_logged
    def download(
        self,
        root: Optional[str] = None,
        allow_missing_references: bool = False,
        skip_cache: Optional[bool] = None,
        path_prefix: Optional[str] = None,
        multipart: Optional[bool] = None,
    ) -> str:
        """Download the artifact's contents to `root` (default `./artifacts/<name:vN>`)."""
        store = self._require_store("download")
        return store.download(
            self, self._add_download_root(root), allow_missing_references, skip_cache, path_prefix, multipart
        )

    @ensure_logged
    def checkout(self, root: Optional[str] = None) -> str:
        """Make `root` hold exactly the artifact's files (deleting others), then download."""
        root = root or self._default_root(include_version=False)
        for dirpath, _, files in os.walk(root):
            for file in files:
                full_path = os.path.join(dirpath, file)
                try:
                    self.get_entry(os.path.relpath(full_path, start=root))
                except KeyError:
                    os.remove(full_path)
        return self.download(root=root)

    @ensure_logged
    def verify(self, root: Optional[str] = None) -> None:
        """Check that `root` holds exactly the artifact's files with matching digests.

        Raises:
            ValueError: for an extra file or a digest mismatch. References are skipped.
        """
        root = root or self._default_root()
        for dirpath, _, files in os.walk(root):
            for file in files:
                full_path = os.path.join(dirpath, file)
                try:
                    self.get_entry(os.path.relpath(full_path, start=root))
                except KeyError:
                    raise ValueError(
                        f"Found file {full_path} which is not a member of artifact {self.name}"
                    ) from None
        ref_count = 0
        for entry in self.manifest.entries.values():
            if entry.ref is not None:
                ref_count += 1
                continue
            path = validate_fspath(root, entry.path)
            digest, _ = _core.hash_file(path, NAME_BY_ALGORITHM[entry.digest_algorithm()])
            if digest != entry.digest:
                raise ValueError(f"Digest mismatch for file: {entry.path}")
        if ref_count > 0:
            termwarn(f"skipped verification of {ref_count} refs")

    @ensure_logged
    def file(self, root: Optional[str] = None) -> Union[str, os.PathLike]:
        """Download the single file of a one-file artifact; returns its path.

        Raises:
            ValueError: if the artifact contains more than one file.
        """
        if root is None:
            root = os.path.join(".", "artifacts", validate_artifact_root_name(self.name))
        entries = self.manifest.entries
        if len(entries) > 1:
            raise ValueError(
                "This artifact contains more than one file, call `.download()` to get "
                'all files or call .get_entry("filename").download()'
            )
        return self.get_entry(list(entries)[0]).download(root)
