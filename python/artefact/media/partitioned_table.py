"""`PartitionedTable`: a table stored as many part tables under one artifact directory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from ..data_types import Media
from ..table_types import WBType, register_type

if TYPE_CHECKING:
    from ..artifact import Artifact


class _PartEntry:
    """One part (a `.table.json` entry), read on first use and freed after iterating."""

    def __init__(self, entry: Any, source_artifact: "Artifact") -> None:
        self.entry = entry
        self.source_artifact = source_artifact
        self._part: Any = None

    def get_part(self) -> Any:
        if self._part is None:
            self._part = self.source_artifact.get(self.entry.path)
        return self._part

    def free(self) -> None:
        self._part = None


class PartitionedTable(Media):
    """A table whose rows are the part tables in one directory of an artifact.

    Args:
        parts_path: The artifact directory holding the parts (each added with
            `artifact.add(table, f"{parts_path}/part_{i}")`).
    """

    _log_type = "partitioned-table"

    def __init__(self, parts_path: str) -> None:
        super().__init__()
        self.parts_path = parts_path
        self._loaded_part_entries: dict[str, _PartEntry] = {}

    @classmethod
    def get_media_subdir(cls) -> str:
        """Partitioned tables have no media file of their own."""
        return "media/tables"

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{"_type": "partitioned-table", "parts_path": ...}`."""
        return {"_type": PartitionedTable._log_type, "parts_path": self.parts_path}

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "PartitionedTable":
        """The table whose parts are the entries under `parts_path` in the artifact."""
        instance = cls(json_obj["parts_path"])
        prefix = f"{json_obj['parts_path']}/"
        for path, entry in source_artifact.manifest.entries.items():
            if path.startswith(prefix):
                instance._loaded_part_entries[entry.path] = _PartEntry(entry, source_artifact)
        return instance

    def iterrows(self) -> Iterator[tuple[int, list]]:
        """(index, row) over all parts in order; parts must share their columns.

        Raises:
            ValueError: if two parts have different columns.
        """
        columns = None
        ndx = 0
        for entry_path, part_entry in self._loaded_part_entries.items():
            part = part_entry.get_part()
            if columns is None:
                columns = part.columns
            elif columns != part.columns:
                raise ValueError(f"Table parts have non-matching columns. {columns} != {part.columns}")
            for _, row in part.iterrows():
                yield ndx, row
                ndx += 1
            part_entry.free()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and self.parts_path == other.parts_path

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class PartitionedTableType(WBType):
    """The column type of partitioned tables."""

    name = "partitioned-table"

    @classmethod
    def from_obj(cls, value: Any) -> "PartitionedTableType":
        return cls()


register_type(PartitionedTable, PartitionedTableType.from_obj)
