"""Time-to-live (TTL) of an artifact: the enum and the rules of `Artifact.ttl`."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Optional, Union

__all__ = ["ArtifactTTL", "TTLState", "TTL_INHERIT_GQL", "TTL_DISABLED_GQL"]

TTL_INHERIT_GQL = -1
TTL_DISABLED_GQL = -2


class ArtifactTTL(Enum):
    """`ArtifactTTL.INHERIT`: use the team's default TTL."""

    INHERIT = 0


class TTLState:
    """What the user set and what the server said, as wandb keeps it.

    `duration_seconds`: the TTL in whole seconds, or None for "no TTL".
    `is_inherited`: True while the team default applies (unknown locally until saved).
    `changed`: set by assignment, cleared after a save.
    """

    __slots__ = ("duration_seconds", "is_inherited", "changed")

    def __init__(self) -> None:
        self.duration_seconds: Optional[int] = None
        self.is_inherited = True
        self.changed = False

    def assign(self, ttl: Union[timedelta, ArtifactTTL, None]) -> None:
        """Apply `artifact.ttl = ttl` (type/link checks are the caller's)."""
        self.changed = True
        if isinstance(ttl, ArtifactTTL):
            if ttl == ArtifactTTL.INHERIT:
                self.is_inherited = True
            else:  # pragma: no cover - the enum has one member
                raise ValueError(f"Unhandled ArtifactTTL enum {ttl}")
            return
        self.is_inherited = False
        if ttl is None:
            self.duration_seconds = None
            return
        seconds = ttl.total_seconds()
        if seconds <= 0:
            raise ValueError(f"Artifact TTL Duration has to be positive. ttl: {seconds}")
        self.duration_seconds = int(seconds)

    def value(self) -> Optional[timedelta]:
        """The getter's value once known (the caller raises while it is not)."""
        if self.duration_seconds is None:
            return None
        return timedelta(seconds=self.duration_seconds)

    def to_gql(self) -> Optional[int]:
        """`ttlDurationSeconds` to send: None unchanged, -1 inherit, -2 disabled, else seconds."""
        if not self.changed:
            return None
        if self.is_inherited:
            return TTL_INHERIT_GQL
        return self.duration_seconds or TTL_DISABLED_GQL
