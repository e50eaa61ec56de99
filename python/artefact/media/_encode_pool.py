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

from . import _fast_png  # no encoding library: it loads only our core

_lock = threading.Lock()
_pool: Any = None
_slots: Optional[threading.BoundedSemaphore] = None


def _reset_after_fork() -> None:
    # A forked child has none of the parent's pool threads: start afresh on first use.
    global _lock, _pool, _slots, _small
    _lock, _pool, _slots, _small = threading.Lock(), None, None, []


os.register_at_fork(after_in_child=_reset_after_fork)


_CPUS = os.cpu_count() or 1  # once: os.cpu_count() is a system call, and this runs per image


def workers() -> int:
    """The configured number of encoding threads."""
    raw = os.environ.get("ARTEFACT_MEDIA_WORKERS")
    if raw is None or raw.strip() == "":
        return _CPUS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ARTEFACT_MEDIA_WORKERS must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"ARTEFACT_MEDIA_WORKERS must be >= 0, got {raw!r}")
    return value


def _write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def write_and_hash(encode: Callable[[Any], None], path: str) -> tuple[str, int, str]:
    """`encode(buffer)` into memory, write the bytes to `path` (a new temp file) and
    return their (sha256 hex, size) and the path written, as wandb's `_set_file` would
    read them back. A full temp dir (tmpfs) falls back to the default temp dir."""
    import errno
    import io

    buffer = io.BytesIO()
    encode(buffer)
    data = buffer.getvalue()
    try:
        _write_new(path, data)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        from ..data_types import media_tmp_dir

        path = os.path.join(media_tmp_dir(fallback=True), os.path.basename(path))
        _write_new(path, data)
    return hashlib.sha256(data).hexdigest(), len(data), path


def write_native(pixels: bytes, width: int, height: int, count: int, path: str) -> tuple[str, int, str, str]:
    """The native encoder's `write_and_hash` (`_fast_png`): encoding, writing and hashing
    all run in Rust with the GIL released; also returns the file's base64 MD5."""
    try:
        sha256, size, md5 = _fast_png.write(pixels, width, height, count, path)
    except OSError as e:
        import errno

        if e.errno != errno.ENOSPC:
            raise
        from ..data_types import media_tmp_dir

        path = os.path.join(media_tmp_dir(fallback=True), os.path.basename(path))
        sha256, size, md5 = _fast_png.write(pixels, width, height, count, path)
    return sha256, size, path, md5


class Encoded:
    """The (sha256, size, path[, md5]) of a file being written; `result()` waits for it.
    One of a batch (`submit_small_native`) holds its arguments until the batch is handed
    to the pool, and its place in the batch's results."""

    __slots__ = ("_future", "_value", "_args", "_index")

    def __init__(self, future: Any = None, value: Optional[tuple] = None, args: Optional[tuple] = None) -> None:
        self._future = future
        self._value = value
        self._args = args
        self._index = -1

    def result(self) -> tuple:
        if self._value is None:
            if self._future is None and self._args is not None:
                _flush_small()
            if self._future is None:  # a batch of the parent, in a forked child: do it here
                self._value = write_native(*self._args)  # type: ignore[misc]
            elif self._index < 0:
                self._value = self._future.result()
            else:
                self._value = self._batch_result(self._future.result()[self._index])
            self._future = self._args = None
        return self._value

    def _batch_result(self, out: Any) -> tuple:
        import errno

        if isinstance(out, OSError) and out.errno == errno.ENOSPC:
            return write_native(*self._args)  # type: ignore[misc]  # its fallback temp dir
        if isinstance(out, BaseException):
            raise out
        sha256, size, md5 = out
        return sha256, size, self._args[4], md5  # type: ignore[index]


def submit(encode: Callable[[Any], None], path: str) -> Encoded:
    """Encode into `path` on the pool (or now, with 0 workers) and hash it."""
    return submit_call(write_and_hash, encode, path)


# Small images go to the pool in batches: one GIL release encodes a whole batch, where a
# hand-off per image cost more than the encode (the thread must win the GIL back each time).
_BATCH = 64
_small: list[Encoded] = []


def submit_small_native(pixels: bytes, width: int, height: int, count: int, path: str) -> Encoded:
    """`write_native` of a small image, batched with the next ones onto the pool (now, with
    0 workers); a batch goes when full or when one of its results is asked for."""
    if workers() == 0:
        return Encoded(value=write_native(pixels, width, height, count, path))
    encoded = Encoded(args=(pixels, width, height, count, path))
    with _lock:
        _small.append(encoded)
        if len(_small) >= _BATCH:
            _flush_small_locked()
    return encoded


def _flush_small() -> None:
    with _lock:
        _flush_small_locked()


def _flush_small_locked() -> None:
    from .. import _core

    global _small
    batch, _small = _small, []
    if not batch:
        return
    slots = _start_pool_locked()
    slots.acquire()  # the pool's threads never take _lock: no deadlock

    def run() -> list:
        try:
            return _core.write_pngs([e._args for e in batch])
        finally:
            slots.release()

    future = _pool.submit(run)
    for i, e in enumerate(batch):
        e._future, e._index = future, i


def _start_pool_locked() -> threading.BoundedSemaphore:
    global _pool, _slots
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        count = workers()
        _pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="artefact-media")
        _slots = threading.BoundedSemaphore(4 * count)
    assert _slots is not None
    return _slots


def submit_call(task: Callable[..., tuple], *args: Any, inline: bool = False) -> Encoded:
    """Run `task(*args)` -> (sha256, size, path[, md5]) on the pool (or now, with 0 workers
    or `inline`)."""
    count = workers()
    if count == 0 or inline:
        return Encoded(value=task(*args))
    with _lock:
        slots = _start_pool_locked()
    slots.acquire()

    def run() -> tuple:
        try:
            return task(*args)
        finally:
            slots.release()

    return Encoded(future=_pool.submit(run))
