"""Where the server keeps blob bytes: its own directory, or an S3 bucket (`--blobs`).

Both answer the same questions for protocol.py, so the catalog logic never asks which:

- `upload_plan`: how each lacking blob travels (`[algorithm, digest, url]`, plus for a
  store the client reaches directly a fourth item: the headers the URL is signed with,
  or a multipart upload to fill part by part);
- `get_urls`: signed GET URLs (S3: for a blob in a pack, `[pack URL, offset, length,
  pack size]`, see s3_packs.py);
- `confirm` / `probe`: whether blobs the catalog records, or does not record yet, are
  really stored (a commit naming a blob the store lacks is refused);
- `store_batch` / `stream_batch` / `missing`: blobs that travel through the server
  itself (the batch routes and small versions committed inline; S3 writes a batch's
  small blobs as packs).

`direct` says whether clients move bytes straight to the store (S3: the server only
signs) or to the server (local directory: the server's own signed `/blobs/` URLs).
"""

from __future__ import annotations

import os
from typing import Iterator, Protocol

from .. import _core
from ..store.blobs import BlobStore
from .signer import Signer

__all__ = ["BlobBackend", "LocalBlobs", "open_blobs", "Blob"]

Blob = tuple  # (algorithm, base64 digest, size) or (algorithm, base64 digest)


class BlobBackend(Protocol):
    """What protocol.py, blob_io.py and the janitor need from a blob store."""

    kind: str
    direct: bool

    def upload_plan(self, pid: int, blobs: list[Blob]) -> list[list]: ...
    def get_urls(self, pid: int, blobs: list[Blob]) -> list: ...
    def probe(self, pid: int, blobs: list[Blob]) -> list[Blob]: ...
    def store_batch(self, pid: int, body: bytes, frames: list[tuple[str, str, int, int]], fsync: bool) -> None: ...
    def stream_batch(self, pid: int, blobs: list[Blob]) -> Iterator[bytes]: ...
    def missing(self, pid: int, blobs: list[Blob]) -> list[Blob]: ...


class LocalBlobs:
    """Blobs in the server's directory (content-addressed, shared by projects; the
    catalog's project_blobs says which project may name which)."""

    kind = "local"
    direct = False

    def __init__(self, store: BlobStore, signer: Signer) -> None:
        self.store, self.signer = store, signer

    def upload_plan(self, pid: int, blobs: list[Blob]) -> list[list]:
        """`[algorithm, digest, signed PUT URL]` per blob (to this server)."""
        return [[a, d, self.signer.url(a, _core.b64_to_hex(d), pid, s, "PUT")] for a, d, s in blobs]

    def get_urls(self, pid: int, blobs: list[Blob]) -> list[str]:
        return [self.signer.url(b[0], _core.b64_to_hex(b[1]), pid, 0, "GET") for b in blobs]

    def probe(self, pid: int, blobs: list[Blob]) -> list[Blob]:
        """None: a file on disk that another project uploaded does not count for this one
        (uploads through the server record the project themselves)."""
        return []

    def store_batch(self, pid: int, body: bytes, frames: list[tuple[str, str, int, int]], fsync: bool) -> None:
        _core.store_blob_batch(self.store.objects_root, body,
                               [(off, size, alg, digest) for alg, digest, size, off in frames], fsync)

    def stream_batch(self, pid: int, blobs: list[Blob]) -> Iterator[bytes]:
        from .blob_io import stream_files

        return stream_files([(a, d, self.store.object_path(d, a)) for a, d, *_ in blobs])

    def missing(self, pid: int, blobs: list[Blob]) -> list[Blob]:
        return [b for b in blobs if not os.path.exists(self.store.object_path(b[1], b[0]))]


def open_blobs(location: str, store: BlobStore, signer: Signer, ttl: int) -> BlobBackend:
    """The blob store `--blobs` names: `s3://bucket/prefix`, else the local directory."""
    if location.startswith("s3://"):
        from .s3_blobs import S3Blobs

        return S3Blobs.from_url(location, ttl)
    return LocalBlobs(store, signer)
