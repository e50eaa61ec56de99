"""artefact: a fast, drop-in replacement for the Weights & Biases Artifacts SDK.

    import artefact as wandb
    artifact = wandb.Artifact("mnist", "dataset")
    artifact.add_dir("data/")

Manifests and digests are byte-identical to wandb 0.31.0's. Importing this package
stays cheap: numpy, requests and cloud SDKs are imported only where they are used.
"""

from __future__ import annotations

from . import _core, errors
from .artifact import Artifact
from .data_types import Html, Table
from .enums import ArtifactDigestAlgorithm, ArtifactState
from .errors import CommError, Error
from .manifest import ArtifactManifest, ArtifactManifestEntry
from .ttl import ArtifactTTL

__version__: str = getattr(_core, "__version__", "0.0.0")

from .api import Api
from .runs import Run, finish, init, link_artifact, log, log_artifact, use_artifact

# The active run (wandb.run): None until init(), set and cleared by artefact.runs.
run: "Run | None" = None

__all__ = [
    "Api",
    "Artifact",
    "ArtifactDigestAlgorithm",
    "ArtifactManifest",
    "ArtifactManifestEntry",
    "ArtifactState",
    "ArtifactTTL",
    "CommError",
    "Error",
    "Html",
    "Run",
    "Table",
    "__version__",
    "errors",
    "finish",
    "init",
    "link_artifact",
    "log",
    "log_artifact",
    "run",
    "use_artifact",
]
