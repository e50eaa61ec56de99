"""Validation of artifact names, types, metadata, aliases, tags, TTLs and storage regions.

Messages and edge cases are wandb 0.31.0's (`sdk/artifacts/_validators.py`), e.g. the
name regex is Python's `^...$`, which accepts a single trailing newline.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Any, Iterable, Optional, Union

from .errors import ValidationError

NAME_MAXLEN = 128
MAX_ARTIFACT_METADATA_KEYS = 100
RESERVED_ARTIFACT_TYPE_PREFIX = "wandb-"
# type -> reserved name prefix ("" reserves every name for that type)
RESERVED_ARTIFACT_NAME_PREFIX_BY_TYPE = {"job": "", "run_table": "run-", "code": "source-"}
ARTIFACT_SEP_CHARS = frozenset("/:")
INVALID_ARTIFACT_NAME_CHARS = frozenset("/")
_NAME_REGEX = re.compile(r"^[a-zA-Z0-9_\-.]+$")
TAG_REGEX = re.compile(r"^[-\w]+( +[-\w]+)*$")


def _repr_join(items: Iterable[Any]) -> str:
    return ", ".join(map(repr, items))


def _always_list(value: Union[Iterable[str], str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def validate_artifact_name_chars(name: str) -> str:
    """The constructor's first check: only `[a-zA-Z0-9_\\-.]`, ASCII, non-empty."""
    if not _NAME_REGEX.match(name):
        raise ValueError(
            "Artifact name may only contain alphanumeric characters, dashes, "
            f"underscores, and dots. Invalid name: {name!r}"
        )
    return name


def validate_artifact_name(name: str) -> str:
    """At most 128 characters (code points) and no `/`."""
    if len(name) > NAME_MAXLEN:
        trunc_name = f"{name[:NAME_MAXLEN]} ..."
        raise ValueError(
            f"Artifact name is longer than {NAME_MAXLEN!r} characters: {trunc_name!r}"
        )
    if INVALID_ARTIFACT_NAME_CHARS.intersection(name):
        raise ValueError(
            "Artifact names must not contain any of the following characters: "
            f"{_repr_join(sorted(INVALID_ARTIFACT_NAME_CHARS))}.  Got: {name!r}"
        )
    return name


def validate_artifact_type(typ: str, name: str) -> str:
    """Reject the internal types: `wandb-*`, `job`, `run_table` for `run-*`, `code` for `source-*`."""
    bad_prefix = RESERVED_ARTIFACT_NAME_PREFIX_BY_TYPE.get(typ)
    if (bad_prefix is not None and name.startswith(bad_prefix)) or typ.startswith(
        RESERVED_ARTIFACT_TYPE_PREFIX
    ):
        raise ValueError(
            f"Artifact type {typ!r} is reserved for internal use. Please use a different type."
        )
    return typ


def validate_aliases(aliases: Union[Iterable[str], str]) -> list[str]:
    """Aliases as a list; `/` and `:` are forbidden. A single string becomes `[string]`.

    A `v<N>` alias passes, as in wandb, but is never stored: wandb's client reads every
    such alias as the version index (`util.alias_is_version_index`, and `Artifact`'s
    "Expected at most one version alias"), so `name:v7` always means version 7. It is
    dropped with a warning rather than silently.
    """
    aliases_list = _always_list(aliases)
    if any(ARTIFACT_SEP_CHARS.intersection(name) for name in aliases_list):
        raise ValueError(
            "Aliases must not contain any of the following characters: "
            f"{_repr_join(sorted(ARTIFACT_SEP_CHARS))}"
        )
    versions = [a for a in aliases_list if _is_version_index(a)]
    if versions:
        from .term import termwarn

        termwarn(
            f"alias{'es' if len(versions) > 1 else ''} {_repr_join(versions)} not set:"
            " `v<N>` always names version N of an artifact (as in wandb), so it cannot be"
            " an alias; choose another name"
        )
    return aliases_list


def _is_version_index(alias: object) -> bool:
    """wandb's `alias_is_version_index` (`v` then digits), False for non-strings."""
    return isinstance(alias, str) and len(alias) >= 2 and alias[0] == "v" and alias[1:].isnumeric()


def validate_tags(tags: Union[Iterable[str], str]) -> list[str]:
    """Tags as a de-duplicated list (first occurrence kept), each matching TAG_REGEX."""
    tags_list = list(dict.fromkeys(_always_list(tags)))
    if any(not TAG_REGEX.match(tag) for tag in tags_list):
        raise ValueError(
            "Invalid tag(s).  "
            "Tags must only contain alphanumeric characters separated by hyphens, "
            "underscores, and/or spaces."
        )
    return tags_list


def validate_ttl_duration_seconds(ttl_duration_seconds: int) -> Optional[int]:
    """A server `ttlDurationSeconds`: values <= 0 mean "disabled" and read back as None."""
    return ttl_duration_seconds if ttl_duration_seconds > 0 else None


def validate_storage_region(region: Any) -> Optional[str]:
    """A storage region: None, or a str stripped of surrounding whitespace and non-empty.

    Raises ValidationError with pydantic's text for `StoragePolicyConfig`, as wandb does.
    """
    return storage_region_or_errors(region, ("storage_region",), "StoragePolicyConfig")


def storage_region_or_errors(region: Any, loc: tuple, title: str) -> Optional[str]:
    if region is None:
        return None
    if not isinstance(region, str):
        err = {"type": "string_type", "loc": loc, "msg": "Input should be a valid string"}
        raise ValidationError(title, [{**err, "input": region}])
    stripped = region.strip()
    if not stripped:
        err = {
            "type": "string_too_short",
            "loc": loc,
            "msg": "String should have at least 1 character",
            "ctx": {"min_length": 1},
        }
        raise ValidationError(title, [{**err, "input": region}])
    return stripped


# --- metadata --------------------------------------------------------------------------


def _numpy_generic_to_python(value: Any) -> Any:
    value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic) and value.dtype.kind == "f":
        return float(value)  # float128 and friends do not become Python floats
    return value


def _json_friendly(obj: Any) -> Any:
    """wandb's `util.json_friendly` for the types metadata can hold (torch/tf/jax aside)."""
    np = sys.modules.get("numpy")  # numpy values can only exist if numpy is imported
    if np is not None and isinstance(obj, np.ndarray):
        if obj.size == 1:
            return obj.flatten()[0]
        if obj.size <= 32:
            return obj.tolist()
        return obj
    if np is not None and isinstance(obj, np.generic):
        return _numpy_generic_to_python(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if callable(obj):
        if hasattr(obj, "__qualname__") and hasattr(obj, "__module__"):
            return f"{obj.__module__}.{obj.__qualname__}"
        return str(obj)
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, set):
        return tuple(obj)
    if isinstance(obj, enum.Enum):
        return obj.name
    return obj


def json_friendly_val(val: Any) -> Any:
    """Make any value (dict, slice, sequence, dataclass, numpy, datetime...) JSON friendly.

    Same conversions as wandb's `util.json_friendly_val`: numpy -> Python, datetime ->
    isoformat, NaN -> None, tuples and sets -> lists, enums -> name, and any other
    non-builtin object -> `str(obj)`.
    """
    if isinstance(val, dict):
        return {key: json_friendly_val(value) for key, value in val.items()}
    if isinstance(val, slice):
        return dict(slice_start=val.start, slice_step=val.step, slice_stop=val.stop)
    val = _json_friendly(val)
    if isinstance(val, Sequence) and not isinstance(val, str):
        return [json_friendly_val(value) for value in val]
    if hasattr(type(val), "__dataclass_fields__") and not isinstance(val, type):
        import dataclasses

        return json_friendly_val(dataclasses.asdict(val))
    if val.__class__.__module__ not in ("builtins", "__builtin__"):
        val = str(val)
    return val


def validate_metadata(metadata: Union[dict, str, None]) -> dict:
    """Validate artifact metadata and return it as a JSON-round-tripped dict.

    `None`/`""` -> `{}`; a str is parsed as JSON; a dict goes through
    `json_friendly_val` and `json.dumps(allow_nan=False)`; at most 100 top-level keys.
    """
    if metadata is None or isinstance(metadata, str):
        return validate_metadata(json.loads(metadata)) if metadata else {}
    if not isinstance(metadata, dict):
        raise TypeError(f"Cannot parse {type(metadata)} as artifact metadata")
    metadata = json.loads(json.dumps(json_friendly_val(metadata), allow_nan=False))
    if len(metadata) > MAX_ARTIFACT_METADATA_KEYS:
        raise ValueError(
            f"Artifact must not have more than {MAX_ARTIFACT_METADATA_KEYS!r} metadata keys."
        )
    return metadata
