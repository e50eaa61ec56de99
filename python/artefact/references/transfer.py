"""Moving the bytes of reference downloads: the Rust core's transfer engine.

`fetch_all` hands plain GETs to `_core.fetch_objects`, which runs them in parallel with
the GIL released (`ARTEFACT_REFERENCE_WORKERS`): each body streams into a partial file
while its MD5 (or multipart ETag) is computed, and is renamed into place only when size,
ETag and MD5 match. S3 requests are signed there (SigV4) with the credentials the
scheme resolved. Connection errors, 408, 429 and 5xx are retried with jittered
exponential backoff (`ARTEFACT_REFERENCE_RETRIES`). Objects of
`ARTEFACT_REFERENCE_RANGE_THRESHOLD` bytes or more are fetched as parallel ranges
(part-aligned for a multipart ETag). A transfer that was cut off, or a process that was
killed, leaves its partial file (in the cache's `tmp/`); the next run continues it with
a `Range` request. Statuses a scheme must settle (404, 412, 403...) are returned, not
raised, so it can run wandb's steps for the exact answer. Ctrl-C stops the transfers.
"""

from __future__ import annotations

import base64
import os
import tempfile
from typing import TYPE_CHECKING, BinaryIO, Callable, NamedTuple, Optional

from .. import _core

if TYPE_CHECKING:
    from ..progress import ProgressLine

__all__ = ["Get", "Fetched", "S3Auth", "fetch_all", "workers", "DigestMismatchError"]

WORKERS_ENV = "ARTEFACT_REFERENCE_WORKERS"
RETRIES_ENV = "ARTEFACT_REFERENCE_RETRIES"
THRESHOLD_ENV = "ARTEFACT_REFERENCE_RANGE_THRESHOLD"


class DigestMismatchError(ValueError):
    """The bytes received do not match the digest the manifest recorded."""


class Get(NamedTuple):
    """One object to fetch into `target` (atomically, via a partial file in `temp_dir`)."""

    url: str
    headers: dict
    target: str
    size: Optional[int]  # expected Content-Length, if known
    md5_hex: Optional[str]  # expected MD5 of the body (a single-part S3 ETag)
    etag: Optional[str]  # expected ETag of the response, quotes stripped
    label: str  # the reference, for messages
    part_size: Optional[int] = None  # multipart ETag: MD5 of the parts' MD5s, "-N"
    temp_dir: Optional[str] = None  # default: beside the target
    signed: bool = False  # sign with the call's S3 credentials (SigV4)
    crc32c: Optional[int] = None  # expected CRC-32C when no MD5 is known (GCS composite objects)


class S3Auth(NamedTuple):
    """What the core signs S3 GETs with (resolved by `s3_fetch.credentials`)."""

    access_key: str
    secret_key: str
    session_token: Optional[str]
    region: str


class Fetched(NamedTuple):
    """The outcome of one Get: `status` 200 when placed, else the HTTP status met."""

    status: int
    body: bytes  # the error response (XML/JSON) when status != 200


def workers() -> int:
    """Parallel transfers (`ARTEFACT_REFERENCE_WORKERS`, default 64)."""
    return _env_int(WORKERS_ENV, 64)


def threshold() -> int:
    """Objects this large (bytes) or larger are fetched in parallel ranges (default 64 MiB)."""
    return _env_int(THRESHOLD_ENV, 64 << 20)


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


def fetch_all(gets: list[Get], line: Optional["ProgressLine"] = None, s3: Optional[S3Auth] = None) -> list[Fetched]:
    """Fetch every Get in parallel (bounded by `workers()`); results in input order.

    Raises the first error that is not an HTTP status (a digest mismatch, a disk error,
    retries exhausted) once the transfers in flight have ended; transfers not yet
    started are not started. Nothing unverified is ever placed.
    """
    if not gets:
        return []
    items = [
        (g.url, list(g.headers.items()), g.target, g.temp_dir, g.size, g.md5_hex, g.etag, g.part_size, g.crc32c,
         g.label, g.signed)
        for g in gets
    ]
    retries = _env_int(RETRIES_ENV, 8)
    results = _core.fetch_objects(
        items, tuple(s3) if s3 is not None else None, concurrency=workers(), retries=retries,
        range_threshold=threshold(), progress=line.core if line is not None else None,
    )  # fmt: skip
    out: list[Fetched] = []
    error: Optional[BaseException] = None
    for kind, status, detail in results:
        if kind == "placed":
            out.append(Fetched(200, b""))
        elif kind == "status":
            out.append(Fetched(status, detail))
        else:
            out.append(Fetched(0, b""))
            if error is None and kind != "skipped":
                error = _error(kind, detail)
    if error is not None:
        raise error
    return out


def _error(kind: str, detail: Optional[str]) -> BaseException:
    if kind == "digest":
        return DigestMismatchError(detail)
    if kind == "failed":
        return ConnectionError(detail)
    if kind == "interrupted":
        return KeyboardInterrupt()
    return OSError(detail)


def partial_path(get: Get) -> str:
    """The partial file a transfer of `get` writes to and a later run continues."""
    return str(_core.fetch_partial_path(get.target, get.temp_dir, get.size, get.md5_hex, get.etag, get.crc32c))


def temp_beside(target: str, temp_dir: Optional[str] = None) -> tuple[int, str]:
    """(fd, path) of a new temp file for `target`: in `temp_dir` (the cache's `tmp/`, which
    its cleanup empties, so a kill leaves nothing elsewhere) else beside the target."""
    directory = temp_dir or os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return tempfile.mkstemp(dir=directory, prefix=".artefact-ref-")


def write_atomically(target: str, temp_dir: Optional[str], write: "Callable[[BinaryIO], None]") -> None:
    """Run `write` on a temp file, then rename it to `target`; on any error it is removed.
    (For the SDK fallbacks; the core's engine moves the bytes otherwise.)"""
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


def b64_md5_to_hex(digest: str) -> str:
    """A base64 MD5 (a manifest digest) as hex (an S3 single-part ETag)."""
    return base64.b64decode(digest).hex()
