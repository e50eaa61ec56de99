"""`Artifact`: wandb's Artifact, a versioned set of files and references.

A new `Artifact(name, type)` is a draft: fill it with `add_file`, `add_dir`,
`add_reference`, `new_file` and `add`, then log it. The manifest stays in Rust
(`_core.Manifest`); this class adds wandb's validation, naming and error behaviour.
The logged side (server attributes and operations) is in `artifact_logged.py`.
"""

from __future__ import annotations

import contextlib
import os
import random
import string
from typing import TYPE_CHECKING, IO, Any, Iterator, Literal, Optional, Sequence, Union

from . import _core, instance_cache, statcache
from .config import check_settings
from .artifact_logged import LoggedArtifactMixin
from .enums import ALGORITHM_BY_NAME, NAME_BY_ALGORITHM, ArtifactDigestAlgorithm, ArtifactState
from .errors import ArtifactNotLoggedError
from .guards import ensure_logged, ensure_not_finalized
from .manifest import DIGEST_ALGORITHM_EXTRA_KEY, ArtifactManifest, ArtifactManifestEntry, ArtifactManifestV1
from .paths import LogicalPath, StrPath, logical_path, validate_artifact_path
from .staging import get_staging_dir, skipping_packed, stage_file
from .storage_policy import make_storage_policy
from .term import info_enabled, termerror, termlog, termwarn
from .ttl import ArtifactTTL, TTLState
from .validate import (
    validate_artifact_name,
    validate_artifact_name_chars,
    validate_artifact_type,
    validate_metadata,
)

if TYPE_CHECKING:
    import tempfile
    from datetime import timedelta

__all__ = ["Artifact", "ArtifactDigestAlgorithm", "ArtifactState", "ArtifactTTL"]

_POLICIES = ("mutable", "immutable")
_ID_CHARS = string.ascii_lowercase + string.digits
_fast_random = random.Random()  # not seeded by user code calling random.seed()


def generate_fast_id(length: int = 8) -> str:
    """A random `[a-z0-9]` id (client ids need no cryptographic strength)."""
    return "".join(_fast_random.choices(_ID_CHARS, k=length))


class Artifact(LoggedArtifactMixin):
    """Flexible and lightweight building block for dataset and model versioning.

    Construct an empty artifact, fill it with the methods that begin with `add`, and
    log it with `run.log_artifact()`.

    Args:
        name: A human-readable name: letters, digits, `_`, `-` and `.` (at most 128).
        type: The artifact's type, e.g. `dataset` or `model`. `job`, `wandb-*` (and a
            few name/type pairs) are reserved for internal use.
        description: A description of the artifact (rendered as markdown in the app).
        metadata: A dict (at most 100 top-level keys) or a JSON string.
        incremental: Deprecated; use `Artifact.new_draft()`.
        use_as: Deprecated; ignored.
        storage_region: The storage region for the artifact's files.
        digest_algorithm: "MD5" (default) or "XXH128"; anything else means MD5.
    """

    def __init__(
        self,
        name: str,
        type: str,
        description: Optional[str] = None,
        metadata: Optional[Union[dict, str]] = None,
        incremental: bool = False,
        use_as: Optional[str] = None,
        storage_region: Optional[str] = None,
        digest_algorithm: Literal["MD5", "XXH128"] = "MD5",
    ) -> None:
        validate_artifact_name_chars(name)
        if incremental:
            termwarn("Using experimental arg `incremental`")
        self._init_logged_fields()
        self._tmp_dir: Optional[tempfile.TemporaryDirectory] = None
        self._added_objs: dict[int, tuple[Any, ArtifactManifestEntry]] = {}
        self._added_local_paths: dict[str, str] = {}  # os.fspath(local path) -> logical path
        # add_dir results not yet folded into _added_local_paths: rarely read, so a 100k-file
        # add stores the core's list as is.
        self._pending_local_paths: list[list[tuple[str, str]]] = []
        self._client_id = generate_fast_id(128)
        self._sequence_client_id = generate_fast_id(128)
        self._name = validate_artifact_name(name)  # includes the version once logged
        self._source_name = name
        self._type = validate_artifact_type(type, name)
        check_settings()  # a bad ARTEFACT_THREADS/CACHE_MAX fails before any hashing
        self._description = description
        self._metadata = validate_metadata(metadata)
        self._ttl = TTLState()
        self._distributed_id: Optional[str] = None
        self._incremental = incremental
        if use_as is not None:
            termwarn(
                "`use_as` argument is deprecated and does not affect the behaviour of `wandb.Artifact()`",
                repeat=False,
            )
        self._use_as: Optional[str] = None
        self._state = ArtifactState.PENDING
        self._digest_algorithm = ALGORITHM_BY_NAME.get(
            digest_algorithm, ArtifactDigestAlgorithm.MANIFEST_MD5
        )
        if self._digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_XXH128:
            termwarn(
                "Creating an artifact with the XXH128 digest algorithm. Calling"
                " `artifact.verify()` for this artifact on wandb versions before 0.29.0 will fail."
            )
        self._manifest: Optional[ArtifactManifest] = ArtifactManifestV1(
            storage_policy=make_storage_policy(region=storage_region),
            digest_algorithm=self._digest_algorithm,
        )
        self._final = False
        instance_cache.by_client_id[self._client_id] = self

    def __repr__(self) -> str:
        return f"<Artifact {self.id or self.name}>"

    # --- user attributes ------------------------------------------------------------

    @property
    def name(self) -> str:
        """The name: `{collection}:{alias}` once logged, the constructor name before."""
        return self._name

    @property
    def source_name(self) -> str:
        """The source collection name and version (just the name before logging)."""
        return self._source_name

    @property
    def type(self) -> str:
        """The artifact's type, e.g. `dataset` or `model`."""
        return self._type

    @property
    def description(self) -> Optional[str]:
        """A description of the artifact."""
        return self._description

    @description.setter
    def description(self, description: Optional[str]) -> None:
        if self._is_link:
            termwarn(
                "Editing the description of this linked artifact will edit the description"
                " for the source artifact and it's linked artifacts as well."
            )
        self._description = description

    @property
    def metadata(self) -> dict:
        """User-defined metadata (a JSON-compatible dict of at most 100 keys)."""
        return self._metadata

    @metadata.setter
    def metadata(self, metadata: Union[dict, str, None]) -> None:
        if self._is_link:
            termwarn(
                "Editing the metadata of this linked artifact will edit the metadata for the"
                " source artifact and it's linked artifacts as well."
            )
        self._metadata = validate_metadata(metadata)

    @property
    def ttl(self) -> Optional[timedelta]:
        """The time-to-live: a timedelta, or None for "never expires".

        Raises:
            ArtifactNotLoggedError: while inheriting the team default and not yet saved.
        """
        if self._ttl.is_inherited and (self.is_draft() or self._ttl.changed):
            raise ArtifactNotLoggedError("Artifact.ttl", self)
        return self._ttl.value()

    @ttl.setter
    def ttl(self, ttl: Union[timedelta, ArtifactTTL, None]) -> None:
        if self.type == "wandb-history":
            raise ValueError("Cannot set artifact TTL for type wandb-history")
        if self.is_link:
            raise ValueError(
                "Cannot set TTL for link artifact. "
                "Unlink the artifact first then set the TTL for the source artifact"
            )
        self._ttl.assign(ttl)

    @property
    def distributed_id(self) -> Optional[str]:
        """The distributed id (set by `upsert_artifact`/`finish_artifact`)."""
        return self._distributed_id

    @distributed_id.setter
    def distributed_id(self, distributed_id: Optional[str]) -> None:
        self._distributed_id = distributed_id

    @property
    def incremental(self) -> bool:
        """Whether this is an incremental artifact."""
        return self._incremental

    @property
    def use_as(self) -> Optional[str]:
        """Deprecated."""
        termwarn("The use_as property of Artifact is deprecated.", repeat=False)
        return self._use_as

    @property
    def state(self) -> str:
        """"PENDING" for a draft, else the server state (normally "COMMITTED")."""
        return self._state.value

    @property
    def manifest(self) -> ArtifactManifest:
        """The manifest: the artifact's entries (fetched lazily for a logged artifact)."""
        if self._manifest is None:
            self._manifest = self._fetch_manifest()
        return self._manifest

    @property
    def digest(self) -> str:
        """The logical digest of the artifact's contents (32 hex characters)."""
        if self._manifest is None and self._digest is not None:
            return self._digest
        return self.manifest.digest()

    @property
    def digest_algorithm(self) -> ArtifactDigestAlgorithm:
        """The algorithm of the artifact digest (and of local file entries)."""
        return self._digest_algorithm

    @property
    def size(self) -> int:
        """Total size in bytes, references included (those without a size count 0)."""
        if self._manifest is None and self._size is not None:
            return self._size
        return self.manifest.size()

    # --- state -------------------------------------------------------------------------

    def finalize(self) -> None:
        """Finalize the artifact: after this, nothing can be added or removed.

        `log_artifact` finalizes automatically. It cannot be undone.
        """
        self._final = True

    def is_draft(self) -> bool:
        """True if the artifact is not saved (its state is PENDING)."""
        return self._state is ArtifactState.PENDING

    # --- adding content ---------------------------------------------------------------

    def _algorithm_name(self) -> str:
        return NAME_BY_ALGORITHM[self._digest_algorithm]

    def _local_extra(self) -> dict[str, str]:
        # Only non-MD5 entries are tagged; untagged entries are MD5.
        if self._digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_XXH128:
            return {DIGEST_ALGORITHM_EXTRA_KEY: "XXH128"}
        return {}

    def __getitem__(self, name: str) -> Any:
        """`artifact[name]` is `artifact.get(name)`."""
        return self.get(name)

    def __setitem__(self, name: str, item: Any) -> ArtifactManifestEntry:
        """`artifact[name] = obj` is `artifact.add(obj, name)`."""
        return self.add(item, name)

    @contextlib.contextmanager
    @ensure_not_finalized
    def new_file(
        self,
        name: str,
        mode: str = "x",
        encoding: Optional[str] = None,
        policy: Literal["mutable", "immutable"] = "mutable",
    ) -> Iterator[IO]:
        """Open a new temporary file that is added to the artifact when closed.

        Args:
            name: The path of the file inside the artifact.
            mode: The open mode; with "x" an existing name is an error, other modes
                overwrite the entry.
            encoding: The text encoding.
            policy: "mutable" (stage a copy) or "immutable".

        Raises:
            ValueError: if the name is invalid or, in mode "x", already used.
            ArtifactFinalizedError: if the artifact is finalized.
        """
        import tempfile
        from pathlib import Path

        overwrite = "x" not in mode
        validate_artifact_path(name)
        if self._tmp_dir is None:
            self._tmp_dir = tempfile.TemporaryDirectory()
        path = os.path.join(self._tmp_dir.name, name.lstrip("/"))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, mode, encoding=encoding) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
        except FileExistsError:
            raise ValueError(f"File with name {name!r} already exists at {path!r}") from None
        except UnicodeEncodeError as e:
            termerror(
                f"Failed to open the provided file ({type(e).__name__}: {e}). Please provide"
                " the proper encoding."
            )
            raise
        self.add_file(path, name=name, policy=policy, skip_cache=True, overwrite=overwrite)

    @ensure_not_finalized
    def add_file(
        self,
        local_path: str,
        name: Optional[str] = None,
        is_tmp: Optional[bool] = False,
        skip_cache: Optional[bool] = False,
        policy: Optional[Literal["mutable", "immutable"]] = "mutable",
        overwrite: bool = False,
    ) -> ArtifactManifestEntry:
        """Add a local file to the artifact.

        Args:
            local_path: The path to the file being added.
            name: The path inside the artifact (default: the file's basename).
            is_tmp: Rename the file to its digest (keeping extensions) to avoid collisions.
            skip_cache: Do not copy the file into the cache after uploading.
            policy: "mutable" (default) stages a copy so later changes to the file cannot
                corrupt the upload; "immutable" uses the file in place.
            overwrite: Replace an entry with the same path and different contents.

        Returns:
            The added manifest entry.

        Raises:
            ValueError: if the path is not a file, the policy or name is invalid, or the
                name holds other contents and `overwrite` is False.
            ArtifactFinalizedError: if the artifact is finalized.
        """
        if not os.path.isfile(local_path):
            raise ValueError(f"Path is not a file: {local_path!r}")
        path = logical_path(name or os.path.basename(local_path))
        return self._add_local_file(
            path, local_path, is_tmp=bool(is_tmp), skip_cache=skip_cache, policy=policy, overwrite=overwrite
        )

    def _add_local_file(
        self,
        name: str,
        local_path: StrPath,
        is_tmp: bool = False,
        skip_cache: Optional[bool] = False,
        policy: Optional[str] = "mutable",
        overwrite: bool = False,
        known: Optional[tuple[str, int]] = None,
    ) -> ArtifactManifestEntry:
        policy = policy or "mutable"
        if policy not in _POLICIES:
            raise ValueError(f"Invalid policy {policy!r}. Policy may only be `mutable` or `immutable`.")
        from .manifest_json import check_field

        skip_cache = check_field("skip_cache", skip_cache)  # None is an error, as in wandb
        algorithm = self._algorithm_name()
        if policy == "mutable":
            digest, size, upload_path = stage_file(os.fspath(local_path), algorithm)
        elif known is not None:  # (digest, size) of our own immutable temp file, hashed when written
            upload_path, (digest, size) = os.fspath(local_path), known
        else:
            from .onepass import hash_immutable

            upload_path = os.fspath(local_path)
            statcache.ensure()
            digest, size = hash_immutable(upload_path, algorithm)  # large: copied as hashed
        if is_tmp:
            file_dir, file_name = os.path.split(name)
            parts = file_name.split(".")
            parts[0] = _core.b64_to_hex(digest)[:20]
            name = os.path.join(file_dir, ".".join(parts))
        entry = ArtifactManifestEntry._new(
            name, digest, size=size, extra=self._local_extra(), local_path=upload_path, skip_cache=skip_cache
        )
        self.manifest.add_entry(entry, overwrite=overwrite)
        self._pending_local_paths.append([(os.fspath(local_path), entry.path)])
        return entry

    @ensure_not_finalized
    def add_dir(
        self,
        local_path: str,
        name: Optional[str] = None,
        skip_cache: Optional[bool] = False,
        policy: Optional[Literal["mutable", "immutable"]] = "mutable",
        merge: bool = False,
    ) -> None:
        """Add a local directory (recursively, following symlinks) to the artifact.

        Args:
            local_path: The directory.
            name: The sub-directory inside the artifact (default: the root).
            skip_cache: Do not copy the files into the cache after uploading.
            policy: "mutable" (default, stage copies) or "immutable".
            merge: If False, a file whose contents changed since it was added raises
                ValueError; if True, changed files are overwritten. New files are always
                added and deleted files are never removed.

        Raises:
            ValueError: if the path is not a directory, or for an invalid policy or path.
            ArtifactFinalizedError: if the artifact is finalized.
        """
        if not os.path.isdir(local_path):
            raise ValueError(f"Path is not a directory: {local_path!r}")
        policy = policy or "mutable"
        if policy not in _POLICIES:
            # wandb checks per file, so an empty tree accepts any policy.
            if any(files for _, _, files in os.walk(local_path, followlinks=True)):
                raise ValueError(
                    f"Invalid policy {policy!r}. Policy may only be `mutable` or `immutable`."
                )
            return
        from .manifest_json import check_field

        skip_cache = check_field("skip_cache", skip_cache)
        import time

        if info_enabled():  # the message's Path costs a pathlib import otherwise
            from pathlib import Path

            termlog(f"Adding directory to artifact ({Path('.', local_path)})... ", newline=False)

        start = time.monotonic()
        manifest = self.manifest
        from .onepass import precopy_target

        staging_dir, precopy_min = (get_staging_dir(), None) if policy == "mutable" else precopy_target()
        from .progress import ProgressLine

        with ProgressLine("Adding directory to artifact") as line, manifest._lock:
            try:
                statcache.ensure()
                with skipping_packed(local_path, self._algorithm_name()) if policy == "mutable" else contextlib.nullcontext():
                    added = manifest._core.add_dir(
                        os.fspath(local_path), name or None, self._algorithm_name(), policy, staging_dir,
                        skip_cache, merge, line.core, precopy_min,
                    )  # fmt: skip
            except Exception as e:
                # Files before the failure stay added, as in wandb; record them too.
                self._record_added(manifest, getattr(e, "added", []))
                raise
        self._record_added(manifest, added)
        termlog("Done. %.1fs" % (time.monotonic() - start), prefix=False)

    def _record_added(self, manifest: ArtifactManifest, added: "Sequence[tuple[str, str]]") -> None:
        """Note the (local, artifact path) pairs an add made (a core `AddedFiles`, or a list
        from a failed add): cached entries of those paths are forgotten."""
        logical_paths = getattr(added, "logical_paths", None)  # AddedFiles: no pair tuples built
        manifest._invalidate(logical_paths() if logical_paths else (logical for _, logical in added))
        self._pending_local_paths.append(added)

    @ensure_not_finalized
    def add_reference(
        self,
        uri: Union[ArtifactManifestEntry, str],
        name: Optional[StrPath] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        """Add a reference to a URI: tracked, not uploaded.

        Supported: `s3://`, `gs://`, Azure blob `https://`, `http(s)://` (ETag and
        Content-Length), `file://` (files and directories) and references to entries of
        other artifacts. Any other scheme is tracked by its URI (`name` is then required).

        Args:
            uri: The URI, or an entry of a logged artifact (its `ref_url()` is used).
            name: The path inside the artifact.
            checksum: Checksum the target(s). If False, only the URI is recorded (a
                change of URI makes a new version).
            max_objects: The most objects a directory or prefix may expand to
                (default 10,000,000).

        Returns:
            The added manifest entries.

        Raises:
            ValueError: if `uri` has no scheme, or the reference is invalid.
            ArtifactFinalizedError: if the artifact is finalized.
        """
        from urllib.parse import urlparse

        if name is not None:
            name = LogicalPath(name)
        uri_str = uri.ref_url() if isinstance(uri, ArtifactManifestEntry) else uri
        if not urlparse(str(uri_str)).scheme:
            raise ValueError("References must be URIs. To reference a local file, use file://")
        manifest = self.manifest
        entries = manifest.storage_policy.store_reference(
            self, uri_str, name=name, checksum=checksum, max_objects=max_objects
        )
        for entry in entries:
            manifest.add_entry(entry)
        return entries

    @ensure_not_finalized
    def add(self, obj: Any, name: StrPath, overwrite: bool = False) -> ArtifactManifestEntry:
        """Add a media object (`Table`, `Image`, `Classes`, `ImageMask`, `BoundingBoxes2D`,
        `Html`, ...) to the artifact as `<name>.<type>.json`, with the files it needs.

        Args:
            obj: The object to add.
            name: The path inside the artifact (the type suffix is appended).
            overwrite: Replace an existing object at that path.

        Returns:
            The added manifest entry (the first one if `obj` was added before).

        Raises:
            TypeError: if `obj` is not a supported media type (a wandb object names the
                artefact class to use).
            ArtifactFinalizedError: if the artifact is finalized.
        """
        from .data_types import add_media

        return add_media(self, obj, name, overwrite)

    # --- removing and reading entries ------------------------------------------------

    @ensure_not_finalized
    def remove(self, item: Union[StrPath, ArtifactManifestEntry]) -> None:
        """Remove an entry, or every entry under a directory path.

        Raises:
            FileNotFoundError: if nothing matches.
            ArtifactFinalizedError: if the artifact is finalized.
        """
        from pathlib import PurePosixPath

        manifest = self.manifest
        if isinstance(item, ArtifactManifestEntry):
            manifest.remove_entry(item)
            return
        path = str(PurePosixPath(item))
        if entry := manifest.get_entry_by_path(path):
            manifest.remove_entry(entry)
            return
        if not manifest._remove_directory(path):
            raise FileNotFoundError(f"No such file or directory: {path}")

    def get_path(self, name: StrPath) -> ArtifactManifestEntry:
        """Deprecated. Use `get_entry(name)`."""
        termwarn(
            "Artifact.get_path(name) is deprecated, use Artifact.get_entry(name) instead.",
            repeat=False,
        )
        return self.get_entry(name)

    @ensure_logged
    def get_entry(self, name: StrPath) -> ArtifactManifestEntry:
        """The entry at `name` (or at `name` plus a media suffix such as `.table.json`).

        Raises:
            KeyError: if the artifact has no such entry.
            ArtifactNotLoggedError: if the artifact is not logged.
        """
        name = LogicalPath(name)
        entry = self.manifest.entries.get(name) or self._get_obj_entry(name)[0]
        if entry is None:
            raise KeyError(f"Path not contained in artifact: {name}")
        entry._parent_artifact = self
        return entry

    @ensure_logged
    def get(self, name: str) -> Any:
        """The media object (e.g. a Table) stored at `name`, or None.

        Raises:
            ArtifactNotLoggedError: if the artifact is not logged.
        """
        entry, media_class = self._get_obj_entry(name)
        if entry is None or media_class is None:
            return None
        if (referenced_id := entry._referenced_artifact_id()) is not None:
            # as wandb: an entry referencing another artifact's object is read from there
            from .references.wandb_artifact import referenced_object

            return referenced_object(referenced_id, entry)
        obj = self._require_store("get").load_media(self, entry, media_class, name)
        # Added to another artifact, the object becomes a wandb-artifact:// reference.
        obj._set_artifact_source(self, name)
        return obj

    def get_added_local_path_name(self, local_path: str) -> Optional[str]:
        """The artifact path of a file added from exactly `local_path`, or None."""
        paths = self._added_local_paths
        for added in self._pending_local_paths:  # in order: a later add wins
            for physical, logical in added:
                paths[physical] = LogicalPath._trusted(logical)
        self._pending_local_paths.clear()
        return paths.get(local_path)

    def _get_obj_entry(self, name: str) -> tuple[Optional[ArtifactManifestEntry], Any]:
        from .data_types import media_entry

        return media_entry(self, name)
