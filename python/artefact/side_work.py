"""Side work of one call on a thread of its own, beside the caller (the server's commit,
the client's log).

The core's calls release the GIL, so a 10,000-file manifest's canonical bytes and
digest are made on the second core while the request's thread checks its blobs (and on
the client, its bytes while the blobs to carry are picked). A thread per job, never a
shared pool: a commit never queues behind other requests' work. Small manifests (most
commits) do it on the request's thread once it is needed (`Inline`): a thread costs
more than their work, and a refused commit then never does it.

Writing the manifest's file while the commit's transaction ran its lookups was tried
too: it needed the MD5 twice (the key before the file) and two hand-offs between
threads, and on this loaded 2-core machine it measured no faster, so it is not done.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

__all__ = ["PARALLEL_ENTRIES", "Parallel", "Inline", "beside", "settle"]

PARALLEL_ENTRIES = 2000  # manifests with at least this many entries get a thread


class Parallel:
    """`fn(*args)` running on a thread of its own; `result()` waits for it and returns its
    value (or raises what it raised)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc

    def wait(self) -> None:
        """Wait until it has finished (its outcome is kept for `result`)."""
        if self._thread is not None:
            self._thread.join()

    def result(self) -> Any:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


class Inline(Parallel):
    """`Parallel`'s interface for work done on the caller's thread when `result()` is
    first asked for: work whose outcome is never asked for (a refused commit) is never done."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:  # noqa: D107 - no thread
        self._value, self._error, self._thread = None, None, None
        self._pending: Optional[tuple[Callable[..., Any], tuple]] = (fn, args)

    def wait(self) -> None:
        """Nothing runs elsewhere: nothing to wait for."""

    def result(self) -> Any:
        if self._pending is not None:
            fn, args = self._pending
            self._pending = None
            self._run(fn, args)
        return super().result()


def beside(entries: int, fn: Callable[..., Any], *args: Any) -> Parallel:
    """`fn(*args)` on a thread of its own for a manifest of `entries` entries from
    `PARALLEL_ENTRIES` on, else on the caller's thread when its result is asked for."""
    return (Parallel if entries >= PARALLEL_ENTRIES else Inline)(fn, *args)


def settle(jobs: list) -> None:
    """Wait for jobs whose outcome is no longer needed (their errors go with them): no
    thread of a request outlives it."""
    for job in jobs:
        job.wait()
