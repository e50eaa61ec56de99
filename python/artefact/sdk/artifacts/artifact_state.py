"""`wandb.sdk.artifacts.artifact_state`: the `ArtifactState` enum."""

from ...enums import ArtifactState

__all__ = ["ArtifactState"]
