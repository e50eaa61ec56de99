"""Uploads straight to the server's object store (`artefact server --blobs s3://...`).

The server answered each lacking blob with either a presigned PUT URL and the headers
it is signed with (`Content-MD5`, `Content-Length`, `If-None-Match: *`), or a multipart
upload: id, part size, and the parts a killed run already finished. The Rust core PUTs
whole blobs and parts in parallel with the GIL released. Parts go a window at a time:
while one window uploads, the next one's part MD5s are computed (in the core, GIL
released) and its URLs, each bound to its part's MD5, are asked for; so the file is not
read twice before the first byte leaves and no URL expires unused. The server completes
each upload from the parts' ETags.

When the plan says `"checksum": "CRC32"` (the server created the upload with CRC32 part
checksums, as the AWS SDKs do), each part goes with its CRC32 too: hashed in the same
read as its MD5, bound into its URL, and named again in the completion.

A file staged by the mutable policy for such a server had its part MD5s and CRC32s hashed
in the add's copy pass already (rust/core/src/stage_parts.rs, the part size from the server's
`whoami`): then the log reads the file only to send it, and its windows are only signed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from .. import _core, config
from ..store.errors import CorruptBlobError
from ..store.failpoints import failpoint

if TYPE_CHECKING:
    from ..progress import ProgressLine
    from .client import Client

__all__ = ["upload_direct", "staging_part_size", "takes_raw_manifest"]

_PART_SIZE: dict[str, int] = {}
_RAW_MANIFEST: dict[str, bool] = {}  # whether the server's commit/inline takes the manifest raw


def staging_part_size() -> int:
    """The part size of the configured server's multipart uploads if its blobs live in
    an object store (its `whoami`), else 0. Asked once per server and process, with one
    short try: an add never waits on a server that does not answer (0 then)."""
    base = config.base_url()
    if not base:
        return 0
    found = _PART_SIZE.get(base)
    if found is None:
        from .client import shared_client

        answer: dict = {}
        try:
            status, payload = shared_client(base, config.api_key())._send("GET", "/api/v1/whoami", None, 5.0)
            if status < 400:
                answer = json.loads(payload)
        except (OSError, ValueError):
            pass
        part = answer.get("part_bytes") if isinstance(answer, dict) else None
        found = _PART_SIZE[base] = int(part) if answer.get("direct_blobs") and isinstance(part, int) else 0
        _RAW_MANIFEST[base] = answer.get("manifest_bytes") is True
    return found


def takes_raw_manifest(base: str) -> bool:
    """Whether the server at `base` said (in the `whoami` that `staging_part_size` asked
    this process) that its commit/inline takes the manifest raw; False if not asked."""
    return _RAW_MANIFEST.get(base, False)


def _check(results: list, names: list[str]) -> list[str]:
    """The ETags; raises for the first failure (CorruptBlobError if the store refused
    the content, e.g. a file changed since it was added)."""
    failed = [(n, err) for n, (_etag, err) in zip(names, results) if err is not None]
    if failed:
        name, reason = failed[0]
        more = f" ({len(failed) - 1} more failed likewise)" if len(failed) > 1 else ""
        if "BadDigest" in reason or "InvalidDigest" in reason or "modified after" in reason:
            raise CorruptBlobError(f"upload of {name} failed: {reason}{more}")
        raise OSError(f"upload of {name} failed: {reason}{more}")
    return [etag for etag, _err in results]


def upload_direct(client: "Client", entity: str, project: str, items: list[tuple], line: "ProgressLine",
                  concurrency: int, retries: int) -> int:
    """Upload `(local path, algorithm, digest, size, lacking item)` each as its item says;
    the number of blobs sent."""
    singles, multis = [], []
    for path, alg, digest, size, plan in items:
        extra = plan[3] if len(plan) > 3 else {}
        if "multipart" in extra:
            multis.append((path, alg, digest, size, extra["multipart"]))
        else:
            singles.append((path, 0, size, size, plan[2], list(extra.get("headers", {}).items())))
    if singles:
        # A big set goes in two calls, so that a crash test can stop the process between them.
        half = (len(singles) + 1) // 2 if len(singles) > 64 else len(singles)
        for part in (singles[:half], singles[half:]):
            if part:
                results = _core.transfer_put_ranges(part, concurrency=concurrency, retries=retries,
                                                    progress=line.core)
                _check(results, [p[0] for p in part])
            failpoint("during_blobs")
    if multis:
        _multipart(client, entity, project, multis, line, concurrency, retries)
    return len(items)


def _multipart(client: "Client", entity: str, project: str, jobs: list[tuple], line: "ProgressLine",
               concurrency: int, retries: int) -> None:
    state: list[dict[str, Any]] = []
    queue: list[tuple[int, int]] = []  # (job index, part number) still to send
    for j, (path, alg, digest, size, plan) in enumerate(jobs):
        part = int(plan["part_size"])
        count = max(1, -(-size // part))
        done = {int(n): str(e) for n, e in plan.get("done", [])}
        crc = plan.get("checksum") == "CRC32"
        # hashed when the file was staged (None: hashed here, a window at a time)
        staged = _core.staged_part_sums(alg, digest, size, part)
        if staged is not None and (len(staged[0]) != count or (crc and len(staged[1]) != count)):
            staged = None
        state.append(dict(path=path, alg=alg, digest=digest, size=size, part=part, upload_id=plan["upload_id"],
                          done=done, crc=crc, crcs={}, md5s=staged[0] if staged else None,
                          staged_crcs=staged[1] if staged and crc else None))
        queue += [(j, n) for n in range(1, count + 1) if n not in done]
    # The first window is small, so that uploading starts soon; the next ones are hashed
    # and signed while the one before uploads.
    first, window = max(8, concurrency), max(8, 2 * concurrency)
    chunks = [queue[:first]] + [queue[i : i + window] for i in range(first, len(queue), window)]
    hash_threads = max(1, min(concurrency, os.cpu_count() or 1))

    def prepare(chunk: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, list]]:
        """The part MD5s of this window (GIL released) and its URLs, bound to them."""
        by_job: dict[int, list[int]] = {}
        for j, n in chunk:
            by_job.setdefault(j, []).append(n)
        order = list(by_job)
        sums = {j: _sums(state[j], by_job[j], hash_threads) for j in order}
        answer = client.request("POST", "/api/v1/blobs/parts", body={
            "entity": entity, "project": project,
            "uploads": [{"algorithm": state[j]["alg"], "digest": state[j]["digest"], "size": state[j]["size"],
                         "upload_id": state[j]["upload_id"],
                         "parts": [[n, m, *c] for n, m, c in zip(by_job[j], *sums[j])]} for j in order]})
        out = {}
        for j, signed in zip(order, answer["uploads"]):
            for n, url, headers in signed:
                out[(j, int(n))] = (url, list(headers.items()))
        return out

    from concurrent.futures import ThreadPoolExecutor  # lazily: only S3 uploads need it

    with ThreadPoolExecutor(1) as ahead:
        pending = ahead.submit(prepare, chunks[0]) if queue else None
        for i, chunk in enumerate(chunks if queue else []):
            assert pending is not None
            signed = pending.result()
            pending = ahead.submit(prepare, chunks[i + 1]) if i + 1 < len(chunks) else None
            ranges = []
            for j, n in chunk:
                s = state[j]
                start = (n - 1) * s["part"]
                url, headers = signed[(j, n)]
                ranges.append((s["path"], start, min(s["part"], s["size"] - start), s["size"], url, headers))
            results = _core.transfer_put_ranges(ranges, concurrency=concurrency, retries=retries,
                                                progress=line.core)
            for (j, n), etag in zip(chunk, _check(results, [r[0] for r in ranges])):
                state[j]["done"][n] = etag
            failpoint("during_multipart")
    for s in state:  # parts a killed run sent need their CRC32s for the completion too
        if s["crc"] and (lacking := sorted(set(s["done"]) - set(s["crcs"]))):
            _sums(s, lacking, hash_threads)
    client.request("POST", "/api/v1/blobs/complete", body={
        "entity": entity, "project": project,
        "uploads": [{"algorithm": s["alg"], "digest": s["digest"], "size": s["size"], "upload_id": s["upload_id"],
                     "parts": sorted([n, e, s["crcs"][n]] if s["crc"] else [n, e] for n, e in s["done"].items())}
                    for s in state]})
    line.advance(len(jobs), 0)


def _sums(s: dict, parts: list[int], threads: int) -> tuple[list[str], list[list[str]]]:
    """The MD5s of these parts of one upload, and per part `[CRC32]` (or `[]` if its
    upload has no part checksums): from the staging pass, else hashed now (GIL
    released). The CRC32s are kept for the completion."""
    if s["md5s"] is not None and (not s["crc"] or s["staged_crcs"] is not None):
        md5s = [s["md5s"][n - 1] for n in parts]
        crcs = [s["staged_crcs"][n - 1] for n in parts] if s["crc"] else []
    else:
        md5s, crcs = _core.file_part_sums(s["path"], s["part"], parts, threads=threads, crc32=s["crc"])
    s["crcs"].update(zip(parts, crcs))
    return md5s, [[c] for c in crcs] if s["crc"] else [[] for _ in parts]
