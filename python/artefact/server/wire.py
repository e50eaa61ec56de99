"""What travels between the SDK's remote backend and `artefact server`: records, errors
and the framing of batched blobs. Both sides import this file (it needs no web stack).

Records are the store's frozen dataclasses as JSON objects; errors are
`{"error": {"type": <class name>, "message": ...}}` and come back as the same class,
so code catching `ArtifactNotFoundError` works against either backend.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Optional

from ..store import errors as store_errors
from ..store.records import CollectionRecord, RunRecord, VersionRecord

__all__ = ["dump", "load_version", "load_collection", "load_run", "error_body", "raise_error",
           "frame_header", "parse_frame_header", "PROTOCOL", "MAX_FRAME_HEADER"]

PROTOCOL = 1  # bumped on an incompatible change; the server refuses other versions
MAX_FRAME_HEADER = 512  # bytes of one "<algorithm> <digest> <size>\n" line


def dump(record: Any) -> Any:
    """A record (or list of them) as JSON-ready data; other values pass through."""
    if isinstance(record, list):
        return [dump(r) for r in record]
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return record


def _tuples(data: dict, *names: str) -> dict:
    return {**data, **{n: tuple(data[n]) for n in names if n in data}}


def load_version(data: dict) -> VersionRecord:
    """A VersionRecord from `dump`'s form."""
    return VersionRecord(**_tuples(data, "aliases", "tags"))


def load_collection(data: dict) -> CollectionRecord:
    """A CollectionRecord from `dump`'s form."""
    return CollectionRecord(**_tuples(data, "aliases", "tags"))


def load_run(data: dict) -> RunRecord:
    """A RunRecord from `dump`'s form."""
    return RunRecord(**data)


# --- errors ----------------------------------------------------------------------------
_ERROR_CLASSES: dict[str, type[BaseException]] = {
    name: getattr(store_errors, name)
    for name in ("StoreError", "ProjectNotFoundError", "ArtifactNotFoundError", "RunNotFoundError",
                 "TypeMismatchError", "DeleteRefusedError", "MissingBlobError", "CorruptBlobError",
                 "StoreVersionError")
}
_ERROR_CLASSES.update({"ValueError": ValueError, "TypeError": TypeError, "KeyError": KeyError,
                       "PermissionError": PermissionError, "LookupError": LookupError})


def error_body(exc_type: str, message: str) -> dict:
    """The JSON body of an error response."""
    return {"error": {"type": exc_type, "message": message}}


class ServerError(RuntimeError):
    """An error from the server that has no local class (e.g. a 500)."""


def raise_error(body: Optional[dict], status: int, fallback: str) -> None:
    """Raise the exception an error response describes (same class as on the server)."""
    err = (body or {}).get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        raise ServerError(f"server answered {status}: {fallback[:500]}")
    name, message = str(err.get("type", "")), str(err.get("message", fallback))
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        raise ServerError(f"server answered {status}: {name}: {message}")
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    raise exc


# --- batched blob framing ------------------------------------------------------------------
# A batch body is, for each blob, one header line "<algorithm> <digest> <size>\n" followed
# by exactly <size> bytes. Small files travel many to one request this way.


def frame_header(algorithm: str, digest: str, size: int) -> bytes:
    """The header line that precedes one blob's bytes in a batch body."""
    return f"{algorithm} {digest} {size}\n".encode("ascii")


def parse_frame_header(line: bytes) -> tuple[str, str, int]:
    """`(algorithm, digest, size)` of a header line; ValueError naming a bad one."""
    try:
        algorithm, digest, size = line.decode("ascii").rstrip("\n").split(" ")
        n = int(size)
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"bad blob header in batch body: {line[:80]!r}") from None
    if n < 0 or algorithm not in ("MD5", "XXH128") or not digest:
        raise ValueError(f"bad blob header in batch body: {line[:80]!r}")
    return algorithm, digest, n


def iter_frames(data: bytes) -> Iterator[tuple[str, str, memoryview]]:
    """Blobs of a whole batch body held in memory (tests and small bodies)."""
    view, pos = memoryview(data), 0
    while pos < len(data):
        end = data.find(b"\n", pos, pos + MAX_FRAME_HEADER)
        if end < 0:
            raise ValueError("batch body: header line missing or too long")
        algorithm, digest, size = parse_frame_header(data[pos : end + 1])
        start = end + 1
        if start + size > len(data):
            raise ValueError(f"batch body: blob {digest} truncated")
        yield algorithm, digest, view[start : start + size]
        pos = start + size
