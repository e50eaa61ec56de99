"""What the store hands back: frozen records of versions, collections and runs.

They carry everything the Artifact/Run/Api layers need after a catalog call, so those
layers never read the catalog's tables. Ids look like wandb's GraphQL ids: base64 of
`"<Kind>:<n>"`, e.g. `QXJ0aWZhY3Q6MTIz` for `Artifact:123`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

__all__ = [
    "UNSET",
    "COMMITTED",
    "DELETED",
    "VersionRecord",
    "CollectionRecord",
    "RunRecord",
    "encode_id",
    "decode_id",
    "iso_time",
]


COMMITTED = "COMMITTED"
DELETED = "DELETED"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave this field as it is" in the update methods


def encode_id(kind: str, pk: int) -> str:
    """wandb-like global id: base64 of `"<kind>:<pk>"`."""
    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


def decode_id(global_id: str, kind: str) -> Optional[int]:
    """The integer key of an id made by `encode_id(kind, ...)`, or None if it is not one."""
    try:
        text = base64.b64decode(global_id, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    if prefix != kind or not number.isdigit():
        return None
    return int(number)


def iso_time(ts: Optional[float]) -> Optional[str]:
    """Epoch seconds as the server's timestamp string, e.g. `2024-05-01T12:34:56Z`."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class VersionRecord:
    """One artifact version as seen through one collection (its own sequence or a link).

    `entity/project/collection/version_index/aliases` describe the collection it was
    fetched through; `source_*` the sequence that owns it. They differ only for links
    (`is_link`). `aliases` never contains `v<N>` aliases: `version` is derived instead.
    """

    pk: int
    id: str
    entity: str
    project: str
    collection: str
    collection_id: str
    collection_kind: str  # "sequence" | "portfolio"
    type: str
    version_index: int
    source_entity: str
    source_project: str
    source_collection: str
    source_collection_id: str
    source_version_index: int
    is_link: bool
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    digest: str
    digest_algorithm: str  # "MANIFEST_MD5" | "MANIFEST_XXH128"
    size: int
    file_count: int
    description: Optional[str]
    metadata: dict = field(compare=False)
    ttl_seconds: Optional[int]
    ttl_inherited: bool
    state: str
    created_at: str
    updated_at: str
    commit_hash: str
    manifest_key: str
    storage_region: Optional[str]
    history_step: Optional[int]
    logged_by_run_id: Optional[str]
    base_version_id: Optional[str]
    linked_at: Optional[str]  # when the membership was created; None unless is_link
    created: bool = False  # True only on the record log_version returns for a new version

    def __hash__(self) -> int:
        return hash((self.pk, self.collection_id))

    @property
    def version(self) -> str:
        """`v<N>` in the collection it was fetched through."""
        return f"v{self.version_index}"

    @property
    def name(self) -> str:
        """`<collection>:v<N>`."""
        return f"{self.collection}:v{self.version_index}"

    @property
    def source_name(self) -> str:
        """`<source collection>:v<N>`."""
        return f"{self.source_collection}:v{self.source_version_index}"

    @property
    def qualified_name(self) -> str:
        """`<entity>/<project>/<collection>:v<N>`."""
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def source_qualified_name(self) -> str:
        """`<source entity>/<source project>/<source collection>:v<N>`."""
        return f"{self.source_entity}/{self.source_project}/{self.source_name}"


@dataclass(frozen=True)
class CollectionRecord:
    """An artifact collection: a sequence (versions logged to it) or a portfolio (links)."""

    pk: int
    id: str
    entity: str
    project: str
    name: str
    type: str
    kind: str  # "sequence" | "portfolio"
    description: Optional[str]
    tags: tuple[str, ...]
    aliases: tuple[str, ...]
    version_count: int
    created_at: str
    updated_at: str

    def is_sequence(self) -> bool:
        """True for a sequence, False for a portfolio (as wandb's `ArtifactCollection`)."""
        return self.kind == "sequence"


@dataclass(frozen=True)
class RunRecord:
    """A run: identity, config, summary and state. `run_id` is wandb's short run id."""

    pk: int
    entity: str
    project: str
    run_id: str
    name: Optional[str]
    job_type: Optional[str]
    group: Optional[str]
    config: dict = field(compare=False)
    summary: dict = field(compare=False)
    state: str = "running"
    created_at: str = ""
    finished_at: Optional[str] = None
    exit_code: Optional[int] = None

    def __hash__(self) -> int:
        return hash(self.pk)

    @property
    def path(self) -> str:
        """`<entity>/<project>/<run_id>`."""
        return f"{self.entity}/{self.project}/{self.run_id}"

    @property
    def id(self) -> str:
        """wandb's `Run.id` is the short run id."""
        return self.run_id


def json_loads_or_empty(text: Optional[str]) -> dict[str, Any]:
    """Parse a JSON object column ("" or NULL → {})."""
    return json.loads(text) if text else {}
