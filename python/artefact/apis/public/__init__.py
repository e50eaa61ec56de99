"""`wandb.apis.public`: `Api` and the objects and listings it returns."""

from ...api import (
    Api,
    ArtifactCollection,
    ArtifactCollections,
    Artifacts,
    ArtifactType,
    ArtifactTypes,
    PublicRun as Run,
    RunArtifacts,
    Runs,
)
from ...store.backend import ArtifactFile as File
from ...store.backend import ArtifactFiles

__all__ = [
    "Api",
    "ArtifactCollection",
    "ArtifactCollections",
    "ArtifactFiles",
    "ArtifactType",
    "ArtifactTypes",
    "Artifacts",
    "File",
    "Run",
    "RunArtifacts",
    "Runs",
]
