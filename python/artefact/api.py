"""`Api()`: find logged artifacts, collections, types and runs (wandb's public API).

Paths are `[entity/][project/]name[:alias]`; a missing project is the `project`
override, the active run's project, or `ARTEFACT_PROJECT` (else "uncategorized"); a
missing entity likewise ends with `ARTEFACT_ENTITY` (else the OS user). Errors reach the caller as
`CommError`, as wandb's `normalize_exceptions` makes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

from . import config
from .guards import normalize_exceptions
from .store.backend import StoreBackend, split_target_path
from .validate import validate_artifact_type

if TYPE_CHECKING:
    from .artifact import Artifact
    from .store.records import CollectionRecord, RunRecord


class PublicRun:
    """A run as the public API returns it (id, name, config, summary, lineage)."""

    def __init__(self, backend: StoreBackend, record: "RunRecord") -> None:
        self._backend, self._record = backend, record
        self.id = record.run_id
        self.name = record.name or record.run_id
        self.entity, self.project = record.entity, record.project
        self.job_type, self.group = record.job_type, record.group
        self.config, self.summary = dict(record.config or {}), dict(record.summary or {})
        self.state = record.state
        self.created_at = record.created_at

    @property
    def path(self) -> list[str]:
        return [self.entity, self.project, self.id]

    def history(self) -> list[dict]:
        """Every row logged with `run.log`, in order."""
        return self._backend.store.history(self._record)

    def logged_artifacts(self) -> list["Artifact"]:
        return [self._backend.artifact(r) for r in self._backend.store.logged_versions(self._record)]

    def used_artifacts(self) -> list["Artifact"]:
        return [self._backend.artifact(r) for r in self._backend.store.used_versions(self._record)]

    def __repr__(self) -> str:
        return f"<Run {self.entity}/{self.project}/{self.id} ({self.state})>"


class ArtifactType:
    """An artifact type in a project, with its collections."""

    def __init__(self, api: "Api", entity: str, project: str, name: str) -> None:
        self._api, self.entity, self.project, self.name = api, entity, project, name

    def collections(self) -> list["ArtifactCollection"]:
        return self._api.artifact_collections(f"{self.entity}/{self.project}", self.name)

    def collection(self, name: str) -> "ArtifactCollection":
        return self._api.artifact_collection(self.name, f"{self.entity}/{self.project}/{name}")

    def __repr__(self) -> str:
        return f"<ArtifactType {self.name}>"


class ArtifactCollection:
    """A sequence (versions logged to it) or portfolio (links, e.g. a registry entry)."""

    def __init__(self, backend: StoreBackend, record: "CollectionRecord") -> None:
        self._backend, self._record = backend, record
        self.id, self.entity, self.project = record.id, record.entity, record.project
        self.name, self.type, self.description = record.name, record.type, record.description
        self.tags, self.aliases = list(record.tags), list(record.aliases)
        self.created_at, self.updated_at = record.created_at, record.updated_at

    def is_sequence(self) -> bool:
        return self._record.is_sequence()

    def artifacts(self, per_page: int = 50) -> list["Artifact"]:
        """Its committed versions, newest first."""
        versions = self._backend.store.list_versions(self.entity, self.project, self.name)
        return [self._backend.artifact(r) for r in versions]

    @normalize_exceptions
    def save(self) -> None:
        """Persist edits of `name`, `type` (sequences only), `description` and `tags`."""
        if self.type != self._record.type:
            if not self.is_sequence():
                raise ValueError("Type can only be changed if the artifact collection is a sequence.")
            validate_artifact_type(self.type, self.name)
        old_tags = set(self._record.tags)
        self._record = self._backend.store.update_collection(
            self._record, name=self.name, type=self.type, description=self.description,
            add_tags=[t for t in self.tags if t not in old_tags],
            remove_tags=sorted(old_tags - set(self.tags)),
        )

    @normalize_exceptions
    def delete(self) -> None:
        """Delete the collection with all its versions (or links)."""
        self._backend.store.delete_collection(self._record)

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.name} ({self.type})>"


class Api:
    """Query the embedded store the way wandb's `wandb.Api()` queries the server."""

    def __init__(self, overrides: Optional[dict] = None, timeout: Optional[int] = None,
                 api_key: Optional[str] = None) -> None:
        from . import runs as run_module

        overrides = overrides or {}
        active = run_module._active
        self._entity = overrides.get("entity") or (active.entity if active else config.default_entity())
        self._project = overrides.get("project") or (active.project if active else config.default_project())
        self._backend = StoreBackend.default()

    @property
    def default_entity(self) -> str:
        return self._entity

    def _parse(self, path: str) -> tuple[str, str, str]:
        """(entity, project, name[:alias]) from `[entity/][project/]name[:alias]`."""
        prefix, project, name, _ = split_target_path(path)
        _, sep, alias = path.partition(":")
        return prefix or self._entity, project or self._project, name + sep + alias

    @normalize_exceptions
    def artifact(self, name: str, type: Optional[str] = None) -> "Artifact":
        """The artifact at `[entity/][project/]name[:alias]` (alias default `latest`)."""
        entity, project, tail = self._parse(name)
        record = self._backend.store.get_version(entity, project, tail, type)
        return self._backend.artifact(record, name=tail if ":" in tail else f"{tail}:latest")

    def artifact_exists(self, name: str, type: Optional[str] = None) -> bool:
        """True if `artifact(name, type)` would find it."""
        try:
            self.artifact(name, type)
        except Exception:
            return False
        return True

    @normalize_exceptions
    def artifacts(self, type_name: str, name: str, per_page: int = 50,
                  tags: Optional[list[str]] = None, order: Optional[str] = None) -> list["Artifact"]:
        """The committed versions of collection `[entity/][project/]name` (newest first)."""
        entity, project, tail = self._parse(name)
        collection = tail.split(":")[0]
        coll = self._backend.store.get_collection(entity, project, collection)
        if coll.type != type_name:
            raise ValueError(f"type '{type_name}' specified but this artifact is of type '{coll.type}'")
        versions = self._backend.store.list_versions(entity, project, collection, order=order, tags=tags or ())
        return [self._backend.artifact(r) for r in versions]

    def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> list["Artifact"]:
        """Deprecated alias of `artifacts`."""
        return self.artifacts(type_name, name, per_page)

    @normalize_exceptions
    def artifact_collection(self, type_name: str, name: str) -> ArtifactCollection:
        """The collection `[entity/][project/]name` of type `type_name`."""
        entity, project, tail = self._parse(name)
        coll = self._backend.store.get_collection(entity, project, tail.split(":")[0])
        if coll.type != type_name:
            raise ValueError(f"type '{type_name}' specified but this artifact is of type '{coll.type}'")
        return ArtifactCollection(self._backend, coll)

    def artifact_collection_exists(self, name: str, type: str) -> bool:
        try:
            self.artifact_collection(type, name)
        except Exception:
            return False
        return True

    @normalize_exceptions
    def artifact_collections(self, project_name: str, type_name: str, per_page: int = 50) -> list[ArtifactCollection]:
        """Every collection of `type_name` in `[entity/]project`."""
        entity, project = self._entity_project(project_name)
        return [ArtifactCollection(self._backend, c)
                for c in self._backend.store.list_collections(entity, project, type=type_name)]

    def _entity_project(self, project: Optional[str]) -> tuple[str, str]:
        if not project:
            return self._entity, self._project
        parts = project.split("/")
        return (parts[0], parts[1]) if len(parts) == 2 else (self._entity, parts[-1])

    @normalize_exceptions
    def artifact_type(self, type_name: str, project: Optional[str] = None) -> ArtifactType:
        entity, proj = self._entity_project(project)
        if type_name not in self._backend.store.list_types(entity, proj):
            raise ValueError(f"artifact type '{type_name}' not found in '{entity}/{proj}'")
        return ArtifactType(self, entity, proj, type_name)

    @normalize_exceptions
    def artifact_types(self, project: Optional[str] = None) -> list[ArtifactType]:
        entity, proj = self._entity_project(project)
        return [ArtifactType(self, entity, proj, t) for t in self._backend.store.list_types(entity, proj)]

    @normalize_exceptions
    def run(self, path: str) -> PublicRun:
        """A run by `[entity/][project/]run_id`."""
        parts = path.split("/")
        entity, project = self._entity_project("/".join(parts[:-1]) or None)
        return PublicRun(self._backend, self._backend.store.get_run(entity, project, parts[-1]))

    def runs(self, path: Optional[str] = None) -> Iterator[PublicRun]:
        entity, project = self._entity_project(path)
        return iter([PublicRun(self._backend, r) for r in self._backend.store.list_runs(entity, project)])


__all__ = ["Api", "ArtifactCollection", "ArtifactType", "PublicRun"]
