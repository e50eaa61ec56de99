"""Checking manifest dicts and entry fields the way wandb's pydantic models do.

wandb parses `from_manifest_json(...)` input and `ArtifactManifestEntry(...)` arguments
with pydantic in lax mode. This module applies the same coercions (e.g. size "5" -> 5,
skip_cache "yes" -> True) and reports failures as `errors.ValidationError` whose text is
pydantic's, so callers that match on messages keep working.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional

from .errors import ValidationError

MANIFEST_TITLE = "ArtifactManifestV1Data"
ENTRY_TITLE = "ArtifactManifestEntry"

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_MISSING = object()
_INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"
_INT_FRACTION = "Input should be a valid integer, got a number with a fractional part"
_BOOL_PARSING = "Input should be a valid boolean, unable to interpret input"
_STR_UNICODE = "Input should be a valid string, unable to parse raw data as a unicode string"


def _missing(loc: tuple, data: Any) -> dict:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": data}


class _Invalid(Exception):
    def __init__(self, type_: str, msg: str, value: Any, ctx: Optional[dict] = None) -> None:
        super().__init__(msg)
        self.error = {"type": type_, "msg": msg, "input": value}
        if ctx:
            self.error["ctx"] = ctx


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid("string_unicode", _STR_UNICODE, value) from None
    raise _Invalid("string_type", "Input should be a valid string", value)


def _optional_str(value: Any) -> Optional[str]:
    return None if value is None else _str(value)


def _non_negative_int(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("finite_number", "Input should be a finite number", value)
        if value != int(value):
            raise _Invalid("int_from_float", _INT_FRACTION, value)
        number = int(value)
    elif isinstance(value, (str, bytes)):
        try:
            number = int(value.strip())
        except ValueError:
            raise _Invalid("int_parsing", _INT_PARSING, value) from None
    else:
        raise _Invalid("int_type", "Input should be a valid integer", value)
    if number < 0:
        msg = "Input should be greater than or equal to 0"
        raise _Invalid("greater_than_equal", msg, value, {"ge": 0})
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value in (0, 1):
            return bool(value)
        raise _Invalid("bool_parsing", _BOOL_PARSING, value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _Invalid("bool_parsing", _BOOL_PARSING, value)
    raise _Invalid("bool_type", "Input should be a valid boolean", value)


def _dict(value: Any) -> dict:
    if isinstance(value, dict):
        return dict(value)
    raise _Invalid("dict_type", "Input should be a valid dictionary", value)


def check_field(name: str, value: Any, title: str = ENTRY_TITLE, loc: tuple = ()) -> Any:
    """Coerce one entry field (used on assignment), raising ValidationError on failure."""
    checker = _FIELD_CHECKERS[name]
    try:
        return checker(value)
    except _Invalid as exc:
        raise ValidationError(title, [{**exc.error, "loc": (*loc, name)}]) from None


def _local_path(value: Any) -> Optional[str]:
    return _str(str(value)) if value else None


_FIELD_CHECKERS = {
    "digest": _str,
    "ref": _optional_str,
    "birth_artifact_id": _optional_str,
    "size": _non_negative_int,
    "extra": _dict,
    "local_path": _local_path,
    "skip_cache": _bool,
}
# Field order = pydantic's error order; (name, alias, default)
_ENTRY_FIELDS = (
    ("digest", "digest", _MISSING),
    ("ref", "ref", None),
    ("birth_artifact_id", "birthArtifactID", None),
    ("size", "size", None),
    ("extra", "extra", {}),
    ("local_path", "local_path", None),
    ("skip_cache", "skip_cache", False),
)


def check_entry_fields(data: dict, loc: tuple, errors: list) -> Optional[dict]:
    """Coerced field values of one entry dict (keys by field name), or None on errors.

    Accepts alias keys (`birthArtifactID`) and field names; the alias wins, as in wandb.
    Errors are appended to `errors` in pydantic's order.
    """
    values: dict[str, Any] = {}
    failed = False
    for name, alias, default in _ENTRY_FIELDS:
        raw = data.get(alias, _MISSING)
        if raw is _MISSING and alias != name:
            raw = data.get(name, _MISSING)
        if raw is _MISSING:
            if default is _MISSING:
                errors.append(_missing((*loc, alias), data))
                failed = True
                continue
            values[name] = {} if name == "extra" else default
            continue
        try:
            values[name] = _FIELD_CHECKERS[name](raw)
        except _Invalid as exc:
            errors.append({**exc.error, "loc": (*loc, alias)})
            failed = True
    if failed:
        return None
    if values["size"] is None and values["local_path"]:
        values["size"] = os.path.getsize(values["local_path"])
    return values


def check_manifest_v1(manifest_json: dict) -> tuple[str, Any, list[tuple[str, dict]]]:
    """Validate a v1 manifest dict: (storagePolicy, storagePolicyConfig, [(path, fields)]).

    The version field is the caller's. Paths (the `contents` keys) are not validated.
    """
    errors: list[dict] = []
    contents = manifest_json.get("contents", _MISSING)
    entries: list[tuple[str, dict]] = []
    if contents is _MISSING:
        errors.append(_missing(("contents",), manifest_json))
    else:
        for path, entry in contents.items():  # AttributeError for non-dicts, as wandb
            try:
                entry_data = {**dict(entry), "path": path}
            except (TypeError, ValueError) as exc:
                errors.append(
                    {
                        "type": "value_error",
                        "loc": ("contents",),
                        "msg": f"Value error, {exc}",
                        "input": contents,
                        "ctx": {"error": exc},
                    }
                )
                entries = []
                break
            os.fspath(path)  # a non-str key is a TypeError in wandb's LogicalPath
            fields = check_entry_fields(entry_data, ("contents", path), errors)
            if fields is not None:
                entries.append((path, fields))
    policy = manifest_json.get("storagePolicy", _MISSING)
    if policy is _MISSING:
        errors.append(_missing(("storagePolicy",), manifest_json))
    elif not isinstance(policy, str):
        msg = "Input should be a valid string"
        errors.append({"type": "string_type", "loc": ("storagePolicy",), "msg": msg, "input": policy})
    policy_config = manifest_json.get("storagePolicyConfig", _MISSING)
    if policy_config is _MISSING:
        errors.append(_missing(("storagePolicyConfig",), manifest_json))
    elif not isinstance(policy_config, dict):
        errors.append(
            {
                "type": "model_attributes_type",
                "loc": ("storagePolicyConfig",),
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": policy_config,
            }
        )
    if errors:
        raise ValidationError(MANIFEST_TITLE, errors)
    return policy, policy_config, entries
