"""`JoinedTable`: two tables of an artifact joined on a key (stored as references to them)."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from ..data_types import Media
from ..table import Table
from ..table_types import WBType, register_type
from .partitioned_table import PartitionedTable

if TYPE_CHECKING:
    from ..artifact import Artifact


def _is_table_input(table: Any) -> bool:
    return (
        (isinstance(table, str) and table.endswith(".table.json"))
        or isinstance(table, (Table, PartitionedTable))
        or (hasattr(table, "ref_url") and table.ref_url().endswith(".table.json"))
    )


class JoinedTable(Media):
    """Two tables joined on a key, as `wandb.JoinedTable`.

    Args:
        table1: A Table, a PartitionedTable, the artifact path of a `.table.json`, or an
            entry of a logged artifact.
        table2: The same, for the second table.
        join_key: A column name, or [column of table1, column of table2].

    Raises:
        ValueError: for a bad join key or table.
    """

    _log_type = "joined-table"

    def __init__(self, table1: Any, table2: Any, join_key: Any) -> None:
        super().__init__()
        if not isinstance(join_key, str) and (not isinstance(join_key, list) or len(join_key) != 2):
            raise ValueError("JoinedTable join_key should be a string or a list of two strings")
        if not _is_table_input(table1):
            raise ValueError("JoinedTable table1 should be an artifact path to a table or wandb.Table object")
        if not _is_table_input(table2):
            raise ValueError("JoinedTable table2 should be an artifact path to a table or wandb.Table object")
        self._table1 = table1
        self._table2 = table2
        self._join_key = join_key

    @classmethod
    def get_media_subdir(cls) -> str:
        """Joined tables have no media file of their own."""
        return "media/tables"

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "JoinedTable":
        """The joined table, with both tables read from the artifact."""
        t1 = source_artifact.get(json_obj["table1"])
        t2 = source_artifact.get(json_obj["table2"])
        return cls(json_obj["table1"] if t1 is None else t1, json_obj["table2"] if t2 is None else t2, json_obj["join_key"])

    def _ensure_table_in_artifact(self, table: Any, artifact: "Artifact", table_ndx: int) -> str:
        # A table object is added (named after its source if it has one); an entry of a
        # logged artifact becomes a reference; a path must already be in the artifact.
        if isinstance(table, (Table, PartitionedTable)):
            table_name = f"t{table_ndx}_{id(self)}"
            if table._artifact_source is not None and table._artifact_source.name is not None:
                table_name = table._artifact_source.name.rsplit("/", 1)[-1]
            table = artifact.add(table, table_name).path
        elif hasattr(table, "ref_url"):
            name = binascii.hexlify(base64.standard_b64decode(table.digest)).decode("ascii")[:20]
            table = artifact.add_reference(table.ref_url(), "{}.{}.json".format(name, table.path.split(".")[-2]))[0].path
        if table not in artifact.manifest.entries:
            raise ValueError(
                f"JoinedTable table:{table} not found in artifact. Add a table to the artifact using"
                f" Artifact#add(<table>, {table}) before adding this JoinedTable"
            )
        return table

    def _check_addable(self) -> None:
        for table in (self._table1, self._table2):
            if isinstance(table, (Table, PartitionedTable)):
                table._check_addable()

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{"_type": "joined-table", "table1": path, "table2": path, "join_key": ...}`."""
        table1 = self._ensure_table_in_artifact(self._table1, run_or_artifact, 1)
        table2 = self._ensure_table_in_artifact(self._table2, run_or_artifact, 2)
        return {"_type": JoinedTable._log_type, "table1": table1, "table2": table2, "join_key": self._join_key}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, JoinedTable)
            and self._join_key == other._join_key
            and self._table1 == other._table1
            and self._table2 == other._table2
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class JoinedTableType(WBType):
    """The column type of joined tables."""

    name = "joined-table"

    @classmethod
    def from_obj(cls, value: Any) -> "JoinedTableType":
        return cls()


register_type(JoinedTable, JoinedTableType.from_obj)
