"""Large reference objects as parallel ranged GETs into one preallocated temp file.

An object of at least `ARTEFACT_REFERENCE_RANGE_THRESHOLD` bytes (default 64 MiB) is
fetched in ranges, several at a time, each written at its offset and retried on its
own. Ranges follow the object's parts when its multipart ETag's part size is known, so
each part's MD5 is computed by the thread that fetched it and the MD5 of those MD5s is
checked against the ETag; otherwise (16 MiB ranges) the finished file is hashed once
by the Rust core, outside the GIL, and compared with the single-part ETag.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .. import _core

if TYPE_CHECKING:
    from .transfer import Fetched, Get

THRESHOLD_ENV = "ARTEFACT_REFERENCE_RANGE_THRESHOLD"
_RANGE = 16 << 20
_PARALLEL = 8  # ranges in flight per object, as boto3's download threads (10)


def threshold() -> int:
    """Objects this large (bytes) or larger are fetched in parallel ranges."""
    from .transfer import _env_int

    return _env_int(THRESHOLD_ENV, 64 << 20)


def fetch_ranged(get: "Get", retries: int) -> "Fetched":
    """Fetch `get` (size known) in parallel ranges; same contract as one streamed GET."""
    from .transfer import DigestMismatchError, Fetched, temp_beside

    assert get.size is not None
    step = get.part_size or _RANGE
    ranges = [(start, min(start + step, get.size) - 1) for start in range(0, get.size, step)]
    fd, tmp = temp_beside(get.target, get.temp_dir)
    try:
        os.ftruncate(fd, get.size)
        first = _fetch_range(get, fd, ranges[0], retries)  # learns the status before fanning out
        if isinstance(first, Fetched):
            os.close(fd)
            os.unlink(tmp)
            return first
        with ThreadPoolExecutor(min(_PARALLEL, len(ranges)), thread_name_prefix="artefact-range") as pool:
            rest = list(pool.map(lambda r: _fetch_range(get, fd, r, retries), ranges[1:]))
        for result in rest:
            if isinstance(result, Fetched):  # the object changed between ranges
                raise DigestMismatchError(f"{get.label} changed while it was downloaded (HTTP {result.status})")
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if get.part_size:
            found = f"{hashlib.md5(first + b''.join(rest)).hexdigest()}-{len(ranges)}"
            expected = get.etag
        else:
            digest, _size = _core.hash_file(tmp, "MD5")
            found, expected = _b64_to_hex(digest), get.md5_hex
        if expected is not None and found != expected:
            raise DigestMismatchError(
                f"Digest mismatch for object {get.label}: expected {expected} but the bytes"
                f" received hash to {found}"
            )
        os.replace(tmp, get.target)
        return Fetched(200, b"")
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _fetch_range(get: "Get", fd: int, span: tuple[int, int], retries: int):  # type: ignore[no-untyped-def]
    """Write bytes `span` (inclusive) at their offset; the part's MD5, or a Fetched for a
    status the caller must settle. Retried alone on connection errors, 429 and 5xx."""
    import urllib3

    from .transfer import _RETRY_STATUSES, Fetched, _http

    start, end = span
    attempt = 0
    while True:
        try:
            headers = dict(get.headers, Range=f"bytes={start}-{end}")
            rsp = _http().request("GET", get.url, headers=headers, preload_content=False)
            try:
                if rsp.status in _RETRY_STATUSES:
                    rsp.drain_conn()  # an unread error body would be parsed as the next response
                    raise ConnectionError(f"HTTP {rsp.status}")
                if rsp.status != 206:
                    return Fetched(rsp.status, rsp.read())
                md5, offset = hashlib.md5(), start
                try:
                    for chunk in rsp.stream(1 << 20):
                        os.pwrite(fd, chunk, offset)
                        md5.update(chunk)
                        offset += len(chunk)
                except BaseException:
                    rsp.close()  # half read: this connection is not reused
                    raise
                if offset != end + 1:
                    raise ConnectionError(f"range {start}-{end}: received {offset - start} bytes")
                return md5.digest()
            finally:
                rsp.release_conn()
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            attempt += 1
            if attempt > retries:
                raise ConnectionError(f"Failed to download {get.label} after {attempt} attempts: {exc}") from exc
            time.sleep(random.uniform(0, min(30.0, 0.25 * 2**attempt)))


def _b64_to_hex(digest: str) -> str:
    import base64

    return base64.b64decode(digest).hex()
