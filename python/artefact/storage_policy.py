"""The storage policy of a manifest: its name, its config, and reference dispatch.

wandb has exactly one policy, "wandb-storage-policy-v1", whose config is
`{"storageLayout": "V1"|"V2", "storageRegion"?: str}`. Loading files and references
(downloads) belongs to the cache/store layer and is not part of a draft.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import config as _config
from .errors import ValidationError
from .validate import storage_region_or_errors

if TYPE_CHECKING:
    from .artifact import Artifact
    from .manifest import ArtifactManifestEntry

WANDB_STORAGE_POLICY = "wandb-storage-policy-v1"
STORAGE_LAYOUTS = ("V1", "V2")


class StoragePolicyConfig:
    """wandb's frozen `StoragePolicyConfig`: a layout (or None) and an optional region."""

    __slots__ = ("storage_layout", "storage_region")

    def __init__(
        self,
        storage_layout: Optional[str] = None,
        storage_region: Optional[str] = None,
        *,
        _title: str = "StoragePolicyConfig",
        _loc: tuple = (),
    ) -> None:
        layout = getattr(storage_layout, "value", storage_layout)  # accept enums
        if layout is not None and layout not in STORAGE_LAYOUTS:
            loc = (*_loc, "storageLayout" if _loc else "storage_layout")
            err = {"type": "enum", "loc": loc, "msg": "Input should be 'V1' or 'V2'"}
            raise ValidationError(_title, [{**err, "input": storage_layout}])
        region_loc = (*_loc, "storageRegion" if _loc else "storage_region")
        object.__setattr__(self, "storage_layout", layout)
        object.__setattr__(
            self, "storage_region", storage_region_or_errors(storage_region, region_loc, _title)
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("StoragePolicyConfig is frozen")

    @classmethod
    def from_env(cls, region: Optional[str] = None) -> "StoragePolicyConfig":
        """Layout from `_WANDB_USE_V1_ARTIFACTS`, region as given."""
        return cls(storage_layout=_config.storage_layout(), storage_region=region)

    @classmethod
    def from_json(cls, data: Any, *, title: str, loc: tuple) -> "StoragePolicyConfig":
        """From a manifest's `storagePolicyConfig` (camelCase keys, unknown keys ignored)."""
        if isinstance(data, StoragePolicyConfig):
            return data
        if not isinstance(data, dict):
            msg = "Input should be a valid dictionary or instance of StoragePolicyConfig"
            err = {"type": "model_type", "loc": loc, "msg": msg, "input": data}
            raise ValidationError(title, [err])
        return cls(
            data.get("storageLayout", data.get("storage_layout")),
            data.get("storageRegion", data.get("storage_region")),
            _title=title,
            _loc=loc,
        )

    def to_json(self) -> dict[str, str]:
        """camelCase dict without None values (wandb's `model_dump(exclude_none=True)`)."""
        out = {}
        if self.storage_layout is not None:
            out["storageLayout"] = self.storage_layout
        if self.storage_region is not None:
            out["storageRegion"] = self.storage_region
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoragePolicyConfig) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.storage_layout, self.storage_region))

    def __repr__(self) -> str:
        return (
            f"StoragePolicyConfig(storage_layout={self.storage_layout!r}, "
            f"storage_region={self.storage_region!r})"
        )


class WandbStoragePolicy:
    """The "wandb-storage-policy-v1" policy of every manifest."""

    def __init__(self, config: Optional[StoragePolicyConfig] = None) -> None:
        self._config = config if config is not None else StoragePolicyConfig()

    @classmethod
    def name(cls) -> str:
        """The policy name written as `storagePolicy`."""
        return WANDB_STORAGE_POLICY

    @classmethod
    def lookup_by_name(cls, name: str) -> type:
        """The policy class for `name`; ValueError("Failed to find storage policy 'x'")."""
        if name == WANDB_STORAGE_POLICY:
            return cls
        raise ValueError(f"Failed to find storage policy {name!r}")

    @classmethod
    def from_config(cls, config: StoragePolicyConfig) -> "WandbStoragePolicy":
        """The policy with this config."""
        return cls(config=config)

    @property
    def storage_config(self) -> StoragePolicyConfig:
        """The typed config (layout and region)."""
        return self._config

    def config(self) -> dict[str, str]:
        """The `storagePolicyConfig` dict, e.g. `{"storageLayout": "V2"}`."""
        return self._config.to_json()

    def store_reference(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list["ArtifactManifestEntry"]:
        """Entries for the reference `path`, from the first handler that can handle it."""
        from .references import handler_for

        return handler_for(path).store_path(
            artifact, path, name=name, checksum=checksum, max_objects=max_objects
        )

    def load_reference(self, entry: "ArtifactManifestEntry", local: bool = False) -> str:
        """The target of a reference entry (`local=False`); downloads need a store."""
        from .references import handler_for

        assert entry.ref is not None
        return handler_for(entry.ref).load_path(entry, local=local)

    def __repr__(self) -> str:
        return f"<WandbStoragePolicy {self.config()}>"


def make_storage_policy(region: Optional[str] = None) -> WandbStoragePolicy:
    """The policy of a new artifact: layout from the environment, the given region."""
    return WandbStoragePolicy(StoragePolicyConfig.from_env(region=region))
