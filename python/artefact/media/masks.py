"""`ImageMask`: a per-pixel class map of an image, stored as an 8-bit PNG like wandb's."""

from __future__ import annotations

import numbers
import os
from typing import TYPE_CHECKING, Any

from ..data_types import Media, generate_id, media_tmp_dir
from . import _deps

if TYPE_CHECKING:
    from ..artifact import Artifact


class ImageMask(Media):
    """A segmentation mask for an `Image` (wandb's `ImageMask`).

    Args:
        val: `{"mask_data": 2-D array of ints in [0, 255], "class_labels": {int: str}}`
            or `{"path": <png file>}`.
        key: The mask layer's name.

    Raises:
        TypeError: if `mask_data` is missing, not 2-D, outside [0, 255], or the class
            labels are not numbers → strings.
    """

    _log_type = "mask"

    def __init__(self, val: dict, key: str) -> None:
        super().__init__()
        if "path" in val:
            self._set_file(val["path"])
            return
        np = _deps.require("numpy", "Image mask support requires numpy")
        if _deps.is_torch_tensor(val["mask_data"]):
            val["mask_data"] = val["mask_data"].cpu().numpy()
        if "class_labels" not in val:
            classes = np.unique(val["mask_data"]).astype(np.int32).tolist()
            val["class_labels"] = {c: "class_" + str(c) for c in classes}
        self.validate(val)
        self._val = val
        self._key = key
        ext = "." + self.type_name() + ".png"
        tmp_path = os.path.join(media_tmp_dir(), generate_id() + ext)
        pil_image = _deps.require("PIL.Image", _deps.PIL_REQUIRED)
        image = pil_image.fromarray(val["mask_data"].astype(np.int8)).convert("L")
        image.save(tmp_path, transparency=None)
        self._set_file(tmp_path, is_tmp=True)

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/images/mask`."""
        return os.path.join("media", "images", cls.type_name())

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "ImageMask":
        """The mask whose PNG is `json_obj["path"]` in the (downloaded) artifact."""
        return cls({"path": source_artifact.get_entry(json_obj["path"]).download()}, key="")

    def bind_to_run(self, run: Any, key: Any, step: Any, id_: Any = None, ignore_copy_err: Any = None) -> None:
        """`run.log` (`key` is the image's): the PNG goes to the run's `media/images/mask/`
        and the layer's class labels to the run config, as wandb's."""
        from ..data_types import add_singleton

        super().bind_to_run(run, key, step, id_=id_, ignore_copy_err=ignore_copy_err)
        if hasattr(self, "_val") and "class_labels" in self._val:
            add_singleton(run, "mask/class_labels", str(key) + "_wandb_delimeter_" + self._key, self._val["class_labels"])

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, _type: "mask"}`, adding the PNG to the artifact (for a run: the
        bound file's `{_type: "mask", sha256, size, path}`)."""
        from ..data_types import _is_run

        json_dict = super().to_json(run_or_artifact)
        if _is_run(run_or_artifact):
            json_dict["_type"] = self.type_name()
        return json_dict

    @classmethod
    def type_name(cls) -> str:
        """"mask"."""
        return cls._log_type

    def validate(self, val: dict) -> bool:
        """Check `mask_data` and `class_labels` as wandb does (TypeError otherwise)."""
        if "mask_data" not in val:
            raise TypeError(
                'Missing key "mask_data": An image mask requires mask data: a 2D array representing the predictions'
            )
        shape = val["mask_data"].shape
        if len(shape) != 2:
            raise TypeError("mask_data must be a 2D array")
        if not ((val["mask_data"] >= 0).all() and (val["mask_data"] <= 255).all()):
            raise TypeError("Mask data must be integers between 0 and 255")
        if "class_labels" in val:
            for k, v in list(val["class_labels"].items()):
                if (not isinstance(k, numbers.Number)) or (not isinstance(v, str)):
                    raise TypeError("Class labels must be a dictionary of numbers to strings")
        return True
