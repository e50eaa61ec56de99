"""Which blobs travel, and how: the Python side of the Rust core's transfers.

Uploads: ask the server which of the manifest's blobs the project lacks (5,000 per
call); files under `ARTEFACT_BATCH_FILE_SIZE` (default 1 MiB) go many to one request,
larger ones each to its signed PUT URL, all from the Rust core with the GIL released.
Nothing the server already holds travels, so a re-run after a killed upload sends only
the rest.

Downloads: blobs already in the objects root (the cache), or already right in the
download root, are skipped; small ones come many to one response, large ones through
signed GET URLs resolved 5,000 per call. Each is hashed as it arrives and renamed into
place only if it matches. A large one fetched for a download root is written twice as
it arrives (the cache object with `O_DIRECT`, and from the same buffers a spare through the page cache),
and the download renames the spare into the root instead of copying the object after
the transfer (see `_SPARE_MIN`).

When the server keeps its blobs in an object store (`--blobs s3://...`), the bytes go
straight between this process and the store on the presigned URLs the server hands
out (whoami's `direct_blobs`): PUTs carry the headers their URL is signed with, large
blobs go as multipart uploads (direct_upload.py), and downloads of every size are
direct GETs. Small blobs go by batch to the server, which writes each batch to the
store as one pack (server/s3_packs.py); they come back as ranges of their packs
(`_core.transfer_get_packed`).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Optional

from .. import _core
from ..server.wire import dump
from ..store.blobs import entry_algorithm
from ..store.errors import CorruptBlobError, MissingBlobError
from ..store.failpoints import failpoint
from ..staging import staged_prefix

if TYPE_CHECKING:
    from ..progress import ProgressLine
    from ..store.records import VersionRecord
    from ..cache import ArtifactCache
    from .client import Client

__all__ = ["upload_missing", "upload_lacking", "inline_blobs", "INLINE_ENV", "batch_limit", "download_missing", "SMALL_ENV", "CONCURRENCY_ENV", "RETRIES_ENV"]

SMALL_ENV = "ARTEFACT_BATCH_FILE_SIZE"
CONCURRENCY_ENV = "ARTEFACT_TRANSFER_CONCURRENCY"
INLINE_ENV = "ARTEFACT_INLINE_BYTES"  # a version's blobs up to this size travel with its commit
RETRIES_ENV = "ARTEFACT_TRANSFER_RETRIES"  # backoff doubles from 0.1 s to 10 s: 8 tries span ~23 s
_RESOLVE_BATCH = 5000
# A blob at least this large, fetched on its own URL for a download root, gets a spare
# written from the same buffers as the cache object as it arrives, which the download
# renames into the root instead of copying the cache object after it is verified.
_SPARE_MIN = 4 << 20


def _small_limit() -> int:
    value = os.environ.get(SMALL_ENV, str(1 << 20))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{SMALL_ENV}={value!r}: expected a number of bytes") from None


def batch_limit() -> int:
    """Blobs up to this size go many to one request (`ARTEFACT_BATCH_FILE_SIZE`); the
    server signs no PUT URL for them."""
    return _small_limit()


def _concurrency() -> int:
    value = os.environ.get(CONCURRENCY_ENV, "16")
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{CONCURRENCY_ENV}={value!r}: expected a number") from None


def _retries() -> int:
    value = os.environ.get(RETRIES_ENV, "8")
    try:
        return max(0, int(value))
    except ValueError:
        raise ValueError(f"{RETRIES_ENV}={value!r}: expected a number") from None


def _headers(client: "Client") -> list[tuple[str, str]]:
    return list(client.auth_header.items())


def _raise_failures(results: list, names: list[str], what: str) -> None:
    failed = [(n, r) for n, r in zip(names, results) if r is not None]
    if failed:
        more = f" ({len(failed) - 1} more failed likewise)" if len(failed) > 1 else ""
        name, reason = failed[0]
        if "hashes to" in reason or "modified after" in reason:
            raise CorruptBlobError(f"{what} of {name} failed: {reason}{more}")
        raise OSError(f"{what} of {name} failed: {reason}{more}")


def upload_missing(client: "Client", entity: str, project: str, manifest: "_core.Manifest",
                   line: "ProgressLine") -> int:
    """Send the manifest's blobs the server lacks; the number sent."""
    blobs = _stored_blobs(manifest)
    items = [[alg, digest, meta[0]] for (alg, digest), meta in blobs.items()]
    lacking: list[list] = []
    for i in range(0, len(items), _RESOLVE_BATCH):
        answer = client.request("POST", "/api/v1/blobs/lacking",
                                body={"entity": entity, "project": project, "blobs": items[i : i + _RESOLVE_BATCH],
                                      "batch_limit": batch_limit()})
        lacking.extend(answer["lacking"])
    return upload_lacking(client, entity, project, manifest, lacking, line, blobs)


def _stored_blobs(manifest: "_core.Manifest") -> dict[tuple[str, str], tuple[int, Optional[str], str]]:
    """(algorithm, digest) -> (size, local file or None, path) of the manifest's stored entries."""
    blobs: dict[tuple[str, str], tuple[int, Optional[str], str]] = {}
    for path, digest, ref, _birth, size, extra, local_path, _skip in manifest.entries():
        if ref is None:
            key = (entry_algorithm(extra), digest)
            if key not in blobs or (blobs[key][1] is None and local_path):
                blobs[key] = (size or 0, local_path, path)
    return blobs


def inline_blobs(manifest: "_core.Manifest", cache: "Optional[ArtifactCache]" = None
                 ) -> Optional[tuple[bytes, set[tuple[str, str]]]]:
    """Blobs to ride along with the commit as batch frames, and their keys; None if none.

    All of the manifest's blobs when they are small enough in all
    (`ARTEFACT_INLINE_BYTES`, default 64 KiB); else, within the same limit, just its
    staged copies: content new since the last add, which the server most likely lacks
    (a re-log with a few changed files is then one call; the server checks the rest).
    As for `upload_lacking`, an entry staging spared is read from `cache`."""
    from ..server.wire import frame_header

    value = os.environ.get(INLINE_ENV, str(64 << 10))
    try:
        limit = int(value)
    except ValueError:
        raise ValueError(f"{INLINE_ENV}={value!r}: expected a number of bytes") from None
    # One pass in the core: whether every blob has a local file, their total size, and
    # the staged ones (a re-log of 10,000 files made three Python passes here).
    complete, total, staged = _core.stored_blob_summary(manifest, staged_prefix())
    if not complete:
        return None
    if total <= limit:
        blobs = _stored_blobs(manifest)
        if not blobs:
            return None
    else:
        blobs = {(alg, digest): (size, local, path) for alg, digest, size, local, path in staged}
        if not blobs or sum(meta[0] for meta in blobs.values()) > limit:
            return None
    out = bytearray()
    prefix = staged_prefix() if cache is not None else ""
    for (alg, digest), (size, local_path, _path) in blobs.items():
        if cache is not None and not local_path.startswith(prefix):  # type: ignore[union-attr]
            cached = cache.object_path(digest, alg)
            if cache.is_hit(cached, size):
                local_path = cached
        with open(local_path, "rb") as f:  # type: ignore[arg-type]
            data = f.read(size + 1)
        if len(data) != size:
            raise OSError(f"{local_path}: is {len(data)} bytes, expected {size} (was the file modified after it was added?)")
        out += frame_header(alg, digest, size)
        out += data
    return bytes(out), set(blobs)


def upload_lacking(client: "Client", entity: str, project: str, manifest: "_core.Manifest", lacking: list,
                   line: "ProgressLine", blobs: Optional[dict] = None, cache: "Optional[ArtifactCache]" = None) -> int:
    """Send the blobs the server said it lacks (`[algorithm, digest, PUT URL]` each); the
    number sent. An entry that was not staged because `cache` held its content (see
    staging.py) is sent from the cache: what was added, even if its file changed since."""
    if not lacking:
        return 0
    if blobs is None:
        blobs = _stored_blobs(manifest)
    small, large = [], []
    limit = _small_limit()
    prefix = staged_prefix() if cache is not None else ""
    for alg, digest, url, *_extra in lacking:
        size, local_path, path = blobs[(alg, digest)]
        if cache is not None and local_path and not local_path.startswith(prefix):
            cached = cache.object_path(digest, alg)
            if cache.is_hit(cached, size):
                local_path = cached
        if not local_path:
            raise MissingBlobError(
                f"artifact entry '{path}' has no local file and the server does not hold its content"
                f" (digest {digest}); was the version it came from deleted?"
            )
        (small if url == "" or (size <= limit and len(_extra) == 0) else large).append((local_path, alg, digest, size, url))
    line.total_files = len(lacking)
    line.total_bytes = sum(s[3] for s in small) + sum(g[3] for g in large)
    plans = {(item[0], item[1]): item for item in lacking}
    direct = [g for g in large if len(plans[(g[1], g[2])]) > 3]  # to the server's object store
    if direct:
        from .direct_upload import upload_direct

        upload_direct(client, entity, project, [(p, a, d, s, plans[(a, d)]) for p, a, d, s, _u in direct],
                      line, concurrency=_concurrency(), retries=_retries())
        large = [g for g in large if len(plans[(g[1], g[2])]) <= 3]
    headers = _headers(client)
    if small:
        from urllib.parse import urlencode

        url = f"{client.base_url}/api/v1/blobs/batch?{urlencode({'entity': entity, 'project': project})}"
        # A big set goes in two calls, so that a crash test can stop the process between
        # them; a handful goes in one (a round trip is most of a small version's cost).
        half = (len(small) + 1) // 2 if len(small) > 64 else len(small)
        for part in (small[:half], small[half:]):
            if part:
                results = _core.transfer_post_batch(
                    url, [(p, a, d, s) for p, a, d, s, _ in part], headers=headers, retries=_retries(), progress=line.core)
                _raise_failures(results, [s[0] for s in part], "upload")
            failpoint("during_blobs")
    if large:
        results = _core.transfer_put([(p, u, s) for p, _a, _d, s, u in large],
                                     concurrency=_concurrency(), retries=_retries(), progress=line.core)
        _raise_failures(results, [g[0] for g in large], "upload")
    return len(lacking)


def download_missing(client: "Client", record: "VersionRecord", manifest: "_core.Manifest", objects_root: str,
                     root: Optional[str], path_prefix: Optional[str], line: "ProgressLine") -> int:
    """Fetch into `objects_root` the manifest's blobs that neither it nor the download
    root holds (a file already right under `root` needs no transfer); the number
    fetched. The root is checked first, in the core, and the cache only for what the
    root lacks; the download that follows reuses the root's check (download.py)."""
    present, lacking = _core.download_plan(manifest, os.path.abspath(root) if root else None, objects_root,
                                           path_prefix)
    if root:
        from ..download import remember_present

        remember_present(manifest, root, path_prefix, present)
    todo = [(alg, digest, size, path, os.path.join(objects_root, _core.object_relpath(digest, alg)))
            for path, digest, alg, size in lacking]
    if not todo:
        return 0
    line.total_files = len(todo)
    line.total_bytes = sum(t[2] for t in todo)
    limit = -1 if direct_blobs(client) else _small_limit()  # an object store: every blob direct
    small = [t for t in todo if t[2] <= limit]
    large = [t for t in todo if t[2] > limit]
    headers = _headers(client)
    spares: dict[str, str] = {}  # object path -> its verified second copy (see _SPARE_MIN)
    record_json = json.dumps(dump(record), separators=(",", ":"))
    if small:
        results = _core.transfer_fetch_batch(
            f"{client.base_url}/api/v1/blobs/fetch", record_json,
            [(dest, alg, digest, size) for alg, digest, size, _p, dest in small],
            headers=headers, retries=_retries(), progress=line.core)
        _raise_failures(results, [t[3] for t in small], "download")
    try:
        for i in range(0, len(large), _RESOLVE_BATCH):
            _fetch_large(client, record, large[i : i + _RESOLVE_BATCH], objects_root, root, spares, line)
    except BaseException:
        from ..download import discard_spares

        discard_spares(spares.values())
        raise
    failpoint("after_download_fetch")  # verified in the cache, nothing placed in the root yet
    if root and spares:
        from ..download import remember_spares

        remember_spares(manifest, root, path_prefix, spares)
    return len(todo)


def _fetch_large(client: "Client", record: "VersionRecord", chunk: list, objects_root: str, root: Optional[str],
                 spares: dict[str, str], line: "ProgressLine") -> None:
    """Fetch `chunk` (up to 5,000 blobs fetched on their own URLs or out of packs) into
    `objects_root`; the spares written for `root` are added to `spares`."""
    answer = client.request("POST", "/api/v1/blobs/locate",
                            body={"record": dump(record), "blobs": [[t[0], t[1]] for t in chunk]})
    where = {(u[0], u[1]): u[2:] for u in answer["urls"]}
    # a blob packed in the server's S3 store: [pack URL, offset, length, pack size]
    packed = [t for t in chunk if len(where[(t[0], t[1])]) == 4]
    loose = [t for t in chunk if len(where[(t[0], t[1])]) == 1]
    if packed:
        results = _core.transfer_get_packed(
            [(*where[(t[0], t[1])], t[4], t[1], t[0]) for t in packed],
            concurrency=_concurrency(), retries=_retries(), progress=line.core)
        _raise_failures(results, [t[3] for t in packed], "download")
    wanted = _spares_for(loose, objects_root) if root else [None] * len(loose)
    try:
        results = _core.transfer_get([(where[(t[0], t[1])][0], t[4], t[1], t[0]) for t in loose],
                                     concurrency=_concurrency(), retries=_retries(), progress=line.core,
                                     spares=wanted)
    except BaseException:
        from ..download import discard_spares

        discard_spares(wanted)
        raise
    for t, w, r in zip(loose, wanted, results):
        if w is not None and r is None:
            spares[_core.object_relpath(t[1], t[0])] = w
    _raise_failures(results, [t[3] for t in loose], "download")


def _spares_for(loose: list, objects_root: str) -> list[Optional[str]]:
    """A fresh name in the objects root's `tmp/` for each blob worth a spare (see
    `_SPARE_MIN`; several entries of one content share one), else None."""
    out: list[Optional[str]] = []
    seen: set[str] = set()
    for t in loose:
        if t[2] >= _SPARE_MIN and t[4] not in seen:
            seen.add(t[4])
            tmp = os.path.join(objects_root, "tmp")
            os.makedirs(tmp, exist_ok=True)
            # os.urandom, not uuid: importing uuid (and platform) cost every log 1.7 ms
            out.append(os.path.join(tmp, f"spare-{os.urandom(16).hex()}"))
        else:
            out.append(None)
    return out


_DIRECT: dict[str, bool] = {}


def direct_blobs(client: "Client") -> bool:
    """Whether the server's blobs live in an object store clients reach directly
    (asked once per server and process)."""
    found = _DIRECT.get(client.base_url)
    if found is None:
        found = _DIRECT[client.base_url] = bool(client.request("GET", "/api/v1/whoami").get("direct_blobs"))
    return found
