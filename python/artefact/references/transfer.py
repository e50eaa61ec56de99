"""Moving the bytes of reference downloads: parallel streamed GETs of signed URLs.

Every GET streams into a temp file beside its target, hashing while it writes (MD5,
which hashlib computes outside the GIL), and is renamed into place only when the body
has the expected size, MD5 and ETag. Connection errors, 429 and 5xx are retried with
exponential backoff. Statuses that a caller must decide about (404, 412, 403...) are
returned, not raised, so a scheme can fall back to its SDK for the exact wandb answer.

This is the one place bytes move; it takes plain (url, headers) requests so that a
Rust transfer engine can replace it without touching the scheme handlers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO, Callable, NamedTuple, Optional

if TYPE_CHECKING:
    import urllib3

    from ..progress import ProgressLine

__all__ = ["Get", "Fetched", "fetch_all", "workers", "DigestMismatchError"]

WORKERS_ENV = "ARTEFACT_REFERENCE_WORKERS"
RETRIES_ENV = "ARTEFACT_REFERENCE_RETRIES"
_CHUNK = 1 << 20
_RETRY_STATUSES = frozenset((408, 429, 500, 502, 503, 504))


class DigestMismatchError(ValueError):
    """The bytes received do not match the digest the manifest recorded."""


class Get(NamedTuple):
    """One object to fetch into `target` (atomically, via a temp file in `temp_dir`)."""

    url: str
    headers: dict
    target: str
    size: Optional[int]  # expected Content-Length, if known
    md5_hex: Optional[str]  # expected MD5 of the body (a single-part S3 ETag)
    etag: Optional[str]  # expected ETag of the response, quotes stripped
    label: str  # the reference, for messages
    part_size: Optional[int] = None  # multipart ETag: MD5 of the parts' MD5s, "-N"
    temp_dir: Optional[str] = None  # default: beside the target


class Fetched(NamedTuple):
    """The outcome of one Get: `status` 200 when placed, else the HTTP status met."""

    status: int
    body: bytes  # the error response (XML/JSON) when status != 200


def workers() -> int:
    """Parallel transfers (`ARTEFACT_REFERENCE_WORKERS`, default 64)."""
    return _env_int(WORKERS_ENV, 64)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r}: expected at least 1")
    return value


_pool_lock = threading.Lock()
_pool: Optional["urllib3.PoolManager"] = None


def _http() -> "urllib3.PoolManager":
    global _pool
    with _pool_lock:
        if _pool is None:
            import urllib3

            _pool = urllib3.PoolManager(
                num_pools=64, maxsize=max(workers(), 8), block=False,
                timeout=urllib3.Timeout(connect=30, read=300), retries=False,
            )
        return _pool


def fetch_all(gets: list[Get], line: Optional["ProgressLine"] = None) -> list[Fetched]:
    """Fetch every Get in parallel (bounded by `workers()`); results in input order.

    Raises the first error that is not an HTTP status (a digest mismatch, a disk error,
    retries exhausted), after the other transfers stopped; nothing half-written stays.
    """
    if not gets:
        return []
    retries = _env_int(RETRIES_ENV, 8)
    stop = threading.Event()

    def one(get: Get) -> Fetched:
        if stop.is_set():
            raise _Stopped()
        try:
            result = _fetch_one(get, retries, stop)
        except BaseException:
            stop.set()
            raise
        if line is not None and result.status == 200:
            line.advance(1, get.size or 0)
        return result

    if len(gets) == 1:
        return [one(gets[0])]
    with ThreadPoolExecutor(min(workers(), len(gets)), thread_name_prefix="artefact-ref") as pool:
        futures = [pool.submit(one, g) for g in gets]
        results, error = [], None
        for future in futures:
            try:
                results.append(future.result())
            except _Stopped:
                results.append(Fetched(0, b""))
            except BaseException as exc:  # first real error wins
                error = error or exc
                results.append(Fetched(0, b""))
    if error is not None:
        raise error
    return results


class _Stopped(Exception):
    """Another transfer failed; this one was not started."""


def _fetch_one(get: Get, retries: int, stop: threading.Event) -> Fetched:
    import urllib3

    from .ranged import fetch_ranged, threshold

    if get.size is not None and get.size >= threshold():
        return fetch_ranged(get, retries)
    attempt = 0
    while True:
        try:
            return _attempt(get)
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, _Retryable) as exc:
            attempt += 1
            if attempt > retries or stop.is_set():
                raise ConnectionError(f"Failed to download {get.label} after {attempt} attempts: {exc}") from exc
            # full jitter, capped at 30 s
            time.sleep(random.uniform(0, min(30.0, 0.25 * 2**attempt)))


class _Retryable(Exception):
    pass


def _attempt(get: Get) -> Fetched:
    rsp = _http().request("GET", get.url, headers=get.headers, preload_content=False)
    try:
        if rsp.status in _RETRY_STATUSES:
            rsp.drain_conn()  # an unread error body would be parsed as the next response
            raise _Retryable(f"HTTP {rsp.status}")
        if rsp.status != 200:
            return Fetched(rsp.status, rsp.read())
        found_etag = (rsp.headers.get("ETag") or "").strip('"')
        if get.etag is not None and found_etag and found_etag != get.etag:
            raise DigestMismatchError(
                f"Digest mismatch for object {get.label}: expected {get.etag} but found {found_etag}"
            )
        try:
            _stream_to(rsp, get)
        except BaseException:
            rsp.close()  # the body may be half read: this connection is not reused
            raise
        return Fetched(200, b"")
    finally:
        rsp.release_conn()


def temp_beside(target: str, temp_dir: Optional[str] = None) -> tuple[int, str]:
    """(fd, path) of a new temp file for `target`: in `temp_dir` (the cache's `tmp/`, which
    its cleanup empties, so a kill leaves nothing elsewhere) else beside the target."""
    directory = temp_dir or os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return tempfile.mkstemp(dir=directory, prefix=".artefact-ref-")


def write_atomically(target: str, temp_dir: Optional[str], write: "Callable[[BinaryIO], None]") -> None:
    """Run `write` on a temp file, then rename it to `target`; on any error it is removed."""
    fd, tmp = temp_beside(target, temp_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _stream_to(rsp: "urllib3.BaseHTTPResponse", get: Get) -> None:
    fd, tmp = temp_beside(get.target, get.temp_dir)
    try:
        md5, parts, in_part, size = hashlib.md5(), [], hashlib.md5(), 0
        with os.fdopen(fd, "wb") as f:
            for chunk in rsp.stream(_CHUNK):
                f.write(chunk)
                size += len(chunk)
                if get.part_size:
                    in_part = _feed_parts(chunk, get.part_size, size - len(chunk), parts, in_part)
                else:
                    md5.update(chunk)
        if get.size is not None and size != get.size:
            raise _Retryable(f"{get.label}: received {size} bytes, expected {get.size}")
        if get.part_size:
            if size % get.part_size or not parts:
                parts.append(in_part.digest())
            found = f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"
            expected = get.etag
        else:
            found, expected = md5.hexdigest(), get.md5_hex
        if expected is not None and found != expected:
            raise DigestMismatchError(
                f"Digest mismatch for object {get.label}: expected {expected} but the bytes"
                f" received hash to {found}"
            )
        os.replace(tmp, get.target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _feed_parts(chunk: bytes, part_size: int, offset: int, parts: list, current: "hashlib._Hash"):  # type: ignore[name-defined]
    """Hash `chunk` (starting at byte `offset`) into per-part MD5s of `part_size` bytes."""
    view = memoryview(chunk)
    while view:
        room = part_size - offset % part_size
        current.update(view[:room])
        if len(view) >= room:
            parts.append(current.digest())
            current = hashlib.md5()
        offset += min(room, len(view))
        view = view[room:]
    return current


def b64_md5_to_hex(digest: str) -> str:
    """A base64 MD5 (a manifest digest) as hex (an S3 single-part ETag)."""
    return base64.b64decode(digest).hex()

