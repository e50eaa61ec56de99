"""Reference handlers, one per URI scheme, tried in wandb's order.

1. s3  2. gs  3. Azure (https on *.blob.core.windows.net)  4. http  5. https
6. wandb-artifact  7. wandb-client-artifact  8. file  9. anything else: tracking
"""

from __future__ import annotations

import threading
from typing import Optional
from urllib.parse import urlparse

from .base import DEFAULT_MAX_OBJECTS, StorageHandler

__all__ = ["DEFAULT_MAX_OBJECTS", "StorageHandler", "handler_for", "handlers"]

_lock = threading.Lock()
_handlers: Optional[list[StorageHandler]] = None
_default: Optional[StorageHandler] = None


def handlers() -> list[StorageHandler]:
    """The scheme handlers in dispatch order (built once, on first use)."""
    global _handlers, _default
    with _lock:
        if _handlers is None:
            from .azure import AzureHandler
            from .file import LocalFileHandler
            from .gcs import GCSHandler
            from .http import HTTPHandler
            from .s3 import S3Handler
            from .tracking import TrackingHandler
            from .wandb_artifact import WBArtifactHandler, WBLocalArtifactHandler

            _handlers = [
                S3Handler(),
                GCSHandler(),
                AzureHandler(),
                HTTPHandler("http"),
                HTTPHandler("https"),
                WBArtifactHandler(),
                WBLocalArtifactHandler(),
                LocalFileHandler(),
            ]
            _default = TrackingHandler()
        return _handlers


def handler_for(uri: str) -> StorageHandler:
    """The first handler that can handle `uri`, else the tracking handler."""
    parsed = urlparse(uri)
    for handler in handlers():
        if handler.can_handle(parsed):
            return handler
    assert _default is not None
    return _default
