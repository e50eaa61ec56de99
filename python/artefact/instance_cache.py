"""In-process registries of Artifact objects (capped at 100, oldest evicted first).

`by_client_id` lets `wandb-client-artifact://<client id>/<path>` references resolve to
drafts of this process; `by_id` holds logged artifacts by server id. The store layer
can install `fetch_by_id` to load an artifact that is not cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from .artifact import Artifact


class CappedDict(OrderedDict):
    """A dict that forgets its oldest key beyond `max_size` keys."""

    def __init__(self, max_size: int = 100) -> None:
        super().__init__()
        self.max_size = max_size
        self._lock = threading.Lock()

    def __setitem__(self, key, value) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            if key not in self and len(self) >= self.max_size:
                self.popitem(last=False)
            super().__setitem__(key, value)


by_id: "CappedDict" = CappedDict(100)
by_client_id: "CappedDict" = CappedDict(100)
# Installed by the store layer: server id -> Artifact (or None if unknown).
fetch_by_id: Optional[Callable[[str], Optional["Artifact"]]] = None


def artifact_by_id(artifact_id: str) -> Optional["Artifact"]:
    """A logged artifact by server id: from the cache, else from `fetch_by_id`."""
    artifact = by_id.get(artifact_id)
    if artifact is None and fetch_by_id is not None:
        artifact = fetch_by_id(artifact_id)
    return artifact
