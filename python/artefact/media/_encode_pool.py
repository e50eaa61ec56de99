"""A bounded thread pool that encodes media files off the caller's thread.

PIL's encoders and zlib release the GIL, so images built one after another are encoded
on all cores while the caller builds the next ones. At most `4 × workers` encodings are
in flight, so a fast producer cannot hold thousands of decoded images in memory.
`ARTEFACT_MEDIA_WORKERS` sets the worker count (default: the number of CPUs; 0 encodes
on the caller's thread).
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any, Callable, Optional

_lock = threading.Lock()
_pool: Any = None
_slots: Optional[threading.BoundedSemaphore] = None


def workers() -> int:
    """The configured number of encoding threads."""
    raw = os.environ.get("ARTEFACT_MEDIA_WORKERS")
    if raw is None or raw.strip() == "":
        return os.cpu_count() or 1
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ARTEFACT_MEDIA_WORKERS must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"ARTEFACT_MEDIA_WORKERS must be >= 0, got {raw!r}")
    return value


def write_and_hash(write: Callable[[str], None], path: str) -> tuple[str, int]:
    """Run `write(path)`, then return the file's (sha256 hex, size) as wandb's `_set_file`."""
    write(path)
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha256(data).hexdigest(), len(data)


class Encoded:
    """The (sha256, size) of a file being written; `result()` waits for it."""

    __slots__ = ("_future", "_value")

    def __init__(self, future: Any = None, value: Optional[tuple[str, int]] = None) -> None:
        self._future = future
        self._value = value

    def result(self) -> tuple[str, int]:
        if self._value is None:
            self._value = self._future.result()
            self._future = None
        return self._value


def submit(write: Callable[[str], None], path: str) -> Encoded:
    """Write `path` with `write` on the pool (or now, with 0 workers) and hash it."""
    global _pool, _slots
    count = workers()
    if count == 0:
        return Encoded(value=write_and_hash(write, path))
    with _lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="artefact-media")
            _slots = threading.BoundedSemaphore(4 * count)
    assert _slots is not None
    _slots.acquire()
    slots = _slots

    def run() -> tuple[str, int]:
        try:
            return write_and_hash(write, path)
        finally:
            slots.release()

    return Encoded(future=_pool.submit(run))
