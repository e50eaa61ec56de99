"""Placing a manifest's entries into a directory: download, checkout and verify.

Stored files are placed by one core call (`_core.Manifest.download`), which works so
that a bad manifest or bad content never leaves a half-written root:

1. every destination is checked to stay inside the root first: one entry escaping it
   (`../../x`) raises before anything is written;
2. files already there with the right content are kept (stat cache, else re-hash);
3. cache misses are copied into the cache from the store, verified while copying (a
   corrupt store object raises, naming it, and is never placed);
4. everything is copied (or hardlinked) into place, in parallel, atomically.

References (every scheme) are fetched and checked before that call, by
`references.placing`, and placed after it; then the cache cap is enforced.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from typing import TYPE_CHECKING, NamedTuple, Optional, Protocol

from . import _core, statcache
from .cache import ArtifactCache
from .progress import ProgressLine
from .store.blobs import entry_algorithm
from .store.errors import CorruptBlobError, MissingBlobError
from .term import termwarn

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .references.placing import Prepared

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
    # Second copies the transfer just wrote (remote downloads): renamed into place by
    # the core where they can be, the rest removed whatever happens.
    spares = _take_spares(manifest, base, path_prefix)
    try:
        return _download_entries(manifest, root, base, store, cache, mode, path_prefix, skip_cache,
                                 allow_missing_references, progress, spares)
    finally:
        discard_spares(spares.values())


def _download_entries(
    manifest: "_core.Manifest", root: str, base: str, store: Optional[BlobSource], cache: ArtifactCache, mode: str,
    path_prefix: Optional[str], skip_cache: bool, allow_missing_references: bool, progress: bool,
    spares: dict[str, str],
) -> str:
    """`download_entries`, once its options are settled."""
    statcache.ensure()
    count, total = len(manifest), manifest.size()
    show = progress and (count > 5000 or total > 50 * 10**6)  # wandb's thresholds
    with ProgressLine("Downloading artifact files", 0, 0, enabled=None if show else False) as line:
        # References are fetched and checked first: a failure leaves the root untouched.
        prepared = _prepare_references(manifest, base, cache, path_prefix, skip_cache, allow_missing_references, line)
        # Phases 1-4 for stored files happen in one core call; references come back.
        try:
            direct = skip_cache or store_serves_copies(store, mode)
            packed = packed_objects(manifest, store, path_prefix)
            refs, _present, placed, skipped, filled_bytes, linked = _download_files(
                manifest, base, store, None if direct else cache.root, path_prefix, mode, line, spares, packed
            )
        except PermissionError:
            if prepared is not None:
                prepared.discard()
            if not skip_cache:
                cache.ensure_writable()  # raises wandb's message if the cache is the cause
            raise
        except BaseException:
            if prepared is not None:
                prepared.discard()
            raise
        for path, why in skipped:
            termwarn(f"skipping {os.path.join(base, path)}: {why}")
        if prepared is not None:
            prepared.place(line)
    if mode == "hardlink" and packed and placed > linked:
        # Packed blobs are copied out of their pack, never linked (a link would be the pack).
        termwarn(
            f"Copied the small files of {root} that the store keeps in packs rather than"
            " linking them (a pack is never linked); the other files are hardlinks"
        )
    if mode == "hardlink" and linked:
        termwarn(
            f"Linked {linked} file{'s' if linked > 1 else ''} from the artifact cache into"
            f" {root} (hardlinks). Editing them in place also changes the cached copy that"
            f" later downloads reuse; set {LINK_ENV}=copy to get independent copies."
        )
    ref_bytes = prepared.fetched_bytes if prepared is not None else 0
    if filled_bytes or ref_bytes:  # only a cache that grew can be over its cap
        cache.enforce_cap(filled_bytes + ref_bytes)
    return root


def store_serves_copies(store: Optional[BlobSource], mode: str) -> bool:
    """Whether copies come straight from the store's objects (verified while copied):
    the embedded store's objects are local, so a cache copy would be a second one on
    disk. Links still come from the cache, so a store object is never open to edits."""
    from .store.local import LocalStore

    return mode == "copy" and isinstance(store, LocalStore)


def _prepare_references(
    manifest: "_core.Manifest", base: str, cache: ArtifactCache, path_prefix: Optional[str],
    skip_cache: bool, allow_missing: bool, line: ProgressLine,
) -> "Optional[Prepared]":
    """The reference entries (under `path_prefix`) fetched and checked, not yet placed."""
    entries = [Entry(*t) for t in _core.reference_entries(manifest, path_prefix or None)]
    if not entries:
        return None
    from .references.placing import prepare_references

    return prepare_references(
        entries, base, cache, skip_cache=skip_cache, allow_missing=allow_missing, line=line
    )


def _download_files(
    manifest: "_core.Manifest", base: str, store: Optional[BlobSource], cache_root: Optional[str],
    path_prefix: Optional[str], mode: str, line: ProgressLine, spares: Optional[dict[str, str]] = None,
    packed: Optional[list[tuple[str, str, str, int, int]]] = None,
) -> tuple[list[str], int, int, list[tuple[str, str]], int, int]:
    """The core call, with its errors turned into the store's error classes."""
    if store is None and any(t[2] is None for t in manifest.entries()):
        raise MissingBlobError("no store to read the artifact's files from")
    objects = store.objects_root if store is not None else base
    present = _take_present(manifest, base, path_prefix)
    try:
        return manifest.download(base, objects, cache_root, path_prefix, mode, line.core, present, spares or None,
                                 packed or None)
    except (OSError, ValueError) as exc:
        kind = getattr(exc, "kind", None)
        if kind == "missing":
            raise MissingBlobError(str(exc)) from None
        if kind == "corrupt":
            raise CorruptBlobError(str(exc)) from None
        raise


def packed_objects(manifest: "_core.Manifest", store: Optional[BlobSource],
                   path_prefix: Optional[str]) -> list[tuple[str, str, str, int, int]]:
    """The blobs the embedded store keeps in packs (store/pack_rows.py) that the entries
    may need: `(algorithm, digest, pack file, offset, length)`. The core copies those
    out of their range, verified, and never links them, whatever the link mode."""
    from .store.local import LocalStore

    if not isinstance(store, LocalStore):
        return []
    from .store import pack_rows

    def pairs() -> set[tuple[str, str]]:
        return {(entry_algorithm(t[5]), t[1]) for t in manifest.entries()
                if t[2] is None and (not path_prefix or t[0].startswith(path_prefix))}

    return pack_rows.download_rows(store.catalog, store.objects_root, len(manifest), pairs)


# A remote download checks the root before it fetches (`_core.download_plan`: only
# what the root and the cache both lack travels); the core download then trusts that
# check for the files it found right, instead of checking every file a second time.
_PLANNED = threading.local()


def remember_present(manifest: "_core.Manifest", root: str, path_prefix: Optional[str], present: bytes) -> None:
    """Note, for this thread's next `download_entries` of `manifest` into `root`, which
    of its stored entries (`download_plan`'s mask) were just found right there."""
    _PLANNED.value = (manifest, os.path.abspath(root), path_prefix, present)


_SPARES = threading.local()


def remember_spares(manifest: "_core.Manifest", root: str, path_prefix: Optional[str], spares: dict[str, str]) -> None:
    """Note, for this thread's next `download_entries` of `manifest` into `root`, the
    verified second copies (`obj/md5/..` -> file) `transfer_get` wrote beside the cache
    objects it fetched; that download renames them into the root instead of copying
    the objects, and removes what it leaves. Spares noted before and never taken are
    removed now."""
    previous = getattr(_SPARES, "value", None)
    if previous is not None:
        discard_spares(previous[3].values())
    _SPARES.value = (manifest, os.path.abspath(root), path_prefix, spares)


def _take_spares(manifest: "_core.Manifest", base: str, path_prefix: Optional[str]) -> dict[str, str]:
    """The spares `remember_spares` left for exactly this download (used once); any
    others are removed."""
    value = getattr(_SPARES, "value", None)
    _SPARES.value = None
    if value is None:
        return {}
    if value[0] is manifest and value[1] == base and value[2] == path_prefix:
        return value[3]
    discard_spares(value[3].values())
    return {}


def discard_spares(paths: "Iterable[Optional[str]]") -> None:
    """Remove the spares still there (those placed were renamed away; None: no spare)."""
    for path in paths:
        if path is not None:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


def _take_present(manifest: "_core.Manifest", base: str, path_prefix: Optional[str]) -> Optional[bytes]:
    """The mask `remember_present` left for exactly this download (used once), or None."""
    value = getattr(_PLANNED, "value", None)
    _PLANNED.value = None
    if value is not None and value[0] is manifest and value[1] == base and value[2] == path_prefix:
        return value[3]
    return None


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

