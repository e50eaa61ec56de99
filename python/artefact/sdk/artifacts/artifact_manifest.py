"""`wandb.sdk.artifacts.artifact_manifest`: the `ArtifactManifest` base class."""

from ...manifest import ArtifactManifest

__all__ = ["ArtifactManifest"]
