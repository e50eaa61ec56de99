"""`wandb.apis.public.artifacts`: collections, types and the artifact listings."""

from ...api_collections import ArtifactCollection, ArtifactCollections, Artifacts, ArtifactType, ArtifactTypes
from ...api_runs import RunArtifacts
from ...store.backend import ArtifactFiles

__all__ = ["ArtifactCollection", "ArtifactCollections", "ArtifactFiles", "ArtifactType", "ArtifactTypes",
           "Artifacts", "RunArtifacts"]
