"""The artifact enums, with wandb's names and values."""

from __future__ import annotations

from enum import Enum

__all__ = ["ArtifactState", "ArtifactDigestAlgorithm", "ALGORITHM_BY_NAME", "NAME_BY_ALGORITHM"]


class ArtifactState(Enum):
    """Where an artifact is in its life; `Artifact.state` returns the value."""

    PENDING = "PENDING"
    COMMITTED = "COMMITTED"
    DELETED = "DELETED"
    GARBAGE_COLLECTED = "GARBAGE_COLLECTED"
    PENDING_DELETION = "PENDING_DELETION"


class ArtifactDigestAlgorithm(str, Enum):
    """The algorithm of an artifact's digest (and of its local files' entry digests)."""

    MANIFEST_MD5 = "MANIFEST_MD5"
    MANIFEST_XXH128 = "MANIFEST_XXH128"


# The short names used in `extra["alg"]`, the constructor and `_core`.
NAME_BY_ALGORITHM = {
    ArtifactDigestAlgorithm.MANIFEST_MD5: "MD5",
    ArtifactDigestAlgorithm.MANIFEST_XXH128: "XXH128",
}
ALGORITHM_BY_NAME = {name: alg for alg, name in NAME_BY_ALGORITHM.items()}
