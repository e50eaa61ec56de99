"""`wandb.sdk.artifacts.artifact_ttl`: the `ArtifactTTL` sentinel."""

from ...ttl import ArtifactTTL

__all__ = ["ArtifactTTL"]
