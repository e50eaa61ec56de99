"""The bytes, when blobs live in the server's own directory.

- `PUT /blobs/<alg>/<hex>?<signed>`: one blob, streamed to a temp file while hashed;
  kept only if its size and digest are the signed ones (create-if-absent).
- `POST /api/v1/blobs/batch?entity=&project=`: many small blobs in one body (framing in
  wire.py), so 10,000 small files cost a few requests, not 10,000.
- `GET /blobs/<alg>/<hex>?<signed>`: one blob (Range requests work).
- `POST /api/v1/blobs/fetch`: many small blobs of one version in one response.

A blob is durable (fsync, then rename, then its directory synced) before the catalog
records that its project holds it; a crash leaves at worst a temp file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Iterator, Optional

from .. import _core
from ..store.blobs import fsync_dir
from .state import ServerState, object_hex
from .wire import MAX_FRAME_HEADER, frame_header, parse_frame_header

__all__ = ["BlobWriter", "receive_batch", "stream_batch"]

class BlobWriter:
    """One incoming blob: temp file in objects/tmp, hashed as it is written."""

    def __init__(self, state: ServerState, algorithm: str, digest: str, size: int, durable: bool) -> None:
        self.state, self.algorithm, self.digest, self.size = state, algorithm, digest, size
        self.durable = durable
        self.written = 0
        tmp_dir = os.path.join(state.store.blobs.objects_root, "tmp")
        fd, self.tmp = tempfile.mkstemp(dir=tmp_dir, prefix="up-")
        self.file = os.fdopen(fd, "wb")
        self.md5 = hashlib.md5() if algorithm == "MD5" else None

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self.size:
            raise ValueError(f"blob {self.digest}: body is longer than its {self.size} bytes")
        self.file.write(data)
        if self.md5 is not None:
            self.md5.update(data)

    def finish(self) -> bool:
        """Check and place the blob (fsynced first when `durable`; the caller then syncs
        the directory); True if it is new. ValueError if it is not the signed content
        (the temp file is removed either way)."""
        try:
            synced = False
            if self.durable and not self.file.closed:
                self.file.flush()
                os.fsync(self.file.fileno())
                synced = True
            self.file.close()
            if self.written != self.size:
                raise ValueError(f"blob {self.digest}: got {self.written} bytes, expected {self.size}")
            if self.md5 is not None:
                got = base64.b64encode(self.md5.digest()).decode()
            else:
                got = _core.hash_file(self.tmp, self.algorithm)[0]
            if got != self.digest:
                raise ValueError(f"blob content hashes to {got}, not {self.digest}: corrupted or wrong file")
            dest = self.state.store.blobs.object_path(self.digest, self.algorithm)
            if os.path.exists(dest):
                return False
            if self.durable and not synced and self.written:
                fd = os.open(self.tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(self.tmp, dest)
            return True
        finally:
            self.abort()

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


async def receive_batch(state: ServerState, stream: AsyncIterator[bytes], limit: int) -> list[tuple[str, str, int]]:
    """Read a batch body; every blob in it is checked and placed. Returns
    `(algorithm, digest, size)` of each (ValueError on the first bad one: earlier
    blobs stay as unreferenced objects, which is harmless)."""
    buf = bytearray()
    received = 0
    complete: list[BlobWriter] = []
    writer: Optional[BlobWriter] = None
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise OverflowError(f"batch body is larger than the {limit} byte limit")
        buf += chunk
        while True:
            if writer is None:
                end = buf.find(b"\n", 0, MAX_FRAME_HEADER)
                if end < 0:
                    if len(buf) >= MAX_FRAME_HEADER:
                        raise ValueError("batch body: header line missing or too long")
                    break
                algorithm, digest, size = parse_frame_header(bytes(buf[: end + 1]))
                object_hex(digest)  # a bad digest raises here, before any byte is written
                del buf[: end + 1]
                writer = BlobWriter(state, algorithm, digest, size, durable=state.config.fsync)
            take = min(len(buf), writer.size - writer.written)
            if take:
                writer.write(bytes(buf[:take]))
                del buf[:take]
            if writer.written < writer.size:
                break
            writer.file.close()  # fsynced with the others at the end, in parallel
            complete.append(writer)
            writer = None
    try:
        if writer is not None:
            raise ValueError(f"batch body: blob {writer.digest} truncated ({writer.written} of {writer.size} bytes)")
        if buf:
            raise ValueError("batch body: trailing bytes after the last blob")
        await asyncio.to_thread(_finish_all, state, complete)
    except BaseException:
        for w in [*complete, *([writer] if writer is not None else [])]:
            w.abort()
        raise
    return [(w.algorithm, w.digest, w.size) for w in complete]


def _finish_all(state: ServerState, writers: list[BlobWriter]) -> None:
    """Check, fsync and place every blob of a batch (parallel fsyncs share the disk's
    flushes, as the embedded store's put_objects does), then sync their directories."""
    if not writers:
        return
    for w in writers:  # digest check first: a bad blob refuses the whole batch
        got = base64.b64encode(w.md5.digest()).decode() if w.md5 is not None else _core.hash_file(w.tmp, w.algorithm)[0]
        if got != w.digest:
            raise ValueError(f"blob content hashes to {got}, not {w.digest}: corrupted or wrong file")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda w: w.finish(), writers))
    if state.config.fsync:
        for d in {os.path.dirname(state.store.blobs.object_path(w.digest, w.algorithm)) for w in writers}:
            fsync_dir(d)


def stream_batch(state: ServerState, blobs: list[tuple[str, str]], chunk: int = 1 << 20) -> Iterator[bytes]:
    """The batch body of stored blobs (a missing one ends the stream early, which the
    client sees as truncation and retries through single GETs)."""
    out = bytearray()
    for algorithm, digest in blobs:
        path = state.store.blobs.object_path(digest, algorithm)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            out += frame_header(algorithm, digest, size)
            while True:
                data = f.read(chunk)
                if not data:
                    break
                out += data
                if len(out) >= chunk:
                    yield bytes(out)
                    out.clear()
    if out:
        yield bytes(out)
