"""`artefact.init()` and `Run`: where artifacts are logged, used and linked.

(Named `runs` so that `artefact.run` can be the active run, as `wandb.run` is.)

A run is a record in the embedded store (config, summary, history, lineage), so that
wandb scripts that call `wandb.init`, `run.log` and `run.log_artifact` run unchanged.
Logging is synchronous: when `log_artifact` returns, the version is committed; as in
wandb, the returned artifact still reads as a draft until `wait()` is called.
"""

from __future__ import annotations

import os
import secrets
import string
import threading
from typing import Any, Iterable, Mapping, Optional, Union

from . import artifact_logged
from .artifact import Artifact
from .errors import Error
from .history_values import history_row
from .run_config import RunConfig, RunSummary
from .staging import clean_staged_copies
from .store.backend import StoreBackend, split_target_path
from .store.distributed import clear_patches, merged_patches, stage_patch
from .validate import validate_aliases, validate_metadata, validate_tags

_ID_CHARS = string.ascii_lowercase + string.digits

# The active run (`artefact.run`), as in wandb: set by init(), cleared by finish().
_active: Optional["Run"] = None
_active_lock = threading.Lock()


def _new_run_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def _raise_if_finished(method: Any) -> Any:
    """wandb's guard: a finished run refuses the call with UsageError."""
    import functools

    @functools.wraps(method)
    def wrapper(self: "Run", *args: Any, **kwargs: Any) -> Any:
        if self._finished:
            _refuse_finished(self, method.__name__)
        return method(self, *args, **kwargs)

    return wrapper


def _refuse_finished(run: "Run", name: str) -> None:
    from .errors import UsageError

    raise UsageError(
        f"Run ({run.id}) is finished. The call to `{name}` will be ignored."
        " Please make sure that you are using an active run."
    )


def _overlay(artifact: Artifact, base: Any) -> None:
    """Make `artifact`'s manifest the core manifest `base` with the draft's own entries
    on top (a path in both keeps the draft's entry)."""
    from .manifest import ArtifactManifestV1

    with artifact.manifest._lock:
        for entry in artifact.manifest._core.entries():
            base.insert(*entry, overwrite=True)
    artifact._manifest = ArtifactManifestV1._from_core(base, artifact.digest_algorithm)


class _Saved:
    """The save handle of a logged artifact: logging already committed, so wait is instant."""

    def __init__(self, artifact_id: str) -> None:
        self.artifact_id = artifact_id

    def wait(self, timeout: Optional[float] = None) -> str:
        return self.artifact_id


class Run:
    """A run in the embedded store. Use it as a context manager, or call `finish()`."""

    def __init__(self, backend: StoreBackend, record: Any, dir: Optional[str] = None) -> None:
        self._backend = backend
        self._record = record
        self._dir = dir
        self._step = 0
        self._logged_history = False  # history_step stays None until a row is logged
        self._resumed = False
        self._finished = False
        store = backend.store
        self.config = RunConfig(self, record.config or {}, lambda d: store.set_config(self._record, d))
        self.summary = RunSummary(self, record.summary or {}, lambda d: store.set_summary(self._record, d))

    # --- identity ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._record.run_id

    @property
    def name(self) -> str:
        return self._record.name or self._record.run_id

    @property
    def entity(self) -> str:
        return self._record.entity

    @property
    def project(self) -> str:
        return self._record.project

    @property
    def job_type(self) -> Optional[str]:
        return self._record.job_type

    @property
    def group(self) -> Optional[str]:
        return self._record.group

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def step(self) -> int:
        return self._step

    @property
    def resumed(self) -> bool:
        """Whether the run was started with `resume` (wandb's `Run.resumed`)."""
        return self._resumed

    @property
    def dir(self) -> str:
        """A directory for this run's files (created on first access)."""
        path = os.path.join(self._dir or os.getcwd(), "artefact", f"run-{self.id}", "files")
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def url(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"<Run {self.path}>"

    # --- metrics -----------------------------------------------------------------------

    @_raise_if_finished
    def log(self, data: dict, step: Optional[int] = None, commit: Optional[bool] = None) -> None:
        """Store one history row (and update the summary with its values)."""
        if not isinstance(data, Mapping):
            raise TypeError("wandb.log must be passed a dictionary")
        if any(not isinstance(key, str) for key in data):
            raise TypeError("Key values passed to `wandb.log` must be strings.")
        if step is not None:
            self._step = int(step)
        row = history_row(self, data, self._step)
        self._backend.store.log_row(self._record, self._step, row)
        self.summary._update_stored(row)
        self._logged_history = True
        if commit is not False:
            self._step += 1

    # --- artifacts ---------------------------------------------------------------------

    @_raise_if_finished
    def log_artifact(
        self,
        artifact_or_path: Union[Artifact, str, os.PathLike],
        name: Optional[str] = None,
        type: Optional[str] = None,
        aliases: Optional[Iterable[str]] = None,
        tags: Optional[Iterable[str]] = None,
    ) -> Artifact:
        """Log an artifact (or a path: file, directory or `scheme://` reference) as the
        next version of its collection; `latest` always moves to it. Returns the artifact."""
        return self._log_artifact(artifact_or_path, name, type, aliases, tags)

    def _log_artifact(
        self,
        artifact_or_path: Any,
        name: Optional[str],
        type: Optional[str],
        aliases: Optional[Iterable[str]],
        tags: Optional[Iterable[str]],
        user_created: bool = False,
    ) -> Artifact:
        if aliases is not None:
            aliases = validate_aliases(aliases)
        if tags is not None:
            tags = validate_tags(tags)
        artifact = self._as_artifact(artifact_or_path, name, type)
        artifact.finalize()
        if artifact.incremental:
            self._merge_latest_into(artifact)
        try:  # wandb's util._resolve_aliases
            alias_list = list(set(aliases or ["latest"]) | {"latest"})
        except TypeError as exc:
            raise ValueError("`aliases` must be Iterable or None") from exc
        artifact._metadata = validate_metadata(artifact.metadata)
        ttl = artifact._ttl
        manifest = artifact.manifest
        backend = self._backend
        with manifest._lock:
            record = backend.store.log_version(
                self.entity,
                self.project,
                artifact.source_name.split(":")[0],
                artifact.type,
                manifest._core,
                digest=artifact.digest,
                digest_algorithm=artifact.digest_algorithm.value,
                description=artifact.description,
                metadata=artifact.metadata,
                aliases=alias_list,
                tags=list(tags or []),
                ttl_seconds=ttl.duration_seconds,
                ttl_inherited=ttl.is_inherited,
                run=None if user_created else self._record,
                base_version_id=artifact._base_id,
                history_step=self._step if self._logged_history else None,
                storage_region=manifest.storage_policy.config().get("storageRegion"),
                cache=backend.cache,
            )
            clean_staged_copies(manifest._core)
        artifact._store = backend
        artifact._record = record
        artifact._save_handle = _Saved(record.id)
        return artifact

    def _merge_latest_into(self, artifact: Artifact) -> None:
        """`incremental=True`: the new version is the collection's latest plus this draft's
        changes (as wandb's INCREMENTAL manifests); unchanged files are not copied again."""
        from .store.errors import StoreError

        store = self._backend.store
        try:
            base = store.get_version(self.entity, self.project, artifact.source_name.split(":")[0] + ":latest")
        except StoreError:
            return  # the first version: nothing to build on
        _overlay(artifact, store.load_manifest(base))
        artifact._base_id = base.id

    def _as_artifact(self, artifact_or_path: Any, name: Optional[str], type: Optional[str]) -> Artifact:
        if isinstance(artifact_or_path, Artifact):
            return artifact_or_path
        if not isinstance(artifact_or_path, (str, os.PathLike)):
            raise TypeError("You must pass an instance of wandb.Artifact or a valid file path to log_artifact")
        path = os.fspath(artifact_or_path)
        name = name or f"run-{self.id}-{os.path.basename(path)}"
        artifact = Artifact(name, type or "unspecified")
        if os.path.isfile(path):
            artifact.add_file(path)
        elif os.path.isdir(path):
            artifact.add_dir(path)
        elif "://" in path:
            artifact.add_reference(path)
        else:
            raise ValueError("path must be a file, directory or externalreference like s3://bucket/path")
        return artifact

    def _distributed_id(self, distributed_id: Optional[str], verb: str) -> str:
        if distributed_id is None and self.group is None:
            raise TypeError(f"Cannot {verb} artifact unless run is in a group or distributed_id is provided")
        return distributed_id if distributed_id is not None else (self.group or "")

    @_raise_if_finished
    def upsert_artifact(
        self,
        artifact_or_path: Union[Artifact, str, os.PathLike],
        name: Optional[str] = None,
        type: Optional[str] = None,
        aliases: Optional[list[str]] = None,
        distributed_id: Optional[str] = None,
    ) -> Artifact:
        """Add this run's part of a distributed artifact (shared `distributed_id`, default
        the run's group); `finish_artifact` commits the union of all parts."""
        dist = self._distributed_id(distributed_id, "upsert")
        if aliases is not None:
            validate_aliases(aliases)
        artifact = self._as_artifact(artifact_or_path, name, type)
        artifact.finalize()
        artifact.distributed_id = dist
        manifest = artifact.manifest
        with manifest._lock:
            stage_patch(self._backend.store, self.entity, self.project,
                        artifact.source_name.split(":")[0], dist, manifest._core)
            clean_staged_copies(manifest._core)
        return artifact

    @_raise_if_finished
    def finish_artifact(
        self,
        artifact_or_path: Union[Artifact, str, os.PathLike],
        name: Optional[str] = None,
        type: Optional[str] = None,
        aliases: Optional[list[str]] = None,
        distributed_id: Optional[str] = None,
    ) -> Artifact:
        """Commit a distributed artifact: every upserted part plus this one, as one version."""
        dist = self._distributed_id(distributed_id, "finish")
        artifact = self._as_artifact(artifact_or_path, name, type)
        collection = artifact.source_name.split(":")[0]
        store = self._backend.store
        _overlay(artifact, merged_patches(store, self.entity, self.project, collection, dist,
                                          artifact.manifest._core.storage_layout or "V2"))
        artifact.distributed_id = dist
        logged = self.log_artifact(artifact, aliases=aliases)
        clear_patches(store, self.entity, self.project, collection, dist)
        return logged

    @_raise_if_finished
    def log_model(self, path: Union[str, os.PathLike], name: Optional[str] = None,
                  aliases: Optional[list[str]] = None) -> None:
        """Log a model file or directory as an artifact of type "model" (returns None,
        as wandb's does)."""
        self._log_artifact(path, name, "model", aliases, None)

    @_raise_if_finished
    def use_artifact(
        self,
        artifact_or_name: Union[str, Artifact],
        type: Optional[str] = None,
        aliases: Optional[list[str]] = None,
        use_as: Optional[str] = None,
    ) -> Artifact:
        """Declare an artifact as an input of this run and return it (logged).

        A string is resolved as `[entity/][project/]name[:alias]`; a draft is logged
        first (without this run as its creator)."""
        from .api import Api

        if isinstance(artifact_or_name, str):
            artifact = Api(overrides={"entity": self.entity, "project": self.project}).artifact(
                artifact_or_name, type=type
            )
        elif isinstance(artifact_or_name, Artifact):
            artifact = artifact_or_name
            if artifact.is_draft():
                if not artifact._is_draft_save_started():
                    self._log_artifact(artifact, None, None, aliases, None, user_created=True)
                artifact.wait()
        else:
            raise ValueError('You must pass an artifact name (e.g. "pedestrian-dataset:v1"), '
                             "an instance of wandb.Artifact, or wandb.Api().artifact() to use_artifact")
        self._backend.store.record_use(self._record, artifact._record, use_as)
        return artifact

    @_raise_if_finished
    def use_model(self, name: str) -> str:
        """Use a model artifact and download it. Returns the path of its file when the
        version holds exactly one, else the directory.

        Raises:
            AssertionError: if the artifact's type does not contain "model".
        """
        artifact = self.use_artifact(artifact_or_name=name)
        if "model" not in str(artifact.type.lower()):
            raise AssertionError(
                "You can only use this method for 'model' artifacts."
                " For an artifact to be a 'model' artifact, its type property"
                " must contain the substring 'model'."
            )
        path = artifact.download()
        listing = os.listdir(path)
        if len(listing) == 1:
            return os.path.join(path, listing[0])
        return path

    @_raise_if_finished
    def link_artifact(self, artifact: Artifact, target_path: str,
                      aliases: Optional[list[str]] = None) -> Artifact:
        """Link an artifact (logged first if it is a draft) into a collection such as
        `model-registry/<name>` or `<project>/<portfolio>`; returns the linked artifact."""
        if artifact.is_draft() and not artifact._is_draft_save_started():
            self.log_artifact(artifact)
        artifact.wait()
        prefix, project, _name, _alias = split_target_path(target_path)
        if not project:
            target_path = f"{self.project}/{target_path}"
        if not prefix and not (project or "").startswith("wandb-registry-"):
            target_path = f"{self.entity}/{target_path}"
        return artifact.link(target_path, aliases)

    @_raise_if_finished
    def link_model(self, path: Union[str, os.PathLike], registered_model_name: str,
                   name: Optional[str] = None, aliases: Optional[list[str]] = None) -> Artifact:
        """Log `path` as a model (a new version of `name` unless its content is unchanged)
        and link it to `model-registry/<registered_model_name>`; returns the link.

        Raises:
            AssertionError: if `registered_model_name` is a path, or `name` exists with a
                type not containing "model".
        """
        from .errors import CommError

        if len(registered_model_name.split("/")) != 1:
            raise AssertionError(
                "Please provide only the name of the registered model."
                " Do not append the entity or project name."
            )
        target_path = f"{self.entity}/model-registry/{registered_model_name}"
        try:
            existing = self._public_api()._artifact(name=f"{name}:latest")
            if "model" not in str(existing.type.lower()):
                raise AssertionError(
                    "You can only use this method for 'model' artifacts."
                    " For an artifact to be a 'model' artifact, its type"
                    " property must contain the substring 'model'."
                )
            artifact = self._log_artifact(path, name, existing.type, None, None)
        except (ValueError, CommError):
            artifact = self._log_artifact(path, name, "model", None, None)
        return self.link_artifact(artifact=artifact, target_path=target_path, aliases=aliases)

    def _public_api(self) -> Any:
        from .api import Api

        return Api(overrides={"entity": self.entity, "project": self.project})

    def _config_artifact(self, key: str, value: Any) -> Artifact:
        """An artifact put in `run.config` (an Artifact, a `wandb-artifact://` string, or
        the stored `artifactVersion` dict): used by this run, as wandb does."""
        api = self._public_api()
        if isinstance(value, dict):
            return self.use_artifact(api._artifact_from_id(value["id"]))
        if isinstance(value, str):
            text = value[len("wandb-artifact://"):]
            parts = text.split("/")
            if parts[0] == "_id":
                return self.use_artifact(api._artifact_from_id(parts[1]))
            if len(parts) < 3:
                raise ValueError(f"Invalid artifact string: {value}")
            return self.use_artifact(api._artifact(name="/".join(parts[:3])))
        return self.use_artifact(value)

    # --- lifecycle ---------------------------------------------------------------------

    def finish(self, exit_code: Optional[int] = None, quiet: Optional[bool] = None) -> None:
        """End the run (idempotent)."""
        global _active
        if self._finished:
            return
        self._finished = True
        self._record = self._backend.store.finish_run(self._record, exit_code or 0)
        from . import _core

        _core.flush_statcache()
        with _active_lock:
            if _active is self:
                _active = None
                _publish_active(None)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.finish(exit_code=1 if exc_type else 0)
        return False


def _publish_active(run: Optional[Run]) -> None:
    import artefact

    artefact.run = run


def init(
    project: Optional[str] = None,
    entity: Optional[str] = None,
    job_type: Optional[str] = None,
    name: Optional[str] = None,
    config: Optional[dict] = None,
    dir: Optional[str] = None,
    group: Optional[str] = None,
    id: Optional[str] = None,
    resume: Optional[Union[bool, str]] = None,
    reinit: Optional[Any] = None,
    **_ignored: Any,
) -> Run:
    """Start a run in the embedded store (wandb's `init`). The entity defaults to
    `ARTEFACT_ENTITY` (or the OS user), the project to `ARTEFACT_PROJECT` or
    "uncategorized". Other wandb arguments (mode, settings, tags, ...) are accepted."""
    global _active
    from . import config as cfg

    with _active_lock:
        previous = _active
    if previous is not None:
        previous.finish()
    from .run_config import is_artifact_representation

    config = dict(config or {})
    artifacts = {k: config.pop(k) for k in list(config) if is_artifact_representation(config[k])}
    backend = StoreBackend.default()
    record = backend.store.create_run(
        entity or cfg.default_entity(),
        project or cfg.default_project(),
        id or _new_run_id(),
        name=name,
        job_type=job_type,
        group=group,
        config=config,
        resume=bool(resume),
    )
    run = Run(backend, record, dir=dir)
    run._resumed = bool(resume)
    # A resumed run's stored artifactVersion dicts read back as Artifacts, and artifacts
    # given in `config` are put in once the run exists: both used by the run, as wandb.
    stored = {k: v for k, v in run.config.items() if is_artifact_representation(v)}
    if stored or artifacts:
        run.config.update({**stored, **artifacts}, allow_val_change=True)
    with _active_lock:
        _active = run
    _publish_active(run)
    return run


def _require_run(what: str) -> Run:
    if _active is None:
        raise Error(f"You must call wandb.init() before wandb.{what}()")
    return _active


def log_artifact(artifact_or_path: Any, name: Optional[str] = None, type: Optional[str] = None,
                 aliases: Optional[list[str]] = None, tags: Optional[list[str]] = None) -> Artifact:
    """`run.log_artifact` on the active run."""
    return _require_run("log_artifact").log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(artifact_or_name: Any, type: Optional[str] = None,
                 aliases: Optional[list[str]] = None, use_as: Optional[str] = None) -> Artifact:
    """`run.use_artifact` on the active run."""
    return _require_run("use_artifact").use_artifact(artifact_or_name, type, aliases, use_as)


def link_artifact(artifact: Artifact, target_path: str, aliases: Optional[list[str]] = None) -> Artifact:
    """`run.link_artifact` on the active run."""
    return _require_run("link_artifact").link_artifact(artifact, target_path, aliases)


def log(data: dict, step: Optional[int] = None, commit: Optional[bool] = None) -> None:
    """`run.log` on the active run."""
    _require_run("log").log(data, step, commit)


def finish(exit_code: Optional[int] = None) -> None:
    """Finish the active run, if any."""
    if _active is not None:
        _active.finish(exit_code)


def _save_draft(artifact: Artifact, project: Optional[str] = None, settings: Any = None) -> None:
    """`Artifact.save()` on a draft: log it in the active run, else in a short "auto" run."""
    if _active is not None:
        _active.log_artifact(artifact)
        return
    with init(project=project or artifact._source_project, entity=artifact._source_entity,
              job_type="auto") as run:
        run.log_artifact(artifact)


artifact_logged.draft_saver = _save_draft
