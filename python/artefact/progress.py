"""A one-line stderr progress display for long store/cache/download operations.

Work done inside a core call is read from a `_core.Progress` (the core updates its
counters while the GIL is released); work done in Python is added with `advance()`.
A thread redraws the line a few times a second. Nothing is drawn when quiet
(`ARTEFACT_QUIET`/`WANDB_SILENT`), when stderr is not a terminal, or when the
operation finishes before `delay` seconds, so short calls stay silent.
"""

from __future__ import annotations

import sys
import threading
from typing import Optional

from . import _core
from . import config as _config

__all__ = ["ProgressLine", "human_size"]


def human_size(n: float) -> str:
    """Bytes in powers of 10, as wandb prints them (`12.3MB`)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n:.1f}PB"  # pragma: no cover


class ProgressLine:
    """Context manager drawing `<label>: <files>/<total> files, <bytes>/<total>`."""

    def __init__(
        self,
        label: str,
        total_files: int = 0,
        total_bytes: int = 0,
        *,
        enabled: Optional[bool] = None,
        delay: float = 0.5,
        interval: float = 0.2,
    ) -> None:
        self.label = label
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.core = _core.Progress()  # pass to core calls of this operation
        self._files = 0
        self._bytes = 0
        self._count_lock = threading.Lock()
        if enabled is None:
            enabled = not _config.quiet() and _isatty(sys.stderr)
        self.enabled = enabled
        self._delay = delay
        self._interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._drawn = False

    def advance(self, files: int = 1, nbytes: int = 0) -> None:
        """Count work done outside core calls (thread-safe)."""
        with self._count_lock:
            self._files += files
            self._bytes += nbytes

    def text(self) -> str:
        """The line as it would be drawn now."""
        files = self._files + self.core.files
        nbytes = self._bytes + self.core.bytes
        parts = [f"{files}/{self.total_files} files" if self.total_files else f"{files} files"]
        if self.total_bytes:
            parts.append(f"{human_size(min(nbytes, self.total_bytes))}/{human_size(self.total_bytes)}")
        return f"{self.label}: " + ", ".join(parts)

    def _run(self) -> None:
        if self._stop.wait(self._delay):
            return
        while True:
            self._draw(end="")
            if self._stop.wait(self._interval):
                return

    def _draw(self, end: str) -> None:
        try:
            sys.stderr.write("\r\x1b[2K" + self.text() + end)
            sys.stderr.flush()
            self._drawn = True
        except (OSError, ValueError):  # closed or broken stderr: progress is optional
            self._stop.set()

    def __enter__(self) -> "ProgressLine":
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="artefact-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        if self._drawn:
            self._draw(end="\n")


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
