"""`wandb.sdk.artifacts.artifact_manifests.artifact_manifest_v1`: `ArtifactManifestV1`."""

from ....manifest import ArtifactManifestV1

__all__ = ["ArtifactManifestV1"]
