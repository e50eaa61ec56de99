"""`BoundingBoxes2D`: labelled boxes on an image, as wandb's (a JSON metadata file)."""

from __future__ import annotations

import numbers
import os
from typing import TYPE_CHECKING, Any

from ..data_types import Media
from . import _deps, _json_compact

if TYPE_CHECKING:
    from ..artifact import Artifact

_POSITION_ERROR = "Each box must contain a position with: middle, width, and height or \
                    \nminX, maxX, minY, maxY."


def _plain(obj: Any) -> Any:
    # wandb's `util.JSONEncoderUncompressed` fallback: numpy arrays as lists, numpy
    # scalars as Python numbers (its text is then `json_util.dumps`'s, see _json_compact).
    if isinstance(obj, dict):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(value) for value in obj]
    cls = type(obj)
    if cls.__module__ == "numpy":
        return _plain(obj.tolist()) if cls.__name__ == "ndarray" else obj.item()
    return obj


def _has_num(dictionary: dict, key: str) -> bool:
    return key in dictionary and isinstance(dictionary[key], numbers.Number)


class BoundingBoxes2D(Media):
    """Bounding boxes for an `Image` (wandb's `BoundingBoxes2D`).

    Args:
        val: `{"box_data": [{"position": {...}, "class_id": int, "box_caption": str,
            "scores": {str: number}, "domain": "pixel"}, ...], "class_labels": {int: str}}`.
        key: The box layer's name.

    Raises:
        TypeError: for a box without a valid position, or badly typed optional fields.
    """

    _log_type = "bounding-boxes"

    def __init__(self, val: dict, key: str) -> None:
        super().__init__()
        for box in val.get("box_data", []):  # torch tensors are not JSON
            if "position" in box and "middle" in box["position"] and _deps.is_torch_tensor(box["position"]["middle"]):
                box["position"]["middle"] = box["position"]["middle"].tolist()
        self.validate(val)
        # wandb's JSONMetadata writes `val` to a temp file now, which only a run logs
        # (inside an artifact the box list is stored inline, see to_json): its text is
        # kept, and written when the boxes are bound to a run.
        self._json_text = _json_compact.dumps(_plain(val))
        self._val = val["box_data"]
        self._key = key
        if "class_labels" not in val:
            np = _deps.require("numpy", "Bounding box support requires numpy")
            classes = np.unique(list(box["class_id"] for box in val["box_data"])).astype(np.int32).tolist()
            self._class_labels = {c: "class_" + str(c) for c in classes}
        else:
            self._class_labels = val["class_labels"]

    @classmethod
    def type_name(cls) -> str:
        """"boxes2D"."""
        return "boxes2D"

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/metadata/boxes2D`."""
        return os.path.join("media", "metadata", cls.type_name())

    def validate(self, val: dict) -> bool:
        """Check the boxes as wandb does (TypeError otherwise)."""
        if "class_labels" in val:
            for k, v in list(val["class_labels"].items()):
                if (not isinstance(k, numbers.Number)) or (not isinstance(v, str)):
                    raise TypeError("Class labels must be a dictionary of numbers to string")
        boxes = val["box_data"]
        if not isinstance(boxes, list):
            raise TypeError("Boxes must be a list")
        for box in boxes:
            if "position" not in box:
                raise TypeError(_POSITION_ERROR)
            pos = box["position"]
            valid = ("middle" in pos and len(pos["middle"]) == 2 and _has_num(pos, "width") and _has_num(pos, "height")) or (
                _has_num(pos, "minX") and _has_num(pos, "maxX") and _has_num(pos, "minY") and _has_num(pos, "maxY")
            )
            if not valid:
                raise TypeError(_POSITION_ERROR)
            if ("scores" in box) and not isinstance(box["scores"], dict):
                raise TypeError("Box scores must be a dictionary")
            if "scores" in box:
                for k, v in list(box["scores"].items()):
                    if not isinstance(k, str):
                        raise TypeError("A score key must be a string")
                    if not isinstance(v, numbers.Number):
                        raise TypeError("A score value must be a number")
            if ("class_id" in box) and not isinstance(box["class_id"], int):
                raise TypeError("A box's class_id must be an integer")
            if ("box_caption" in box) and not isinstance(box["box_caption"], str):
                raise TypeError("A box's caption must be a string")
        return True

    def bind_to_run(self, run: Any, key: Any, step: Any, id_: Any = None, ignore_copy_err: Any = None) -> None:
        """`run.log` (`key` is the image's): the boxes' JSON file goes to the run's
        `media/metadata/boxes2D/` and the layer's class labels to the run config."""
        from ..data_types import add_singleton, generate_id, media_tmp_dir

        if not self.file_is_set():
            tmp_path = os.path.join(media_tmp_dir(), generate_id() + "." + self.type_name() + ".json")
            with open(tmp_path, "w", encoding="utf-8") as f:
                f.write(self._json_text)
            self._set_file(tmp_path, is_tmp=True)
        super().bind_to_run(run, key, step, id_=id_, ignore_copy_err=ignore_copy_err)
        add_singleton(run, "bounding_box/class_labels", str(key) + "_wandb_delimeter_" + self._key, self._class_labels)

    def to_json(self, run_or_artifact: Any) -> Any:
        """Inside an artifact, wandb stores the box list itself (no file); for a run, the
        bound file's `{_type: "boxes2D", sha256, size, path}`."""
        from ..artifact import Artifact
        from ..data_types import _is_run

        if _is_run(run_or_artifact):
            json_dict = self._run_json(run_or_artifact)
            json_dict["_type"] = self.type_name()
            return json_dict
        if not isinstance(run_or_artifact, Artifact):
            raise TypeError("to_json accepts wandb_run.Run or wandb.Artifact")
        return self._val

    @classmethod
    def from_json(cls, json_obj: Any, source_artifact: "Artifact") -> "BoundingBoxes2D":
        """The boxes from the stored box list."""
        return cls({"box_data": json_obj}, "")
