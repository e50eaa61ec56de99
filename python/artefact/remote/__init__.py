"""The remote backend: the SDK talking to `artefact server` instead of the embedded store.

Chosen by `ARTEFACT_BASE_URL` (or `WANDB_BASE_URL`, or `artefact login`) with
`ARTEFACT_API_KEY` (or `WANDB_API_KEY`). `RemoteStore` answers the calls `LocalStore`
answers, so Run, Artifact and Api do not know which one they use.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .store import RemoteStore

__all__ = ["remote_store"]

_stores: dict[tuple[str, Optional[str], int], "RemoteStore"] = {}
_lock = threading.Lock()


def remote_store(base_url: str, api_key: Optional[str]) -> "RemoteStore":
    """The process-wide RemoteStore for a server and key."""
    from .store import RemoteStore

    key = (base_url, api_key, os.getpid())
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = RemoteStore(base_url, api_key)
        return store
