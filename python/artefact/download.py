"""Placing a manifest's entries into a directory: download, checkout and verify.

Stored files are placed by one core call (`_core.Manifest.download`), which works so
that a bad manifest or bad content never leaves a half-written root:

1. every destination is checked to stay inside the root first: one entry escaping it
   (`../../x`) raises before anything is written;
2. files already there with the right content are kept (stat cache, else re-hash);
3. cache misses are copied into the cache from the store, verified while copying (a
   corrupt store object raises, naming it, and is never placed);
4. everything is copied (or hardlinked) into place, in parallel, atomically.

References (`file://`, `http(s)://`) come back from that call and are fetched here;
then the cache cap is enforced.
"""

from __future__ import annotations

import errno
import os
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple, Optional, Protocol

from . import _core, statcache
from .cache import ArtifactCache
from .progress import ProgressLine
from .store.blobs import entry_algorithm
from .store.errors import CorruptBlobError, MissingBlobError
from .term import termwarn

__all__ = [
    "download_entries",
    "verify_root",
    "files_not_in",
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

    objects_root: str  # holds obj/md5/<2>/<30>, as the cache does

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
    """What fetching references prepares for placing them."""

    def __init__(self) -> None:
        self.copy: list[tuple[str, str]] = []  # (source, dest) always copied
        self.tasks: list[Callable[[], None]] = []  # fetches, run in parallel
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
    base = os.path.abspath(root)
    statcache.ensure()
    count, total = len(manifest), manifest.size()
    show = progress and (count > 5000 or total > 50 * 10**6)  # wandb's thresholds
    with ProgressLine("Downloading artifact files", 0, 0, enabled=None if show else False) as line:
        # Phases 1-4 for stored files happen in one core call; references come back.
        try:
            direct = skip_cache or store_serves_copies(store, mode)
            refs, _present, placed, skipped, filled_bytes = _download_files(
                manifest, base, store, None if direct else cache.root, path_prefix, mode, line
            )
        except PermissionError:
            if not skip_cache:
                cache.ensure_writable()  # raises wandb's message if the cache is the cause
            raise
        for path, why in skipped:
            termwarn(f"skipping {os.path.join(base, path)}: {why}")
        if refs:
            _download_references(manifest, refs, base, cache, skip_cache, allow_missing_references, line)
    if mode == "hardlink" and placed:
        termwarn(
            f"Linked {placed} file{'s' if placed > 1 else ''} from the artifact cache into"
            f" {root} (hardlinks). Editing them in place also changes the cached copy that"
            f" later downloads reuse; set {LINK_ENV}=copy to get independent copies."
        )
    if filled_bytes or refs:  # only a cache that grew can be over its cap
        ref_bytes = sum(manifest.get(path)[4] or 0 for path in refs)  # at most what was fetched
        cache.enforce_cap(filled_bytes + ref_bytes)
    return root


def store_serves_copies(store: Optional[BlobSource], mode: str) -> bool:
    """Whether copies come straight from the store's objects (verified while copied):
    the embedded store's objects are local, so a cache copy would be a second one on
    disk. Links still come from the cache, so a store object is never open to edits."""
    from .store.local import LocalStore

    return mode == "copy" and isinstance(store, LocalStore)


def _download_files(
    manifest: "_core.Manifest", base: str, store: Optional[BlobSource], cache_root: Optional[str],
    path_prefix: Optional[str], mode: str, line: ProgressLine,
) -> tuple[list[str], int, int, list[tuple[str, str]], int]:
    """The core call, with its errors turned into the store's error classes."""
    if store is None and any(t[2] is None for t in manifest.entries()):
        raise MissingBlobError("no store to read the artifact's files from")
    objects = store.objects_root if store is not None else base
    try:
        return manifest.download(base, objects, cache_root, path_prefix, mode, line.core)
    except (OSError, ValueError) as exc:
        kind = getattr(exc, "kind", None)
        if kind == "missing":
            raise MissingBlobError(str(exc)) from None
        if kind == "corrupt":
            raise CorruptBlobError(str(exc)) from None
        raise


def _download_references(
    manifest: "_core.Manifest", refs: list[str], base: str, cache: ArtifactCache, skip_cache: bool,
    allow_missing: bool, line: ProgressLine,
) -> None:
    """Fetch reference entries (file://, http(s)://) and place them; unchanged ones stay."""
    entries = [Entry(*manifest.get(path)) for path in refs]
    dests = [_core.join_inside(base, e.path) for e in entries]
    existing = [(e, d) for e, d in zip(entries, dests) if os.path.isfile(d)]
    found = dict(zip((d for _, d in existing), _core.hash_files([d for _, d in existing], "MD5"))) if existing else {}
    plan = _Plan()
    for entry, dest in zip(entries, dests):
        if dest in found and found[dest][0] == entry.digest:
            continue
        if not _blocked(dest, base):
            _plan_reference(plan, entry, dest, cache, skip_cache, allow_missing)
    _run_all(plan.tasks, line)
    if plan.copy:
        _core.materialize(plan.copy, "copy", line.core)


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
        return
    if scheme in ("http", "https"):
        target = dest if skip_cache else cache.etag_path(entry.ref, entry.digest)
        needed = skip_cache or not cache.is_hit(target, entry.size)
        if needed and target not in plan.filling:
            plan.filling.add(target)
            plan.tasks.append(lambda: _fetch_http(entry, target, cache))
        if not skip_cache:
            plan.copy.append((target, dest))
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
    import urllib.request  # 20 ms to import: only when a file:// reference is placed
    from pathlib import Path  # likewise: a plain download never needs it

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
    non-reference entry must hash to its digest. References are skipped (warned).
    A file that cannot be read raises its OSError naming it, as wandb's hashing would."""
    from .store.verify import is_mismatch, read_failure

    for full_path in files_not_in(manifest, root)[:1]:
        raise ValueError(f"Found file {full_path} which is not a member of artifact {name}")
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
        if reason is not None and not is_mismatch(reason):  # unreadable, not different
            raise read_failure(dest, reason, f"verifying entry {path!r}")
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
    for full_path in files_not_in(manifest, root):
        os.remove(full_path)
    return download_entries(manifest, root, store, cache, **download_options)  # type: ignore[arg-type]


def files_not_in(manifest: "_core.Manifest", root: str) -> list[str]:
    """Full paths of the files under `root` that are not entries of `manifest`. The
    temp files of downloads in progress (another process placing files into the same
    root: `.artefact-tmpXXXXXXXX`, renamed into place when complete) are not counted."""
    paths = set(manifest.paths())
    return [
        os.path.join(dirpath, file)
        for dirpath, _dirs, files in os.walk(root)
        for file in files
        if not _IN_FLIGHT.match(file)
        and os.path.relpath(os.path.join(dirpath, file), start=root) not in paths
    ]


# The core's temp names for files being placed (see rust/core/src/beneath.rs).
_IN_FLIGHT = re.compile(r"\.artefact-tmp[a-z0-9_]{8}\Z")

