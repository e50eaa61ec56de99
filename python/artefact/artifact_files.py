"""Local copies of a logged artifact: download roots, download, checkout, verify, file.

Downloads themselves are the store's (`_store.download`, `_store.download_entry`);
this mixin holds wandb's root rules and the checks that need only the manifest.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Union

from . import config
from .guards import ensure_logged
from .paths import validate_artifact_root_name

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
        from .download import files_not_in

        root = root or self._default_root(include_version=False)
        with self.manifest._lock:
            extra = files_not_in(self.manifest._core, root)
        for full_path in extra:
            os.remove(full_path)
        return self.download(root=root)

    @ensure_logged
    def verify(self, root: Optional[str] = None) -> None:
        """Check that `root` holds exactly the artifact's files with matching digests
        (re-hashed in parallel).

        Raises:
            ValueError: for an extra file or a digest mismatch. References are skipped.
        """
        from .download import verify_root

        root = root or self._default_root()
        with self.manifest._lock:
            verify_root(self.manifest._core, root, self.name)

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
