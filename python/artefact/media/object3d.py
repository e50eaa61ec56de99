"""`Object3D`: point clouds (and 3-D files), byte-identical with wandb's `.pts.json`."""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence

from ..data_types import Media, generate_id, media_tmp_dir
from ..table_types import WBType, register_type
from . import _deps, _json_compact

if TYPE_CHECKING:
    from ..artifact import Artifact

_NUMPY_REQUIRED = "wandb.Object3D requires NumPy. To get it, run 'pip install numpy'."
_SHAPE_ERROR_INIT = """
                    The shape of the numpy array must be one of either
                                    [[x y z],       ...] nx3
                                     [x y z c],     ...] nx4 where c is a category with supported range [1, 14]
                                     [x y z r g b], ...] nx6 where rgb is color
                    """
_SHAPE_ERROR_FROM_NUMPY = """
                The shape of the numpy array must be one of either:
                                [[x y z],       ...] nx3
                                 [x y z c],     ...] nx4 where c is a category with supported range [1, 14]
                                 [x y z r g b], ...] nx6 where rgb is color
                """


def _is_ndarray(value: Any) -> bool:
    cls = value.__class__
    return cls.__name__ == "ndarray" and cls.__module__ == "numpy"


class Object3D(Media):
    """A 3-D object, as `wandb.Object3D`: a point cloud (numpy (n, 3|4|6), or a
    `{"type": "lidar/beta", "points", "boxes", "vectors"}` dict) or a 3-D file.

    Args:
        data_or_path: The array or dict, a path to a `.obj/.gltf/.glb/.babylon/.stl/
            .pts.json` file, or an open file (then `file_type=` is required).
        caption: A label shown with the object.

    Raises:
        ValueError: for an unsupported shape, file type or point cloud type.
    """

    SUPPORTED_TYPES: ClassVar[set] = {"obj", "gltf", "glb", "babylon", "stl", "pts.json"}
    SUPPORTED_POINT_CLOUD_TYPES: ClassVar[set] = {"lidar/beta"}
    _log_type = "object3D-file"

    def __init__(self, data_or_path: Any, caption: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(caption=caption)
        if hasattr(data_or_path, "name") and not data_or_path.__class__.__module__.startswith("pathlib"):
            data_or_path = data_or_path.name  # an open file: use its path, as wandb does
        if hasattr(data_or_path, "read"):
            if hasattr(data_or_path, "seek"):
                data_or_path.seek(0)
            content = data_or_path.read()
            extension = kwargs.pop("file_type", None)
            if extension is None:
                raise ValueError("Must pass file type keyword argument when using io objects.")
            if extension not in Object3D.SUPPORTED_TYPES:
                raise ValueError(
                    "Object 3D only supports numpy arrays or files of the type: " + ", ".join(Object3D.SUPPORTED_TYPES)
                )
            tmp_path = os.path.join(media_tmp_dir(), generate_id() + "." + extension)
            with open(tmp_path, "w") as f:
                f.write(content)
            self._set_file(tmp_path, is_tmp=True)
        elif isinstance(data_or_path, str) or data_or_path.__class__.__module__.startswith("pathlib"):
            path = str(data_or_path)
            if not any(path.endswith(t) for t in Object3D.SUPPORTED_TYPES):
                raise ValueError(
                    "File '" + path + "' is not compatible with Object3D: supported types are: "
                    + ", ".join(Object3D.SUPPORTED_TYPES)
                )  # fmt: skip
            self._set_file(path, is_tmp=False)
        elif isinstance(data_or_path, dict) and "type" in data_or_path:
            if data_or_path["type"] != "lidar/beta":
                raise ValueError("Type not supported, only 'lidar/beta' is currently supported")
            data = {
                "type": data_or_path["type"],
                "vectors": data_or_path["vectors"].tolist() if "vectors" in data_or_path else [],
                "points": data_or_path["points"].tolist() if "points" in data_or_path else [],
                "boxes": data_or_path["boxes"].tolist() if "boxes" in data_or_path else [],
            }
            self._write_points(data)
        elif _is_ndarray(data_or_path):
            if len(data_or_path.shape) != 2 or data_or_path.shape[1] not in {3, 4, 6}:
                raise ValueError(_SHAPE_ERROR_INIT)
            self._write_points(data_or_path.tolist())
        else:
            if data_or_path.__class__.__module__.startswith("wandb."):
                raise TypeError("artefact.Object3D cannot take a wandb object; build an artefact.Object3D instead")
            raise ValueError("data must be a numpy array, dict or a file object")

    def _write_points(self, data: Any) -> None:
        tmp_path = os.path.join(media_tmp_dir(), generate_id() + ".pts.json")
        with open(tmp_path, "w", encoding="utf-8") as fp:
            fp.write(_json_compact.dumps(data))
        self._set_file(tmp_path, is_tmp=True)

    @classmethod
    def from_file(cls, data_or_path: Any, file_type: Optional[str] = None) -> "Object3D":
        """An Object3D from a 3-D file (a path, or an open file with `file_type`)."""
        return cls(data_or_path, file_type=file_type)

    @classmethod
    def from_numpy(cls, data: Any) -> "Object3D":
        """An Object3D from a numpy point cloud of shape (n, 3), (n, 4) or (n, 6)."""
        if not _is_ndarray(data):
            raise ValueError("`data` must be a numpy array")
        if len(data.shape) != 2 or data.shape[1] not in {3, 4, 6}:
            raise ValueError(_SHAPE_ERROR_FROM_NUMPY)
        return cls(data)

    @classmethod
    def from_point_cloud(
        cls,
        points: Sequence,
        boxes: Sequence,
        vectors: Optional[Sequence] = None,
        point_cloud_type: str = "lidar/beta",
    ) -> "Object3D":
        """A LIDAR-style scene: points, 3-D boxes (see `box3d`) and vectors."""
        if point_cloud_type not in cls.SUPPORTED_POINT_CLOUD_TYPES:
            raise ValueError("Point cloud type not supported")
        np = _deps.require("numpy", "wandb.Object3D.from_point_cloud requires numpy. Install with `pip install numpy`")
        data = {
            "type": point_cloud_type,
            "points": np.array(points),
            "boxes": np.array(boxes),
            "vectors": np.array(vectors) if vectors is not None else np.array([]),
        }
        return cls(data)

    @classmethod
    def get_media_subdir(cls) -> str:
        """`media/object3D`."""
        return os.path.join("media", "object3D")

    def to_json(self, run_or_artifact: Any) -> dict:
        """`{path, sha256, _type: "object3D-file"}`; only point clouds go into artifacts.

        Raises:
            ValueError: for other 3-D files (wandb refuses them too), before storing anything.
        """
        from ..data_types import _is_run

        if not _is_run(run_or_artifact):  # any 3-D file may be logged to a run
            self._check_addable()
        json_dict = super().to_json(run_or_artifact)
        json_dict["_type"] = Object3D._log_type
        return json_dict

    def _check_addable(self) -> None:
        if self._path is None or not self._path.endswith(".pts.json"):
            raise ValueError("Non-point cloud 3D objects are not yet supported with Artifacts")

    @classmethod
    def seq_to_json(cls, seq: Sequence["Object3D"], run: Any, key: str, step: Any) -> dict:
        """`run.log` of a list of Object3Ds (bound already): wandb's `object3D` value."""
        jsons = [obj.to_json(run) for obj in seq]
        subdir = cls.get_media_subdir()
        for obj in jsons:
            if not obj["path"].startswith(subdir):
                raise ValueError(f"Files in an array of Object3D's must be in the {subdir} directory, not {obj['path']}")
        return {"_type": "object3D", "filenames": [os.path.relpath(j["path"], subdir) for j in jsons],
                "count": len(jsons), "objects": jsons}

    @classmethod
    def from_json(cls, json_obj: dict, source_artifact: "Artifact") -> "Object3D":
        """The point cloud stored at `json_obj["path"]`."""
        return cls(source_artifact.get_entry(json_obj["path"]).download())


def box3d(center: Any, size: Any, orientation: Any, color: Any, label: Optional[str] = None, score: Any = None) -> dict:
    """A 3-D box for `Object3D.from_point_cloud`: its 8 corners from center, size and a
    (r, i, j, k) orientation quaternion, as wandb's `box3d`."""
    np = _deps.require("numpy", _NUMPY_REQUIRED)
    center = np.asarray(center, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    orientation = np.asarray(orientation, dtype=np.float64)
    assert center.shape == (3,)
    assert size.shape == (3,)
    assert orientation.shape == (4,)
    quaternion = abs(orientation)
    argmax = quaternion.argmax()
    if quaternion[argmax] == 0:
        raise ValueError("Unexpected zero quaternion.")
    quaternion = quaternion / quaternion[argmax]
    qr, qi, qj, qk = quaternion / np.linalg.norm(quaternion)
    qii, qjj, qkk = qi**2, qj**2, qk**2
    qij, qik, qjk = qi * qj, qi * qk, qj * qk
    qir, qjr, qkr = qi * qr, qj * qr, qk * qr
    rot = np.array(
        (
            (1 - 2 * (qjj + qkk), 2 * (qij + qkr), 2 * (qik - qjr)),
            (2 * (qij - qkr), 1 - 2 * (qii + qkk), 2 * (qjk + qir)),
            (2 * (qik + qjr), 2 * (qjk - qir), 1 - 2 * (qii + qjj)),
        ),
        dtype=np.float64,
    )
    unit_corners = np.array(list(itertools.product((-1, 1), (-1, 1), (-1, 1))), dtype=np.float64)
    corners = center + (0.5 * size * unit_corners) @ rot
    return {"corners": tuple(tuple(pt) for pt in corners), "color": color, "label": label, "score": score}


class Object3DFileType(WBType):
    """The column type of 3-D objects."""

    name = "object3D-file"

    @classmethod
    def from_obj(cls, value: Any) -> "Object3DFileType":
        return cls()


register_type(Object3D, Object3DFileType.from_obj)
