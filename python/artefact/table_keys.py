"""Cross-table references in `Table` cells, as wandb 0.31.0 serialises them.

- `_TableIndex`: a row index of a table (`table.index_ref(i)`, `get_index()`, `iterrows()`);
  a column of them is a `foreignIndex` column.
- `_TableKey`: a string key; `Table.set_pk(col)` makes a column the table's `primaryKey`,
  `Table.set_fk(col, other, other_col)` a `foreignKey` into `other`'s column.

Referenced tables are stored with the referring one (`media/tables/t_<id>.table.json`),
as wandb's `_ForeignKeyType`/`_ForeignIndexType.to_json` store them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .data_types import generate_id
from .table_types import InvalidType, NumberType, StringType, WBType, register_type

if TYPE_CHECKING:
    from .table import Table


def _is_table(value: Any) -> bool:
    from .table import Table

    return isinstance(value, Table)


class _TableIndex(int):
    """A row index of a table. Stored in another table, it becomes a `foreignIndex`
    column referring to this table."""

    _table: Optional["Table"] = None

    def set_table(self, table: "Table") -> None:
        """Link the index to its table."""
        self._table = table

    def get_row(self) -> dict:
        """The row this index points at, as {column: value}."""
        if not self._table:
            return {}
        return {c: self._table.data[self][i] for i, c in enumerate(self._table.columns)}


class _TableKey(str):
    """A key cell: of the table's own primary-key column, or a foreign key into another's."""

    _table: Optional["Table"] = None
    _col_name: Any = None

    def set_table(self, table: "Table", col_name: Any) -> None:
        """Link the key to `table`'s column `col_name`."""
        assert col_name in table.columns
        self._table = table
        self._col_name = col_name


class PrimaryKeyType(WBType):
    """The table's primary-key column (strings)."""

    name = "primaryKey"

    def assign_type(self, other: WBType) -> WBType:
        if isinstance(other, (StringType, PrimaryKeyType)):
            return self
        return InvalidType()

    @classmethod
    def from_obj(cls, value: Any) -> "PrimaryKeyType":
        if not isinstance(value, _TableKey):
            raise TypeError("py_obj must be a wandb.Table")
        return cls()


def _store_table(artifact: Any, table: "Table", kind: str) -> str:
    if artifact is None:
        raise AssertionError(f"_{kind} does not support serialization without an artifact")
    return artifact.add(table, f"media/tables/t_{generate_id()}").path


class ForeignKeyType(WBType):
    """A column of keys into another table's column (stored with that table)."""

    name = "foreignKey"

    def __init__(self, table: "Table", col_name: str) -> None:
        super().__init__()
        assert _is_table(table)
        assert isinstance(col_name, str)
        assert col_name in table.columns
        self.params.update({"table": table, "col_name": col_name})

    def assign_type(self, other: WBType) -> WBType:
        if isinstance(other, StringType):
            return self
        if (
            isinstance(other, ForeignKeyType)
            and id(self.params["table"]) == id(other.params["table"])
            and self.params["col_name"] == other.params["col_name"]
        ):
            return self
        return InvalidType()

    @classmethod
    def from_obj(cls, value: Any) -> "ForeignKeyType":
        if not isinstance(value, _TableKey):
            raise TypeError("py_obj must be a _TableKey")
        return cls(value._table, value._col_name)  # type: ignore[arg-type]

    def to_json(self, artifact: Any = None) -> dict:
        path = _store_table(artifact, self.params["table"], "ForeignKeyType")
        return {"wb_type": self.name, "params": {"table": path, "col_name": self.params["col_name"]}}


class ForeignIndexType(WBType):
    """A column of row indexes into another table (stored with that table)."""

    name = "foreignIndex"

    def __init__(self, table: "Table") -> None:
        super().__init__()
        assert _is_table(table)
        self.params["table"] = table

    def assign_type(self, other: WBType) -> WBType:
        if isinstance(other, NumberType):
            return self
        if isinstance(other, ForeignIndexType) and id(self.params["table"]) == id(other.params["table"]):
            return self
        return InvalidType()

    @classmethod
    def from_obj(cls, value: Any) -> "ForeignIndexType":
        if not isinstance(value, _TableIndex):
            raise TypeError("py_obj must be a _TableIndex")
        return cls(value._table)  # type: ignore[arg-type]

    def to_json(self, artifact: Any = None) -> dict:
        return {"wb_type": self.name, "params": {"table": _store_table(artifact, self.params["table"], "ForeignIndexType")}}


def update_keys(table: "Table", force_last: bool = False) -> None:
    """wandb's `Table._update_keys`: track the key columns from the column types and wrap
    their cells in `_TableKey`/`_TableIndex` (only the last row when nothing changed)."""
    type_map = table._column_types.params["type_map"]
    pk_col = None
    fk_cols = set()
    for col, col_type in type_map.items():
        if isinstance(col_type, PrimaryKeyType):
            pk_col = col
        elif isinstance(col_type, (ForeignKeyType, ForeignIndexType)):
            fk_cols.add(col)
    has_update = pk_col != table._pk_col or fk_cols != table._fk_cols
    if has_update:
        if pk_col is None and table._pk_col is not None:
            raise AssertionError(f"Cannot unset primary key (column {table._pk_col})")
        if table._fk_cols - fk_cols:
            raise AssertionError(f"Cannot unset foreign key. Attempted to unset ({table._fk_cols - fk_cols})")
        table._pk_col, table._fk_cols = pk_col, fk_cols
    if not (has_update or force_last) or not table.data:
        return
    rows = table.data if has_update else [table.data[-1]]
    for row in rows:
        for col in table._fk_cols:
            ndx, col_type = table.columns.index(col), type_map[col]
            if isinstance(col_type, ForeignKeyType) and not isinstance(row[ndx], _TableKey):
                row[ndx] = _TableKey(row[ndx])
                row[ndx].set_table(col_type.params["table"], col_type.params["col_name"])
            elif isinstance(col_type, ForeignIndexType) and not isinstance(row[ndx], _TableIndex):
                row[ndx] = _TableIndex(row[ndx])
                row[ndx].set_table(col_type.params["table"])
        if table._pk_col is not None:
            ndx = table.columns.index(table._pk_col)
            row[ndx] = _TableKey(row[ndx])
            row[ndx].set_table(table, table._pk_col)


def check_cast(table: "Table", wb_type: WBType, optional: bool) -> None:
    """wandb's `Table.cast` checks for key columns."""
    is_pk = isinstance(wb_type, PrimaryKeyType)
    is_fk = isinstance(wb_type, ForeignKeyType)
    if is_pk or is_fk or isinstance(wb_type, ForeignIndexType):
        assert not optional, "Primary keys, foreign keys, and foreign indexes cannot be optional."
    if is_fk and id(wb_type.params["table"]) == id(table):
        raise AssertionError("Cannot set a foreign table reference to same table.")
    if is_pk:
        assert table._pk_col is None, (
            f"Cannot have multiple primary keys - {table._pk_col} is already set as the primary key."
        )


def key_type_from_json(col_type: dict, source_artifact: Any) -> Optional[WBType]:
    """The key type a `column_types` entry describes (its table read from the artifact)."""
    kind, params = col_type.get("wb_type"), col_type.get("params") or {}
    if kind == "primaryKey":
        return PrimaryKeyType()
    if kind not in ("foreignKey", "foreignIndex"):
        return None
    table = source_artifact.get(params["table"])
    if table is None:
        raise AssertionError("Unable to deserialize referenced table")
    return ForeignKeyType(table, params["col_name"]) if kind == "foreignKey" else ForeignIndexType(table)


register_type(_TableIndex, ForeignIndexType.from_obj)
register_type(_TableKey, ForeignKeyType.from_obj)
