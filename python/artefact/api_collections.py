"""Artifact collections and types as the public API returns them (wandb's
`wandb.apis.public.artifacts`), and the paginators listing them.

An `ArtifactCollection` keeps a saved and a current copy of its editable fields, as
wandb's does: setters validate (wandb's error classes and messages, and a refused value
leaves the current copy unchanged); `save()` writes the current copy to the store.
"""

from __future__ import annotations

from copy import copy
from typing import TYPE_CHECKING, Any, Collection, Optional

from .errors import ValidationError
from .guards import normalize_exceptions
from .paginator import SizedPaginator, check_page_vars, paged_records
from .term import termlog, termwarn
from .validate import validate_artifact_name, validate_artifact_type, validate_tags

if TYPE_CHECKING:
    from .artifact import Artifact
    from .store.backend import StoreBackend
    from .store.records import CollectionRecord

__all__ = ["ArtifactCollection", "ArtifactCollections", "ArtifactType", "ArtifactTypes", "Artifacts"]

_TITLE = "ArtifactCollectionData"  # the pydantic model wandb validates assignments with


def _string_error(field: str, value: Any) -> ValidationError:
    return ValidationError(_TITLE, [{"type": "string_type", "loc": (field,),
                                     "msg": "Input should be a valid string", "input": value}])


def _checked(field: str, value: Any, check: Any) -> Any:
    """`check(value)`, its ValueError raised as pydantic's ValidationError (as the
    plain field validators of wandb's `ArtifactCollectionData` raise it)."""
    try:
        return check(value)
    except ValueError as e:
        raise ValidationError(_TITLE, [{"type": "value_error", "loc": (field,),
                                        "msg": f"Value error, {e}", "input": value}]) from None


class Artifacts(SizedPaginator["Artifact"]):
    """The committed versions of one collection, a page at a time (wandb's `Artifacts`).

    `len()` counts every committed version; `tags` keeps, on each page, the versions
    that have all of them (as wandb filters each fetched page)."""

    def __init__(self, backend: "StoreBackend", entity: str, project: str, collection_name: str,
                 type: str, order: Optional[str] = None, per_page: int = 50,
                 tags: Optional[Collection[str]] = None, start: Optional[str] = None) -> None:
        from .store.queries import order_clause

        per_page, order = check_page_vars("_ArtifactsVars", per_page, order)
        if order is not None:
            order_clause(order)  # refuses an unknown field now, before any page is fetched
        self.entity, self.project, self.collection_name, self.type = entity, project, collection_name, type
        self.order = order
        self.tags = [tags] if isinstance(tags, (str, bytes)) else list(tags or [])  # wandb's always_list
        required = set(self.tags)

        def page_at(offset: int, limit: int) -> tuple[list, int]:
            return backend.store.version_page(entity, project, collection_name,
                                              offset=offset, limit=limit, order=order)

        super().__init__(paged_records(page_at, backend.artifact, keep=lambda art: required.issubset(art.tags)),
                         per_page, start)


class ArtifactCollection:
    """A sequence (versions logged to it) or a portfolio (links, e.g. a registry entry)."""

    def __init__(self, backend: "StoreBackend", record: "CollectionRecord") -> None:
        self._backend = backend
        self._update_data(record)

    def _update_data(self, record: "CollectionRecord") -> None:
        self._record = record
        self._saved = {"name": record.name, "type": record.type,
                       "description": record.description, "tags": list(record.tags)}
        self._current = copy(self._saved)
        self._current["tags"] = list(record.tags)

    # --- read-only ---------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The collection's id."""
        return self._record.id

    @property
    def entity(self) -> str:
        """The entity that owns the project."""
        return self._record.entity

    @property
    def project(self) -> str:
        """The project that holds the collection."""
        return self._record.project

    @property
    def aliases(self) -> list[str]:
        """The aliases of all versions in the collection."""
        return list(self._record.aliases)

    @property
    def created_at(self) -> str:
        """When the collection was created."""
        return self._record.created_at

    @property
    def updated_at(self) -> Optional[str]:
        """When the collection was last updated."""
        return self._record.updated_at

    def is_sequence(self) -> bool:
        """True for a sequence (versions logged to it), False for a portfolio."""
        return self._record.is_sequence()

    @normalize_exceptions
    def artifacts(self, per_page: int = 50, start: Optional[str] = None) -> Artifacts:
        """Its committed versions, newest first, a page at a time (`start`: a cursor
        saved from an earlier paginator's `.cursor`)."""
        return Artifacts(self._backend, self.entity, self.project, self._saved["name"],
                         self._saved["type"], per_page=per_page, start=start)

    # --- editable ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The collection's name; saved with `save()`."""
        return self._current["name"]

    @name.setter
    def name(self, name: str) -> None:
        self._current["name"] = _checked("name", name, validate_artifact_name)

    @property
    def type(self) -> str:
        """The collection's type (changeable on sequences only); saved with `save()`."""
        return self._current["type"]

    @type.setter
    def type(self, type: str) -> None:
        if not self.is_sequence():
            raise ValueError("Type can only be changed if the artifact collection is a sequence.")
        if not isinstance(type, str):
            raise _string_error("type", type)
        self._current["type"] = type

    @property
    def description(self) -> Optional[str]:
        """The collection's description; saved with `save()`."""
        return self._current["description"]

    @description.setter
    def description(self, description: Optional[str]) -> None:
        if description is not None and not isinstance(description, str):
            raise _string_error("description", description)
        self._current["description"] = description

    @property
    def tags(self) -> list[str]:
        """The collection's tags (not its versions'); saved with `save()`."""
        return self._current["tags"]

    @tags.setter
    def tags(self, tags: Collection[str]) -> None:
        self._current["tags"] = _checked("tags", tags, validate_tags)

    # --- persisting --------------------------------------------------------------------

    @normalize_exceptions
    def save(self) -> None:
        """Persist edits of name, description, type (sequences only) and tags."""
        old_type, new_type = self._saved["type"], self.type
        if old_type != new_type:
            try:
                validate_artifact_type(new_type, self.name)
            except ValueError as e:
                raise ValueError(f"Failed to save artifact collection {self.name!r}: {e}") from e
            try:
                validate_artifact_type(old_type, self.name)
            except ValueError as e:
                reason = f"The current type {old_type!r} is an internal type and cannot be changed."
                raise ValueError(f"Failed to save artifact collection {self.name!r}: {reason}") from e
        if not self.name:  # wandb's setter lets "" through; its server refuses it at save
            raise ValueError(f"Failed to save artifact collection {self.name!r}: the name must not be empty")
        tags = validate_tags(self._current["tags"])  # a list edited in place is checked too
        old_tags = set(self._saved["tags"])
        record = self._backend.store.update_collection(
            self._record, name=self.name, description=self.description,
            type=new_type if self.is_sequence() else self._record.type,
            add_tags=[t for t in tags if t not in old_tags],
            remove_tags=sorted(old_tags - set(tags)),
        )
        self._update_data(record)

    @normalize_exceptions
    def change_type(self, new_type: str) -> None:
        """Deprecated: set `type` and call `save()` instead."""
        termwarn("ArtifactCollection.change_type(type) is deprecated, use ArtifactCollection.save() instead.")
        old_type = self._saved["type"]
        if old_type != new_type:
            try:
                validate_artifact_type(old_type, self.name)
            except ValueError as e:
                raise ValueError(f"The current type {old_type!r} is an internal type and cannot be changed.") from e
        new_type = validate_artifact_type(new_type, self.name)
        if not self.is_sequence():
            raise ValueError("Artifact collection needs to be a sequence")
        termlog(f"Changing artifact collection type of {old_type!r} to {new_type!r}")
        record = self._backend.store.update_collection(self._record, type=new_type)
        current = dict(self._current)
        self._update_data(record)
        self._current.update({k: current[k] for k in ("name", "description", "tags")})

    @normalize_exceptions
    def delete(self) -> None:
        """Delete the collection with all its versions (or links)."""
        self._backend.store.delete_collection(self._record)

    def __repr__(self) -> str:
        return f"<ArtifactCollection {self.name} ({self.type})>"


class ArtifactCollections(SizedPaginator[ArtifactCollection]):
    """The collections of one type in a project, a page at a time."""

    def __init__(self, backend: "StoreBackend", entity: str, project: str, type_name: str,
                 per_page: int = 50, start: Optional[str] = None) -> None:
        per_page, _ = check_page_vars("_ArtifactCollectionsVars", per_page)
        self.entity, self.project, self.type_name = entity, project, type_name

        def page_at(offset: int, limit: int) -> tuple[list, int]:
            return backend.store.collection_page(entity, project, type=type_name, offset=offset, limit=limit)

        super().__init__(paged_records(page_at, lambda r: ArtifactCollection(backend, r)), per_page, start)


class ArtifactType:
    """An artifact type of a project, with its collections."""

    def __init__(self, api: Any, entity: str, project: str, name: str) -> None:
        self._api, self.entity, self.project = api, entity, project
        self._name = name

    @property
    def name(self) -> str:
        """The type's name."""
        return self._name

    @property
    def type(self) -> str:
        """The type's name (wandb's `ArtifactType.type`)."""
        return self._name

    def collections(self, per_page: int = 50) -> ArtifactCollections:
        """The collections of this type."""
        return self._api.artifact_collections(f"{self.entity}/{self.project}", self._name, per_page)

    def collection(self, name: str) -> ArtifactCollection:
        """One collection of this type, by name."""
        return self._api.artifact_collection(self._name, f"{self.entity}/{self.project}/{name}")

    def __repr__(self) -> str:
        return f"<ArtifactType {self._name}>"


class ArtifactTypes(SizedPaginator[ArtifactType]):
    """The artifact types used in a project."""

    def __init__(self, api: Any, entity: str, project: str, per_page: int = 50,
                 start: Optional[str] = None) -> None:
        self.entity, self.project = entity, project

        def page_at(offset: int, limit: int) -> tuple[list, int]:
            names = api._backend.store.list_types(entity, project)
            return names[offset:offset + limit], len(names)

        super().__init__(paged_records(page_at, lambda n: ArtifactType(api, entity, project, n)), per_page, start)
