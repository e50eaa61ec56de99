"""`wandb.sdk.artifacts.exceptions`: the artifact status and wait errors."""

from ...errors import (
    ArtifactFinalizedError,
    ArtifactNotLoggedError,
    ArtifactStatusError,
    TooFewItemsError,
    TooManyItemsError,
    WaitTimeoutError,
)

__all__ = [
    "ArtifactStatusError",
    "ArtifactNotLoggedError",
    "ArtifactFinalizedError",
    "WaitTimeoutError",
    "TooFewItemsError",
    "TooManyItemsError",
]
