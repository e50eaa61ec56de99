"""Packs: small blobs in an S3 bucket, many to one object.

An S3 endpoint answers per request, not per byte (moto ~500 requests/s; AWS bills and
rate-limits per request), so 10,000 small files as 10,000 objects cost 10,000 PUTs and
10,000 GETs. Small blobs therefore come to the server by batch (blob_io.py), the server
checks every blob's digest, and writes the batch as one object:

- key `<prefix>p<project id>/packs/<md5 hex of the pack>`, one create-only PUT bound to
  its Content-MD5 (a replayed or concurrent write of the same batch is a no-op);
- the body is the batch's own framing (wire.py: a header line, then the bytes, per
  blob), so a pack describes itself even without the catalog;
- once the PUT has returned (durable in the bucket), `packed_blobs` records each blob's
  (pack, offset, length); the caller then records `project_blobs`. A failed PUT records
  nothing, so the blobs stay lacking and the client sends them again.

Downloads ask `locate`, which answers a packed blob with a presigned GET of its pack and
the blob's offset and length; the Rust core (transfer/packs.rs) fetches ranges, splits
and verifies them.

Knobs: `ARTEFACT_SERVER_S3_PACK_BLOB_BYTES` (blobs up to this size are packed; default
1 MiB: below it a request's fixed cost outweighs moving the bytes, above it a direct
PUT saves the hop through the server; 0 turns packing off) and
`ARTEFACT_SERVER_S3_PACK_BYTES` (a pack's size; default 16 MiB: a 10,000 x 4 KiB
version is 3-10 PUTs, a pack is always one plain PUT, and fetching a whole pack when
most of it is wanted never reads more than that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .. import _core
from ..settings import env_bytes

if TYPE_CHECKING:
    from .s3_blobs import S3Blobs

__all__ = ["PACK_BLOB_ENV", "PACK_ENV", "pack_blob_limit", "pack_bytes", "write_packs", "record_rows",
           "pack_locations", "catalog_hooks", "read_range"]

PACK_BLOB_ENV = "ARTEFACT_SERVER_S3_PACK_BLOB_BYTES"
PACK_ENV = "ARTEFACT_SERVER_S3_PACK_BYTES"
_CHUNK = 500


def pack_blob_limit() -> int:
    """Blobs up to this many bytes travel in packs (0: none do)."""
    return env_bytes(PACK_BLOB_ENV, 1 << 20, 0)


def pack_bytes() -> int:
    """The largest pack, in bytes."""
    return env_bytes(PACK_ENV, 16 << 20, 1 << 10)


def _groups(frames: list[tuple[str, str, int, int, int]], limit: int) -> list[tuple[int, int, list]]:
    """Split `(alg, digest, size, offset, header start)` frames into packs of at most
    about `limit` bytes, each a contiguous stretch of the body: `(start, end, frames)`."""
    out: list[tuple[int, int, list]] = []
    cur: list = []
    start = end = 0
    for alg, digest, size, off, head in frames:
        if cur and (head != end or off + size - start > limit):
            out.append((start, end, cur))
            cur = []
        if not cur:
            start = head
        cur.append((alg, digest, size, off))
        end = off + size
    if cur:
        out.append((start, end, cur))
    return out


def write_packs(s3: "S3Blobs", pid: int, body: bytes, frames: list[tuple[str, str, int, int]], limit: int) -> list:
    """Write the frames of a checked batch body (every digest verified by the caller) of
    at most `limit` bytes as packs, then record where each blob sits; the other frames
    are returned. Raises (recording nothing) if the bucket refuses a write."""
    starts = [0] + [off + size for _a, _d, size, off in frames[:-1]]
    small = [(a, d, size, off, head) for (a, d, size, off), head in zip(frames, starts) if size <= limit]
    rest = [f for f in frames if f[2] > limit]
    if not small:
        return rest
    view = memoryview(body)

    def put(group: tuple[int, int, list]) -> tuple[str, int, list]:
        start, end, members = group
        data = bytes(view[start:end])
        md5 = _core.hash_bytes(data, "MD5")
        key = f"{s3.prefix}p{pid}/packs/{_core.b64_to_hex(md5)}"
        s3.put_create_only(key, data, md5)
        return key, end - start, [(a, d, off - start, size) for a, d, size, off in members]

    written = list(s3._pool.map(put, _groups(small, pack_bytes())))
    rows = [(pid, a, d, key, size, off, length) for key, size, members in written for a, d, off, length in members]
    if s3.record_packed is None:
        raise RuntimeError("S3 packs need the catalog (ServerState sets S3Blobs.record_packed)")
    s3.record_packed(rows)
    return rest


def record_rows(conn: Any, rows: list[tuple]) -> None:
    """Insert `packed_blobs` rows (first location wins), and hold their blobs in their
    projects in the same transaction: the server wrote and verified them itself, so no
    commit needs to claim them (pending.py) and the janitor never deletes a pack."""
    from .protocol import insert_held

    conn.executemany(
        "INSERT OR IGNORE INTO packed_blobs (project_id, algorithm, digest, pack_key, pack_size, byte_offset,"
        " byte_length) VALUES (?,?,?,?,?,?,?)", rows)
    by_project: dict[int, list] = {}
    for pid, algorithm, digest, _key, _pack_size, _offset, length in rows:
        by_project.setdefault(pid, []).append((algorithm, digest, length))
    for pid, blobs in sorted(by_project.items()):
        insert_held(conn, pid, blobs)


def pack_locations(conn: Any, pid: int, blobs: list) -> dict[tuple[str, str], tuple[str, int, int, int]]:
    """`(algorithm, digest) -> (pack key, pack size, offset, length)` of those of `blobs`
    that sit in a pack of project `pid`."""
    found: dict[tuple[str, str], tuple[str, int, int, int]] = {}
    digests = sorted({b[1] for b in blobs})
    for i in range(0, len(digests), _CHUNK):
        chunk = digests[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            "SELECT algorithm, digest, pack_key, pack_size, byte_offset, byte_length FROM packed_blobs"
            f" WHERE project_id = ? AND digest IN ({marks})", (pid, *chunk)):
            found[(row[0], row[1])] = (row[2], int(row[3]), int(row[4]), int(row[5]))
    return found


def catalog_hooks(catalog: Callable[[], Any]) -> tuple[Callable, Callable]:
    """`(record_packed(rows), locate_packed(pid, blobs))` over the server's catalog."""
    from ..store.postgres import write_scope

    def record_packed(rows: list[tuple]) -> None:
        if rows:
            with write_scope(f"project_blobs:{rows[0][0]}"), catalog().transaction() as conn:
                record_rows(conn, rows)

    def locate_packed(pid: int, blobs: list) -> dict:
        with catalog().transaction(write=False) as conn:
            return pack_locations(conn, pid, blobs)

    return record_packed, locate_packed


def read_range(s3: "S3Blobs", location: tuple[str, int, int, int]) -> bytes:
    """One packed blob's bytes, through the server (the batch fetch route)."""
    key, _size, off, length = location
    if length == 0:
        return b""
    return s3.client.get_object(Bucket=s3.bucket, Key=key, Range=f"bytes={off}-{off + length - 1}")["Body"].read()

