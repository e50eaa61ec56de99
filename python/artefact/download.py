"""Placing a manifest's entries into a directory: download, checkout and verify.

`download_entries` works in phases so that a bad manifest or bad content never leaves
a half-written root:

1. every destination is computed with `_core.join_inside` first: one entry escaping the
   root (`../../x`) raises before anything is written;
2. unchanged files are skipped (checksum sidecar, else re-hash of what is there);
3. every source is made ready: cache hits as they are; misses copied into the cache
   from the store, verified while copying (a corrupt store object raises, naming it,
   and nothing is placed); references fetched (`file://`, `http(s)://`);
4. one `_core.materialize` call copies (or hardlinks) everything into place;
5. sidecars are written and the cache cap enforced.
"""

from __future__ import annotations

import errno
import os
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Protocol

from . import _core
from .cache import ArtifactCache
from .progress import ProgressLine
from .store.blobs import entry_algorithm
from .store.errors import CorruptBlobError, MissingBlobError
from .term import termwarn

__all__ = [
    "download_entries",
    "verify_root",
    "checkout_root",
    "link_mode_from_env",
    "BlobSource",
    "MissingReferenceError",
    "LINK_ENV",
    "Entry",
]

LINK_ENV = "ARTEFACT_CACHE_LINK"
LINK_MODES = ("copy", "hardlink")
_FETCH_WORKERS = 32  # as wandb's download pool
_HTTP_TIMEOUT = (30, 300)  # connect, read (seconds)


class BlobSource(Protocol):
    """Where stored content is read from (LocalStore; later a server client)."""

    def blob_path(self, digest: str, algorithm: str = "MD5") -> str: ...


class MissingReferenceError(FileNotFoundError, ValueError):
    """A referenced file is gone; skipped with a warning under `allow_missing_references`."""


class Entry(NamedTuple):
    path: str
    digest: str
    ref: Optional[str]
    birth_artifact_id: Optional[str]
    size: Optional[int]
    extra: str
    local_path: Optional[str]
    skip_cache: bool


def link_mode_from_env() -> str:
    """`ARTEFACT_CACHE_LINK` ("copy" or "hardlink"), default "copy"."""
    mode = os.environ.get(LINK_ENV, "").strip().lower() or "copy"
    if mode not in LINK_MODES:
        raise ValueError(f"{LINK_ENV}={mode!r}: expected one of {', '.join(LINK_MODES)}")
    return mode


class _Plan:
    """What phase 3 prepares for phase 4."""

    def __init__(self) -> None:
        self.place: list[tuple[str, str]] = []  # (source, dest) in the chosen mode
        self.copy: list[tuple[str, str]] = []  # (source, dest) always copied
        self.tasks: list[Callable[[], None]] = []  # fetches, run in parallel
        self.done: list[tuple[str, str]] = []  # (dest, digest) for sidecars
        self.filling: set[str] = set()  # cache objects already being filled


def download_entries(
    manifest: "_core.Manifest",
    root: str,
    store: Optional[BlobSource],
    cache: Optional[ArtifactCache] = None,
    *,
    path_prefix: Optional[str] = None,
    skip_cache: bool = False,
    allow_missing_references: bool = False,
    link_mode: Optional[str] = None,
    progress: bool = True,
) -> str:
    """Place every entry of `manifest` (those whose path starts with `path_prefix`, a
    raw string prefix as in wandb) under `root`; returns `root`.

    `skip_cache` copies stored content straight to `root` (verified first) without
    filling the cache. `link_mode` "hardlink" links cache objects into `root` instead of
    copying them (default from `ARTEFACT_CACHE_LINK`); edits to such files would alter
    the cached copy, so a warning says so. References are never linked.
    """
    cache = cache or ArtifactCache()
    mode = link_mode or link_mode_from_env()
    if mode not in LINK_MODES:
        raise ValueError(f"link_mode={mode!r}: expected one of {', '.join(LINK_MODES)}")
    if skip_cache:
        mode = "copy"  # never link a store object into a user's directory

    entries = [Entry(*t) for t in manifest.entries()]
    if path_prefix is not None:
        entries = [e for e in entries if e.path.startswith(path_prefix)]
    # Phase 1: all destinations, before any write.
    base = os.path.abspath(root)
    dests = [_core.join_inside(base, e.path) for e in entries]

    total = sum(e.size or 0 for e in entries)
    show = progress and (len(entries) > 5000 or total > 50 * 10**6)  # wandb's thresholds
    with ProgressLine("Downloading artifact files", len(entries), total,
                      enabled=None if show else False) as line:
        todo = _skip_unchanged(entries, dests, cache, line)
        plan = _Plan()
        for entry, dest in todo:
            if _blocked(dest, base):
                continue
            if entry.ref is None:
                _plan_file(plan, entry, dest, store, cache, skip_cache)
            else:
                _plan_reference(plan, entry, dest, cache, skip_cache, allow_missing_references)
        _run_all(plan.tasks, line)
        placed = _core.materialize(plan.place, mode, line.core) if plan.place else 0
        if plan.copy:
            _core.materialize(plan.copy, "copy", line.core)
    cache.write_checksums(plan.done)
    if mode == "hardlink" and placed:
        termwarn(
            f"Linked {placed} file{'s' if placed > 1 else ''} from the artifact cache into"
            f" {root} (hardlinks). Editing them in place also changes the cached copy that"
            f" later downloads reuse; set {LINK_ENV}=copy to get independent copies."
        )
    cache.enforce_cap()
    return root


def _skip_unchanged(
    entries: list[Entry], dests: list[str], cache: ArtifactCache, line: ProgressLine
) -> list[tuple[Entry, str]]:
    """Entries whose destination does not already hold their content (wandb's fast path:
    the sidecar, else hashing the existing file and recording the result)."""
    todo: list[tuple[Entry, str]] = []
    by_algorithm: dict[str, list[tuple[Entry, str]]] = {}
    for entry, dest in zip(entries, dests):
        if cache.read_checksum(dest) == entry.digest:
            line.advance(1, entry.size or 0)
        elif os.path.isfile(dest):
            alg = entry_algorithm(entry.extra) if entry.ref is None else "MD5"
            by_algorithm.setdefault(alg, []).append((entry, dest))
        else:
            todo.append((entry, dest))
    for alg, group in by_algorithm.items():
        found = _core.hash_files([d for _, d in group], alg, line.core)
        for (entry, dest), (digest, _size) in zip(group, found):
            cache.write_checksum(dest, digest)
            if digest != entry.digest:
                todo.append((entry, dest))
    return todo


def _blocked(dest: str, root: str) -> bool:
    """wandb warns and skips an entry whose destination is a directory, or lies under
    a path that is a file (IsADirectoryError / NotADirectoryError)."""
    if os.path.isdir(dest):
        termwarn(f"skipping {dest}: a directory is in the way")
        return True
    parent = os.path.dirname(dest)
    while len(parent) > len(root):
        if os.path.exists(parent) and not os.path.isdir(parent):
            termwarn(f"skipping {dest}: {parent} is a file, not a directory")
            return True
        parent = os.path.dirname(parent)
    return False


def _plan_file(
    plan: _Plan, entry: Entry, dest: str, store: Optional[BlobSource], cache: ArtifactCache,
    skip_cache: bool,
) -> None:
    alg = entry_algorithm(entry.extra)
    if store is None:
        raise MissingBlobError(f"no store to read artifact entry '{entry.path}' from")
    blob = store.blob_path(entry.digest, alg)
    plan.done.append((dest, entry.digest))
    if skip_cache:
        plan.tasks.append(lambda: _verify_blob(blob, entry, alg))
        plan.place.append((blob, dest))
        return
    cached = cache.object_path(entry.digest, alg)
    plan.place.append((cached, dest))
    if cached in plan.filling or cache.is_hit(cached, entry.size):
        return
    plan.filling.add(cached)
    plan.tasks.append(lambda: _fill_from_store(cache, blob, entry, alg))


def _fill_from_store(cache: ArtifactCache, blob: str, entry: Entry, alg: str) -> None:
    try:
        cache.put(blob, entry.digest, alg)
    except FileNotFoundError:
        raise MissingBlobError(
            f"store object {blob} for artifact entry '{entry.path}' is missing"
        ) from None
    except ValueError as exc:
        raise CorruptBlobError(
            f"store object {blob} for artifact entry '{entry.path}' is corrupt ({exc});"
            " nothing was placed"
        ) from None


def _verify_blob(blob: str, entry: Entry, alg: str) -> None:
    reason = _core.verify_files([(blob, entry.digest, alg)])[0]
    if reason == "missing":
        raise MissingBlobError(f"store object {blob} for artifact entry '{entry.path}' is missing")
    if reason is not None:
        raise CorruptBlobError(
            f"store object {blob} for artifact entry '{entry.path}' is corrupt ({reason});"
            " nothing was placed"
        )


# --- references ------------------------------------------------------------------------
def _plan_reference(
    plan: _Plan, entry: Entry, dest: str, cache: ArtifactCache, skip_cache: bool,
    allow_missing: bool,
) -> None:
    assert entry.ref is not None
    scheme = urllib.parse.urlparse(entry.ref).scheme
    if scheme == "file":
        source = _file_reference(entry, cache, skip_cache, allow_missing)
        if source is not None:
            plan.copy.append((source, dest))
            plan.done.append((dest, entry.digest))
        return
    if scheme in ("http", "https"):
        target = dest if skip_cache else cache.etag_path(entry.ref, entry.digest)
        needed = skip_cache or not cache.is_hit(target, entry.size)
        if needed and target not in plan.filling:
            plan.filling.add(target)
            plan.tasks.append(lambda: _fetch_http(entry, target, cache))
        if not skip_cache:
            plan.copy.append((target, dest))
        plan.done.append((dest, entry.digest))
        return
    raise ValueError(
        f"cannot download reference {entry.ref!r} of artifact entry '{entry.path}': the"
        f" {scheme!r} scheme is not supported yet (supported: file, http, https)"
    )


def _file_reference(
    entry: Entry, cache: ArtifactCache, skip_cache: bool, allow_missing: bool
) -> Optional[str]:
    """The local file to copy for a `file://` entry, verified when it was added with
    checksum=True (the digest is then of the content, not of the path)."""
    assert entry.ref is not None
    local = urllib.request.url2pathname(urllib.parse.urlparse(entry.ref).path)
    if not os.path.isfile(local):
        message = f"Local file reference: Failed to find file at path {local!r}"
        if allow_missing:
            termwarn(message)
            return None
        raise MissingReferenceError(errno.ENOENT, message, local)
    uri_digest = _core.hash_bytes(Path(local).resolve().as_uri().encode())
    if entry.digest == uri_digest:
        return local  # checksum=False: nothing to verify against, copy as it is now
    cached = cache.object_path(entry.digest, "MD5")
    if not skip_cache and cache.is_hit(cached, entry.size):
        return cached
    found, _ = _core.hash_file(local, "MD5")
    if found != entry.digest:
        raise ValueError(
            f"Local file reference: Digest mismatch for path {local!r}: expected"
            f" {entry.digest!r} but found {found!r}"
        )
    return local if skip_cache else cache.put(local, entry.digest, "MD5")


def _fetch_http(entry: Entry, target: str, cache: ArtifactCache) -> None:
    """GET a URL into `target` through a temp file; when an ETag was recorded at add
    time, the response's must match it."""
    import requests

    assert entry.ref is not None
    with requests.get(entry.ref, stream=True, timeout=_HTTP_TIMEOUT) as rsp:
        rsp.raise_for_status()
        if "etag" in _extra(entry):  # recorded at add time (checksum=True)
            etag = rsp.headers.get("etag")
            found = etag.strip('"') if etag else rsp.url
            if found != entry.digest:
                raise ValueError(
                    f"Digest mismatch for url {entry.ref!r}: expected {entry.digest!r} but"
                    f" found {found!r}"
                )
        in_cache = target.startswith(cache.root + os.sep)
        directory = None if in_cache else os.path.dirname(target)
        fd, tmp = cache.temp_file(directory)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in rsp.iter_content(chunk_size=1 << 20):
                    f.write(chunk)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def _extra(entry: Entry) -> dict:
    import json

    return json.loads(entry.extra) if entry.extra and entry.extra != "{}" else {}


def _run_all(tasks: list[Callable[[], None]], line: ProgressLine) -> None:
    """Run fetches in parallel; the first error is raised after the others stop."""
    if not tasks:
        return
    if len(tasks) == 1:
        tasks[0]()
        line.advance(1)
        return
    error: Optional[BaseException] = None
    with ThreadPoolExecutor(min(_FETCH_WORKERS, len(tasks))) as pool:
        futures = [pool.submit(task) for task in tasks]
        for future in futures:
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is None:
                line.advance(1)
            elif error is None:
                error = exc
                for other in futures:
                    other.cancel()
    if error is not None:
        raise error


# --- verify and checkout ---------------------------------------------------------------
def verify_root(manifest: "_core.Manifest", root: str, name: str) -> None:
    """wandb's `Artifact.verify`: every file under `root` must be an entry and every
    non-reference entry must hash to its digest. References are skipped (warned)."""
    paths = set(manifest.paths())
    for dirpath, _dirs, files in os.walk(root):
        for file in files:
            full_path = os.path.join(dirpath, file)
            if os.path.relpath(full_path, start=root) not in paths:
                raise ValueError(
                    f"Found file {full_path} which is not a member of artifact {name}"
                )
    checks, ref_count = [], 0
    for entry in map(lambda t: Entry(*t), manifest.entries()):
        if entry.ref is not None:
            ref_count += 1
            continue
        dest = _core.join_inside(root, entry.path)
        checks.append((entry.path, (dest, entry.digest, entry_algorithm(entry.extra))))
    results = _core.verify_files([c for _, c in checks])
    for (path, (dest, _, _)), reason in zip(checks, results):
        if reason == "missing":
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", dest)
        if reason is not None:
            raise ValueError(f"Digest mismatch for file: {path}")
    if ref_count > 0:
        termwarn(f"skipped verification of {ref_count} refs")


def checkout_root(
    manifest: "_core.Manifest",
    root: str,
    store: Optional[BlobSource],
    cache: Optional[ArtifactCache] = None,
    **download_options: object,
) -> str:
    """wandb's `Artifact.checkout`: delete every file under `root` that is not an entry,
    then download. Options as for `download_entries`."""
    paths = set(manifest.paths())
    for dirpath, _dirs, files in os.walk(root):
        for file in files:
            full_path = os.path.join(dirpath, file)
            if os.path.relpath(full_path, start=root) not in paths:
                os.remove(full_path)
    return download_entries(manifest, root, store, cache, **download_options)  # type: ignore[arg-type]

