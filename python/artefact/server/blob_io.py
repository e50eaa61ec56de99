"""The bytes that travel through the server: all of them with local-dir blobs, only
small ones with S3 blobs (batches and small versions committed inline, written to the
bucket as packs: s3_packs.py; blob_store.py says which store).

- `PUT /blobs/<alg>/<hex>?<signed>`: one blob, streamed to a temp file while hashed;
  kept only if its size and digest are the signed ones (create-if-absent).
- `POST /api/v1/blobs/batch?entity=&project=`: many small blobs in one body (framing in
  wire.py), so 10,000 small files cost a few requests, not 10,000; the Rust core files
  a whole batch at once (`_core.store_blob_batch`); an S3 store writes it as packs.
- `GET /blobs/<alg>/<hex>?<signed>`: one blob (Range requests work).
- `POST /api/v1/blobs/fetch`: many small blobs of one version in one response.

A blob is durable (fsync, then rename, then its directory synced; or its pack stored in
the bucket) before the catalog records that its project holds it; a crash leaves at
worst a temp file (or a pack nothing names).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import AsyncIterator, Iterator

from .. import _core
from .state import ServerState, object_hex
from .wire import MAX_FRAME_HEADER, frame_header, parse_frame_header

__all__ = ["BlobWriter", "receive_batch", "split_frames", "stream_batch", "stream_files"]

class BlobWriter:
    """One incoming blob: a temp file in objects/tmp that the Rust core hashes and
    writes on a thread of its own while the request is still arriving, so each byte is
    hashed once, as it streams, and the event loop only hands chunks over."""

    def __init__(self, state: ServerState, algorithm: str, digest: str, size: int, durable: bool) -> None:
        self.state, self.algorithm, self.digest, self.size = state, algorithm, digest, size
        self.written = 0
        self.tmp = os.path.join(state.store.blobs.objects_root, "tmp", f"up-{secrets.token_hex(8)}")
        self.sink = _core.BlobSink(self.tmp, algorithm, durable)
        self.finished = False

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self.size:
            raise ValueError(f"blob {self.digest}: body is longer than its {self.size} bytes")
        self.sink.write(data)

    def finish(self) -> bool:
        """Check and place the blob (fsynced first when `durable`; the caller then syncs
        the directory); True if it is new. ValueError if it is not the signed content
        (the temp file is removed either way)."""
        try:
            self.finished = True
            got, written = self.sink.finish()
            if written != self.size:
                raise ValueError(f"blob {self.digest}: got {written} bytes, expected {self.size}")
            if got != self.digest:
                raise ValueError(f"blob content hashes to {got}, not {self.digest}: corrupted or wrong file")
            dest = self.state.store.blobs.object_path(self.digest, self.algorithm)
            if os.path.exists(dest):
                return False
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(self.tmp, dest)
            return True
        finally:
            self.abort()

    def abort(self) -> None:
        if not self.finished:
            self.finished = True
            try:
                self.sink.finish()  # stops its thread
            except OSError:
                pass
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


async def receive_batch(state: ServerState, stream: AsyncIterator[bytes], limit: int,
                        pid: int = 0) -> list[tuple[str, str, int]]:
    """Read a batch body; every blob in it is checked and placed. Returns
    `(algorithm, digest, size)` of each. A bad header, a truncated body or a blob whose
    bytes do not hash to its digest raises ValueError, and then nothing is written.

    The body is kept in memory (at most `limit` bytes); the Rust core then verifies,
    writes and fsyncs its blobs in parallel with the GIL released, and syncs each shard
    directory once, so the batch is durable before the caller records it."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise OverflowError(f"batch body is larger than the {limit} byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    del chunks
    frames = split_frames(body)
    if frames:  # for project `pid` (an object store keys blobs by project)
        await asyncio.to_thread(state.blobs.store_batch, pid, body, frames, state.config.fsync)
    return [(algorithm, digest, size) for algorithm, digest, size, _offset in frames]


def split_frames(body: bytes) -> list[tuple[str, str, int, int]]:
    """`(algorithm, digest, size, offset)` of each blob framed in a batch body."""
    out = []
    pos, n = 0, len(body)
    while pos < n:
        end = body.find(b"\n", pos, pos + MAX_FRAME_HEADER)
        if end < 0:
            raise ValueError("batch body: header line missing or too long")
        algorithm, digest, size = parse_frame_header(body[pos : end + 1])
        object_hex(digest)  # a bad digest raises here, before any byte is written
        pos = end + 1
        if pos + size > n:
            raise ValueError(f"batch body: blob {digest} truncated ({n - pos} of {size} bytes)")
        out.append((algorithm, digest, size, pos))
        pos += size
    return out


def stream_batch(state: ServerState, blobs: list[tuple[str, str]]) -> Iterator[bytes]:
    """The batch body of stored blobs of project `blobs.pid` (protocol.readable_blobs)."""
    return state.blobs.stream_batch(getattr(blobs, "pid", 0), blobs)


def stream_files(items: list[tuple[str, str, str]], chunk: int = 1 << 20) -> Iterator[bytes]:
    """The batch body of `(algorithm, digest, path)` files (a missing one ends the
    stream early, which the client sees as truncation and retries through single GETs)."""
    out = bytearray()
    for algorithm, digest, path in items:
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
