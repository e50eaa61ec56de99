"""Media objects an artifact can hold: `Table` (and `Html`), JSON-compatible with wandb.

`Artifact.add(obj, name)` writes `json.dumps(obj.to_json(artifact), sort_keys=True)` to
`<name>.<type>.json`; for the cells `Table` supports (int, float, str, bool, None and
numpy scalars) the bytes equal those wandb writes for the same `wandb.Table`.
"""

from __future__ import annotations

import math
import os
import string
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from .table_types import AnyType, InvalidType, TypedDictType, optional_type, type_from_dtype, type_of
from .table_types import is_timestamp, timestamp_json, timestamp_rows

if TYPE_CHECKING:
    from .artifact import Artifact

__all__ = ["WBValue", "Media", "Table", "Html"]

# Whether media may be referenced by `wandb-client-artifact://` ids; the run layer sets it
# (wandb: online, or offline with `allow_offline_artifacts`).
client_ids_allowed: Callable[[], bool] = lambda: True

_ID_CHARS = string.ascii_lowercase + string.digits
_media_tmp_lock = threading.Lock()
_media_tmp: Any = None  # a tempfile.TemporaryDirectory once used


def media_tmp_dir() -> str:
    """A process-wide temp dir for media files (created on first use, removed at exit)."""
    global _media_tmp
    with _media_tmp_lock:
        if _media_tmp is None:
            import atexit
            import tempfile

            _media_tmp = tempfile.TemporaryDirectory("artefact-media")
            atexit.register(_media_tmp.cleanup)
        return _media_tmp.name


def generate_id(length: int = 8) -> str:
    """A random base-36 id (wandb's `runid.generate_id`)."""
    import secrets

    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


class _ArtifactLink:
    """Where a media object came from / was added to: (artifact, name)."""

    def __init__(self, artifact: "Artifact", name: Optional[str] = None) -> None:
        self.artifact = artifact
        self.name = name


class WBValue:
    """Base of objects that serialise to JSON inside an artifact."""

    _log_type: Optional[str] = None

    def __init__(self) -> None:
        self._artifact_source: Optional[_ArtifactLink] = None
        self._artifact_target: Optional[_ArtifactLink] = None

    def to_json(self, run_or_artifact: Any) -> dict:
        """Serialise the object into a JSON-able dict, storing extra files in the artifact."""
        raise TypeError(f"{type(self).__name__} cannot be serialised into an artifact")

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "WBValue":
        """Rebuild the object from what `to_json` wrote into `source_artifact`."""
        raise TypeError(f"{cls.__name__} cannot be read back from an artifact")

    @classmethod
    def with_suffix(cls, name: str, filetype: str = "json") -> str:
        """`name` + ".<log type>.json" unless it already ends with that suffix."""
        suffix = f"{cls._log_type}.{filetype}" if cls._log_type is not None else filetype
        return name if name.endswith(suffix) else f"{name}.{suffix}"

    def _set_artifact_source(self, artifact: "Artifact", name: Optional[str] = None) -> None:
        assert self._artifact_source is None, "Cannot update artifact_source."
        self._artifact_source = _ArtifactLink(artifact, name)

    def _set_artifact_target(self, artifact: "Artifact", name: Optional[str] = None) -> None:
        assert self._artifact_target is None, "Cannot update artifact_target."
        self._artifact_target = _ArtifactLink(artifact, name)

    def _get_artifact_entry_ref_url(self) -> Optional[str]:
        """A reference URL if the object belongs to another (logged or finalized) artifact."""
        source = self._artifact_source
        if source is not None and source.name:
            return source.artifact.get_entry(self.with_suffix(source.name)).ref_url()
        target = self._artifact_target
        if (
            target is not None
            and target.name
            and target.artifact._client_id is not None
            and target.artifact._final
            and client_ids_allowed()
        ):
            return f"wandb-client-artifact://{target.artifact._client_id}/{self.with_suffix(target.name)}"
        return None


class Media(WBValue):
    """A WBValue backed by a file (`_path`, `_sha256`, `_size`)."""

    def __init__(self, caption: Optional[str] = None) -> None:
        super().__init__()
        self._caption = caption
        self._path: Optional[str] = None
        self._sha256: Optional[str] = None
        self._size: Optional[int] = None
        self._is_tmp = False

    @classmethod
    def get_media_subdir(cls) -> str:
        """The directory media files of this type go to inside an artifact."""
        raise NotImplementedError

    def _set_file(self, path: str, is_tmp: bool = False) -> None:
        self._path = path
        self._is_tmp = is_tmp
        import hashlib

        with open(path, "rb") as f:
            self._sha256 = hashlib.sha256(f.read()).hexdigest()
        self._size = os.path.getsize(path)

    def file_is_set(self) -> bool:
        """True once the object is backed by a file."""
        return self._path is not None and self._sha256 is not None

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, _type}`, adding the backing file to the artifact if needed."""
        from .artifact import Artifact

        if not isinstance(run_or_artifact, Artifact):
            raise TypeError("to_json accepts wandb_run.Run or wandb_artifact.Artifact")
        artifact = run_or_artifact
        json_obj: dict[str, Any] = {}
        if self._caption is not None:
            json_obj["caption"] = self._caption
        if self.file_is_set():
            assert self._path is not None and self._sha256 is not None
            name = artifact.get_added_local_path_name(self._path)
            if name is None:
                if self._is_tmp:
                    name = os.path.join(self.get_media_subdir(), os.path.basename(self._path))
                else:  # the sha prefix keeps dir1/a.png and dir2/a.png apart
                    name = os.path.join(
                        self.get_media_subdir(), self._sha256[:20], os.path.basename(self._path)
                    )
                name = artifact.add_file(self._path, name=name, is_tmp=self._is_tmp).path
            json_obj["path"] = name
            json_obj["sha256"] = self._sha256
        json_obj["_type"] = self._log_type
        return json_obj


class Html(Media):
    """HTML content (a `.html` path, a string, or a file object)."""

    _log_type = "html-file"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        super().__init__()
        data_is_path = (
            isinstance(data, (str, os.PathLike))
            and os.path.isfile(data)
            and os.path.splitext(data)[1] == ".html"
        ) and not data_is_not_path
        data_path = ""
        if data_is_path:
            data_path = str(data)
            with open(data_path, encoding="utf-8") as file:
                self.html = file.read()
        elif isinstance(data, str):
            self.html = data
        elif hasattr(data, "read"):
            if hasattr(data, "seek"):
                data.seek(0)
            self.html = data.read()
        else:
            raise ValueError("data must be a string or an io object")
        if inject:
            self.inject_head()
        if inject or not data_is_path:
            tmp_path = os.path.join(media_tmp_dir(), generate_id() + ".html")
            with open(tmp_path, "w", encoding="utf-8") as out:
                out.write(self.html)
            self._set_file(tmp_path, is_tmp=True)
        else:
            self._set_file(data_path, is_tmp=False)

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Html":
        """The Html whose file `json_obj["path"]` is in the (downloaded) artifact."""
        path = source_artifact.get_entry(json_obj["path"]).download()
        return cls(str(path), inject=False)

    def inject_head(self) -> None:
        """Insert wandb's `<base>`/stylesheet tags into the `<head>`."""
        if "<head>" in self.html:
            parts = self.html.split("<head>", 1)
            parts[0] = parts[0] + "<head>"
        elif "<html>" in self.html:
            parts = self.html.split("<html>", 1)
            parts[0] = parts[0] + "<html><head>"
            parts[1] = "</head>" + parts[1]
        else:
            parts = ["", self.html]
        parts.insert(
            1,
            '<base target="_blank"><link rel="stylesheet" type="text/css" href="https://app.wandb.ai/normalize.css" />',
        )
        self.html = "".join(parts).strip()

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/html`."""
        return os.path.join("media", "html")


def _is_numpy_array(value: Any) -> bool:
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray"


def _is_dataframe(value: Any) -> bool:
    cls = type(value)
    return cls.__module__.startswith("pandas") and cls.__name__ == "DataFrame"


def _cell_json(value: Any) -> Any:
    """wandb's `_json_helper` for scalar cells: numpy -> Python, NaN -> None."""
    if is_timestamp(value):
        return timestamp_json(value)
    if hasattr(value, "tolist"):
        return _cell_json(value.tolist())
    if hasattr(value, "item"):
        return _cell_json(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class Table(Media):
    """A table of rows, as `wandb.Table`: scalar cells (int, float, str, bool, None).

    Args:
        columns: Column names (str or int). Defaults to ["Input", "Output", "Expected"].
        data: Rows as a list of lists, a 2-D numpy array or a pandas DataFrame.
        rows: Legacy alias of `data`.
        dataframe: A pandas DataFrame (then `data` and `columns` are ignored).
        dtype: None (infer), a type (int, float, str, bool) or a list of them per column.
        optional: Whether None is allowed (per table or per column).
        allow_mixed_types: Disable type checking of columns.
        log_mode: "IMMUTABLE" (default), "MUTABLE" or "INCREMENTAL".
    """

    MAX_ROWS = 10000
    MAX_ARTIFACT_ROWS = 200000
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
        self._increment_num: Optional[int] = None
        self._previous_increments_paths: Optional[list[str]] = None
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
        """Cast a column to a type (int, float, str, bool or None to infer)."""
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
        self._column_types.params["type_map"][col_name] = wb_type
        return wb_type

    def add_data(self, *data: Any) -> None:
        """Add a row; its values must fit the column types inferred so far."""
        if len(data) != len(self.columns):
            raise ValueError(
                f"This table expects {len(self.columns)} columns: {self.columns}, found {len(data)}"
            )
        row = {col: data[ndx] for ndx, col in enumerate(self.columns)}
        result = self._column_types.assign(row)
        if isinstance(result, InvalidType):
            raise TypeError(
                f"Data row contained incompatible types:\n{self._column_types.explain(row)}"
            )
        self._column_types = result  # type: ignore[assignment]
        self.data.append(list(data))

    def add_row(self, *row: Any) -> None:
        """Deprecated. Use `add_data`."""
        import logging

        logging.warning("add_row is deprecated, use add_data")
        self.add_data(*row)

    def get_column(self, name: Any, convert_to: Optional[str] = None) -> Any:
        """The values of one column (a numpy array if `convert_to="numpy"`)."""
        assert name in self.columns
        assert convert_to is None or convert_to == "numpy"
        col_ndx = self.columns.index(name)
        column = [row[col_ndx] for row in self.data]
        if convert_to == "numpy":
            import numpy as np

            return np.array(column)
        return column

    def iterrows(self) -> Any:
        """(row index, row) pairs."""
        return iter(enumerate(self.data))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Table)
            and self.columns == other.columns
            and self._column_types == other._column_types
            and self.data == other.data
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/table`."""
        return os.path.join("media", "table")

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Table":
        """The Table that `to_json` wrote (columns and rows of scalar cells)."""
        return cls(columns=json_obj["columns"], data=timestamp_rows(json_obj, json_obj["data"]))

    def to_json(self, run_or_artifact: Any) -> dict:
        """The JSON body wandb writes for this table inside an artifact."""
        from .artifact import Artifact

        if not isinstance(run_or_artifact, Artifact):
            raise TypeError("to_json accepts wandb_run.Run or wandb_artifact.Artifact")
        json_dict = super().to_json(run_or_artifact)
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
        mapped = [[_cell_json(v) for v in row] for row in self.data[:max_rows]]
        json_dict.update(
            {
                "_type": Table._log_type,
                "columns": self.columns,
                "data": mapped,
                "ncols": len(self.columns),
                "nrows": len(mapped),
                "column_types": self._column_types.to_json(),
                "log_mode": self.log_mode,
            }
        )
        return json_dict


# The classes `Artifact.add` accepts.
MEDIA_TYPES: tuple = (Table, Html)
# wandb's accepted classes, named in the TypeError of `Artifact.add`.
WANDB_MEDIA_CLASS_NAMES: Sequence[str] = (
    "wandb.sdk.data_types.bokeh.Bokeh",
    "wandb.sdk.data_types.table.JoinedTable",
    "wandb.sdk.data_types.table.PartitionedTable",
    "wandb.sdk.data_types.table.Table",
    "wandb.sdk.data_types.helper_types.classes.Classes",
    "wandb.sdk.data_types.helper_types.image_mask.ImageMask",
    "wandb.sdk.data_types.helper_types.bounding_boxes_2d.BoundingBoxes2D",
    "wandb.sdk.data_types.audio.Audio",
    "wandb.sdk.data_types.image.Image",
    "wandb.sdk.data_types.video.Video",
    "wandb.sdk.data_types.html.Html",
    "wandb.sdk.data_types.object_3d.Object3D",
    "wandb.sdk.data_types.molecule.Molecule",
    "wandb.sdk.data_types.saved_model._SavedModel",
)


# --- storing media in an artifact -----------------------------------------------------

_tables_tmp: Any = None  # a tempfile.TemporaryDirectory once used


def _tables_tmp_dir() -> str:
    # wandb's class-level `Artifact._TMP_DIR`, created on first use rather than at import.
    global _tables_tmp
    with _media_tmp_lock:
        if _tables_tmp is None:
            import atexit
            import tempfile

            _tables_tmp = tempfile.TemporaryDirectory("artefact-artifacts")
            atexit.register(_tables_tmp.cleanup)
        return _tables_tmp.name


def add_media(artifact: "Artifact", obj: Any, name: Any, overwrite: bool = False) -> Any:
    """`Artifact.add`: store `obj` as `<name>.<type>.json` (see its docstring)."""
    import contextlib
    import json

    from .paths import LogicalPath

    name = LogicalPath(name)
    is_tmp_name = name.startswith("media/tables")  # tables there get digest-based names
    if not isinstance(obj, MEDIA_TYPES):
        allowed = ", ".join(f"<class '{cls}'>" for cls in WANDB_MEDIA_CLASS_NAMES)
        raise TypeError(f"Found object of type {obj.__class__}, expected one of: ({allowed})")
    obj_id = id(obj)
    if obj_id in artifact._added_objs:
        return artifact._added_objs[obj_id][1]
    ref_path = obj._get_artifact_entry_ref_url()
    if ref_path is not None:  # the object belongs to another artifact: reference it
        return artifact.add_reference(ref_path, type(obj).with_suffix(name))[0]
    val = obj.to_json(artifact)
    name = obj.with_suffix(name)
    entry = artifact.manifest.get_entry_by_path(name)
    if not overwrite and entry is not None:
        return entry
    if is_tmp_name:
        file_path = os.path.join(_tables_tmp_dir(), str(id(artifact)), name)
        os.makedirs(os.path.dirname(file_path), exist_ok=True)
        with open(file_path, "w", encoding="utf-8") as tmp_f:
            json.dump(val, tmp_f, sort_keys=True)
    else:
        with artifact.new_file(name, mode="w" if overwrite else "x", encoding="utf-8") as f:
            json.dump(val, f, sort_keys=True)
            file_path = f.name
    # Added again from the temp file: same digest, so it replaces the new_file entry
    # (keeping its position) with skip_cache=False, as wandb does.
    entry = artifact.add_file(file_path, name, is_tmp_name)
    artifact._added_objs[obj_id] = (obj, entry)
    if obj._artifact_target is None:
        obj._set_artifact_target(artifact, entry.path)
    if is_tmp_name:
        with contextlib.suppress(FileNotFoundError):
            os.remove(file_path)
    return entry


def media_entry(artifact: "Artifact", name: str) -> tuple[Any, Any]:
    """(entry, media class) for `name` plus a media suffix, or (None, None)."""
    entries = artifact.manifest.entries
    for media_class in MEDIA_TYPES:
        entry = entries.get(media_class.with_suffix(name))
        if entry is not None:
            return entry, media_class
    return None, None
