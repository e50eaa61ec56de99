"""`Table`: rows of cells (scalars, lists, arrays, dicts, media), JSON-identical with wandb's.

`Artifact.add(table, name)` writes `<name>.table.json`; media cells store their files
(each once) and their JSON inline, numpy array columns of more than one dimension go to
`media/serialized_data/<col>_<id>.npz`, and the column types are inferred as wandb's
`_dtypes` do (see `table_types`).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

from .data_types import Media, WBValue, generate_id, media_tmp_dir
from .table_types import (
    AnyType,
    InvalidType,
    ListType,
    NDArrayType,
    NumberType,
    TypedDictType,
    UnionType,
    UnknownType,
    WBType,
    optional_type,
    register_type,
    timestamp_rows,
    type_from_dtype,
    type_of,
)

from .table_keys import ForeignIndexType, ForeignKeyType, PrimaryKeyType, _TableIndex, _TableKey, check_cast, key_type_from_json, update_keys

if TYPE_CHECKING:
    from .artifact import Artifact

__all__ = ["ForeignIndexType", "ForeignKeyType", "PrimaryKeyType", "Table", "_TableIndex", "_TableKey"]


def _is_numpy_array(value: Any) -> bool:
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray"


def _is_dataframe(value: Any) -> bool:
    cls = type(value)
    return cls.__module__.startswith("pandas") and cls.__name__ == "DataFrame"


def json_helper(value: Any, artifact: Any) -> Any:
    """wandb's `_json_helper`: a cell as JSON (media via their `to_json(artifact)`)."""
    if isinstance(value, WBValue):
        return value.to_json(artifact)
    if value.__class__ is dict:
        return {key: json_helper(item, artifact) for key, item in value.items()}
    if hasattr(value, "tolist"):
        py_val = value.tolist()
        if value.__class__.__name__ == "datetime64" and isinstance(py_val, int):
            return json_helper(py_val / int(1e6), artifact)  # ns -> ms
        return json_helper(py_val, artifact)
    if hasattr(value, "item"):
        return json_helper(value.item(), artifact)
    import datetime

    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, datetime.date):
        utc = datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc)
        return int(utc.timestamp() * 1000)
    if isinstance(value, (list, tuple)):
        return [json_helper(item, artifact) for item in value]
    if value.__class__.__name__ == "Decimal":
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")  # wandb's json_friendly
    return value


class Table(Media):
    """A table of rows, as `wandb.Table`.

    Cells may be int, float, str, bool, None, numpy scalars and arrays, lists, dicts,
    datetimes, media (`Image`, `Classes` ids, ...) and row indexes of other tables.

    Args:
        columns: Column names (str or int). Defaults to ["Input", "Output", "Expected"].
        data: Rows as a list of lists, a 2-D numpy array or a pandas DataFrame.
        rows: Legacy alias of `data`.
        dataframe: A pandas DataFrame (then `data` and `columns` are ignored).
        dtype: None (infer), a type, an example object or a list of them per column.
        optional: Whether None is allowed (per table or per column).
        allow_mixed_types: Disable type checking of columns.
        log_mode: "IMMUTABLE" (default), "MUTABLE" or "INCREMENTAL".
    """

    MAX_ROWS = 10000
    MAX_ARTIFACT_ROWS = 200000
    _MAX_EMBEDDING_DIMENSIONS = 150
    _log_type = "table"

    def __init__(
        self,
        columns: Optional[list] = None,
        data: Any = None,
        rows: Optional[list] = None,
        dataframe: Any = None,
        dtype: Any = None,
        optional: Union[bool, list[bool]] = True,
        allow_mixed_types: bool = False,
        log_mode: Optional[str] = "IMMUTABLE",
    ) -> None:
        super().__init__()
        assert log_mode in ("IMMUTABLE", "MUTABLE", "INCREMENTAL"), (
            f"Invalid log_mode: {log_mode}. Must be one of ['IMMUTABLE', 'MUTABLE', 'INCREMENTAL']"
        )
        self.log_mode = log_mode
        # INCREMENTAL state, as wandb's: the increment to log next, the rows logged so far,
        # the references of earlier increments and the one run the increments go to.
        self._increment_num: Optional[int] = None
        self._previous_increments_paths: Optional[list[str]] = None
        self._last_logged_idx: Optional[int] = None
        self._run_target_for_increments: Any = None
        self._pk_col: Any = None
        self._fk_cols: set = set()
        if allow_mixed_types:
            dtype = AnyType
        if columns is None:
            columns = ["Input", "Output", "Expected"]
        self.data: list[list[Any]] = []
        if dataframe is not None or _is_dataframe(data):
            frame = dataframe if dataframe is not None else data
            self._set_columns(list(frame.columns), dtype, optional)
            for row in range(len(frame)):
                self.add_data(*tuple(frame[col].values[row] for col in self.columns))
        elif data is not None and _is_numpy_array(data):
            self._set_columns(columns, dtype, optional)
            for row in data:
                self.add_data(*row)
        else:
            rows_in = data if data is not None else (rows if rows is not None else [])
            assert isinstance(rows_in, list), "data argument expects a `list` object"
            self._set_columns(columns, dtype, optional)
            for row in rows_in:
                self.add_data(*row)

    def _set_columns(self, columns: list, dtype: Any, optional: Union[bool, list[bool]]) -> None:
        assert isinstance(columns, list), "columns argument expects a `list` object"
        assert len(columns) == 0 or all(type(col) in (str, int) for col in columns), (
            "columns argument expects list of strings or ints"
        )
        self.columns = columns
        per_column = lambda v: v if isinstance(v, list) else [v] * len(columns)  # noqa: E731
        self._column_types = TypedDictType({})
        for name, dt, opt in zip(columns, per_column(dtype), per_column(optional)):
            self.cast(name, dt, opt)

    def cast(self, col_name: Any, dtype: Any, optional: bool = False) -> Any:
        """Cast a column to a type: a Python class, an artefact type, or an example object
        (an `Image`, a `Classes` for class ids, ...); None infers it from the data."""
        assert col_name in self.columns
        wb_type = type_from_dtype(dtype)
        if optional:
            wb_type = optional_type(wb_type)
        col_ndx = self.columns.index(col_name)
        for row in self.data:
            result = wb_type.assign(row[col_ndx])
            if isinstance(result, InvalidType):
                raise TypeError(
                    f"Existing data {row[col_ndx]}, of type {type_of(row[col_ndx])} cannot be cast to {wb_type}"
                )
            wb_type = result
        check_cast(self, wb_type, optional)
        self._column_types.params["type_map"][col_name] = wb_type
        self._update_keys()
        return wb_type

    def add_data(self, *data: Any) -> None:
        """Add a row; its values must fit the column types inferred so far.

        Raises:
            ValueError: if the row has the wrong number of values.
            TypeError: if a value does not fit its column's type.
        """
        if len(data) != len(self.columns):
            raise ValueError(
                f"This table expects {len(self.columns)} columns: {self.columns}, found {len(data)}"
            )
        for ndx, item in enumerate(data):  # an index pre-casts its column, as wandb
            if isinstance(item, _TableIndex):
                self.cast(self.columns[ndx], type_of(item), optional=False)
        row = {col: data[ndx] for ndx, col in enumerate(self.columns)}
        result = self._column_types.assign(row)
        if isinstance(result, InvalidType):
            raise TypeError(f"Data row contained incompatible types:\n{self._column_types.explain(row)}")
        self._column_types = result  # type: ignore[assignment]
        self.data.append(list(data))
        self._update_keys(force_last=True)
        self._start_next_increment()

    def _start_next_increment(self) -> None:
        # wandb's `allow_incremental_logging_after_append`: a row added to a logged
        # INCREMENTAL table makes the next `run.log` store a new increment.
        if self.log_mode != "INCREMENTAL" or self._artifact_target is None:
            return
        bound = getattr(self, "_artefact_bound", None)  # (run, sha256, history value) if run.log'ed
        url = bound[2]["artifact_path"] if bound is not None else self._get_artifact_entry_ref_url()
        if url is not None:
            if self._previous_increments_paths is None:
                raise ValueError("_previous_increments_paths must be set if incremental table has been logged already")
            self._previous_increments_paths.append(url)
        if self._increment_num is None:
            raise ValueError("_increment_num must be set if incremental table has been logged already")
        self._artefact_bound = None
        self._artifact_target = None
        self._increment_num += 1
        if self._increment_num > 99:
            from .term import termwarn

            termwarn("You have exceeded 100 increments for this table. "
                     "Only the latest 100 increments will be visualized in the run workspace.", repeat=False)

    def _rows_to_log(self, max_rows: int) -> list:
        """wandb's `_to_table_json` rows: an INCREMENTAL table's rows not logged yet."""
        if self.log_mode == "INCREMENTAL" and self._last_logged_idx is not None:
            start = self._last_logged_idx + 1
            return self.data[start:start + max_rows]
        return self.data[:max_rows]

    def add_row(self, *row: Any) -> None:
        """Deprecated. Use `add_data`."""
        import logging

        logging.warning("add_row is deprecated, use add_data")
        self.add_data(*row)

    def _update_keys(self, force_last: bool = False) -> None:
        update_keys(self, force_last)

    def set_pk(self, col_name: Any) -> None:
        """Make `col_name` (string keys) the table's primary key, as wandb's `set_pk`."""
        assert col_name in self.columns
        self.cast(col_name, PrimaryKeyType())

    def set_fk(self, col_name: Any, table: "Table", table_col: str) -> None:
        """Make `col_name` a foreign key into `table`'s column `table_col` (stored with
        this table when it is added to an artifact), as wandb's `set_fk`."""
        assert col_name in self.columns
        assert col_name != self._pk_col
        self.cast(col_name, ForeignKeyType(table, table_col))

    def add_column(self, name: str, data: Any, optional: bool = False) -> None:
        """Add a column of values (a list or numpy array, one value per row).

        Raises:
            AssertionError: for a duplicate or non-str name, or a wrong length.
            TypeError: if the values do not share one type; the table is unchanged.
        """
        _ensure_not_incremental(self, "add_column")
        assert isinstance(name, str) and name not in self.columns
        is_np = _is_numpy_array(data)
        assert isinstance(data, list) or is_np
        assert isinstance(optional, bool)
        is_first_col = len(self.columns) == 0
        assert is_first_col or len(data) == len(self.data), f"Expected length {len(self.data)}, found {len(data)}"
        for ndx in range(max(len(data), len(self.data))):
            if is_first_col:
                self.data.append([])
            self.data[ndx].append(data[ndx])
        self.columns.append(name)
        try:
            self.cast(name, UnknownType(), optional=optional)
        except TypeError:
            if is_first_col:
                self.data = []
                self.columns = []
            else:
                for ndx in range(len(self.data)):
                    self.data[ndx] = self.data[ndx][:-1]
                self.columns = self.columns[:-1]
            raise

    def get_column(self, name: Any, convert_to: Optional[str] = None) -> Any:
        """The values of one column; with `convert_to="numpy"` a numpy array (media
        cells become their pixel/sample arrays)."""
        assert name in self.columns
        assert convert_to is None or convert_to == "numpy"
        col_ndx = self.columns.index(name)
        column = []
        for row in self.data:
            item = row[col_ndx]
            if convert_to is not None and isinstance(item, WBValue):
                item = item.to_data_array()
            column.append(item)
        if convert_to == "numpy":
            import numpy as np

            return np.array(column)
        return column

    def get_index(self) -> list:
        """Row indexes to put in other tables (they link back to this one)."""
        return [self.index_ref(ndx) for ndx in range(len(self.data))]

    def index_ref(self, index: int) -> _TableIndex:
        """A reference to row `index`, for a cell of another table."""
        assert index < len(self.data)
        ref = _TableIndex(index)
        ref.set_table(self)
        return ref

    def iterrows(self) -> Iterator[tuple[_TableIndex, list]]:
        """(row index, row) pairs; the index links back to this table."""
        for ndx in range(len(self.data)):
            yield self.index_ref(ndx), self.data[ndx]

    def add_computed_columns(self, fn: Callable[[int, dict], dict]) -> None:
        """Add columns computed from each row: `fn(index, {column: value})` returns
        `{new column: value}`."""
        _ensure_not_incremental(self, "add_computed_columns")
        new_columns: dict[str, list] = {}
        for ndx, row in self.iterrows():
            new_row = fn(ndx, {self.columns[i]: row[i] for i in range(len(self.columns))})
            assert isinstance(new_row, dict)
            for key in new_row:
                new_columns.setdefault(key, []).append(new_row[key])
        for key, values in new_columns.items():
            self.add_column(key, values)

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame.from_records(self.data, columns=self.columns)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Table)
            and self.columns == other.columns
            and self._column_types == other._column_types
            and self.data == other.data
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/table`."""
        return os.path.join("media", "table")

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Table":
        """The Table that `to_json` wrote: media cells and array columns are read back."""
        from .data_types import init_from_json

        arrays: dict[int, Any] = {}
        for col_name, col_type in (json_obj.get("column_types") or {}).get("params", {}).get("type_map", {}).items():
            candidates = [col_type] + col_type.get("params", {}).get("allowed_types", [])
            for candidate in candidates:
                path = (candidate.get("params") or {}).get("serialization_path") if candidate.get("wb_type") == "ndarray" else None
                if path:
                    import numpy as np

                    loaded = np.load(source_artifact.get_entry(path["path"]).download())
                    arrays[json_obj["columns"].index(col_name)] = loaded[path["key"]]
        log_mode = json_obj.get("log_mode", "IMMUTABLE")
        rows = _data_from_increments(json_obj, source_artifact) if log_mode == "INCREMENTAL" else json_obj["data"]
        data = []
        for r_ndx, row in enumerate(timestamp_rows(json_obj, rows)):
            cells = []
            for c_ndx, item in enumerate(row):
                if c_ndx in arrays:
                    cells.append(arrays[c_ndx][r_ndx])
                elif isinstance(item, dict) and "_type" in item and (obj := init_from_json(item, source_artifact)):
                    cells.append(obj)
                else:
                    cells.append(item)
            data.append(cells)
        table = cls(columns=json_obj["columns"], data=data, log_mode=log_mode)
        # Key columns get their types back (referenced tables read from the artifact), and
        # their cells are wrapped again, as wandb's `from_json` + `_update_keys` do.
        type_map = table._column_types.params["type_map"]
        for col_name, col_type in (json_obj.get("column_types") or {}).get("params", {}).get("type_map", {}).items():
            key_type = key_type_from_json(col_type, source_artifact)
            if key_type is not None and col_name in type_map:
                type_map[col_name] = key_type
        table._update_keys()
        return table

    def to_json(self, run_or_artifact: Any) -> dict:
        """The JSON body wandb writes for this table inside an artifact."""
        from .artifact import Artifact

        if not isinstance(run_or_artifact, Artifact):
            raise TypeError("to_json accepts wandb_run.Run or wandb_artifact.Artifact")
        artifact = run_or_artifact
        json_dict = super().to_json(artifact)
        if self.log_mode == "INCREMENTAL":
            if self._previous_increments_paths is None:
                self._previous_increments_paths = []
            if self._increment_num is None:
                self._increment_num = 0
            json_dict["increment_num"] = self._increment_num
            json_dict["previous_increments_paths"] = self._previous_increments_paths
        max_rows = Table.MAX_ARTIFACT_ROWS
        if len(self.data) > max_rows:
            import logging

            logging.warning(f"Truncating wandb.Table object to {max_rows} rows.")
        array_cols = self._store_array_columns(artifact)
        mapped = [
            [None if ndx in array_cols else json_helper(v, artifact) for ndx, v in enumerate(row)]
            for row in self._rows_to_log(max_rows)
        ]
        json_dict.update(
            {
                "_type": Table._log_type,
                "columns": self.columns,
                "data": mapped,
                "ncols": len(self.columns),
                "nrows": len(mapped),
                "column_types": self._column_types.to_json(artifact),
                "log_mode": self.log_mode,
            }
        )
        return json_dict

    def _check_addable(self) -> None:
        for row in self.data[: Table.MAX_ARTIFACT_ROWS]:
            for cell in row:
                if isinstance(cell, WBValue):
                    cell._check_addable()

    def _store_array_columns(self, artifact: "Artifact") -> set:
        # 1-D arrays up to 150 values are embeddings, kept inline as lists; others go
        # to one compressed .npz per column, as wandb does.
        stored = set()
        for col_ndx, col_name in enumerate(self.columns):
            col_type = self._column_types.params["type_map"][col_name]
            ndarray_type = None
            if isinstance(col_type, NDArrayType):
                ndarray_type = col_type
            elif isinstance(col_type, UnionType):
                for t in col_type.params["allowed_types"]:
                    if isinstance(t, NDArrayType):
                        ndarray_type = t
            if ndarray_type is None:
                continue
            shape = ndarray_type.params["shape"]
            if isinstance(shape, list) and len(shape) == 1 and shape[0] <= self._MAX_EMBEDDING_DIMENSIONS:
                self._column_types.params["type_map"][col_name] = ListType(NumberType, shape[0])
                continue
            import numpy as np

            file_name = f"{col_name}_{generate_id()}.npz"
            npz_path = os.path.join(media_tmp_dir(), file_name)
            np.savez_compressed(npz_path, **{str(col_name): self.get_column(col_name, convert_to="numpy")})
            entry = artifact.add_file(npz_path, "media/serialized_data/" + file_name, is_tmp=True)
            ndarray_type._set_serialization_path(entry.path, str(col_name))
            stored.add(col_ndx)
        return stored


class TableType(WBType):
    """The type of a column of tables: their column types, merged."""

    name = "table"

    def __init__(self, column_types: Any = None) -> None:
        super().__init__()
        if column_types is None:
            column_types = UnknownType()
        if isinstance(column_types, dict):
            column_types = TypedDictType(column_types)
        elif not isinstance(column_types, (TypedDictType, UnknownType)):
            raise TypeError("column_types must be a dict or TypedDictType")
        self.params["column_types"] = column_types

    def assign_type(self, other: WBType) -> WBType:
        if isinstance(other, TableType):
            column_types = self.params["column_types"].assign_type(other.params["column_types"])
            if not isinstance(column_types, InvalidType):
                return TableType(column_types)
        return InvalidType()

    @classmethod
    def from_obj(cls, value: Any) -> "TableType":
        if not isinstance(value, Table):
            raise TypeError("py_obj must be a wandb.Table")
        return cls(value._column_types)


register_type(Table, TableType.from_obj)


def _increment_order(entry_path: str) -> tuple[int, int]:
    # Entry names are "<increment>-<epoch ms>.<key>.table.json" (the first increment's
    # is "None-…" in wandb 0.31.0, sorted first as wandb's parse failure does).
    try:
        parts = entry_path.split(".")[0].split("-")
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except (ValueError, IndexError):
        from .term import termwarn

        termwarn(f"Could not parse artifact entry for increment {entry_path}. The entry name does not follow the"
                 " naming convention <increment_number>-<timestamp>.<key>.table.json The data in the table will"
                 " be out of order.", repeat=False)
        return 0, 0


def _data_from_increments(json_obj: dict, source_artifact: Any) -> list:
    """wandb's `_get_data_from_increments`: the rows of every increment held by the
    `wandb-run-incremental-table` version (each version holds all increments so far)."""
    import json

    if "latest" not in source_artifact.aliases:
        from .term import termwarn

        termwarn("It is recommended to use the latest version of the incremental table artifact for ordering"
                 " guarantees.", repeat=False)
    if json_obj.get("increment_num") is None:
        return []
    paths = sorted((p for p in source_artifact.manifest.entries if p.endswith(".table.json")), key=_increment_order)
    data: list = []
    for path in paths:
        try:
            with open(source_artifact.get_entry(path).download(), encoding="utf-8") as f:
                data.extend(json.load(f)["data"])
        except (json.JSONDecodeError, KeyError) as exc:
            from .errors import Error

            raise Error(f"Invalid table file {path}") from exc
    return data


def _ensure_not_incremental(table: Table, operation: str) -> None:
    """wandb's `ensure_not_incremental`: column operations refuse INCREMENTAL tables."""
    if table.log_mode == "INCREMENTAL":
        from .errors import Error

        raise Error(f"Operation '{operation}' is not supported for tables with log_mode='INCREMENTAL'."
                    " Use a different log mode like 'MUTABLE' or 'IMMUTABLE'.")
