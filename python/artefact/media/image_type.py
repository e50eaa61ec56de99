"""`ImageFileType`, the Table column type of `Image` cells (`image-file`): the box and
mask layers, score keys and class maps of its images, merged as wandb merges them."""

from __future__ import annotations

from typing import Any, Optional

from ..table_types import ConstType, InvalidType, WBType


class ImageFileType(WBType):
    """The column type of images: their box and mask layers and class maps."""

    name = "image-file"

    def __init__(
        self,
        box_layers: Any = None,
        box_score_keys: Any = None,
        mask_layers: Any = None,
        box_class_maps: Any = None,
        mask_class_maps: Any = None,
        class_map: Any = None,
    ) -> None:
        super().__init__()
        box_layers = _const_val(box_layers or {})
        mask_layers = _const_val(mask_layers or {})
        box_score_keys = _const_val(box_score_keys or [])
        box_class_maps = _const_val(box_class_maps or {})
        mask_class_maps = _const_val(mask_class_maps or {})
        class_map = _const_val(class_map or {})
        if not isinstance(box_layers, dict):
            raise TypeError("box_layers must be a dict")
        if not isinstance(mask_layers, dict):
            raise TypeError("mask_layers must be a dict")
        if not isinstance(box_score_keys, (list, set)):
            raise TypeError("box_score_keys must be a list or a set")
        if not isinstance(box_class_maps, dict):
            raise TypeError("box_class_maps must be a dict")
        if not isinstance(mask_class_maps, dict):
            raise TypeError("mask_class_maps must be a dict")
        if not isinstance(class_map, dict):
            raise TypeError("class_map must be a dict")
        self.params.update(
            {
                "box_layers": ConstType({key: set(box_layers[key]) for key in box_layers}),
                "box_score_keys": ConstType(set(box_score_keys)),
                "mask_layers": ConstType({key: set(mask_layers[key]) for key in mask_layers}),
                "box_class_maps": ConstType(_str_maps(box_class_maps)),
                "mask_class_maps": ConstType(_str_maps(mask_class_maps)),
                "class_map": ConstType(class_map),
            }
        )

    def assign_type(self, other: WBType) -> WBType:
        if not isinstance(other, ImageFileType):
            return InvalidType()
        if self is other or (self._plain and other._plain):
            return self  # merging empty layers and maps gives the same empty type
        mine, theirs = self.params, other.params
        box_self, box_other = mine["box_layers"].params["val"] or {}, theirs["box_layers"].params["val"] or {}
        mask_self, mask_other = mine["mask_layers"].params["val"] or {}, theirs["mask_layers"].params["val"] or {}
        score_self = mine["box_score_keys"].params["val"] or []
        score_other = theirs["box_score_keys"].params["val"] or []
        cmap_self, cmap_other = mine["class_map"].params["val"] or {}, theirs["class_map"].params["val"] or {}
        box_layers = {
            str(key): set(list(box_self.get(key, [])) + list(box_other.get(key, [])))
            for key in set(list(box_self.keys()) + list(box_other.keys()))
        }
        mask_layers = {
            str(key): set(list(mask_self.get(key, [])) + list(mask_other.get(key, [])))
            for key in set(list(mask_self.keys()) + list(mask_other.keys()))
        }
        box_score_keys = set(list(score_self) + list(score_other))
        class_map = {
            str(key): cmap_self.get(key, cmap_other.get(key, None))
            for key in set(list(cmap_self.keys()) + list(cmap_other.keys()))
        }
        box_class_maps = _merge_maps(
            mine["box_class_maps"].params["val"] or {}, theirs["box_class_maps"].params["val"] or {}
        )
        mask_class_maps = _merge_maps(
            mine["mask_class_maps"].params["val"] or {}, theirs["mask_class_maps"].params["val"] or {}
        )
        return ImageFileType(box_layers, box_score_keys, mask_layers, box_class_maps, mask_class_maps, class_map)

    _plain = False  # no boxes, masks or classes (then equal to every other plain type)
    _repr: Optional[str] = None

    def __repr__(self) -> str:
        # Unions sort their types by this text, once per row: built once (params are fixed).
        if self._repr is None:
            self._repr = super().__repr__()
        return self._repr

    @classmethod
    def from_obj(cls, image: Any) -> "ImageFileType":
        from .image import Image

        if not isinstance(image, Image):
            raise TypeError("py_obj must be a wandb.Image")
        if not image._boxes and not image._masks and not image._classes:
            return _plain_type()
        if image._boxes:
            box_layers = {str(key): set(image._boxes[key]._class_labels.keys()) for key in image._boxes}
            box_score_keys = {
                key for val in image._boxes.values() for box in val._val for key in box.get("scores", {})
            }
            box_class_maps = {
                str(key): {str(cid): name for cid, name in image._boxes[key]._class_labels.items()}
                for key in image._boxes
            }
        else:
            box_layers, box_score_keys, box_class_maps = {}, set(), {}
        if image._masks:
            masks = image._masks
            mask_layers = {
                str(key): set(masks[key]._val["class_labels"].keys() if hasattr(masks[key], "_val") else [])
                for key in masks
            }
            mask_class_maps = {
                str(key): {str(cid): name for cid, name in masks[key]._val["class_labels"].items()}
                for key in masks
                if hasattr(masks[key], "_val") and "class_labels" in masks[key]._val
            }
        else:
            mask_layers, mask_class_maps = {}, {}
        if image._classes:
            class_set = {str(item["id"]): item["name"] for item in image._classes._class_set}
        else:
            class_set = {}
        return cls(box_layers, box_score_keys, mask_layers, box_class_maps, mask_class_maps, class_set)


_PLAIN: list = []


def _plain_type() -> ImageFileType:
    if not _PLAIN:
        plain = ImageFileType()
        plain._plain = True
        _PLAIN.append(plain)
    return _PLAIN[0]


def _const_val(value: Any) -> Any:
    return value.params["val"] if isinstance(value, ConstType) else value


def _str_maps(maps: dict) -> dict:
    return {str(key): {str(cid): name for cid, name in maps[key].items()} for key in maps}


def _merge_maps(self_map: dict, other_map: dict) -> dict:
    # Union of layers; within a layer, union of class ids, self's name winning.
    merged: dict = {}
    for key in self_map.keys() | other_map.keys():
        labels = {**other_map.get(key, {}), **self_map.get(key, {})}
        merged[str(key)] = {str(cid): name for cid, name in labels.items()}
    return merged

