"""Column type inference of `Table`, the subset of wandb's `_dtypes` that scalar cells use.

A column starts as `Union[None, Unknown]` (or `Unknown` if not optional). Each value
narrows it: the first non-None value fixes the type, later values must agree. The JSON
(`{"wb_type": "union", "params": {"allowed_types": [...]}}`) and the error texts are
wandb's, because `Table.to_json` must produce the same bytes.
"""

from __future__ import annotations

import datetime
import math
import sys
from typing import Any, Optional


class WBType:
    """A column type: `name` (the `wb_type`) and `params`."""

    name = ""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def assign(self, value: Any) -> "WBType":
        return self.assign_type(type_of(value))

    def assign_type(self, other: "WBType") -> "WBType":
        if isinstance(other, self.__class__) and self.params == other.params:
            return self
        return InvalidType()

    def to_json(self) -> dict[str, Any]:
        params = _params_to_json(self.params)
        return {"wb_type": self.name, "params": params} if params else {"wb_type": self.name}

    def explain(self, other: Any, depth: int = 0) -> str:
        gap = "\t" * depth
        if depth > 0:
            return f"{gap}{type_of(other)} not assignable to {self}"
        return f"{gap}{other} of type {type_of(other)} is not assignable to {self}"

    def __repr__(self) -> str:
        text = self.name.capitalize()
        if self.params:
            text += "(" + ", ".join(f"{k}:{v}" for k, v in self.params.items()) + ")"
        return text

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, WBType) and self.name == other.name and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]


def _params_to_json(value: Any) -> Any:
    if value.__class__ is dict:
        return {key: _params_to_json(item) for key, item in value.items()}
    if value.__class__ in (list, set, tuple, frozenset):
        return [_params_to_json(item) for item in list(value)]
    if isinstance(value, WBType):
        return value.to_json()
    return value


class InvalidType(WBType):
    name = "invalid"

    def assign_type(self, other: WBType) -> WBType:
        return self


class AnyType(WBType):
    name = "any"

    def assign_type(self, other: WBType) -> WBType:
        return InvalidType() if isinstance(other, (NoneType, InvalidType)) else self


class UnknownType(WBType):
    name = "unknown"

    def assign_type(self, other: WBType) -> WBType:
        return InvalidType() if isinstance(other, NoneType) else other


class NoneType(WBType):
    name = "none"


class StringType(WBType):
    name = "string"


class NumberType(WBType):
    name = "number"


class BooleanType(WBType):
    name = "boolean"


def _flatten(types: list[WBType]) -> list[WBType]:
    out: list[WBType] = []
    for wb_type in types:
        if isinstance(wb_type, UnionType):
            out.extend(_flatten(wb_type.params["allowed_types"]))
        else:
            out.append(wb_type)
    return out


class UnionType(WBType):
    name = "union"

    def __init__(self, allowed_types: Optional[list[WBType]] = None) -> None:
        super().__init__()
        types = _flatten(list(allowed_types or []))
        types.sort(key=str)
        self.params["allowed_types"] = types

    def assign(self, value: Any) -> WBType:
        return self._assign(type_of(value), value_mode=True)

    def assign_type(self, other: WBType) -> WBType:
        assignees = other.params["allowed_types"] if isinstance(other, UnionType) else [other]
        result: WBType = self
        for assignee in assignees:
            result = result._assign(assignee, value_mode=False) if isinstance(result, UnionType) else result
            if isinstance(result, InvalidType):
                return result
        return result

    def _assign(self, incoming: WBType, value_mode: bool) -> WBType:
        # wandb's _union_assigner: the first allowed type that accepts wins; otherwise
        # an Unknown slot becomes the incoming type.
        resolved: list[WBType] = []
        valid = False
        unknown_count = 0
        for allowed in self.params["allowed_types"]:
            if valid:
                resolved.append(allowed)
            elif isinstance(allowed, UnknownType):
                unknown_count += 1
            else:
                assigned = allowed.assign_type(incoming)
                if isinstance(assigned, InvalidType):
                    resolved.append(allowed)
                else:
                    resolved.append(assigned)
                    valid = True
        if not valid:
            if unknown_count == 0:
                return InvalidType()
            new_type = UnknownType().assign_type(incoming) if value_mode else incoming
            if isinstance(new_type, InvalidType):
                return InvalidType()
            resolved.append(new_type)
            unknown_count -= 1
        resolved.extend(UnknownType() for _ in range(unknown_count))
        return UnionType(resolved)

    def explain(self, other: Any, depth: int = 0) -> str:
        text = super().explain(other, depth)
        for index, subtype in enumerate(self.params["allowed_types"]):
            if index > 0:
                text += "\n" + "\t" * depth + "and"
            text += "\n" + subtype.explain(other, depth=depth + 1)
        return text

    def __repr__(self) -> str:
        return " or ".join(str(t) for t in self.params["allowed_types"])


def optional_type(wb_type: WBType) -> UnionType:
    """wandb's `OptionalType`: `Union[wb_type, None]`."""
    return UnionType([wb_type, NoneType()])


class TypedDictType(WBType):
    """The table's `column_types`: a type per column name."""

    name = "typedDict"

    def __init__(self, type_map: Optional[dict[Any, WBType]] = None) -> None:
        super().__init__()
        self.params["type_map"] = dict(type_map or {})

    def assign(self, value: Any) -> WBType:
        type_map = self.params["type_map"]
        if not isinstance(value, dict) or set(value) - set(type_map):
            return InvalidType()
        out = {}
        for key, column_type in type_map.items():
            out[key] = column_type.assign(value.get(key, None))
            if isinstance(out[key], InvalidType):
                return InvalidType()
        return TypedDictType(out)

    def explain(self, other: Any, depth: int = 0) -> str:
        text = super().explain(other, depth)
        gap = "\t" * depth
        if isinstance(other, dict):
            type_map = self.params["type_map"]
            extra_keys = set(other) - set(type_map)
            if extra_keys:
                text += f"\n{gap}Found extra keys: {','.join(list(extra_keys))}"
            for key, column_type in type_map.items():
                value = other.get(key, None)
                if isinstance(column_type.assign(value), InvalidType):
                    text += f"\n{gap}Key '{key}':\n{column_type.explain(value, depth=depth + 1)}"
        return text

    def __repr__(self) -> str:
        return str(self.params["type_map"])


# --- value -> type ---------------------------------------------------------------------

_TYPE_BY_CLASS: dict[type, type] = {type(None): NoneType, str: StringType, int: NumberType, float: NumberType, bool: BooleanType}
_NUMPY_NUMBER_NAMES = (
    "byte short ushort intc uintc int_ uint longlong ulonglong half float16 single double "
    "longdouble csingle cdouble clongdouble int8 int16 int32 int64 uint8 uint16 uint32 "
    "uint64 intp uintp float32 float64 complex64 complex128"
).split()


def _numpy_type(cls: type) -> Optional[type]:
    np = sys.modules.get("numpy")
    if np is None or not cls.__module__.startswith("numpy"):
        return None
    if cls is np.bool_:
        return BooleanType
    if cls is np.datetime64:
        return TimestampType
    for name in _NUMPY_NUMBER_NAMES:
        if getattr(np, name, None) is cls:
            return NumberType
    return None


def type_of(value: Any) -> WBType:
    """The type of one cell (exact class lookup, as wandb's TypeRegistry).

    Raises:
        TypeError: for cells this port does not serialise (lists, dicts, datetimes,
            media, artifact references...), rather than writing JSON that differs
            from wandb's.
    """
    if isinstance(value, dict):
        return TypedDictType({key: type_of(item) for key, item in value.items()})
    cls = value.__class__
    if cls is float and math.isnan(value):
        return NoneType()
    if cls is str and value.startswith("wandb-artifact://"):
        raise TypeError("artefact.Table cells cannot hold artifact references yet")
    handler = _TYPE_BY_CLASS.get(cls) or _numpy_type(cls)
    if handler is None:
        raise TypeError(
            f"artefact.Table supports cells of type int, float, str, bool, None and numpy"
            f" scalars; got {cls.__module__}.{cls.__qualname__}"
        )
    return handler()


def type_from_dtype(dtype: Any) -> WBType:
    """A column type from `Table(dtype=...)`: None, a WBType or int/float/str/bool."""
    if dtype is None:
        return UnknownType()
    if isinstance(dtype, WBType):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, WBType):
        return dtype()
    handler = _TYPE_BY_CLASS.get(dtype) if isinstance(dtype, type) else None
    if handler is None:
        raise TypeError(f"artefact.Table does not support dtype {dtype!r} yet")
    return handler()


# --- timestamps: datetime/date cells, stored as epoch milliseconds as wandb does --------


class TimestampType(WBType):
    """wandb's `TimestampType` (`datetime.datetime`, `datetime.date`, `numpy.datetime64`)."""

    name = "timestamp"


_TYPE_BY_CLASS.update({datetime.datetime: TimestampType, datetime.date: TimestampType})


def is_timestamp(value: Any) -> bool:
    """True for the cells wandb types as timestamps."""
    return isinstance(value, datetime.date) or value.__class__.__name__ == "datetime64"


def timestamp_json(value: Any) -> Any:
    """A datetime/date/datetime64 cell as wandb's `_json_helper` writes it (epoch ms; a
    naive datetime counts as UTC); any other value is returned unchanged."""
    if value.__class__.__name__ == "datetime64" and hasattr(value, "tolist"):
        value = value.tolist()
        if isinstance(value, int):  # nanoseconds
            return value / int(1e6)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, datetime.date):
        midnight = datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc)
        return int(midnight.timestamp() * 1000)
    return value


def timestamp_columns(json_obj: dict) -> set[int]:
    """Indices of the columns `column_types` marks as timestamps (alone or in a union)."""
    type_map = ((json_obj.get("column_types") or {}).get("params") or {}).get("type_map") or {}
    columns = json_obj.get("columns") or []
    found = set()
    for name, col in type_map.items():
        kinds = [col.get("wb_type")]
        if col.get("wb_type") == "union":
            kinds = [t.get("wb_type") for t in col.get("params", {}).get("allowed_types", [])]
        if "timestamp" in kinds and name in columns:
            found.add(columns.index(name))
    return found


def timestamp_rows(json_obj: dict, rows: list) -> list:
    """`rows` with the timestamp columns' numbers turned back into UTC datetimes, as
    wandb's `Table.from_json` does."""
    indices = timestamp_columns(json_obj)
    if not indices:
        return rows
    utc = datetime.timezone.utc
    return [
        [datetime.datetime.fromtimestamp(cell / 1000, tz=utc)
         if i in indices and isinstance(cell, (int, float)) and not isinstance(cell, bool) else cell
         for i, cell in enumerate(row)]
        for row in rows
    ]
