"""The reference entries of a download: every one fetched and checked before anything is placed.

`prepare_references` runs before the stored files are placed. Each reference is brought
into the artifact cache under wandb's layout (`obj/etag/<sha256(sha256(url)+sha256(etag))>`
for s3/gs/azure/http, `obj/md5/...` for checksummed `file://`), or with `skip_cache` into
a staging dir beside the root. A missing object (FileNotFoundError, as wandb raises it)
is skipped with a warning under `allow_missing_references`; any other failure raises
here, while the root is still untouched. `Prepared.place` then copies (or, staged,
renames) each reference into the root.

Schemes as in wandb 0.31.0's handlers: s3 (`s3_fetch`, batched through `transfer`),
gs (`gcs_fetch`), Azure (`azure_fetch`), http(s), file, wandb-artifact (the other
artifact's entry is downloaded to its own root first, then copied, as wandb does).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import shutil
import tempfile
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Optional

from .. import _core
from ..term import termwarn
from . import handler_for, transfer

if TYPE_CHECKING:
    from ..cache import ArtifactCache
    from ..download import Entry
    from ..progress import ProgressLine

__all__ = ["prepare_references", "Prepared"]


class Prepared:
    """References fetched and checked, waiting to be placed into the root."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.copies: list[tuple[str, str]] = []  # (cache or source file, dest)
        self.moves: list[tuple[str, str]] = []  # (staged file, dest): skip_cache
        self.fetched_bytes = 0
        self._staging: Optional[str] = None
        self._staged = 0

    def staging_path(self, dest: str) -> str:
        """A fresh path in the staging dir (made on first use, beside the root)."""
        if self._staging is None:
            parent = os.path.dirname(self.base.rstrip(os.sep)) or "."
            os.makedirs(parent, exist_ok=True)
            self._staging = tempfile.mkdtemp(prefix=".artefact-refs-", dir=parent)
        self._staged += 1
        return os.path.join(self._staging, str(self._staged))

    def place(self, line: "ProgressLine") -> None:
        """Copy cached references into place (atomically), move staged ones."""
        try:
            if self.copies:
                _core.materialize(self.copies, "copy", line.core)
            for staged, dest in self.moves:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                try:
                    os.replace(staged, dest)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    _core.materialize([(staged, dest)], "copy", line.core)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove whatever was staged (after placing, or when the download failed)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


class _Work:
    """What the schemes are asked to do, and the dests their results go to."""

    def __init__(self) -> None:
        self.s3: list[tuple["Entry", str, Optional[str]]] = []  # (entry, target, temp dir): one batch
        self.tasks: list[tuple[Optional[str], Callable[[], object]]] = []  # (target, step): see _run_tasks
        self.after: list[tuple[str, str]] = []  # (source, dest), known once fetched
        self.sizes: dict[str, int] = {}  # cache/staging target -> the entry's (verified) size
        self.filling: set[str] = set()  # targets already asked for


def prepare_references(
    entries: list["Entry"],
    base: str,
    cache: "ArtifactCache",
    *,
    skip_cache: bool,
    allow_missing: bool,
    line: "ProgressLine",
) -> Prepared:
    """Fetch and check every reference entry; raises before anything is placed."""
    prepared = Prepared(base)
    try:
        _prepare(prepared, entries, base, cache, skip_cache, allow_missing, line)
    except BaseException:
        prepared.discard()
        raise
    return prepared


def _prepare(
    prepared: Prepared, entries: list["Entry"], base: str, cache: "ArtifactCache",
    skip_cache: bool, allow_missing: bool, line: "ProgressLine",
) -> None:
    dests = [_core.join_inside(base, e.path) for e in entries]  # raises for ../ escapes
    present = _present(entries, dests)
    work = _Work()
    for entry, dest in zip(entries, dests):
        if dest in present or _blocked(entry, dest, base):
            continue
        _plan(work, prepared, entry, dest, cache, skip_cache)
    missing: list[tuple[BaseException, Optional[str]]] = []  # (error, cache/staging target)
    from .gcs_fetch import GCSFolderError

    _run_s3(work, missing, line)
    _run_tasks(work, missing, line)
    for exc, _target in missing:
        if isinstance(exc, GCSFolderError):
            continue  # wandb logs a folder entry at debug level only
        if not allow_missing:
            raise exc
        termwarn(str(exc))
    missed = {target for _, target in missing}
    for source, dest in work.after:
        if source in missed:
            continue
        if prepared._staging is not None and source.startswith(prepared._staging + os.sep):
            prepared.moves.append((source, dest))
        else:
            prepared.copies.append((source, dest))
            # for the cache cap: at most what was fetched. The size the manifest records was
            # checked by the fetch or the cache hit; a stat of each of 10,000 files here was
            # ~9% of a loaded machine's download
            size = work.sizes.get(source)
            if size is None:
                with contextlib.suppress(OSError):
                    size = os.path.getsize(source)
            prepared.fetched_bytes += size or 0


def _present(entries: list["Entry"], dests: list[str]) -> set[str]:
    """Dests that already hold the entry's content: its MD5 is the digest (base64, or
    hex as in a single-part S3 ETag)."""
    existing = [d for d in dests if os.path.isfile(d)]
    if not existing:
        return set()
    found = dict(zip(existing, (d for d, _ in _core.hash_files(existing, "MD5"))))
    out = set()
    for entry, dest in zip(entries, dests):
        b64 = found.get(dest)
        if b64 is not None and entry.digest in (b64, base64.b64decode(b64).hex()):
            out.add(dest)
    return out


def _blocked(entry: "Entry", dest: str, root: str) -> bool:
    """wandb warns and skips an entry whose destination is a directory, or lies under a
    path that is a file (IsADirectoryError / NotADirectoryError in its download)."""
    if os.path.isdir(dest):
        termwarn(
            f"Unable to download file {entry.path!r} as there is a directory with the same path, skipping."
        )
        return True
    parent = os.path.dirname(dest)
    while len(parent) > len(root):
        if os.path.exists(parent) and not os.path.isdir(parent):
            termwarn(
                f"Unable to download file {entry.path!r} as there is a file with the same path as a"
                " directory this file is expected to be in, skipping."
            )
            return True
        parent = os.path.dirname(parent)
    return False


def _plan(
    work: _Work, prepared: Prepared, entry: "Entry", dest: str, cache: "ArtifactCache", skip_cache: bool
) -> None:
    from .azure import AzureHandler
    from .file import LocalFileHandler
    from .gcs import GCSHandler
    from .http import HTTPHandler
    from .s3 import S3Handler
    from .wandb_artifact import WBArtifactHandler

    assert entry.ref is not None
    handler = handler_for(entry.ref)
    if isinstance(handler, LocalFileHandler):
        work.tasks.append((None, lambda: _after_file(work, entry, dest, cache, skip_cache)))
        return
    if isinstance(handler, WBArtifactHandler):
        work.tasks.append((None, lambda: work.after.append((handler.load_path(_full(entry), local=True), dest))))
        return
    if not isinstance(handler, (S3Handler, GCSHandler, AzureHandler, HTTPHandler)):
        handler.load_path(_full(entry), local=True)  # raises wandb's error for this scheme
        raise ValueError(f"cannot download reference {entry.ref!r} of artifact entry '{entry.path}'")
    target = prepared.staging_path(dest) if skip_cache else cache.etag_path(entry.ref, entry.digest)
    if not skip_cache:
        cache.ensure_writable()
    work.after.append((target, dest))
    if entry.size is not None:
        work.sizes[target] = entry.size
    if (not skip_cache and cache.is_hit(target, entry.size)) or target in work.filling:
        return
    work.filling.add(target)
    temp_dir = None if skip_cache else cache.tmp_dir
    if isinstance(handler, S3Handler):
        work.s3.append((entry, target, temp_dir))
    elif isinstance(handler, GCSHandler):
        from .gcs_fetch import fetch_gcs, gcs_get

        work.tasks.append((target, lambda: (gcs_get(handler, entry, target, temp_dir),
                                            lambda: fetch_gcs(handler, entry, target, temp_dir))))  # fmt: skip
    elif isinstance(handler, AzureHandler):
        from .azure_fetch import azure_get, fetch_azure

        work.tasks.append((target, lambda: (azure_get(entry, target, temp_dir),
                                            lambda: fetch_azure(entry, target, temp_dir))))  # fmt: skip
    else:
        work.tasks.append((target, lambda: _fetch_http(entry, target, temp_dir)))


def _full(entry: "Entry"):  # type: ignore[no-untyped-def]
    """The public manifest entry for a core entry tuple (what handlers take)."""
    import json

    from ..manifest import ArtifactManifestEntry

    return ArtifactManifestEntry._new(
        entry.path, entry.digest, ref=entry.ref, size=entry.size,
        extra=json.loads(entry.extra) if entry.extra else {},
    )


def _run_s3(work: _Work, missing: list, line: "ProgressLine") -> None:
    if not work.s3:
        return
    from .s3 import S3Handler
    from .s3_fetch import S3Fetcher

    handler = next(h for h in _handlers() if isinstance(h, S3Handler))
    fetcher = S3Fetcher(handler)
    gets = [fetcher.get_for(entry, target)._replace(temp_dir=temp_dir) for entry, target, temp_dir in work.s3]
    results = transfer.fetch_all(gets, line, s3=fetcher.auth)
    retry: list[tuple[int, transfer.Get]] = []  # settled by wandb's steps: fetched again
    for i, ((entry, target, temp_dir), fetched) in enumerate(zip(work.s3, results)):
        if fetched.status == 200:
            continue
        try:
            retry.append((i, fetcher.settle(entry, target, fetched)._replace(temp_dir=temp_dir)))
        except FileNotFoundError as exc:
            missing.append((exc, target))
    if retry:
        again = transfer.fetch_all([g for _, g in retry], line, s3=fetcher.auth)
        for (_, get), fetched in zip(retry, again):
            if fetched.status != 200:
                fetcher.download_with_sdk(get, fetched)
                line.advance(1, get.size or 0)


def _run_tasks(work: _Work, missing: list, line: "ProgressLine") -> None:
    """Per-entry steps in parallel (bounded); missing objects are collected. A step may
    return `(Get, fallback)`: its bytes are then moved by the core's engine, all at once
    below, and `fallback` (the SDK's own download, for wandb's exact error) runs for a
    GET that did not succeed."""
    from .gcs_fetch import GCSFolderError

    if not work.tasks:
        return

    def run(item: tuple[Optional[str], Callable[[], object]]):  # type: ignore[no-untyped-def]
        try:
            planned = item[1]()
        except (FileNotFoundError, GCSFolderError) as exc:
            return exc, None
        if planned is None:
            line.advance(1)
        return None, planned

    with ThreadPoolExecutor(min(transfer.workers(), len(work.tasks)), thread_name_prefix="artefact-ref") as pool:
        outcomes = list(pool.map(run, work.tasks))
    engine: list[tuple[transfer.Get, Callable[[], None]]] = []
    for (target, _), (exc, planned) in zip(work.tasks, outcomes):
        if exc is not None:
            missing.append((exc, target))
        elif planned is not None:
            engine.append(planned)  # type: ignore[arg-type]
    if not engine:
        return
    for (get, fallback), fetched in zip(engine, transfer.fetch_all([g for g, _ in engine], line)):
        if fetched.status == 200:
            continue
        try:
            fallback()
        except (FileNotFoundError, GCSFolderError) as exc:
            missing.append((exc, get.target))
        else:
            line.advance(1)


def _handlers():  # type: ignore[no-untyped-def]
    from . import handlers

    return handlers()


# --- file:// and http(s):// ---------------------------------------------------------------
def _after_file(work: _Work, entry: "Entry", dest: str, cache: "ArtifactCache", skip_cache: bool) -> None:
    """The local file to copy for a `file://` entry, verified when it was added with
    checksum=True (the digest is then of the content, not of the path)."""
    import urllib.request  # 20 ms to import: only when a file:// reference is placed
    from pathlib import Path

    from ..download import MissingReferenceError

    assert entry.ref is not None
    local = urllib.request.url2pathname(urllib.parse.urlparse(entry.ref).path)
    if not os.path.isfile(local):
        message = f"Local file reference: Failed to find file at path {local!r}"
        raise MissingReferenceError(errno.ENOENT, message, local)
    uri_digest = _core.hash_bytes(Path(local).resolve().as_uri().encode())
    if entry.digest == uri_digest:
        work.after.append((local, dest))  # checksum=False: copy as it is now
        return
    cached = cache.object_path(entry.digest, "MD5")
    if not skip_cache and cache.is_hit(cached, entry.size):
        work.after.append((cached, dest))
        return
    found, _ = _core.hash_file(local, "MD5")
    if found != entry.digest:
        raise ValueError(
            f"Local file reference: Digest mismatch for path {local!r}: expected"
            f" {entry.digest!r} but found {found!r}"
        )
    work.after.append((local if skip_cache else cache.put(local, entry.digest, "MD5"), dest))


def _fetch_http(entry: "Entry", target: str, temp_dir: Optional[str]) -> None:
    """GET a URL into `target`; when an ETag was recorded at add time, the response's
    must match it."""
    import json

    import requests

    assert entry.ref is not None
    with requests.get(entry.ref, stream=True, timeout=(30, 300)) as rsp:
        rsp.raise_for_status()
        extra = json.loads(entry.extra) if entry.extra else {}
        if "etag" in extra:  # recorded at add time (checksum=True)
            etag = rsp.headers.get("etag")
            found = etag.strip('"') if etag else rsp.url
            if found != entry.digest:
                raise ValueError(
                    f"Digest mismatch for url {entry.ref!r}: expected {entry.digest!r} but found {found!r}"
                )

        def write(f) -> None:  # type: ignore[no-untyped-def]
            for chunk in rsp.iter_content(chunk_size=1 << 20):
                f.write(chunk)

        transfer.write_atomically(target, temp_dir, write)
