"""`Api()`: find logged artifacts, collections, types and runs (wandb's public API).

Paths are `[entity/][project/]name[:alias]`; a missing project is the `project`
override, the active run's project, or `ARTEFACT_PROJECT` (else "uncategorized"); a
missing entity likewise ends with `ARTEFACT_ENTITY` (else the OS user). Errors reach the caller as
`CommError`, as wandb's `normalize_exceptions` makes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection, Optional

from . import config
from .api_collections import ArtifactCollection, ArtifactCollections, Artifacts, ArtifactType, ArtifactTypes
from .api_runs import PublicRun, RunArtifacts, Runs
from .guards import normalize_exceptions
from .store.backend import StoreBackend, split_target_path

if TYPE_CHECKING:
    from .artifact import Artifact


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

    _artifact = artifact  # wandb's internal name, used by its run methods

    @normalize_exceptions
    def _artifact_from_id(self, artifact_id: str) -> "Artifact":
        """The artifact with id `artifact_id` (through its own collection)."""
        return self._backend.artifact(self._backend.store.version_by_id(artifact_id))

    def artifact_exists(self, name: str, type: Optional[str] = None) -> bool:
        """True if `artifact(name, type)` would find it."""
        try:
            self.artifact(name, type)
        except Exception:
            return False
        return True

    @normalize_exceptions
    def artifacts(self, type_name: str, name: str, order: Optional[str] = None, per_page: int = 50,
                  tags: Optional[Collection[str]] = None, start: Optional[str] = None) -> Artifacts:
        """The committed versions of collection `[entity/][project/]name`, newest first
        unless `order` (`+field`/`-field`), a page of `per_page` at a time. `tags`
        keeps versions having all of them; `start` resumes from a saved `.cursor`."""
        entity, project, tail = self._parse(name)
        collection = tail.split(":")[0]
        coll = self._backend.store.get_collection(entity, project, collection)
        if coll.type != type_name:
            raise ValueError(f"type '{type_name}' specified but this artifact is of type '{coll.type}'")
        return Artifacts(self._backend, entity, project, collection, type_name, order=order,
                         per_page=per_page, tags=tags, start=start)

    def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> Artifacts:
        """Deprecated alias of `artifacts`."""
        return self.artifacts(type_name, name, per_page=per_page)

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
    def artifact_collections(self, project_name: str, type_name: str, per_page: int = 50,
                             start: Optional[str] = None) -> ArtifactCollections:
        """The collections of `type_name` in `[entity/]project`, a page at a time."""
        entity, project = self._entity_project(project_name)
        return ArtifactCollections(self._backend, entity, project, type_name, per_page, start)

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
    def artifact_types(self, project: Optional[str] = None) -> ArtifactTypes:
        """The artifact types used in `[entity/]project`."""
        entity, proj = self._entity_project(project)
        self._backend.store.list_types(entity, proj)  # a missing project raises now
        return ArtifactTypes(self, entity, proj)

    @normalize_exceptions
    def run(self, path: str) -> PublicRun:
        """A run by `[entity/][project/]run_id`."""
        parts = path.split("/")
        entity, project = self._entity_project("/".join(parts[:-1]) or None)
        return PublicRun(self._backend, self._backend.store.get_run(entity, project, parts[-1]))

    def runs(self, path: Optional[str] = None, per_page: int = 50) -> Runs:
        """The runs of `[entity/]project`, oldest first."""
        entity, project = self._entity_project(path)
        return Runs(self._backend, entity, project, per_page)


__all__ = ["Api", "ArtifactCollection", "ArtifactCollections", "ArtifactType", "ArtifactTypes",
           "Artifacts", "PublicRun", "RunArtifacts", "Runs"]
