"""`wandb.sdk.artifacts.artifact_manifest_entry`: the `ArtifactManifestEntry` class."""

from ...manifest import ArtifactManifestEntry

__all__ = ["ArtifactManifestEntry"]
