"""What a logged `Artifact` calls into: the embedded store seen as wandb's server.

`Artifact` (artifact_logged.py) talks to a duck-typed `_store`; this class is that
object for the embedded store. It turns `VersionRecord`s into the GraphQL-shaped dicts
`Artifact._assign_attrs` reads, and routes downloads, edits and links to the store.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterable, Optional

from .. import config
from ..cache import ArtifactCache
from ..paginator import SizedPaginator, check_page_vars, paged
from .local import LocalStore
from .records import VersionRecord

if TYPE_CHECKING:
    from ..artifact import Artifact
    from ..manifest import ArtifactManifestEntry


def split_target_path(target_path: str) -> tuple[Optional[str], Optional[str], str, Optional[str]]:
    """wandb's `ArtifactPath.from_str`: `[prefix/][project/]name[:alias]`."""
    path, _, alias = target_path.partition(":")
    parts = path.split("/")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"Invalid artifact path: {target_path!r}")
    prefix = parts[0] if len(parts) == 3 else None
    project = parts[-2] if len(parts) >= 2 else None
    return prefix, project, parts[-1], alias or None


def fragment(record: VersionRecord) -> dict:
    """A version as wandb's GraphQL `ArtifactFragment` (the keys `_assign_attrs` reads)."""
    return {
        "id": record.id,
        "artifactSequence": {
            "name": record.source_collection,
            "project": {"name": record.source_project, "entity": {"name": record.source_entity}},
        },
        "versionIndex": record.source_version_index,
        "artifactType": {"name": record.type},
        "description": record.description,
        "metadata": json.dumps(record.metadata or {}),
        "ttlDurationSeconds": record.ttl_seconds,
        "ttlIsInherited": record.ttl_inherited,
        "tags": [{"name": t} for t in record.tags],
        "historyStep": record.history_step,
        "state": record.state,
        "size": record.size,
        "digest": record.digest,
        "digestAlgorithm": record.digest_algorithm,
        "commitHash": record.commit_hash,
        "fileCount": record.file_count,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "aliases": [
            {
                "alias": alias,
                "artifactCollection": {
                    "name": record.collection,
                    "project": {"name": record.project, "entity": {"name": record.entity}},
                },
            }
            for alias in (*record.aliases, record.version)
        ],
    }


def membership(record: VersionRecord) -> dict:
    """The collection membership the record was fetched through (aliases, index, link time)."""
    return {
        "aliases": [{"alias": a} for a in (*record.aliases, record.version)],
        "versionIndex": record.version_index,
        "createdAt": record.linked_at,
    }


class ArtifactFile:
    """One file of a logged artifact, as `Artifact.files()` yields them (wandb's `File`)."""

    def __init__(self, artifact: "Artifact", entry: "ArtifactManifestEntry") -> None:
        self._artifact, self._entry = artifact, entry
        self.name = entry.path
        self.size = entry.size or 0
        self.digest = entry.digest
        self.url = entry.ref or ""
        self.direct_url = self.url

    @property
    def md5(self) -> str:
        return self.digest

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False) -> str:
        """Place this file under `root`; returns its path."""
        path = os.path.join(root, self.name)
        if os.path.exists(path) and not (replace or exist_ok):
            raise ValueError(f"File already exists, pass replace=True to overwrite: {path}")
        return str(self._entry.download(root))

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


class ArtifactFiles(SizedPaginator[ArtifactFile]):
    """The files of a logged artifact (all, or those in `names`), a page at a time, in
    manifest order (wandb's `ArtifactFiles`)."""

    def __init__(self, artifact: "Artifact", names: Optional[list[str]] = None,
                 per_page: int = 50, start: Optional[str] = None) -> None:
        per_page, _ = check_page_vars("_ArtifactFilesVars", per_page)
        self.artifact = artifact

        def wanted() -> list[str]:
            entries = artifact.manifest.entries
            return [n for n in names if n in entries] if names is not None else list(entries)

        def items_at(offset: int, limit: int) -> list:
            return [ArtifactFile(artifact, artifact.get_entry(n)) for n in wanted()[offset:offset + limit]]

        super().__init__(paged(items_at, lambda: len(wanted())), per_page, start)

    @property
    def path(self) -> list[str]:
        """`[entity, project, name]` of the artifact."""
        return [self.artifact.entity, self.artifact.project, self.artifact.name]

    def __repr__(self) -> str:
        return f"<ArtifactFiles {'/'.join(self.path)} ({len(self)})>"


class StoreBackend:
    """The `_store` of every artifact logged to or fetched from a `LocalStore`."""

    app_url = ""  # no web UI: Artifact.url is ""

    def __init__(self, store: Optional[LocalStore] = None, cache: Optional[ArtifactCache] = None) -> None:
        self.store = store or LocalStore.shared()
        self.cache = cache or ArtifactCache()

    @classmethod
    def default(cls) -> "StoreBackend":
        """The team server when `ARTEFACT_BASE_URL` (or `WANDB_BASE_URL`, or `artefact
        login`) names one, else the embedded store."""
        url = config.base_url()
        if url:
            from ..remote import remote_store

            return cls(remote_store(url, config.api_key()), ArtifactCache())  # type: ignore[arg-type]
        return cls(LocalStore.shared(), ArtifactCache())

    def _blob_source(self, artifact: "Artifact", manifest: Any, root: str, path_prefix: Optional[str],
                     skip_cache: bool) -> tuple[Any, Optional[str]]:
        """Where the core reads stored content from: the store's objects, or (remote
        backend) the cache after the missing blobs were fetched into it; with
        `skip_cache`, a temporary directory (returned second, for removal)."""
        fetch = getattr(self.store, "fetch_blobs", None)
        if fetch is None:
            return self.store, None
        import tempfile
        from types import SimpleNamespace

        tmp = tempfile.mkdtemp(prefix="artefact-fetch-", dir=self.cache.root if os.path.isdir(self.cache.root) else None) if skip_cache else None
        objects = tmp or self.cache.root
        fetch(self._record(artifact), manifest, objects, root, path_prefix)
        return SimpleNamespace(objects_root=objects), tmp

    # --- records <-> artifacts ---------------------------------------------------------

    def artifact(self, record: VersionRecord, name: Optional[str] = None) -> "Artifact":
        """A logged Artifact for `record`, named as it was asked for (`name:alias`)."""
        from ..artifact import Artifact

        art = Artifact._from_attrs(
            record.entity, record.project, name or record.name, fragment(record),
            store=self, membership=membership(record),
        )
        art._record = record
        return art

    def _record(self, artifact: "Artifact") -> VersionRecord:
        rec = getattr(artifact, "_record", None)
        if rec is None:
            rec = artifact._record = self.store.version_by_id(artifact.id)
        return rec

    def artifact_attrs_by_id(self, artifact_id: str) -> dict:
        return fragment(self.store.version_by_id(artifact_id))

    def fetch_manifest(self, artifact: "Artifact") -> Any:
        from ..manifest import ArtifactManifestV1

        core = self.store.load_manifest(self._record(artifact))
        return ArtifactManifestV1._from_core(core, artifact.digest_algorithm)

    # --- files -----------------------------------------------------------------------

    def download(self, artifact: "Artifact", root: str, allow_missing_references: bool,
                 skip_cache: Optional[bool], path_prefix: Optional[str], multipart: Optional[bool]) -> str:
        from .. import statcache
        from ..download import download_entries

        statcache.ensure()  # loads in the background while the manifest is fetched
        with artifact.manifest._lock:
            source, tmp = self._blob_source(artifact, artifact.manifest._core, root, path_prefix, bool(skip_cache))
            try:
                return download_entries(
                    artifact.manifest._core, root, source, self.cache, path_prefix=path_prefix,
                    skip_cache=bool(skip_cache), allow_missing_references=allow_missing_references,
                )
            finally:
                if tmp is not None:
                    import shutil

                    shutil.rmtree(tmp, ignore_errors=True)

    def download_entry(self, artifact: "Artifact", entry: "ArtifactManifestEntry", root: str,
                       skip_cache: Optional[bool]) -> str:
        from .. import _core
        from ..download import download_entries

        one = _core.Manifest()
        one.insert(entry.path, entry.digest, entry.ref, entry.birth_artifact_id, entry.size,
                   json.dumps(entry.extra), None, entry.skip_cache)
        source, tmp = self._blob_source(artifact, one, root, None, bool(skip_cache))
        try:
            download_entries(one, root, source, self.cache, skip_cache=bool(skip_cache), progress=False)
        finally:
            if tmp is not None:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        return os.path.join(root, entry.path)

    def load_media(self, artifact: "Artifact", entry: "ArtifactManifestEntry", media_class: Any, name: str) -> Any:
        """`Artifact.get(name)`: as wandb, download the artifact, then read the object."""
        root = artifact.download()
        with open(os.path.join(root, entry.path), encoding="utf-8") as f:
            return media_class.from_json(json.load(f), artifact)

    def files(self, artifact: "Artifact", names: Optional[list[str]], per_page: int,
              start: Optional[str]) -> "ArtifactFiles":
        return ArtifactFiles(artifact, names, per_page, start)

    # --- edits -----------------------------------------------------------------------

    def update(self, artifact: "Artifact") -> None:
        rec = self._record(artifact)
        old_aliases, new_aliases = set(rec.aliases), set(artifact._aliases)
        old_tags, new_tags = set(rec.tags), set(artifact._tags)
        ttl = artifact._ttl
        changes: dict[str, Any] = dict(
            description=artifact.description,
            metadata=artifact.metadata,
            add_aliases=sorted(new_aliases - old_aliases),
            remove_aliases=sorted(old_aliases - new_aliases),
            add_tags=[t for t in artifact._tags if t not in old_tags],
            remove_tags=sorted(old_tags - new_tags),
        )
        if ttl.changed:
            changes.update(ttl_seconds=ttl.duration_seconds, ttl_inherited=ttl.is_inherited)
        fresh = self.store.update_version(rec, **changes)
        artifact._record = fresh
        artifact._assign_attrs(fragment(fresh), membership=membership(fresh), is_link=fresh.is_link)
        from .. import instance_cache

        instance_cache.by_id[artifact.id] = artifact

    def delete(self, artifact: "Artifact", delete_aliases: bool) -> None:
        self.store.delete_version(self._record(artifact), delete_aliases=delete_aliases)

    def link(self, artifact: "Artifact", target_path: str, aliases: Iterable[str]) -> "Artifact":
        prefix, project, name, alias = split_target_path(target_path)
        rec = self._record(artifact)
        project = project or config.default_project()
        entity = prefix or rec.source_entity
        all_aliases = list(aliases) + ([alias] if alias else [])
        linked = self.store.link(rec, entity, project, name, all_aliases)
        return self.artifact(linked)

    def unlink(self, artifact: "Artifact") -> None:
        self.store.unlink(self._record(artifact))

    # --- lineage ---------------------------------------------------------------------

    def used_by(self, artifact: "Artifact") -> list:
        from ..api import PublicRun

        return [PublicRun(self, r) for r in self.store.used_by(self._record(artifact))]

    def logged_by(self, artifact: "Artifact") -> Any:
        from ..api import PublicRun

        run = self.store.logged_by(self._record(artifact))
        return PublicRun(self, run) if run is not None else None

    def source_artifact(self, artifact: "Artifact") -> "Artifact":
        """The version a link points to, fetched through its own sequence."""
        return self.artifact(self.store.version_by_id(self._record(artifact).id))

    def linked_artifacts(self, artifact: "Artifact") -> list["Artifact"]:
        rec = self._record(artifact)
        return [self.artifact(r) for r in self.store.links_of(rec)]

    def collection(self, artifact: "Artifact", source: bool) -> Any:
        from ..api import ArtifactCollection

        rec = self._record(artifact)
        if source:
            coll = self.store.get_collection(rec.source_entity, rec.source_project, rec.source_collection)
        else:
            coll = self.store.get_collection(rec.entity, rec.project, rec.collection)
        return ArtifactCollection(self, coll)
