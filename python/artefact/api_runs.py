"""A run as the public API returns it (wandb's `wandb.apis.public.Run`), and the
paginators over runs and over the artifacts a run logged or used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection, Optional

from .guards import normalize_exceptions
from .paginator import SizedPaginator, check_page_vars, paged_records
from .validate import validate_aliases, validate_tags

if TYPE_CHECKING:
    from .artifact import Artifact
    from .store.backend import StoreBackend
    from .store.records import RunRecord

__all__ = ["PublicRun", "RunArtifacts", "Runs"]

_DRAFT_REFUSED = ("Only existing artifacts are accepted by this api. "
                  "Manually create one with `wandb artifact put`")


class RunArtifacts(SizedPaginator["Artifact"]):
    """The artifacts a run logged (`mode="logged"`) or used (`mode="used"`), oldest first."""

    def __init__(self, backend: "StoreBackend", run: "PublicRun", mode: str = "logged",
                 per_page: int = 50) -> None:
        if mode not in ("logged", "used"):
            raise ValueError("mode must be logged or used")
        per_page, _ = check_page_vars("_RunArtifactsVars", per_page)
        self.run, self.mode = run, mode

        def page_at(offset: int, limit: int) -> tuple[list, int]:
            return backend.store.lineage_page(run._record, mode, offset=offset, limit=limit)

        super().__init__(paged_records(page_at, backend.artifact), per_page)


class PublicRun:
    """A run fetched with `Api().run(path)`: identity, config, summary, history, lineage."""

    def __init__(self, backend: "StoreBackend", record: "RunRecord") -> None:
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
        """`[entity, project, run_id]`."""
        return [self.entity, self.project, self.id]

    def history(self) -> list[dict]:
        """Every row logged with `run.log`, in step order (each with `_step`)."""
        return self._backend.store.history(self._record)

    @normalize_exceptions
    def logged_artifacts(self, per_page: int = 100) -> RunArtifacts:
        """The artifacts this run logged, a page at a time."""
        return RunArtifacts(self._backend, self, mode="logged", per_page=per_page)

    @normalize_exceptions
    def used_artifacts(self, per_page: int = 100) -> RunArtifacts:
        """The artifacts this run declared as used, a page at a time."""
        return RunArtifacts(self._backend, self, mode="used", per_page=per_page)

    @normalize_exceptions
    def use_artifact(self, artifact: "Artifact", use_as: Optional[str] = None) -> "Artifact":
        """Record a logged artifact (from `Api().artifact(name)`) as an input of this run."""
        from .artifact import Artifact

        if isinstance(artifact, Artifact) and not artifact.is_draft():
            self._backend.store.record_use(self._record, self._backend._record(artifact),
                                           use_as or artifact.name)
            return artifact
        if isinstance(artifact, Artifact):
            raise ValueError(_DRAFT_REFUSED)
        raise ValueError("You must pass a wandb.Api().artifact() to use_artifact")

    @normalize_exceptions
    def log_artifact(self, artifact: "Artifact", aliases: Optional[Collection[str]] = None,
                     tags: Optional[Collection[str]] = None) -> "Artifact":
        """Record a logged artifact as an output of this run, adding `aliases` and `tags`
        (the version is not copied: the same digest in the same collection is the same version)."""
        from .artifact import Artifact

        if not isinstance(artifact, Artifact):
            raise TypeError("You must pass a wandb.Api().artifact() to use_artifact")
        if artifact.is_draft():
            raise ValueError(_DRAFT_REFUSED)
        if self.entity != artifact.source_entity or self.project != artifact.source_project:
            raise ValueError("A run can't log an artifact to a different project.")
        alias_list = validate_aliases(list(aliases or []))
        tag_list = validate_tags(list(tags or []))
        store = self._backend.store
        record = self._backend._record(artifact)
        store.log_version(
            self.entity, self.project, artifact.source_name.split(":")[0], artifact.type,
            store.load_manifest(record), digest=artifact.digest,
            digest_algorithm=artifact.digest_algorithm.value, aliases=alias_list, tags=tag_list,
            run=self._record,
        )
        return artifact

    def __repr__(self) -> str:
        return f"<Run {self.entity}/{self.project}/{self.id} ({self.state})>"


class Runs(SizedPaginator[PublicRun]):
    """The runs of a project, oldest first."""

    def __init__(self, backend: "StoreBackend", entity: str, project: str, per_page: int = 50) -> None:
        self.entity, self.project = entity, project

        def page_at(offset: int, limit: int) -> tuple[list, int]:
            records = backend.store.list_runs(entity, project)
            return records[offset:offset + limit], len(records)

        super().__init__(paged_records(page_at, lambda r: PublicRun(backend, r)), per_page)

