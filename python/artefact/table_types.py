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
from typing import Any, Callable, Optional


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

    def to_json(self, artifact: Any = None) -> dict[str, Any]:
        params = _params_to_json(self.params, artifact)
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


def _params_to_json(value: Any, artifact: Any = None) -> Any:
    if value.__class__ is dict:
        return {key: _params_to_json(item, artifact) for key, item in value.items()}
    if value.__class__ in (list, set, tuple, frozenset):
        return [_params_to_json(item, artifact) for item in list(value)]
    if isinstance(value, WBType):
        return value.to_json(artifact)
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
        return self._assign(value, value_mode=True)

    def assign_type(self, other: WBType) -> WBType:
        assignees = other.params["allowed_types"] if isinstance(other, UnionType) else [other]
        result: WBType = self
        for assignee in assignees:
            result = result._assign(assignee, value_mode=False) if isinstance(result, UnionType) else result
            if isinstance(result, InvalidType):
                return result
        return result

    def _assign(self, incoming: Any, value_mode: bool) -> WBType:
        # wandb's _union_assigner: the first allowed type that accepts wins; otherwise
        # an Unknown slot becomes the incoming type. In value mode `incoming` is a cell
        # value and each type's own `assign` sees it (lists and arrays narrow by value).
        resolved: list[WBType] = []
        valid = False
        unknown_count = 0
        for allowed in self.params["allowed_types"]:
            if valid:
                resolved.append(allowed)
            elif isinstance(allowed, UnknownType):
                unknown_count += 1
            else:
                assigned = allowed.assign(incoming) if value_mode else allowed.assign_type(incoming)
                if isinstance(assigned, InvalidType):
                    resolved.append(allowed)
                else:
                    resolved.append(assigned)
                    valid = True
        if not valid:
            if unknown_count == 0:
                return InvalidType()
            new_type = UnknownType().assign(incoming) if value_mode else incoming
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

    def assign_type(self, other: WBType) -> WBType:
        type_map = self.params["type_map"]
        if not isinstance(other, TypedDictType) or set(other.params["type_map"]) - set(type_map):
            return InvalidType()
        out = {}
        for key, column_type in type_map.items():
            out[key] = column_type.assign_type(other.params["type_map"].get(key, UnknownType()))
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


# --- lists, arrays, constants and other objects ------------------------------------------


class ListType(WBType):
    """A list (or tuple, set, 1-D iterable) whose elements share `element_type`."""

    name = "list"

    def __init__(self, element_type: Any = None, length: Optional[int] = None) -> None:
        super().__init__()
        self.params["element_type"] = UnknownType() if element_type is None else type_from_dtype(element_type)
        self.params["length"] = length

    @classmethod
    def from_obj(cls, value: Any) -> "ListType":
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        element: WBType = UnknownType() if None not in items else optional_type(UnknownType())
        for item in items:
            element = element.assign(item)
        return cls(element, len(items))

    def assign_type(self, other: WBType) -> WBType:
        if isinstance(other, ListType):
            element = self.params["element_type"].assign_type(other.params["element_type"])
            if not isinstance(element, InvalidType):
                same = self.params["length"] == other.params["length"]
                return ListType(element, self.params["length"] if same else None)
        return InvalidType()

    def assign(self, value: Any) -> WBType:
        if not hasattr(value, "__iter__"):
            return InvalidType()
        element = self.params["element_type"]
        items = list(value)
        for item in items:
            element = element.assign(item)
            if isinstance(element, InvalidType):
                return InvalidType()
        return ListType(element, len(items))

    def explain(self, other: Any, depth: int = 0) -> str:
        text = super().explain(other, depth)
        gap = "\t" * depth
        if isinstance(other, (list, tuple, set, frozenset)):
            element = self.params["element_type"]
            for index, item in enumerate(list(other)):
                assigned = element.assign(item)
                if isinstance(assigned, InvalidType):
                    text += f"\n{gap}Index {index}:\n{element.explain(item, depth + 1)}"
                    break
                element = assigned
        return text

    def __repr__(self) -> str:
        return f"{self.params['element_type']}[]"


class NDArrayType(WBType):
    """A numpy array (or nested list) of one `shape`; big ones are stored as `.npz`."""

    name = "ndarray"

    def __init__(self, shape: Any, serialization_path: Optional[dict] = None) -> None:
        super().__init__()
        self.params["shape"] = list(shape)
        self._serialization_path = serialization_path

    @classmethod
    def from_obj(cls, value: Any) -> "NDArrayType":
        if _is_ndarray(value):
            return cls(value.shape)
        if not isinstance(value, list):
            raise TypeError(f"NDArrayType.from_obj expects py_obj to be ndarray or list, found {value.__class__}")
        shape, target = [], value
        while isinstance(target, list):
            shape.append(len(target))
            if target:
                target = target[0]
        return cls(shape)

    def assign_type(self, other: WBType) -> WBType:
        if isinstance(other, NDArrayType) and self.params["shape"] == other.params["shape"]:
            return self
        if isinstance(other, ListType):
            return self
        return InvalidType()

    def assign(self, value: Any) -> WBType:
        if _is_ndarray(value) or isinstance(value, list):
            return self.assign_type(self.from_obj(value))
        return InvalidType()

    def to_json(self, artifact: Any = None) -> dict[str, Any]:
        params = {"shape": self.params["shape"], "serialization_path": self._serialization_path}
        return {"wb_type": self.name, "params": params}

    def _set_serialization_path(self, path: str, key: str) -> None:
        self._serialization_path = {"path": path, "key": key}


class ConstType(WBType):
    """A constant value (or set of values) inside another type's params."""

    name = "const"

    def __init__(self, val: Any = None, is_set: Optional[bool] = False) -> None:
        super().__init__()
        if is_set or isinstance(val, set):
            is_set = True
            val = set(val)
        self.params.update({"val": val, "is_set": is_set})

    def assign(self, value: Any) -> WBType:
        return self.assign_type(ConstType(value))

    def __repr__(self) -> str:
        return str(self.params["val"])


class PythonObjectType(WBType):
    """Any other object: only its class name is kept."""

    name = "pythonObject"

    def __init__(self, class_name: str) -> None:
        super().__init__()
        self.params["class_name"] = class_name


# --- value -> type ---------------------------------------------------------------------

_TYPE_BY_CLASS: dict[type, Any] = {
    type(None): NoneType, str: StringType, int: NumberType, float: NumberType, bool: BooleanType,
    list: ListType.from_obj, tuple: ListType.from_obj, set: ListType.from_obj, frozenset: ListType.from_obj,
}  # fmt: skip
# Media modules register `cls -> handler(value) -> WBType` here when they are imported.
_HANDLERS: dict[type, Callable[[Any], WBType]] = {}
_NUMPY_NUMBER_NAMES = (
    "byte short ushort intc uintc int_ uint longlong ulonglong half float16 single double "
    "longdouble csingle cdouble clongdouble int8 int16 int32 int64 uint8 uint16 uint32 "
    "uint64 intp uintp float32 float64 complex64 complex128"
).split()


def register_type(cls: type, handler: Callable[[Any], WBType]) -> None:
    """Let `type_of` map instances of exactly `cls` to `handler(value)` (a media type)."""
    _HANDLERS[cls] = handler


def _is_ndarray(value: Any) -> bool:
    cls = value.__class__
    return cls.__name__ == "ndarray" and cls.__module__ == "numpy"


def _numpy_type(cls: type) -> Optional[Callable[[Any], WBType]]:
    np = sys.modules.get("numpy")
    if np is None or not cls.__module__.startswith("numpy"):
        return None
    if cls is np.bool_:
        return lambda _: BooleanType()
    if cls is np.datetime64:
        return lambda _: TimestampType()
    if cls is np.ndarray:
        return NDArrayType.from_obj
    for name in _NUMPY_NUMBER_NAMES:
        if getattr(np, name, None) is cls:
            return lambda _: NumberType()
    return None


def type_of(value: Any) -> WBType:
    """The type of one cell (exact class lookup, as wandb's `TypeRegistry.type_of`)."""
    if isinstance(value, dict):
        return TypedDictType({key: type_of(item) for key, item in value.items()})
    cls = value.__class__
    if cls is float and math.isnan(value):
        return NoneType()
    if cls is str and value.startswith("wandb-artifact://"):
        raise TypeError("artefact.Table cells cannot hold artifact references yet")
    simple = _TYPE_BY_CLASS.get(cls)
    if simple is not None:
        return simple(value) if simple.__class__ is not type else simple()
    handler = _HANDLERS.get(cls) or _numpy_type(cls)
    if handler is None:
        if cls.__module__.startswith("wandb.") and hasattr(value, "to_json"):
            raise TypeError(
                f"Found a wandb object ({cls.__module__}.{cls.__name__}) in an artefact.Table;"
                f" build it as artefact.{cls.__name__}(...) (or import artefact as wandb)"
            )
        return PythonObjectType(cls.__name__)
    return handler(value)


def type_from_dtype(dtype: Any) -> WBType:
    """A column type from `Table(dtype=...)`: a WBType, a Python class, a list or a dict."""
    if dtype is None:
        return UnknownType()
    if isinstance(dtype, WBType):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, WBType):
        return dtype()
    if isinstance(dtype, type):
        simple = _TYPE_BY_CLASS.get(dtype)
        if simple is not None and simple.__class__ is type:
            return simple()
        if dtype in (list, tuple, set, frozenset):
            return ListType()
        handler = _HANDLERS.get(dtype) or _numpy_type(dtype)
        if handler is not None and not hasattr(handler, "__self__"):
            return handler(None)
        if handler is not None:
            return handler.__self__()  # a media type class (its from_obj is the handler)
        return PythonObjectType(dtype.__name__)
    if isinstance(dtype, list):
        if not dtype:
            return ListType()
        if len(dtype) == 1:
            return ListType(type_from_dtype(dtype[0]))
        return UnionType([type_from_dtype(item) for item in dtype])
    if isinstance(dtype, dict):
        return TypedDictType({key: type_from_dtype(item) for key, item in dtype.items()})
    return ConstType(dtype)


# --- timestamps: datetime/date cells, stored as epoch milliseconds as wandb does --------


class TimestampType(WBType):
    """wandb's `TimestampType` (`datetime.datetime`, `datetime.date`, `numpy.datetime64`)."""

    name = "timestamp"


_TYPE_BY_CLASS.update({datetime.datetime: TimestampType, datetime.date: TimestampType})


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
