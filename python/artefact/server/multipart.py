"""Multipart uploads straight to an object store, driven by the client a window at a time.

1. `lacking` (or a commit with `or_lacking`) answers a large blob with a multipart
   upload: its id, part size and the parts already finished (a killed client's).
2. `POST /api/v1/blobs/parts`: signed PUT URLs for the next parts the client is about
   to send, each bound to that part's MD5 and length (and CRC32, when the plan says
   `"checksum": "CRC32"`). Asked for as parts go, so none expires unused on a long upload.
3. `POST /api/v1/blobs/complete`: the parts' ETags (and CRC32s); the server completes the upload
   (create-only where the store supports it), checks the object's size and records
   that the project holds the blob.
"""

from __future__ import annotations

from typing import Any

from .auth import require
from .keys import ApiKey
from .protocol import _entity_project, project_pk, record_blobs
from .state import ServerState, object_hex

__all__ = ["part_urls", "complete"]

MAX_PARTS_PER_CALL = 1000


def _uploads(state: ServerState, key: ApiKey, a: dict) -> tuple[int, list[dict]]:
    entity, project = _entity_project(a)
    require(key, entity, project, "writer")
    if not state.blobs.direct:
        raise ValueError("this server keeps blobs in its own directory: PUT them to the URLs `lacking` gives")
    uploads = a.get("uploads")
    if not isinstance(uploads, list) or not uploads:
        raise ValueError("'uploads' must be a non-empty list")
    for u in uploads:
        if not isinstance(u, dict):
            raise ValueError(f"bad upload {u!r}")
        if u.get("algorithm") not in ("MD5", "XXH128") or not isinstance(u.get("digest"), str):
            raise ValueError(f"bad upload {u!r}: algorithm must be MD5 or XXH128, digest a string")
        object_hex(u["digest"])
        if not isinstance(u.get("size"), int) or u["size"] < 0 or not isinstance(u.get("upload_id"), str):
            raise ValueError(f"bad upload {u!r}: size and upload_id are required")
        if not isinstance(u.get("parts"), list) or len(u["parts"]) > MAX_PARTS_PER_CALL:
            raise ValueError(f"'parts' must be a list of at most {MAX_PARTS_PER_CALL}")
    pid = project_pk(state, entity, project, create=True)
    assert pid is not None
    return pid, uploads


def part_urls(state: ServerState, key: ApiKey, a: dict) -> dict:
    """`{"uploads": [[[n, url, headers], ...], ...]}`: URLs for each upload's asked parts."""
    pid, uploads = _uploads(state, key, a)
    out: list[Any] = []
    for u in uploads:
        out.append(state.blobs.part_urls(pid, u["algorithm"], u["digest"], u["size"], u["upload_id"], u["parts"]))
    return {"uploads": out}


def complete(state: ServerState, key: ApiKey, a: dict) -> dict:
    """Complete each upload from its parts' `[n, etag]` (or `[n, etag, crc32]`) and
    record the blobs."""
    pid, uploads = _uploads(state, key, a)
    for u in uploads:
        for p in u["parts"]:
            if not isinstance(p, list) or len(p) not in (2, 3) or not isinstance(p[0], int) \
                    or not all(isinstance(x, str) for x in p[1:]):
                raise ValueError(f"bad part {p!r}: expected [number, etag(, base64 CRC32)]")
    done = state.blobs.complete_all(  # type: ignore[attr-defined]
        pid, [(u["algorithm"], u["digest"], u["size"], u["upload_id"], u["parts"]) for u in uploads])
    record_blobs(state, pid, [(u["algorithm"], u["digest"], u["size"]) for u in uploads])
    return {"stored": len(done)}
