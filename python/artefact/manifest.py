"""`ArtifactManifest` and `ArtifactManifestEntry`: Python faces of the Rust-held manifest.

The entries live in `_core.Manifest`. `manifest.entries` is a mutable mapping view in
insertion order that builds an `ArtifactManifestEntry` only when one is asked for, and
keeps it (so `entries[p] is entries[p]`) until that path changes. Setting a field of an
entry that belongs to a manifest writes the change through to the Rust side.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import ItemsView, Iterator, KeysView, MutableMapping, ValuesView
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from . import _core
from .enums import ALGORITHM_BY_NAME, NAME_BY_ALGORITHM, ArtifactDigestAlgorithm
from .manifest_json import ENTRY_TITLE, MANIFEST_TITLE, check_entry_fields, check_field, check_manifest_v1
from .paths import LogicalPath, validate_artifact_path
from .storage_policy import StoragePolicyConfig, WandbStoragePolicy, make_storage_policy
from .errors import ValidationError

if TYPE_CHECKING:
    from .artifact import Artifact

__all__ = ["ArtifactManifest", "ArtifactManifestV1", "ArtifactManifestEntry"]

DIGEST_ALGORITHM_EXTRA_KEY = "alg"
WB_ARTIFACT_SCHEME = "wandb-artifact"
_EMPTY_EXTRA = "{}"
# Fields stored in Rust; assigning one on an attached entry re-inserts it there.
_STORED_FIELDS = frozenset(
    {"digest", "ref", "birth_artifact_id", "size", "extra", "local_path", "skip_cache"}
)


class ArtifactManifestEntry:
    """A single entry in an artifact manifest: a file or a reference.

    Fields: `path`, `digest`, `ref`, `birth_artifact_id`, `size`, `extra`, `local_path`,
    `skip_cache`. External code should avoid instantiating this class directly.
    """

    __slots__ = (
        "path", "digest", "ref", "birth_artifact_id", "size", "extra", "local_path",
        "skip_cache", "_parent_artifact", "_download_url", "_owner", "_key",
    )  # fmt: skip

    def __init__(self, **fields: Any) -> None:
        if "path" not in fields:
            raise ValidationError(
                ENTRY_TITLE,
                [{"type": "missing", "loc": ("path",), "msg": "Field required", "input": fields}],
            )
        path = LogicalPath(fields["path"])
        errors: list[dict] = []
        values = check_entry_fields(fields, (), errors)
        if values is None:
            raise ValidationError(ENTRY_TITLE, errors)
        setter = object.__setattr__
        setter(self, "path", path)
        for name, value in values.items():
            setter(self, name, value)
        setter(self, "_parent_artifact", None)
        setter(self, "_download_url", None)
        setter(self, "_owner", None)
        setter(self, "_key", None)

    @classmethod
    def _new(
        cls,
        path: Any,
        digest: str,
        ref: Optional[str] = None,
        size: Optional[int] = None,
        extra: Optional[dict] = None,
        local_path: Optional[str] = None,
        skip_cache: bool = False,
        birth_artifact_id: Optional[str] = None,
    ) -> "ArtifactManifestEntry":
        """An entry from values our own code already checked (no lax coercion)."""
        row = (path, digest, ref, birth_artifact_id, size, "", local_path, skip_cache)
        entry = cls._from_tuple(row)
        object.__setattr__(entry, "extra", dict(extra) if extra else {})
        object.__setattr__(entry, "_key", None)
        return entry

    @classmethod
    def _from_tuple(cls, row: tuple, owner: Optional["ArtifactManifest"] = None) -> "ArtifactManifestEntry":
        """Build from a `_core` EntryTuple without re-validating."""
        path, digest, ref, birth_id, size, extra, local_path, skip_cache = row
        entry = cls.__new__(cls)
        setter = object.__setattr__
        setter(entry, "path", LogicalPath(path))
        setter(entry, "digest", digest)
        setter(entry, "ref", ref)
        setter(entry, "birth_artifact_id", birth_id)
        setter(entry, "size", size)
        setter(entry, "extra", json.loads(extra) if extra and extra != _EMPTY_EXTRA else {})
        setter(entry, "local_path", local_path)
        setter(entry, "skip_cache", skip_cache)
        setter(entry, "_parent_artifact", None)
        setter(entry, "_download_url", None)
        setter(entry, "_owner", owner)
        setter(entry, "_key", path)
        return entry

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "path":
            value = LogicalPath(value)
        elif name in _STORED_FIELDS:
            value = check_field(name, value)
        object.__setattr__(self, name, value)
        owner = self._owner
        if name in _STORED_FIELDS and owner is not None:
            owner._write_through(self)

    def _fields(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "ref": self.ref,
            "birth_artifact_id": self.birth_artifact_id,
            "size": self.size,
            "extra": self.extra,
            "local_path": self.local_path,
            "skip_cache": self.skip_cache,
        }

    def __repr__(self) -> str:
        shown = {k: v for k, v in self._fields().items() if v is not None}
        if not self.extra:
            shown.pop("extra")
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"ArtifactManifestEntry({inner})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArtifactManifestEntry):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like wandb's pydantic model

    @property
    def name(self) -> LogicalPath:
        """Deprecated; use `path` instead."""
        from .term import termwarn

        termwarn("ArtifactManifestEntry.name is deprecated, use .path instead.", repeat=False)
        return self.path

    def digest_algorithm(self) -> ArtifactDigestAlgorithm:
        """The algorithm of this entry's digest: `extra["alg"]` if known, else MD5."""
        alg = self.extra.get(DIGEST_ALGORITHM_EXTRA_KEY)
        if isinstance(alg, str):
            return ALGORITHM_BY_NAME.get(alg, ArtifactDigestAlgorithm.MANIFEST_MD5)
        return ArtifactDigestAlgorithm.MANIFEST_MD5

    def parent_artifact(self) -> "Artifact":
        """The artifact this entry belongs to (set by `Artifact.get_entry`).

        Raises:
            NotImplementedError: if the entry has no parent artifact.
        """
        if self._parent_artifact is None:
            raise NotImplementedError
        return self._parent_artifact

    def download(
        self, root: Optional[str] = None, skip_cache: Optional[bool] = None, executor: Any = None
    ) -> str:
        """Download this entry to `root` (the parent artifact's default root if None)."""
        artifact = self.parent_artifact()
        return artifact._download_entry(self, root=root, skip_cache=skip_cache, executor=executor)

    def ref_target(self) -> str:
        """The reference URI this entry targets, resolving `wandb-artifact://` chains.

        Raises:
            ValueError: if this entry is not a reference.
        """
        if self.ref is None:
            raise ValueError("Only reference entries support ref_target().")
        if (parent := self._parent_artifact) is None:
            return self.ref
        return parent.manifest.storage_policy.load_reference(self, local=False)

    def ref_url(self) -> str:
        """A `wandb-artifact://<hex artifact id>/<path>` URL other artifacts can reference."""
        parent = self.parent_artifact()
        if parent is None:
            raise ValueError("Parent artifact is not set")
        if (parent_id := parent.id) is None:
            raise ValueError("Parent artifact ID is not set")
        return f"{WB_ARTIFACT_SCHEME}://{_core.b64_to_hex(parent_id)}/{self.path}"

    def to_json(self) -> dict[str, Any]:
        """All non-None fields by alias, `extra` included even if empty (a dict, not a str)."""
        out: dict[str, Any] = {"path": self.path, "digest": self.digest}
        if self.ref is not None:
            out["ref"] = self.ref
        if self.birth_artifact_id is not None:
            out["birthArtifactID"] = self.birth_artifact_id
        if self.size is not None:
            out["size"] = self.size
        out["extra"] = self.extra
        if self.local_path is not None:
            out["local_path"] = self.local_path
        out["skip_cache"] = self.skip_cache
        return out

    def _is_artifact_reference(self) -> bool:
        from urllib.parse import urlparse

        return self.ref is not None and urlparse(self.ref).scheme == WB_ARTIFACT_SCHEME

    def _referenced_artifact_id(self) -> Optional[str]:
        if not self._is_artifact_reference():
            return None
        import base64
        from urllib.parse import urlparse

        return base64.standard_b64encode(bytes.fromhex(urlparse(self.ref).netloc)).decode("ascii")


def _locked(method):  # type: ignore[no-untyped-def]
    """Hold the manifest's lock: `_core.Manifest.add_dir` keeps the Rust object borrowed
    with the GIL released, and any other access meanwhile would raise "Already borrowed"."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class _EntriesView(MutableMapping):
    """`manifest.entries`: path -> entry in insertion order, entries built on access."""

    __slots__ = ("_manifest",)

    def __init__(self, manifest: "ArtifactManifest") -> None:
        self._manifest = manifest

    def __getitem__(self, path: str) -> ArtifactManifestEntry:
        entry = self._manifest._entry_at(path)
        if entry is None:
            raise KeyError(path)
        return entry

    def __setitem__(self, path: str, entry: ArtifactManifestEntry) -> None:
        self._manifest._put(path, entry)

    def __delitem__(self, path: str) -> None:
        if not self._manifest._remove(path):
            raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths())

    def __len__(self) -> int:
        return len(self._manifest)

    def __contains__(self, path: object) -> bool:
        manifest = self._manifest
        with manifest._lock:
            return isinstance(path, str) and path in manifest._core

    def _paths(self) -> list[str]:
        manifest = self._manifest
        with manifest._lock:
            return manifest._core.paths()

    # Live views, as a dict's: `entries.keys() == {"a.txt"}` compares as a set, and a
    # view created before a change sees it. They iterate in one pass over the core.
    def keys(self) -> "_KeysView":  # type: ignore[override]
        return _KeysView(self)

    def values(self) -> "_ValuesView":  # type: ignore[override]
        return _ValuesView(self)

    def items(self) -> "_ItemsView":  # type: ignore[override]
        return _ItemsView(self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (dict, _EntriesView)):
            return dict(self.items()) == dict(other.items())
        return NotImplemented


class _KeysView(KeysView):
    """`entries.keys()`: a set-like live view of the paths, in insertion order."""

    _mapping: _EntriesView

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping._paths())

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._mapping._paths())

    def __repr__(self) -> str:
        return f"dict_keys({self._mapping._paths()!r})"


class _ItemsView(ItemsView):
    """`entries.items()`: a set-like live view of (path, entry) pairs."""

    _mapping: _EntriesView

    def __iter__(self) -> Iterator[tuple[str, ArtifactManifestEntry]]:
        return iter(self._mapping._manifest._all_entries())

    def __reversed__(self) -> Iterator[tuple[str, ArtifactManifestEntry]]:
        return reversed(self._mapping._manifest._all_entries())

    def __repr__(self) -> str:
        return f"dict_items({self._mapping._manifest._all_entries()!r})"


class _ValuesView(ValuesView):
    """`entries.values()`: a live view of the entries, in insertion order."""

    _mapping: _EntriesView

    def __iter__(self) -> Iterator[ArtifactManifestEntry]:
        return iter([entry for _, entry in self._mapping._manifest._all_entries()])

    def __reversed__(self) -> Iterator[ArtifactManifestEntry]:
        return reversed([entry for _, entry in self._mapping._manifest._all_entries()])

    def __repr__(self) -> str:
        return f"dict_values({[e for _, e in self._mapping._manifest._all_entries()]!r})"


class ArtifactManifest:
    """An artifact's manifest: an ordered mapping of logical paths to entries, plus a
    storage policy and the digest algorithm. Only version 1 exists (`ArtifactManifestV1`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover
        raise TypeError("ArtifactManifest is abstract; use ArtifactManifestV1")

    @classmethod
    def version(cls) -> int:
        """The manifest format version."""
        return 1

    @classmethod
    def from_manifest_json(
        cls,
        manifest_json: dict[str, Any],
        digest_algorithm: Union[ArtifactDigestAlgorithm, str] = ArtifactDigestAlgorithm.MANIFEST_MD5,
    ) -> "ArtifactManifestV1":
        """Parse wandb's manifest dict. Paths are not validated.

        Raises:
            ValueError: "Invalid manifest format. Must contain version field.",
                "Invalid manifest version." or "Failed to find storage policy '<name>'".
            ValidationError: for missing `contents`, negative sizes and the like.
        """
        if (version := manifest_json.get("version")) is None:
            raise ValueError("Invalid manifest format. Must contain version field.")
        if version != ArtifactManifestV1.version():
            raise ValueError("Invalid manifest version.")
        return ArtifactManifestV1.from_manifest_json(manifest_json, digest_algorithm)


class ArtifactManifestV1(ArtifactManifest):
    """Version 1 of the artifact manifest (the only one)."""

    def __init__(
        self,
        storage_policy: Optional[WandbStoragePolicy] = None,
        digest_algorithm: Union[ArtifactDigestAlgorithm, str] = ArtifactDigestAlgorithm.MANIFEST_MD5,
        entries: Optional[dict[str, ArtifactManifestEntry]] = None,
        *,
        _core_manifest: Optional[Any] = None,
    ) -> None:
        self.storage_policy = storage_policy if storage_policy is not None else make_storage_policy()
        self.digest_algorithm = ArtifactDigestAlgorithm(digest_algorithm)
        if _core_manifest is None:
            cfg = self.storage_policy.storage_config
            _core_manifest = _core.Manifest(cfg.storage_layout or "V2", cfg.storage_region)
        # The Rust manifest. Code that calls it directly must hold `_lock` while doing so.
        self._core = _core_manifest
        self._lock = threading.RLock()
        self._cache: dict[str, ArtifactManifestEntry] = {}
        self.entries = _EntriesView(self)
        for path, entry in (entries or {}).items():
            self._put(path, entry)

    @classmethod
    def _from_core(
        cls,
        core_manifest: Any,
        digest_algorithm: Union[ArtifactDigestAlgorithm, str] = ArtifactDigestAlgorithm.MANIFEST_MD5,
        storage_policy: Optional[WandbStoragePolicy] = None,
    ) -> "ArtifactManifestV1":
        """Wrap a `_core.Manifest` (e.g. from `_core.Manifest.from_json`) without copying."""
        if storage_policy is None:
            storage_policy = WandbStoragePolicy(
                StoragePolicyConfig(core_manifest.storage_layout, core_manifest.storage_region)
            )
        return cls(storage_policy, digest_algorithm, _core_manifest=core_manifest)

    @classmethod
    def from_manifest_json(  # type: ignore[override]
        cls,
        manifest_json: dict[str, Any],
        digest_algorithm: Union[ArtifactDigestAlgorithm, str] = ArtifactDigestAlgorithm.MANIFEST_MD5,
    ) -> "ArtifactManifestV1":
        """Parse a v1 manifest dict (see `ArtifactManifest.from_manifest_json`)."""
        if manifest_json.get("version") != cls.version():
            raise ValueError("Invalid manifest version.")
        policy_name, policy_config, entries = check_manifest_v1(manifest_json)
        storage_config = StoragePolicyConfig.from_json(
            policy_config, title=MANIFEST_TITLE, loc=("storagePolicyConfig",)
        )
        policy = WandbStoragePolicy.lookup_by_name(policy_name).from_config(storage_config)
        manifest = cls(policy, digest_algorithm)  # not shared yet: no lock needed
        insert = manifest._core.insert
        for path, fields in entries:
            insert(
                path,
                fields["digest"],
                fields["ref"],
                fields["birth_artifact_id"],
                fields["size"],
                json.dumps(fields["extra"]) if fields["extra"] else _EMPTY_EXTRA,
                fields["local_path"],
                fields["skip_cache"],
                True,
            )
        return manifest

    # --- the mapping, kept in Rust ----------------------------------------------------

    @_locked
    def _entry_at(self, path: str) -> Optional[ArtifactManifestEntry]:
        entry = self._cache.get(path)
        if entry is not None:
            return entry
        if not isinstance(path, str):
            return None
        row = self._core.get(path)
        if row is None:
            return None
        entry = ArtifactManifestEntry._from_tuple(row, owner=self)
        self._cache[path] = entry
        return entry

    @_locked
    def _all_entries(self) -> list[tuple[str, ArtifactManifestEntry]]:
        cache = self._cache
        out = []
        for row in self._core.entries():
            path = row[0]
            entry = cache.get(path)
            if entry is None:
                entry = cache[path] = ArtifactManifestEntry._from_tuple(row, owner=self)
            out.append((path, entry))
        return out

    @_locked
    def _put(self, path: str, entry: ArtifactManifestEntry, overwrite: bool = True) -> None:
        """Store `entry` under `path` (already validated by the caller, if it must be);
        the entry object becomes the cached, attached one."""
        if not overwrite:
            existing = self._core.get(path)
            if existing is not None and existing[1] != entry.digest:
                raise ValueError(f"Cannot add the same path twice: {path!r}")
        self._insert_row(path, entry)
        old = self._cache.pop(path, None)
        if old is not None and old is not entry:
            object.__setattr__(old, "_owner", None)
        object.__setattr__(entry, "_owner", self)
        object.__setattr__(entry, "_key", path)
        self._cache[path] = entry

    def _insert_row(self, path: str, entry: ArtifactManifestEntry) -> None:
        extra = json.dumps(entry.extra) if entry.extra else _EMPTY_EXTRA
        self._core.insert(
            path, entry.digest, entry.ref, entry.birth_artifact_id, entry.size, extra,
            entry.local_path, entry.skip_cache, True,
        )  # fmt: skip

    @_locked
    def _write_through(self, entry: ArtifactManifestEntry) -> None:
        key = entry._key
        if key is not None and self._cache.get(key) is entry:
            self._insert_row(key, entry)

    @_locked
    def _remove(self, path: str) -> bool:
        entry = self._cache.pop(path, None)
        if entry is not None:
            object.__setattr__(entry, "_owner", None)
        return isinstance(path, str) and self._core.remove(path)

    @_locked
    def _invalidate(self, paths: Optional[Iterable[str]] = None) -> None:
        """Forget cached entries (all, or `paths`) after a bulk change made in Rust."""
        if not self._cache:
            return
        for path in list(self._cache) if paths is None else paths:
            entry = self._cache.pop(path, None)
            if entry is not None:
                object.__setattr__(entry, "_owner", None)

    # --- wandb's ArtifactManifest API -------------------------------------------------

    @_locked
    def __len__(self) -> int:
        return len(self._core)

    @_locked
    def add_entry(self, entry: ArtifactManifestEntry, overwrite: bool = False) -> None:
        """Validate `entry.path` and add the entry.

        Raises:
            ValueError: "Invalid artifact path: ..." or, when the path holds an entry with
                another digest and `overwrite` is False, "Cannot add the same path twice".
        """
        path = validate_artifact_path(entry.path)
        object.__setattr__(entry, "path", path)
        self._put(path, entry, overwrite=overwrite)

    def remove_entry(self, entry: ArtifactManifestEntry) -> None:
        """Remove the entry at `entry.path`; FileNotFoundError if there is none."""
        if not self._remove(entry.path):
            raise FileNotFoundError(f"Cannot remove missing entry: {entry.path!r}")

    def get_entry_by_path(self, path: str) -> Optional[ArtifactManifestEntry]:
        """The entry at exactly `path`, or None."""
        return self._entry_at(path)

    @_locked
    def get_entries_in_directory(self, directory: str) -> list[ArtifactManifestEntry]:
        """Every entry whose path starts with `directory + "/"`."""
        prefix = f"{directory}/"
        return [self._entry_at(p) for p in self._core.paths() if p.startswith(prefix)]  # type: ignore[misc]

    @_locked
    def _remove_directory(self, directory: str) -> int:
        """Remove every entry under `directory + "/"` in one core call."""
        prefix = f"{directory}/"
        self._invalidate([p for p in self._cache if p.startswith(prefix)])
        return self._core.remove_prefix(prefix)

    @_locked
    def digest(self) -> str:
        """Hex digest of "wandb-artifact-manifest-v1\\n" + sorted "path:digest\\n" lines."""
        return self._core.digest(NAME_BY_ALGORITHM[self.digest_algorithm])

    @_locked
    def size(self) -> int:
        """Sum of the entry sizes; entries without a size count 0."""
        return self._core.size()

    @_locked
    def to_manifest_json(self) -> dict[str, Any]:
        """The manifest as wandb's dict: version, storagePolicy, storagePolicyConfig, contents.

        Entry fields are digest, ref, birthArtifactID, size, extra in that order; None
        fields and an empty `extra` are omitted, `size: 0` is kept.
        """
        return {
            "version": 1,
            "storagePolicy": self.storage_policy.name(),
            "storagePolicyConfig": self.storage_policy.config(),
            "contents": self._core.contents_dict(),
        }

    @_locked
    def hash_contents_with_md5(self) -> None:
        """Re-hash XXH128 entries that have a local file with MD5 and drop their `alg` tag."""
        targets = [
            (path, entry) for path, entry in self._all_entries()
            if entry.local_path and entry.digest_algorithm() is not ArtifactDigestAlgorithm.MANIFEST_MD5
        ]  # fmt: skip
        results = _core.hash_files([entry.local_path for _, entry in targets], "MD5")
        for (_, entry), (digest, _size) in zip(targets, results):
            extra = dict(entry.extra)
            extra.pop(DIGEST_ALGORITHM_EXTRA_KEY, None)
            object.__setattr__(entry, "digest", digest)
            object.__setattr__(entry, "extra", extra)
            self._write_through(entry)

    def __repr__(self) -> str:
        return f"ArtifactManifestV1(entries={dict(self._all_entries())!r})"
