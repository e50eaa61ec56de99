"""`Classes`: the id → name map of an image's masks and boxes, as wandb's `Classes`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..data_types import Media
from ..table_types import ConstType, InvalidType, UnionType, WBType, register_type

if TYPE_CHECKING:
    from ..artifact import Artifact


class Classes(Media):
    """Class metadata (`[{"id": int|str, "name": str}, ...]`) for masks and bounding boxes.

    Args:
        class_set: A list of dicts with the keys "id" and "name".
    """

    _log_type = "classes"

    def __init__(self, class_set: Sequence[dict]) -> None:
        super().__init__()
        for class_obj in class_set:
            assert "id" in class_obj and "name" in class_obj
        self._class_set = class_set

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: Optional["Artifact"]) -> "Classes":
        """The Classes stored as `{"class_set": [...]}`."""
        return cls(json_obj.get("class_set"))  # type: ignore[arg-type]

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{"_type": "classes", "class_set": [...]}`."""
        json_obj: dict = {}
        if run_or_artifact is not None:
            json_obj = super().to_json(run_or_artifact)
        json_obj["_type"] = Classes._log_type
        json_obj["class_set"] = self._class_set
        return json_obj

    def get_type(self) -> "ClassesIdType":
        """The column type of ids drawn from these classes."""
        return ClassesIdType(self)

    @classmethod
    def get_media_subdir(cls) -> str:
        """Classes have no media file of their own."""
        return os.path.join("media", "classes")

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Classes) and self._class_set == other._class_set

    __hash__ = None  # type: ignore[assignment]


class ClassesIdType(WBType):
    """A column of class ids (`Table(dtype=classes.get_type())`), stored with its Classes."""

    name = "classesId"

    def __init__(self, classes_obj: Optional[Classes] = None, valid_ids: Any = None) -> None:
        super().__init__()
        if valid_ids is None:
            valid_ids = UnionType()
        elif isinstance(valid_ids, list):
            valid_ids = UnionType([ConstType(item) for item in valid_ids])
        elif not isinstance(valid_ids, UnionType):
            raise TypeError("valid_ids must be None, list, or UnionType")
        if classes_obj is None:
            classes_obj = Classes(
                [{"id": t.params["val"], "name": str(t.params["val"])} for t in valid_ids.params["allowed_types"]]
            )
        elif not isinstance(classes_obj, Classes):
            raise TypeError("valid_ids must be None, or instance of Classes")
        else:
            valid_ids = UnionType([ConstType(c["id"]) for c in classes_obj._class_set])
        self.wb_classes_obj_ref = classes_obj
        self.params["valid_ids"] = valid_ids

    def assign(self, value: Any) -> WBType:
        return self.assign_type(ConstType(value))

    def assign_type(self, other: WBType) -> WBType:
        if not isinstance(self.params["valid_ids"].assign_type(other), InvalidType):
            return self
        return InvalidType()

    @classmethod
    def from_obj(cls, value: Any) -> "ClassesIdType":
        return cls(value)

    def to_json(self, artifact: Any = None) -> dict:
        out = super().to_json(artifact)
        if artifact is not None:
            entry = artifact.add(self.wb_classes_obj_ref, os.path.join("media", "cls"))
            out["params"]["classes_obj"] = {"type": "classes-file", "path": entry.path, "digest": entry.digest}
        else:
            out["params"]["classes_obj"] = self.wb_classes_obj_ref.to_json(artifact)
        return out


register_type(Classes, ClassesIdType.from_obj)
