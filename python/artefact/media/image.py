"""`Image`, byte-identical with wandb's: the same PIL calls write the same PNG/JPEG/BMP.

Arrays are validated and converted on the caller's thread (so errors and warnings come
from the constructor, as in wandb); the PNG encoding runs on the encode pool
(`_encode_pool`), so building many images uses all cores. Plain L/RGB/RGBA arrays skip
PIL: the native encoder (`_fast_png`) writes Pillow's exact bytes about twice as fast.
The column type of images is in `image_type.py`.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union
from urllib import parse

from ..data_types import Media, generate_id, media_tmp_dir
from ..table_types import register_type
from . import _deps, _encode_pool, _fast_png
from .boxes import BoundingBoxes2D
from .classes import Classes
from .masks import ImageMask

if TYPE_CHECKING:
    from ..artifact import Artifact

_ACCEPTED_FORMATS = ["png", "jpg", "jpeg", "bmp"]
# Modes PIL's PNG writer accepts without error or warning (Pillow 13 warns for "I"): their
# encoding can run later on the pool, as nothing it raises would come from the constructor.
_DEFERRABLE_PNG_MODES = frozenset(("1", "L", "LA", "P", "RGB", "RGBA"))
# Natively encoded in tens of microseconds (MNIST's 28×28): done on the caller's thread, as
# handing them to the pool costs more (GIL hand-offs) than encoding them.
_INLINE_PIXEL_BYTES = 4096


def path_is_reference(path: Any) -> bool:
    """True for `gs://`, `s3://` and `http(s)://` strings (wandb's `Media.path_is_reference`)."""
    return isinstance(path, str) and bool(path and re.match(r"^(gs|s3|https?)://", path))


def _save_png(image: Any) -> Any:
    # The same call wandb makes with a path; PIL writes identical bytes to a buffer.
    return lambda buffer: image.save(buffer, format="PNG", transparency=None)


class Image(Media):
    """An image, as `wandb.Image`.

    Args:
        data_or_path: A numpy array ((H, W), (H, W, 1|3|4), values in [0, 255]), a torch
            tensor (C, H, W), a PIL image, a path to an image file, a `gs://`, `s3://` or
            `http(s)://` reference, or another Image.
        mode: The PIL mode ("L", "RGB", "RGBA", ...); guessed from the shape if None.
        caption: A label shown with the image.
        grouping: The grouping number.
        classes: A `Classes` or a list of `{"id", "name"}` dicts for masks and boxes.
        boxes: `{layer: BoundingBoxes2D or its dict}`.
        masks: `{layer: ImageMask or its dict}`.
        file_type: "png" (default), "jpg", "jpeg" or "bmp" (ignored for paths).

    Raises:
        ValueError: for an unsupported shape or file type.
        Error: if pillow is not installed (`pip install artefact[media]`).
    """

    MAX_ITEMS = 108
    MAX_DIMENSION = 65500
    _log_type = "image-file"

    def __init__(
        self,
        data_or_path: Any,
        mode: Optional[str] = None,
        caption: Optional[str] = None,
        grouping: Optional[int] = None,
        classes: Union[Classes, Sequence[dict], None] = None,
        boxes: Optional[dict] = None,
        masks: Optional[dict] = None,
        file_type: Optional[str] = None,
    ) -> None:
        self._encoded: Optional[_encode_pool.Encoded] = None
        super().__init__(caption=caption)
        self._grouping: Optional[int] = None
        self._width: Optional[int] = None
        self._height: Optional[int] = None
        self._image: Any = None
        self._classes: Optional[Classes] = None
        self._boxes: Optional[dict] = None
        self._masks: Optional[dict] = None
        self._file_type: Optional[str] = None
        self.format: Optional[str] = None
        if isinstance(data_or_path, Image):
            self._initialize_from_wbimage(data_or_path)
        elif isinstance(data_or_path, (str, os.PathLike)) and _is_pathlike(data_or_path):
            data_or_path = str(data_or_path)
            if path_is_reference(data_or_path):
                self._initialize_from_reference(data_or_path)
            else:
                self._initialize_from_path(data_or_path)
        else:
            _reject_wandb_object(data_or_path)
            self._initialize_from_data(data_or_path, mode, file_type)
        self._set_initialization_meta(grouping, caption, classes, boxes, masks)

    # --- the file, hashed once its encoding is done ------------------------------------

    @property  # type: ignore[override]
    def _sha256(self) -> Optional[str]:
        if self.__dict__.get("_encoded") is not None:
            self._finish_encoding()
        return self.__dict__.get("_sha256_value")

    @_sha256.setter
    def _sha256(self, value: Optional[str]) -> None:
        self.__dict__["_sha256_value"] = value

    @property  # type: ignore[override]
    def _size(self) -> Optional[int]:
        if self.__dict__.get("_encoded") is not None:
            self._finish_encoding()
        return self.__dict__.get("_size_value")

    @_size.setter
    def _size(self, value: Optional[int]) -> None:
        self.__dict__["_size_value"] = value

    def _finish_encoding(self) -> None:
        sha256, size, path, *md5 = self.__dict__["_encoded"].result()
        self.__dict__.update(_encoded=None, _sha256_value=sha256, _size_value=size, _path=path)
        if md5:  # the native encoder hashed the bytes it wrote: no second read
            self._known_md5 = (md5[0], size)

    # --- input forms -------------------------------------------------------------------

    def _initialize_from_wbimage(self, other: "Image") -> None:
        self._grouping = other._grouping
        self._caption = other._caption
        self._width = other._width
        self._height = other._height
        self._image = other._image
        self._classes = other._classes
        self._sha256 = other._sha256  # first: waits for the encoding, which fixes the path
        self._size = other._size
        self._path = other._path
        self._is_tmp = other._is_tmp
        self.format = other.format
        self._file_type = other._file_type
        self._artifact_source = other._artifact_source
        self._artifact_target = other._artifact_target

    def _initialize_from_path(self, path: str) -> None:
        pil_image = _deps.require("PIL.Image", _deps.PIL_REQUIRED)
        self._set_file(path, is_tmp=False)
        self._image = pil_image.open(path)
        self._image.load()
        self.format = os.path.splitext(path)[1][1:]

    def _initialize_from_reference(self, path: str) -> None:
        self._path = path
        self._is_tmp = False
        self._sha256 = hashlib.sha256(path.encode("utf-8")).hexdigest()
        self.format = parse.urlparse(path).path.split("/")[-1].split(".")[-1]

    def _initialize_from_data(self, data: Any, mode: Optional[str], file_type: Optional[str]) -> None:
        pil_image = _deps.require("PIL.Image", _deps.PIL_REQUIRED)
        self.format = file_type or "png"
        if self.format not in _ACCEPTED_FORMATS:
            raise ValueError(f"file_type must be one of {_ACCEPTED_FORMATS}")
        tmp_path = os.path.join(media_tmp_dir(), generate_id() + "." + self.format)
        typename = _deps.full_typename(data)
        if typename.startswith("matplotlib."):
            from io import BytesIO

            buf = BytesIO()
            _matplotlib_figure(data).savefig(buf, format=self.format)
            self._image = pil_image.open(buf)
        elif isinstance(data, pil_image.Image):
            # A copy: the caller may change its image before the pool has encoded it.
            self._image = data.copy() if self.format == "png" else data
        elif _deps.is_torch_tensor(data):
            if getattr(data, "requires_grad", False):
                data = data.detach()
            if str(getattr(data, "dtype", "")) == "torch.uint8":
                data = data.to(float)
            mode = mode or self.guess_mode(data, file_type)
            data = _to_uint8(data.permute(1, 2, 0).cpu().numpy())
            if data.ndim > 2:
                data = data.squeeze()
            self._image = pil_image.fromarray(data).convert(mode)
        else:
            if hasattr(data, "numpy"):  # TF eager tensors
                data = data.numpy()
            if data.ndim > 2:
                data = data.squeeze()  # drop trivial dimensions, as wandb
            mode = mode or self.guess_mode(data, file_type)
            if self._encode_natively(data, mode, tmp_path):
                return
            data = _to_uint8(data)
            self._image = pil_image.fromarray(data).convert(mode)
        image = self._image
        self._path, self._is_tmp = tmp_path, True
        if self.format == "png" and image.mode in _DEFERRABLE_PNG_MODES:
            self._encoded = _encode_pool.submit(_save_png(image), tmp_path)
        else:  # other writers may reject a mode: fail here, as wandb does
            image.save(tmp_path, transparency=None)
            self._set_file(tmp_path, is_tmp=True)

    def _encode_natively(self, data: Any, mode: str, tmp_path: str) -> bool:
        """PNGs of plain L/RGB/RGBA arrays: Pillow's bytes from the native encoder on the
        pool, without building a PIL image (`_fast_png`); False where it does not apply."""
        if self.format != "png":
            return False
        np = _deps.require("numpy", _deps.NUMPY_REQUIRED)
        if not isinstance(data, np.ndarray):
            return False
        uint8 = data if data.dtype == np.uint8 else None
        count = _fast_png.channels(uint8 if uint8 is not None else data, mode)
        if count is None:
            return False
        # A snapshot of the pixels (the caller may change its array before the pool runs).
        pixels = uint8.tobytes() if uint8 is not None else _to_uint8(data).tobytes()
        self._height, self._width = int(data.shape[0]), int(data.shape[1])
        self._path, self._is_tmp = tmp_path, True
        args = (pixels, self._width, self._height, count, tmp_path)
        if len(pixels) <= _INLINE_PIXEL_BYTES:  # a hand-off each would cost more than the encode
            self._encoded = _encode_pool.submit_small_native(*args)
        else:
            self._encoded = _encode_pool.submit_call(_encode_pool.write_native, *args)
        return True

    def _set_initialization_meta(
        self, grouping: Optional[int], caption: Optional[str], classes: Any, boxes: Any, masks: Any
    ) -> None:
        if grouping is not None:
            self._grouping = grouping
        total_classes: dict = {}
        if boxes:
            if not isinstance(boxes, dict):
                raise ValueError('Images "boxes" argument must be a dictionary')
            boxes_final: dict = {}
            for key in boxes:
                box_item = boxes[key]
                if isinstance(box_item, BoundingBoxes2D):
                    boxes_final[key] = box_item
                elif isinstance(box_item, dict):
                    boxes_final[key] = BoundingBoxes2D(box_item, key)
                total_classes.update(boxes_final[key]._class_labels)
            self._boxes = boxes_final
        if masks:
            if not isinstance(masks, dict):
                raise ValueError('Images "masks" argument must be a dictionary')
            masks_final: dict = {}
            for key in masks:
                mask_item = masks[key]
                if isinstance(mask_item, ImageMask):
                    masks_final[key] = mask_item
                elif isinstance(mask_item, dict):
                    masks_final[key] = ImageMask(mask_item, key)
                if hasattr(masks_final[key], "_val"):
                    total_classes.update(masks_final[key]._val["class_labels"])
            self._masks = masks_final
        if classes is not None:
            if isinstance(classes, Classes):
                total_classes.update({val["id"]: val["name"] for val in classes._class_set})
            else:
                total_classes.update({val["id"]: val["name"] for val in classes})
        if len(total_classes.keys()) > 0:
            self._classes = Classes([{"id": key, "name": total_classes[key]} for key in total_classes])
        if self._image is not None:
            self._width, self._height = self._image.size
        self._free_ram()

    def guess_mode(self, data: Any, file_type: Optional[str] = None) -> str:
        """The PIL mode of an array by its channel count ("L", "RGB" or "RGBA")."""
        ndims = data.ndim
        num_channels = data.shape[0] if _deps.is_torch_tensor(data) else data.shape[-1]
        if ndims == 2 or num_channels == 1:
            return "L"
        if num_channels == 3:
            return "RGB"
        if num_channels == 4:
            if file_type in ["jpg", "jpeg"]:
                from ..term import termwarn

                termwarn("JPEG format does not support transparency. Ignoring alpha channel.", repeat=False)
                return "RGB"
            return "RGBA"
        raise ValueError(f"Un-supported shape for image conversion {list(data.shape)}")

    # --- artifact storage --------------------------------------------------------------

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/images`."""
        return os.path.join("media", "images")

    def _check_addable(self) -> None:
        # wandb raises this after storing the image file; raising first leaves the
        # artifact unchanged.
        if (self._masks is not None or self._boxes is not None) and self._classes is None:
            raise ValueError(
                "classes must be passed to wandb.Image which have masks or bounding boxes when adding to artifacts"
            )

    def bind_to_run(self, run: Any, key: Any, step: Any, id_: Any = None, ignore_copy_err: Optional[bool] = None) -> None:
        """`run.log`: the image file goes under the run's `media/images/`, its masks under
        `media/images/mask/` and its boxes under `media/metadata/boxes2D/` (wandb's rules)."""
        self._check_loggable()
        super().bind_to_run(run, key, step, id_, ignore_copy_err)
        for layers in (self._boxes, self._masks):
            for i, k in enumerate(layers or {}):
                id_ = f"{id_}{i}" if id_ is not None else None
                layers[k].bind_to_run(run, key, step, id_, ignore_copy_err=ignore_copy_err)

    def _check_loggable(self) -> None:
        """The refusals of `bind_to_run`, checked before `run.log` stores anything."""
        if path_is_reference(self._path):
            raise ValueError(
                "Image media created by a reference to external storage cannot currently be added to a run"
            )

    @classmethod
    def seq_to_json(cls, seq: Sequence["Image"], run: Any, key: str, step: Any) -> dict:
        """`run.log` of a list of images (bound already): wandb's `images/separated` value."""
        import logging

        jsons = [obj.to_json(run) for obj in seq]
        for obj in jsons:
            if "path" in obj and not obj["path"].startswith(cls.get_media_subdir()):
                raise ValueError(f"Files in an array of Image's must be in the {cls.get_media_subdir()} directory,"
                                 f" not {obj['path']}")
        width, height = seq[0].image.size
        if not all(img.image.size == (width, height) for img in seq):
            logging.warning("Images sizes do not match. This will causes images to be display incorrectly in the UI.")
        meta: dict[str, Any] = {"_type": "images/separated", "width": width, "height": height,
                                "format": jsons[0]["format"], "count": len(seq)}
        meta["filenames"] = [obj.get("path", obj.get("artifact_path")) for obj in jsons]
        if seq[0]._caption is not None:
            meta["captions"] = [img._caption for img in seq]
        for name, attr in (("all_masks", "_masks"), ("all_boxes", "_boxes")):
            groups = [{k: layer.to_json(run) for k, layer in getattr(img, attr).items()} if getattr(img, attr) else None
                      for img in seq]
            if any(group is not None for group in groups):
                meta[name] = groups
        return meta

    def to_json(self, run_or_artifact: Any) -> dict:
        """The `image-file` JSON wandb writes, storing the image, masks and classes."""
        from ..artifact import Artifact
        from ..data_types import _is_run

        if _is_run(run_or_artifact):  # after bind_to_run, as wandb's run branch
            json_dict = super().to_json(run_or_artifact)
            json_dict["_type"] = Image._log_type
            json_dict["format"] = self.format
            for name, value in (("width", self._width), ("height", self._height)):
                if value is not None:
                    json_dict[name] = value
            if self._grouping:
                json_dict["grouping"] = self._grouping
            if self._boxes:
                json_dict["boxes"] = {k: box.to_json(run_or_artifact) for (k, box) in self._boxes.items()}
            if self._masks:
                json_dict["masks"] = {k: mask.to_json(run_or_artifact) for (k, mask) in self._masks.items()}
            return json_dict
        if not isinstance(run_or_artifact, Artifact):
            raise TypeError("to_json accepts wandb.Run or wandb_artifact.Artifact")
        self._check_addable()
        artifact = run_or_artifact
        json_dict = super().to_json(artifact)
        json_dict["_type"] = Image._log_type
        json_dict["format"] = self.format
        if self._width is not None:
            json_dict["width"] = self._width
        if self._height is not None:
            json_dict["height"] = self._height
        if self._grouping:
            json_dict["grouping"] = self._grouping
        if self._classes is not None:
            class_id = hashlib.md5(str(self._classes._class_set).encode("utf-8")).hexdigest()
            classes_entry = artifact.add(self._classes, os.path.join("media", "classes", class_id + "_cls"))
            json_dict["classes"] = {"type": "classes-file", "path": classes_entry.path, "digest": classes_entry.digest}
        if self._boxes:
            json_dict["boxes"] = {k: box.to_json(artifact) for (k, box) in self._boxes.items()}
        if self._masks:
            json_dict["masks"] = {k: mask.to_json(artifact) for (k, mask) in self._masks.items()}
        return json_dict

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Image":
        """The Image (with its classes, masks and boxes) stored in `source_artifact`."""
        classes = None
        if json_obj.get("classes") is not None:
            classes = source_artifact.get(json_obj["classes"]["path"])
        masks = None
        if json_obj.get("masks"):
            masks = {}
            for key, value in json_obj["masks"].items():
                masks[key] = ImageMask.from_json(value, source_artifact)
                masks[key]._set_artifact_source(source_artifact)
                masks[key]._key = key
        boxes = None
        if json_obj.get("boxes"):
            boxes = {}
            for key, value in json_obj["boxes"].items():
                boxes[key] = BoundingBoxes2D.from_json(value, source_artifact)
                boxes[key]._key = key
        return cls(
            source_artifact.get_entry(json_obj["path"]).download(),
            caption=json_obj.get("caption"),
            grouping=json_obj.get("grouping"),
            classes=classes,
            boxes=boxes,
            masks=masks,
        )

    # --- pixels ------------------------------------------------------------------------

    @property
    def image(self) -> Any:
        """The PIL image (loaded from the file when needed)."""
        if self._image is None and self._path is not None and not path_is_reference(self._path):
            if self.__dict__.get("_encoded") is not None:
                self._finish_encoding()
            pil_image = _deps.require("PIL.Image", _deps.PIL_REQUIRED)
            self._image = pil_image.open(self._path)
            self._image.load()
        return self._image

    def _free_ram(self) -> None:
        if self._path is not None:
            self._image = None

    def to_data_array(self) -> list:
        """The pixels as a list of rows (used by `Table.get_column(convert_to="numpy")`)."""
        res = []
        image = self.image
        if image is not None:
            data = _pixels(image)
            for i in range(image.height):
                res.append(data[i * image.width : (i + 1) * image.width])
        self._free_ram()
        return res

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return False
        if path_is_reference(self._path) and path_is_reference(other._path):
            return self._path == other._path
        mine, theirs = self.image, other.image
        mine = _pixels(mine) if mine is not None else None
        theirs = _pixels(theirs) if theirs is not None else None
        return (
            self._grouping == other._grouping
            and self._caption == other._caption
            and self._width == other._width
            and self._height == other._height
            and mine == theirs
            and self._classes == other._classes
        )

    __hash__ = None  # type: ignore[assignment]


def _pixels(image: Any) -> list:
    # getdata is deprecated from Pillow 13 on; its replacement gives the same values.
    flat = getattr(image, "get_flattened_data", None)
    return list(flat() if flat is not None else image.getdata())


def _is_pathlike(value: Any) -> bool:
    return isinstance(value, str) or value.__class__.__module__.startswith("pathlib")


def _to_uint8(data: Any) -> Any:
    np = _deps.require("numpy", _deps.NUMPY_REQUIRED)
    return data.astype(np.uint8)


def _matplotlib_figure(obj: Any) -> Any:
    if hasattr(obj, "savefig"):
        return obj
    if hasattr(obj, "gcf"):  # the pyplot module
        return obj.gcf()
    if hasattr(obj, "figure"):
        return obj.figure
    raise ValueError(f"Unable to convert {obj!r} to a matplotlib Figure")


def _reject_wandb_object(data: Any) -> None:
    if data.__class__.__module__.startswith("wandb."):
        name = data.__class__.__name__
        raise TypeError(
            f"artefact.Image cannot take a {data.__class__.__module__}.{name}; build an artefact.{name}"
            " from the same data instead (artefact.Image(numpy_array_or_pil_image_or_path))"
        )


from .image_type import ImageFileType  # noqa: E402 - the column type of the class above

register_type(Image, ImageFileType.from_obj)
