"""artefact: a fast, drop-in replacement for the Weights & Biases Artifacts SDK.

    import artefact as wandb
    artifact = wandb.Artifact("mnist", "dataset")
    artifact.add_dir("data/")

Manifests and digests are byte-identical to wandb 0.31.0's. Importing this package
stays cheap: numpy, requests and cloud SDKs are imported only where they are used.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing alone costs ~5 ms, a sixth of a re-put (fastput.py)
if TYPE_CHECKING:
    from typing import Any

# Every public name loads on first use (PEP 562), so `import artefact` (and
# `python -m artefact put`, `import artefact._core`) costs only this file: the artifact
# classes pull in the manifest and the cache, runs and the public API the store
# (sqlite3, the catalog), tables and media their encoders.
_LAZY = {
    "Artifact": "artifact",
    "ArtifactDigestAlgorithm": "enums",
    "ArtifactState": "enums",
    "CommError": "errors",
    "Error": "errors",
    "ArtifactManifest": "manifest",
    "ArtifactManifestEntry": "manifest",
    "ArtifactTTL": "ttl",
    "Api": "api",
    # Tables and Html (and their JSON/typing helpers) are not needed to log files.
    "Html": "data_types",
    "Table": "table",
    "Run": "runs",
    "finish": "runs",
    "init": "runs",
    "link_artifact": "runs",
    "log": "runs",
    "log_artifact": "runs",
    "use_artifact": "runs",
    # Media types import their encoding libraries only when an object is built.
    "Image": "media.image",
    "Audio": "media.audio",
    "Object3D": "media.object3d",
    "Bokeh": "media.bokeh",
    "Video": "media.video",
    "box3d": "media.object3d",
    "Classes": "media.classes",
    "ImageMask": "media.masks",
    "BoundingBoxes2D": "media.boxes",
    "JoinedTable": "media.joined_table",
    "PartitionedTable": "media.partitioned_table",
}

# Submodules that were attributes of the package once it was imported.
_SUBMODULES = frozenset({"_core", "errors", "data_types"})


def _submodule(name: str) -> Any:
    """`importlib.import_module(f".{name}", "artefact")`, without importing importlib
    (and the warnings module it imports, ~1 ms): `from . import _core` in a put's
    first module asks this file's __getattr__ for it."""
    import sys

    full = f"{__name__}.{name}"
    __import__(full)
    return sys.modules[full]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = _submodule(name)
    elif name == "__version__":
        value = getattr(_submodule("_core"), "__version__", "0.0.0")
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'artefact' has no attribute {name!r}")
        value = getattr(_submodule(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# The active run (wandb.run): None until init(), set and cleared by artefact.runs.
run: "Run | None" = None

if TYPE_CHECKING:
    from . import _core, data_types, errors
    from .artifact import Artifact
    from .enums import ArtifactDigestAlgorithm, ArtifactState
    from .errors import CommError, Error
    from .manifest import ArtifactManifest, ArtifactManifestEntry
    from .ttl import ArtifactTTL

    __version__: str
    from .api import Api
    from .data_types import Html
    from .table import Table
    from .media.audio import Audio
    from .media.bokeh import Bokeh
    from .media.boxes import BoundingBoxes2D
    from .media.classes import Classes
    from .media.image import Image
    from .media.joined_table import JoinedTable
    from .media.masks import ImageMask
    from .media.object3d import Object3D, box3d
    from .media.partitioned_table import PartitionedTable
    from .media.video import Video
    from .runs import Run, finish, init, link_artifact, log, log_artifact, use_artifact

__all__ = [
    "Api",
    "Artifact",
    "ArtifactDigestAlgorithm",
    "ArtifactManifest",
    "ArtifactManifestEntry",
    "ArtifactState",
    "ArtifactTTL",
    "Audio",
    "Bokeh",
    "BoundingBoxes2D",
    "Classes",
    "CommError",
    "Error",
    "Html",
    "Image",
    "ImageMask",
    "JoinedTable",
    "Object3D",
    "PartitionedTable",
    "Run",
    "Table",
    "__version__",
    "box3d",
    "data_types",
    "errors",
    "finish",
    "init",
    "link_artifact",
    "log",
    "log_artifact",
    "run",
    "use_artifact",
    "Video",
]
