"""`run.config` and `run.summary`: dicts that write themselves to the store.

As in wandb, an artifact put in the config at top level (an `Artifact`, a
`wandb-artifact://` string or the `{"_type": "artifactVersion", ...}` dict it is stored
as) is used by the run and held as the used `Artifact`; the store keeps wandb's
`artifactVersion` dict (`Artifact.json_encode()`). Media objects are refused in the
config; in the summary they are stored as `run.log` stores them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from .runs import Run

__all__ = ["RunConfig", "RunSummary", "is_artifact_representation"]


def _is_artifact(value: Any) -> bool:
    from .artifact import Artifact

    return isinstance(value, Artifact)


def _is_artifact_string(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("wandb-artifact://")


def is_artifact_representation(value: Any) -> bool:
    """wandb's `_is_artifact_representation`: an Artifact, `wandb-artifact://...`, or an
    `artifactVersion` dict."""
    return (
        _is_artifact(value)
        or _is_artifact_string(value)
        or (isinstance(value, dict) and value.get("_type") == "artifactVersion")
    )


def _has_nested_artifact(d: dict, nested: bool = False) -> bool:
    for item in d.values():
        if isinstance(item, dict):
            if _has_nested_artifact(item, True):
                return True
        elif (_is_artifact(item) or _is_artifact_string(item)) and nested:
            return True
    return False


def _nested_artifact_error() -> ValueError:
    return ValueError("Instances of wandb.Artifact can only be top level keys in a run's config")


class _StoredDict(dict):
    """A dict that writes itself to the store after every change."""

    def __init__(self, run: "Run", initial: dict, save: Callable[[dict], None]) -> None:
        super().__init__(initial)
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_save", save)

    def _stored(self) -> dict:
        return dict(self)

    def _changed(self) -> None:
        self._save(self._stored())

    def _prepare(self, key: Any, value: Any) -> tuple[Any, Any]:
        return key, value

    def __setitem__(self, key: Any, value: Any) -> None:
        key, value = self._prepare(key, value)
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        items = dict(*args, **kwargs)
        prepared = [self._prepare(k, v) for k, v in items.items()]  # all checked first
        for key, value in prepared:
            super().__setitem__(key, value)
        self._changed()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: Any, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def __getattr__(self, name: str) -> Any:  # wandb allows run.config.lr
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value


class RunConfig(_StoredDict):
    """`run.config`: hyperparameters and inputs, artifacts among them (see the module).
    As in wandb, a key's value cannot change unless `update(..., allow_val_change=True)`."""

    _allow_val_change = False

    def _prepare(self, key: Any, value: Any) -> tuple[Any, Any]:
        from .errors import ConfigError
        from .runs import _refuse_finished

        if self._run._finished:
            _refuse_finished(self._run, "_config_callback")

        if callable(getattr(value, "to_json", None)) and hasattr(value, "_log_type"):
            raise TypeError("WBValue objects cannot be added to the run config")
        if isinstance(value, dict) and _has_nested_artifact(value, nested=True):
            raise _nested_artifact_error()
        if isinstance(key, str):
            key = key.strip("-")
        if is_artifact_representation(value):
            value = self._run._config_artifact(key, value)
        if not self._allow_val_change and key in self and value != self[key]:
            raise ConfigError(
                f'Attempted to change value of key "{key}" from {self[key]} to {value}\n'
                "If you really want to do this, pass allow_val_change=True to config.update()"
            )
        return key, value

    def update(self, d: Optional[dict] = None, allow_val_change: Optional[bool] = None,
               **kwargs: Any) -> None:  # type: ignore[override]
        """Add or change several keys at once (all checked before any is stored)."""
        items = dict(d or {}, **kwargs)
        if _has_nested_artifact(items):
            raise _nested_artifact_error()
        self._allow_val_change = bool(allow_val_change)
        try:
            super().update(items)
        finally:
            self._allow_val_change = False

    def _stored(self) -> dict:
        return {k: (_artifact_json(v) if _is_artifact(v) else v) for k, v in self.items()}


def _artifact_json(artifact: Any) -> dict:
    """`Artifact.json_encode()` (wandb's `artifact_to_json`), without the deprecation
    warning its `use_as` property prints on every config change."""
    return {
        "_type": "artifactVersion",
        "_version": "v0",
        "id": artifact.id,
        "version": artifact.source_version,
        "sequenceName": artifact.source_name.split(":")[0],
        "usedAs": artifact._use_as,
    }


class RunSummary(_StoredDict):
    """`run.summary`: the last value of each logged key, or what was set directly (media
    stored as `run.log` stores them)."""

    def _prepare(self, key: Any, value: Any) -> tuple[Any, Any]:
        from .history_values import history_value
        from .runs import _refuse_finished

        if self._run._finished:
            _refuse_finished(self._run, "_summary_update_callback")

        return key, history_value(self._run, key, value, "summary")

    def _update_stored(self, row: dict) -> None:
        """Take a history row already in stored form (no second conversion)."""
        for key, value in row.items():
            dict.__setitem__(self, key, value)
        self._changed()
