"""The logged side of `Artifact`: server-derived attributes and server operations.

On a draft all of these raise `ArtifactNotLoggedError`, as in wandb. Once logged, the
store layer attaches itself as `artifact._store` and fills the attributes from a plain
dict shaped like wandb's GraphQL `ArtifactFragment` through `_assign_attrs`.

The store object (`_store`) is duck-typed; the operations called on it are:
`artifact_attrs_by_id(id) -> dict`, `fetch_manifest(artifact)`, `download(artifact, root,
allow_missing_references, skip_cache, path_prefix, multipart) -> str`,
`download_entry(artifact, entry, root, skip_cache) -> str`, `files(artifact, names,
per_page, start)`, `update(artifact)`, `delete(artifact, delete_aliases)`,
`link(artifact, target_path, aliases)`, `unlink(artifact)`, `used_by(artifact)`,
`logged_by(artifact)`, `linked_artifacts(artifact)`, `source_artifact(artifact)`,
`collection(artifact, source)`, `load_media(artifact, entry, media_class, name)` (for
`get`) and the attributes `app_url` / `organization` (for `url`). `_save_handle` (set
when logging) has `wait(timeout) -> artifact id`.
"""

from __future__ import annotations

from copy import copy
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from . import instance_cache
from .enums import ArtifactDigestAlgorithm, ArtifactState
from .errors import ArtifactNotLoggedError, WaitTimeoutError
from .artifact_files import LocalFilesMixin
from .guards import ensure_logged, normalize_exceptions
from .term import termwarn
from .validate import validate_aliases, validate_metadata, validate_tags, validate_ttl_duration_seconds

if TYPE_CHECKING:
    from .artifact import Artifact

REGISTRY_PREFIX = "wandb-registry-"
# Installed by the run layer: logs a draft for `Artifact.save()` (artifact, project, settings).
draft_saver: Optional[Callable[..., None]] = None


def _alias_is_version_index(alias: str) -> bool:
    return len(alias) >= 2 and alias[0] == "v" and alias[1:].isnumeric()


def _is_registry_project(project: str) -> bool:
    return project.startswith(REGISTRY_PREFIX) and project != REGISTRY_PREFIX


def _alias_in_collection(alias: dict, entity: Any, project: Any, collection: str) -> bool:
    coll = alias.get("artifactCollection") or {}
    proj = coll.get("project") or {}
    return bool(
        proj
        and (proj.get("entity") or {}).get("name") == entity
        and proj.get("name") == project
        and coll.get("name") == collection
    )


class LoggedArtifactMixin(LocalFilesMixin):
    """Attributes and operations of a logged artifact (mixed into `Artifact`)."""

    _state: ArtifactState
    _manifest: Any
    _final: bool

    def _init_logged_fields(self) -> None:
        """The server-derived attributes, all unset on a draft."""
        self._store: Any = None
        self._save_handle: Any = None
        self._download_roots: set[str] = set()
        self._base_id: Optional[str] = None  # set by new_draft()
        self._id: Optional[str] = None
        self._entity: Optional[str] = None
        self._project: Optional[str] = None
        self._version: Optional[str] = None
        self._source_entity: Optional[str] = None
        self._source_project: Optional[str] = None
        self._source_version: Optional[str] = None
        self._source_artifact: Optional["Artifact"] = None
        self._is_link = False
        self._aliases: list[str] = []
        self._saved_aliases: list[str] = []
        self._tags: list[str] = []
        self._saved_tags: list[str] = []
        self._size: Optional[int] = None
        self._digest: Optional[str] = None
        self._commit_hash: Optional[str] = None
        self._file_count: Optional[int] = None
        self._created_at: Optional[str] = None
        self._updated_at: Optional[str] = None
        self._linked_at: Optional[str] = None
        self._history_step: Optional[int] = None
        self._linked_artifacts: list["Artifact"] = []

    # --- filling from a server record ------------------------------------------------

    @classmethod
    def _from_attrs(
        cls,
        entity: str,
        project: str,
        name: str,
        attrs: dict,
        store: Any = None,
        membership: Optional[dict] = None,
    ) -> "Artifact":
        """A finalized, logged Artifact fetched as `entity/project/name` (GraphQL-shaped dict)."""
        artifact = cls("placeholder", type="placeholder")
        artifact._store = store
        artifact._entity, artifact._project, artifact._name = entity, project, name
        artifact._assign_attrs(attrs, membership=membership)
        artifact.finalize()
        instance_cache.by_id[artifact.id] = artifact
        return artifact

    def _assign_attrs(self, attrs: dict, membership: Optional[dict] = None, is_link: Optional[bool] = None) -> None:
        """Copy a server record (wandb's ArtifactFragment keys) into this artifact."""
        self._id = attrs["id"]
        src_collection = attrs["artifactSequence"]
        src_project = src_collection.get("project") or {}
        version_index = attrs.get("versionIndex")
        self._source_entity = (src_project.get("entity") or {}).get("name", "") if src_project else ""
        self._source_project = src_project.get("name", "") if src_project else ""
        self._source_name = f"{src_collection['name']}:v{version_index}"
        self._source_version = f"v{version_index}"
        self._entity = self._entity or self._source_entity
        self._project = self._project or self._source_project
        self._name = self._name or self._source_name
        if is_link is None:
            self._is_link = (
                self._entity != self._source_entity
                or self._project != self._source_project
                or self._name.split(":")[0] != self._source_name.split(":")[0]
            )
        else:
            self._is_link = is_link
        self._type = (attrs.get("artifactType") or {}).get("name", self._type)
        self._description = attrs.get("description")

        if membership:
            aliases = [a["alias"] for a in membership.get("aliases") or []]
        else:
            collection = self._name.split(":")[0]
            aliases = [
                a["alias"] for a in attrs.get("aliases") or []
                if _alias_in_collection(a, self._entity, self._project, collection)
            ]  # fmt: skip
        version_aliases = [a for a in aliases if _alias_is_version_index(a)]
        other_aliases = [a for a in aliases if not _alias_is_version_index(a)]
        if len(version_aliases) > 1:
            raise ValueError(
                f"Expected at most one version alias, got {len(version_aliases)}: {version_aliases!r}"
            )
        if version_aliases:
            version = version_aliases[0]
        elif membership and membership.get("versionIndex") is not None:
            version = f"v{membership['versionIndex']}"
        else:
            version = f"v{version_index}"
        self._version = version
        self._name = self._name if ":" in self._name else f"{self._name}:{version}"
        self._aliases = copy(other_aliases)
        self._saved_aliases = copy(other_aliases)
        self._tags = [tag["name"] for tag in attrs.get("tags") or []]
        self._saved_tags = copy(self._tags)
        self._metadata = validate_metadata(attrs.get("metadata"))
        self._ttl.duration_seconds = validate_ttl_duration_seconds(attrs.get("ttlDurationSeconds") or 0)
        self._ttl.is_inherited = bool(attrs.get("ttlIsInherited", False))
        self._state = ArtifactState(attrs.get("state", "COMMITTED"))
        self._size = attrs.get("size")
        self._digest = attrs.get("digest")
        self._digest_algorithm = ArtifactDigestAlgorithm(
            attrs.get("digestAlgorithm") or ArtifactDigestAlgorithm.MANIFEST_MD5
        )
        self._manifest = None  # fetched lazily from the store
        self._commit_hash = attrs.get("commitHash")
        self._file_count = attrs.get("fileCount")
        self._created_at = attrs.get("createdAt")
        self._updated_at = attrs.get("updatedAt")
        if membership is not None and self._is_link:
            self._linked_at = membership.get("createdAt")
        self._history_step = attrs.get("historyStep")

    def _require_store(self, operation: str) -> Any:
        if self._store is None:
            raise NotImplementedError(
                f"Artifact.{operation} needs an artifact store, and this artifact has none"
            )
        return self._store

    # --- identity --------------------------------------------------------------------

    @property
    def id(self) -> Optional[str]:
        """The artifact's ID (None for a draft)."""
        if self.is_draft():
            return None
        return self._id

    @property
    @ensure_logged
    def entity(self) -> str:
        """The entity of the collection the artifact was fetched from (for a link: the link's)."""
        return self._entity

    @property
    @ensure_logged
    def project(self) -> str:
        """The project of the collection the artifact was fetched from (for a link: the link's)."""
        return self._project

    @property
    def qualified_name(self) -> str:
        """`entity/project/name` of the artifact."""
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    @ensure_logged
    def version(self) -> str:
        """The artifact's version, `v<N>` (from the linked collection for a link)."""
        return self._version

    @property
    @ensure_logged
    def source_entity(self) -> str:
        """The entity of the source artifact."""
        return self._source_entity

    @property
    @ensure_logged
    def source_project(self) -> str:
        """The project of the source artifact."""
        return self._source_project

    @property
    def source_qualified_name(self) -> str:
        """`source_entity/source_project/source_name` of the source artifact."""
        return f"{self.source_entity}/{self.source_project}/{self.source_name}"

    @property
    @ensure_logged
    def source_version(self) -> str:
        """The source artifact's version, `v<N>`."""
        return self._source_version

    @property
    @ensure_logged
    def collection(self) -> Any:
        """The collection this artifact was retrieved from."""
        return self._require_store("collection").collection(self, source=False)

    @property
    @ensure_logged
    def source_collection(self) -> Any:
        """The collection the artifact was logged to."""
        return self._require_store("source_collection").collection(self, source=True)

    @property
    def is_link(self) -> bool:
        """True if this is a link (the artifact fetched through a collection it is linked to)."""
        return self._is_link

    @property
    @ensure_logged
    def linked_artifacts(self) -> list["Artifact"]:
        """All links of a source artifact (empty for a link)."""
        if not self._is_link:
            self._linked_artifacts = self._require_store("linked_artifacts").linked_artifacts(self)
        return self._linked_artifacts

    @property
    @ensure_logged
    def source_artifact(self) -> "Artifact":
        """The original logged artifact: itself unless this is a link."""
        if not self._is_link:
            return self
        if self._source_artifact is None:
            self._source_artifact = self._require_store("source_artifact").source_artifact(self)
        return self._source_artifact

    @property
    @ensure_logged
    def url(self) -> str:
        """The URL of the artifact in the app ("" if unknown)."""
        from urllib.parse import quote, urljoin

        base_url = getattr(self._store, "app_url", None)
        version, collection = self._version, self.name.split(":")[0]
        if not (base_url and self._entity and self._project and collection and version):
            return ""
        selection = quote(f"{self._entity}/{self._project}/{collection}", safe="")
        if self._is_link and _is_registry_project(self._project):
            org = getattr(self._store, "organization", None)
            if not org:
                return ""
            registry = self._project[len(REGISTRY_PREFIX):]
            path = f"orgs/{org}/registry/{registry}?selectionPath={selection}&view=membership&version={version}"
        elif self._is_link and (self._type == "model" or self._project == "model-registry"):
            path = f"{self._entity}/registry/model?selectionPath={selection}&view=membership&version={version}"
        else:
            path = f"{self._entity}/{self._project}/artifacts/{quote(self._type)}/{quote(collection)}/{version}"
        return urljoin(base_url, path)

    # --- aliases and tags -------------------------------------------------------------

    @property
    @ensure_logged
    def aliases(self) -> list[str]:
        """The aliases of this version (e.g. "latest", "best"); saved with `save()`."""
        return self._aliases

    @aliases.setter
    @ensure_logged
    def aliases(self, aliases: list[str]) -> None:
        self._aliases = validate_aliases(aliases)

    @property
    @ensure_logged
    def tags(self) -> list[str]:
        """The tags of this version; saved with `save()`."""
        return self._tags

    @tags.setter
    @ensure_logged
    def tags(self, tags: list[str]) -> None:
        if self._is_link:
            termwarn(
                "Editing tags will apply the changes to the source artifact and all linked"
                " artifacts associated with it."
            )
        self._tags = validate_tags(tags)

    # --- server timestamps and counters ---------------------------------------------

    @property
    @ensure_logged
    def commit_hash(self) -> str:
        """The hash returned when this artifact was committed."""
        return self._commit_hash

    @property
    @ensure_logged
    def file_count(self) -> int:
        """The number of files (including references)."""
        return self._file_count

    @property
    @ensure_logged
    def created_at(self) -> str:
        """When the artifact was created."""
        return self._created_at

    @property
    @ensure_logged
    def updated_at(self) -> str:
        """When the artifact was last updated (its creation time if never)."""
        return self._updated_at or self._created_at

    @property
    @ensure_logged
    def linked_at(self) -> Optional[str]:
        """When this link was created; None unless this is a link."""
        return self._linked_at

    @property
    @ensure_logged
    def history_step(self) -> Optional[int]:
        """The nearest step at which the source run logged history metrics."""
        if self._history_step is None:
            return None
        return max(0, self._history_step - 1)

    # --- lifecycle ----------------------------------------------------------------------

    def _is_draft_save_started(self) -> bool:
        return self._save_handle is not None

    def save(self, project: Optional[str] = None, settings: Any = None) -> None:
        """Persist changes: log a draft (in the active run, or an "auto" run), or
        save aliases, tags, description, metadata and TTL of a logged artifact."""
        if self._state is not ArtifactState.PENDING:
            return self._update()
        from . import runs  # noqa: F401  (installs draft_saver on import)

        assert draft_saver is not None
        draft_saver(self, project=project, settings=settings)

    @normalize_exceptions
    def _update(self) -> None:
        store = self._require_store("save")
        # Everything written is checked first, lists edited in place included, so a
        # refused value stores nothing (wandb refuses it too, after adding aliases).
        aliases = validate_aliases(list(self._aliases))
        tags = validate_tags(list(self._tags))
        metadata = validate_metadata(self._metadata)
        if self._description is not None and not isinstance(self._description, str):
            raise ValueError(f"description must be a string or None, got {self._description!r}")
        self._aliases, self._tags, self._metadata = aliases, tags, metadata
        store.update(self)
        self._ttl.changed = False

    def wait(self, timeout: Optional[int] = None) -> "Artifact":
        """If needed, wait for this artifact to finish logging; returns the artifact.

        Raises:
            ArtifactNotLoggedError: for a draft that was never logged (or logged offline).
            WaitTimeoutError: if `timeout` seconds pass first.
        """
        if self.is_draft():
            if self._save_handle is None:
                raise ArtifactNotLoggedError("Artifact.wait", self)
            try:
                artifact_id = self._save_handle.wait(timeout)
            except TimeoutError as e:
                raise WaitTimeoutError(
                    "Artifact upload wait timed out, failed to fetch Artifact response"
                ) from e
            self._populate_after_save(artifact_id)
        return self

    def _populate_after_save(self, artifact_id: str) -> None:
        attrs = self._require_store("wait").artifact_attrs_by_id(artifact_id)
        if not attrs:
            raise ValueError(f"Unable to fetch artifact with id: {artifact_id!r}")
        self._assign_attrs(attrs, is_link=False)

    def _fetch_manifest(self) -> Any:
        return self._require_store("manifest").fetch_manifest(self)

    @ensure_logged
    def new_draft(self) -> "Artifact":
        """A new draft with this artifact's content, to log as a new version."""
        from .artifact import Artifact
        from .manifest import ArtifactManifest

        draft = Artifact(self.source_name.split(":")[0], self.type)
        draft._entity = draft._source_entity = self._source_entity
        draft._project = draft._source_project = self._source_project
        draft._base_id = self.id
        draft._store = self._store
        draft._description = self.description
        draft._metadata = self.metadata
        draft._digest_algorithm = self.digest_algorithm
        draft._manifest = ArtifactManifest.from_manifest_json(
            self.manifest.to_manifest_json(), self.digest_algorithm
        )
        return draft

    @ensure_logged
    def json_encode(self) -> dict[str, Any]:
        """The artifact as wandb's `artifactVersion` JSON dict."""
        return {
            "_type": "artifactVersion",
            "_version": "v0",
            "id": self.id,
            "version": self.source_version,
            "sequenceName": self.source_name.split(":")[0],
            "usedAs": self.use_as,
        }

    @ensure_logged
    def files(self, names: Optional[list[str]] = None, per_page: int = 50, start: Optional[str] = None) -> Any:
        """Iterate over the files stored in this artifact (paginated by the store)."""
        return self._require_store("files").files(self, names, per_page, start)

    # --- server operations --------------------------------------------------------------

    @ensure_logged
    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version (only the link, for a link). Refused while it has aliases
        unless `delete_aliases=True`."""
        if self._is_link:
            termwarn(
                "Deleting a link artifact will only unlink the artifact from the source artifact"
                " and not delete the source artifact and the data of the source artifact."
            )
            self._unlink()
        else:
            self._delete(delete_aliases)

    @normalize_exceptions
    def _delete(self, delete_aliases: bool = False) -> None:
        self._require_store("delete").delete(self, delete_aliases)

    @normalize_exceptions
    def link(self, target_path: str, aliases: Optional[Iterable[str]] = None) -> "Artifact":
        """Link this artifact to a collection (`[entity/]project/collection`), saving a
        draft first; returns the linked artifact."""
        if self._is_link:
            termwarn(
                "Linking to a link artifact will result in directly linking to the source"
                " artifact of that link artifact."
            )
        if self.is_draft():
            if not self._is_draft_save_started():
                self.save(project=self._source_project)
            self.wait()
        return self._require_store("link").link(self, target_path, validate_aliases(list(aliases or [])))

    @ensure_logged
    def unlink(self) -> None:
        """Remove this link from its collection.

        Raises:
            ValueError: if the artifact is not a link.
        """
        if not self._is_link:
            raise ValueError(
                f"Artifact {self.qualified_name!r} is not a linked artifact and cannot be unlinked.  "
                "To delete it, use 'Artifact.delete' instead."
            )
        self._unlink()

    @normalize_exceptions
    def _unlink(self) -> None:
        self._require_store("unlink").unlink(self)

    @ensure_logged
    def used_by(self) -> list[Any]:
        """The runs that used this artifact and its links."""
        return self._require_store("used_by").used_by(self)

    @ensure_logged
    def logged_by(self) -> Any:
        """The run that logged this artifact, or None."""
        return self._require_store("logged_by").logged_by(self)

    def _ttl_duration_seconds_to_gql(self) -> Optional[int]:
        return self._ttl.to_gql()
