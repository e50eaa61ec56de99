"""Media objects an artifact can hold (wandb's `data_types`): the `WBValue`/`Media` bases,
`Html`, and `Artifact.add`/`get` for all of them.

`Artifact.add(obj, name)` writes `json.dumps(obj.to_json(artifact), sort_keys=True)` to
`<name>.<type>.json`, byte-identical with wandb's. `Table` lives in `table.py`, images and
their masks, boxes and classes in `media/`; they load on first use (`artefact.Image`,
`artefact.data_types.Image`), so importing artefact imports no encoding library.
"""

from __future__ import annotations

import os
import string
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union


if TYPE_CHECKING:
    from .artifact import Artifact

__all__ = ["WBValue", "Media", "Html", "Table", "Image", "Audio", "Object3D", "box3d", "Bokeh", "Video", "Classes", "ImageMask", "BoundingBoxes2D"]

# Whether media may be referenced by `wandb-client-artifact://` ids; the run layer sets it
# (wandb: online, or offline with `allow_offline_artifacts`).
client_ids_allowed: Callable[[], bool] = lambda: True

_ID_CHARS = string.ascii_lowercase + string.digits
_media_tmp_lock = threading.Lock()
_media_tmp: Any = None  # a tempfile.TemporaryDirectory once used
_media_tmp_disk: Any = None  # the fallback on the default temp dir


_SHM_MIN_FREE = 2 << 30  # use /dev/shm for media temp files only if this much is free


def _media_tmp_base() -> Optional[str]:
    # Encoded media wait in temp files until the artifact is logged. On tmpfs, creating
    # them costs no disk inode (ext4 crawls at file creation after mass deletes), so
    # /dev/shm is used when roomy and TMPDIR is not set; ARTEFACT_MEDIA_TMP_DIR overrides.
    explicit = os.environ.get("ARTEFACT_MEDIA_TMP_DIR")
    if explicit:
        return explicit
    if os.environ.get("TMPDIR") or not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        return None
    try:
        stat = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if stat.f_bavail * stat.f_frsize >= _SHM_MIN_FREE else None


def media_tmp_dir(fallback: bool = False) -> str:
    """A process-wide temp dir for media files (created on first use, removed at exit);
    `fallback` gives one on the default temp dir, for when the first is full."""
    global _media_tmp, _media_tmp_disk
    with _media_tmp_lock:
        import atexit
        import tempfile

        if fallback:
            if _media_tmp_disk is None:
                _media_tmp_disk = tempfile.TemporaryDirectory("artefact-media")
                atexit.register(_media_tmp_disk.cleanup)
            return _media_tmp_disk.name
        if _media_tmp is None:
            _media_tmp = tempfile.TemporaryDirectory("artefact-media", dir=_media_tmp_base())
            atexit.register(_media_tmp.cleanup)
        return _media_tmp.name


def _new_id_source() -> Any:
    import random

    return random.Random(os.urandom(16))


# Seeded from urandom once (again in a forked child). Calling os.urandom per id released
# the GIL each time, and with encoding threads busy, taking it back cost ~80 µs an image.
_id_source = _new_id_source()
os.register_at_fork(after_in_child=lambda: globals().__setitem__("_id_source", _new_id_source()))


def generate_id(length: int = 8) -> str:
    """A random base-36 id (wandb's `runid.generate_id`), for names of temp files and
    referenced tables (unique, not secret)."""
    raw = _id_source.getrandbits(8 * length).to_bytes(length, "little")
    return "".join(_ID_CHARS[b % 36] for b in raw)


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

    def _check_addable(self) -> None:
        """Raise the error `to_json(artifact)` would raise partway, before anything is stored."""

    def to_data_array(self) -> list:
        """The object's values as lists (images: pixels); other types have none, and
        raise NotImplementedError as wandb's do."""
        raise NotImplementedError(f"{type(self).__name__} has no data array")

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
        self._run: Any = None  # the run this object's file was bound to by run.log

    def is_bound(self) -> bool:
        """True once `run.log` has put this object's file under a run."""
        return self._run is not None

    def bind_to_run(self, run: Any, key: Any, step: Any, id_: Any = None, ignore_copy_err: Optional[bool] = None) -> None:
        """wandb's `Media.bind_to_run`: the file goes to the run's
        `media/<type>/<key>_<step>_<sha256[:20]><ext>` (a temp file is moved, others copied)."""
        import shutil

        assert self.file_is_set(), "bind_to_run called before _set_file"
        assert run is not None, 'Argument "run" must not be None.'
        assert self._path is not None and self._sha256 is not None
        self._run = run
        base = os.path.basename(self._path)
        extension = next((e for e in _COMPOUND_EXTENSIONS if base.endswith(e)), os.path.splitext(base)[1])
        media_path = os.path.join(self.get_media_subdir(), f"{_upload_safe(str(key))}_{step}_{id_ or self._sha256[:20]}{extension}")
        new_path = os.path.join(run.dir, media_path)
        os.makedirs(os.path.dirname(new_path), exist_ok=True)
        if self._is_tmp:
            shutil.move(self._path, new_path)
            self._is_tmp = False
        else:
            try:
                shutil.copy(self._path, new_path)
            except shutil.SameFileError:
                if not ignore_copy_err:
                    raise
        self._path = new_path

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
        """`{path, sha256, _type}`, adding the backing file to the artifact if needed; for
        a run (after `bind_to_run`), the file's path under the run dir, sha256 and size."""
        from .artifact import Artifact

        if _is_run(run_or_artifact):
            return self._run_json(run_or_artifact)
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
                name = self._store_file(artifact, name)
            json_obj["path"] = name
            json_obj["sha256"] = self._sha256
        json_obj["_type"] = self._log_type
        return json_obj


    def _run_json(self, run: Any) -> dict:
        # wandb's Media.to_json run branch (the subclass sets the real `_type`).
        json_obj: dict[str, Any] = {}
        if self._caption is not None:
            json_obj["caption"] = self._caption
        json_obj.update({"_type": "file", "sha256": self._sha256, "size": self._size})
        url = self._get_artifact_entry_ref_url()
        if url is not None:
            json_obj["artifact_path"] = url
        if url is None or self.is_bound():
            assert self.is_bound(), (
                f"Value of type {type(self).__name__} must be bound to a run with bind_to_run() before being serialized to JSON."
            )
            assert self._run is run, "We don't support referring to media files across runs."
            assert self._path is not None
            json_obj["path"] = os.path.relpath(self._path, run.dir).replace(os.sep, "/")
        return json_obj

    def _store_file(self, artifact: "Artifact", name: str) -> str:
        """Add the backing file as `name`, or a reference to it (wandb's rules); its path."""
        assert self._path is not None
        source = self._artifact_source
        if source is not None:  # read from another artifact: refer to its entry
            default_root = source.artifact._default_root()
            if self._path.startswith(default_root):
                name = self._path[len(default_root) :].lstrip(os.sep)
            artifact.add_reference(source.artifact.get_entry(name).ref_url(), name=name)
            return name
        if self._log_type in ("image-file", "audio-file") and _path_is_reference(self._path):
            artifact.add_reference(self._path, name=name)
            return name
        # A temp file is ours alone: stored in place, not copied to staging.
        policy = "immutable" if self._is_tmp else "mutable"
        known = getattr(self, "_known_md5", None) if self._is_tmp else None
        if known is not None and artifact._algorithm_name() == "MD5" and os.path.isfile(self._path):
            from .paths import logical_path

            # Hashed when written (`_encode_pool.write_native`): no second read.
            return artifact._add_local_file(logical_path(name), self._path, is_tmp=True, policy=policy, known=known).path
        return artifact.add_file(self._path, name=name, is_tmp=self._is_tmp, policy=policy).path


# Extensions wandb's media pass to `_set_file(extension=...)`, kept whole in run file names.
_COMPOUND_EXTENSIONS = (
    ".pts.json", ".bokeh.json", ".table.json", ".plotly.json", ".graph.json", ".mask.png", ".boxes2D.json"
)


def add_singleton(run: Any, data_type: str, key: str, value: dict) -> None:
    """wandb's `Run._add_singleton`: a value logged with every step (a mask or box layer's
    class labels) kept once, in `run.config["_wandb"][data_type][key]`."""
    item = {"type": data_type, "key": key, "value": value}
    wb = dict(run.config.get("_wandb") or {})
    layer = dict(wb.get(data_type) or {})
    if layer.get(key) != item:
        layer[key] = item
        wb[data_type] = layer
        run.config.update({"_wandb": wb}, allow_val_change=True)


def _upload_safe(key: str) -> str:
    """wandb's `make_file_path_upload_safe` (POSIX): no leading slash, no `.`/`..` parts."""
    return "/".join(p.replace(".", "_") if p in (".", "..") else p for p in key.lstrip("/").split("/"))


def _is_run(value: Any) -> bool:
    from .runs import Run

    return isinstance(value, Run)


def _path_is_reference(path: Any) -> bool:
    import re

    return isinstance(path, str) and bool(path and re.match(r"^(gs|s3|https?)://", path))


def _reject_wandb_object(obj: Any) -> None:
    """A clear TypeError for a wandb media object given to artefact."""
    module = obj.__class__.__module__
    if module == "wandb" or module.startswith("wandb."):
        name = obj.__class__.__name__
        raise TypeError(
            f"Found a wandb object ({module}.{name}): artefact.Artifact.add takes artefact's media types;"
            f" build it as artefact.{name}(...) (or import artefact as wandb)"
        )


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

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, _type: "html-file"}` (for a run also `size`)."""
        json_dict = super().to_json(run_or_artifact)
        json_dict["_type"] = self._log_type
        return json_dict

    @classmethod
    def seq_to_json(cls, seq: Sequence["Html"], run: Any, key: str, step: Any) -> dict:
        """`run.log` of a list of Html (bound already): wandb's `html` value."""
        return {"_type": "html", "count": len(seq), "html": [h.to_json(run) for h in seq]}

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


# The media classes by module, loaded on first use (their modules register column types).
_LAZY_CLASSES = {
    "Table": "table",
    "JoinedTable": "media.joined_table",
    "PartitionedTable": "media.partitioned_table",
    "Image": "media.image",
    "Audio": "media.audio",
    "Object3D": "media.object3d",
    "Bokeh": "media.bokeh",
    "Video": "media.video",
    "Classes": "media.classes",
    "ImageMask": "media.masks",
    "BoundingBoxes2D": "media.boxes",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'artefact.data_types' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"artefact.{module}"), name)
    globals()[name] = value
    return value


_media_types: Optional[tuple] = None


def box3d(*args: Any, **kwargs: Any) -> dict:
    """A 3-D box for `Object3D.from_point_cloud` (see `media.object3d.box3d`)."""
    from .media.object3d import box3d as make

    return make(*args, **kwargs)


def media_types() -> tuple:
    """The classes `Artifact.add` accepts (importing their modules on the first call)."""
    global _media_types
    if _media_types is None:
        _media_types = _load_media_types()
    return _media_types


def _load_media_types() -> tuple:
    import importlib

    classes = [Html]
    for name, module in _LAZY_CLASSES.items():
        try:
            importlib.import_module(f"artefact.{module}")
        except ModuleNotFoundError:  # a type this build does not ship
            continue
        classes.append(globals().get(name) or __getattr__(name))
    return tuple(classes)


def log_type_classes() -> dict:
    """`_type` -> class, for reading media cells back (wandb's `WBValue.type_mapping`)."""
    return {cls._log_type: cls for cls in media_types() if cls._log_type is not None}


def init_from_json(json_obj: dict, source_artifact: "Artifact") -> Optional[WBValue]:
    """The media object a `{"_type": ...}` cell describes, its source set to the artifact."""
    cls = log_type_classes().get(json_obj["_type"])
    if cls is None:
        return None
    obj = cls.from_json(json_obj, source_artifact)
    obj._set_artifact_source(source_artifact)
    return obj

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
    if not isinstance(obj, media_types()):
        _reject_wandb_object(obj)
        allowed = ", ".join(f"<class '{cls}'>" for cls in WANDB_MEDIA_CLASS_NAMES)
        raise TypeError(f"Found object of type {obj.__class__}, expected one of: ({allowed})")
    obj_id = id(obj)
    if obj_id in artifact._added_objs:
        return artifact._added_objs[obj_id][1]
    obj._check_addable()  # so a refused object leaves the artifact unchanged
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
            tmp_f.write(json.dumps(val, sort_keys=True))  # json.dump's bytes, by the C encoder
    else:
        with artifact.new_file(name, mode="w" if overwrite else "x", encoding="utf-8") as f:
            f.write(json.dumps(val, sort_keys=True))  # json.dump's bytes, by the C encoder
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
    for media_class in media_types():
        entry = entries.get(media_class.with_suffix(name))
        if entry is not None:
            return entry, media_class
    return None, None
