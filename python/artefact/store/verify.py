"""Checking the embedded store: `artefact verify --store` (`check_store`) and the quick
check of what committed versions need (`verify_store`).

Each object is named by its digest (`objects/obj/md5/<2>/<30>`) and each manifest by
the MD5 of its bytes (`manifests/<2>/<30>.json`), so every file can be checked against
its own name, referenced or not; a packed blob (pack_rows.py) is its pack's byte range,
checked against the digest of its row. On top, every committed version must have its
manifest and every object its manifest names. Each problem names the file and, where
known, the versions it breaks. Also here: `stored_objects`, the entries of a manifest
whose content is an object of the store (what gc keeps), and `read_failure`, which turns
a failed read during a verify into an OSError naming the file (not a "digest mismatch").
"""

from __future__ import annotations

import base64
import errno as _errno
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from .. import _core
from . import pack_rows
from ..progress import ProgressLine
from .blobs import entry_algorithm
from .errors import CorruptBlobError, MissingBlobError
from .queries import version_records
from .records import COMMITTED

if TYPE_CHECKING:
    from .local import LocalStore

__all__ = ["StoreCheck", "check_store", "format_check", "read_failure", "is_mismatch", "stored_objects",
           "verify_store"]

_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_HEX = re.compile(r"[0-9a-f]+")
_OBJECT_ALGORITHMS = {"md5": "MD5", "xxh128": "XXH128"}


def stored_objects(manifest: "_core.Manifest") -> Iterator[tuple[str, str, str, str]]:
    """(entry path, digest, algorithm, object path relative to objects/) of each entry
    whose content is an object of the store, i.e. each entry that is not a reference."""
    for path, digest, ref, _b, _s, extra, _l, _k in manifest.entries():
        if ref is None:
            algorithm = entry_algorithm(extra)
            yield path, digest, algorithm, _core.object_relpath(digest, algorithm)


def is_mismatch(reason: str) -> bool:
    """True if a `_core.verify_files` reason says the content differs (the file was
    read to the end), False for a failure to read it."""
    return reason.startswith("digest mismatch")


def read_failure(path: str, reason: str, doing: str) -> OSError:
    """An OSError (with its errno where the core reported one) naming `path`, for a
    `_core.verify_files` reason that is neither "missing" nor a digest mismatch."""
    match = _OS_ERROR.search(reason)
    if match:
        code = int(match.group(1))
        return OSError(code, f"{os.strerror(code)} (while {doing})", path)
    return OSError(_errno.EIO, f"{reason} (while {doing})", path)


@dataclass
class StoreCheck:
    """What `check_store` found: counts, one line per problem (empty when sound), and the
    pack files no catalog row names (a log interrupted before its commit leaves its pack;
    `gc` removes it: not a problem, but nothing in it can be checked)."""

    manifests: int = 0
    objects: int = 0
    bytes: int = 0
    versions: int = 0
    problems: list[str] = field(default_factory=list)
    unnamed_packs: list[str] = field(default_factory=list)


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def check_store(store: "LocalStore") -> StoreCheck:
    """Re-hash every object and manifest file of `store` against its name, and check
    that each committed version's manifest and objects are present."""
    blobs = store.blobs
    report = StoreCheck()
    with store.catalog.transaction(write=False) as conn:
        versions = version_records(
            conn, "m.collection_id = v.collection_id AND v.state = ?", (COMMITTED,)
        )
    report.versions = len(versions)
    users: dict[str, list[str]] = defaultdict(list)  # manifest key -> version names
    for record in versions:
        users[record.manifest_key].append(record.source_qualified_name)

    # Files to re-hash: (path, base64 digest, algorithm, what it is).
    checks: list[tuple[str, str, str]] = []
    manifest_files: dict[str, str] = {}
    for key, entry in blobs.iter_manifests():
        if len(key) == 32 and _HEX.fullmatch(key):
            manifest_files[key] = entry.path
            checks.append((entry.path, _b64(key), "MD5"))
        else:
            report.problems.append(f"{entry.path}: not a manifest name (expected 32 hex digits)")
    report.manifests = len(manifest_files)
    object_files: dict[str, str] = {}  # relpath under objects/ -> full path
    for entry in blobs.iter_objects():
        rel = os.path.relpath(entry.path, blobs.objects_root).replace(os.sep, "/")
        parts = rel.split("/")  # obj/<alg>/<2>/<30>
        alg = _OBJECT_ALGORITHMS.get(parts[1]) if len(parts) == 4 else None
        hex_digest = "".join(parts[2:]) if alg else ""
        if alg is None or len(hex_digest) != 32 or not _HEX.fullmatch(hex_digest):
            report.problems.append(f"{entry.path}: not an object name (obj/md5|xxh128/<2>/<30 hex>)")
            continue
        object_files[rel] = entry.path
        checks.append((entry.path, _b64(hex_digest), alg))
        report.bytes += entry.stat(follow_symlinks=False).st_size
    with store.catalog.transaction(write=False) as conn:
        rows = pack_rows.all_rows(conn)
    packed: dict[str, tuple[str, int, int, str, str]] = {}  # relpath -> (pack file, offset, length, digest, alg)
    for alg, digest, pack, offset, length in rows:
        try:
            if offset < 0 or length < 0:
                raise ValueError(f"bad range {offset}+{length} of pack {pack!r} in the store's catalog")
            packed[_core.object_relpath(digest, alg)] = (pack_rows.pack_path(blobs.objects_root, pack), offset, length, digest, alg)
        except ValueError as e:
            report.problems.append(f"{alg} {digest}: {e}")
    report.objects = len(object_files.keys() | packed.keys())  # content both loose and packed counts once
    report.bytes += sum(p[2] for p in packed.values())
    named = {p for _a, _d, p, _o, _l in rows}
    report.unnamed_packs = sorted(e.path for e in pack_rows.pack_files(blobs.objects_root) if e.name not in named)

    # Which versions use each object (to say what a bad object breaks).
    object_users: dict[str, set[str]] = defaultdict(set)
    for key, names in sorted(users.items()):
        if key not in manifest_files:
            report.problems.append(
                f"{blobs.manifest_path(key)}: manifest missing (versions {', '.join(sorted(names))})"
            )
            continue
        try:
            manifest = blobs.load_manifest(key)
        except (MissingBlobError, CorruptBlobError, OSError, ValueError):
            continue  # reported by the re-hash below (or as missing above)
        for path, _digest, _alg, rel in stored_objects(manifest):
            object_users[rel].update(names)
            if rel not in object_files and rel not in packed:
                report.problems.append(
                    f"{os.path.join(blobs.objects_root, rel)}: object missing (entry {path!r}"
                    f" of {', '.join(sorted(names))})"
                )

    with ProgressLine("Verifying store", len(checks) + len(packed), report.bytes) as progress:
        results = _core.verify_files(checks, progress.core)
        packed_results = _core.verify_packed(list(packed.values()), progress.core)
    for rel, (pack, offset, length, _d, _a), reason in zip(packed, packed.values(), packed_results):
        if reason is None:
            continue
        if reason == "missing":
            reason = "pack missing"
        names = sorted(object_users.get(rel, ()))
        breaks = f" (used by {', '.join(names)})" if names else " (unreferenced)"
        report.problems.append(f"{pack} [{length} bytes at {offset}, {rel}]: {reason}{breaks}")
    by_path = {full: rel for rel, full in object_files.items()}
    manifest_keys = {path: key for key, path in manifest_files.items()}
    for (path, _digest, _alg), reason in zip(checks, results):
        if reason is None:
            continue
        if reason == "missing":
            reason = "vanished during the check"
        elif is_mismatch(reason):
            reason = "corrupt, " + reason
        else:
            reason = f"unreadable: {read_failure(path, reason, 'verifying the store').strerror}"
        if path in manifest_keys:
            names = users.get(manifest_keys[path], [])
        else:
            names = sorted(object_users.get(by_path.get(path, ""), ()))
        breaks = f" (used by {', '.join(sorted(names))})" if names else " (unreferenced)"
        report.problems.append(f"{path}: {reason}{breaks}")
    return report


def format_check(report: StoreCheck, root: str) -> str:
    """The one-line summary `artefact verify --store` prints."""
    state = "OK" if not report.problems else f"{len(report.problems)} problem(s)"
    unnamed = len(report.unnamed_packs)
    left = f"; {unnamed} pack file(s) no version names (left by an interrupted log: `artefact gc` removes them)" if unnamed else ""
    return (
        f"{root}: {report.versions} versions, {report.manifests} manifests, {report.objects}"
        f" objects ({report.bytes} bytes) re-hashed: {state}{left}"
    )


def verify_store(store: "LocalStore", rehash: bool = False) -> list[str]:
    """Problems with committed versions: unreadable manifests, missing objects and,
    with `rehash`, objects whose content no longer matches their digest. [] if sound.
    (Only what committed versions use; `check_store` re-hashes every file.)"""
    problems: list[str] = []
    keys, _ = store.catalog.live_manifest_keys()
    checks: set[tuple[str, str, str]] = set()
    for key in sorted(keys):
        try:
            manifest = store.blobs.load_manifest(key)
        except (OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        for _path, digest, algorithm, rel in stored_objects(manifest):
            checks.add((os.path.join(store.blobs.objects_root, rel), digest, algorithm))
    in_packs = pack_rows.locations(store.catalog, {(a, d) for _p, d, a in checks})
    ordered = sorted(c for c in checks if (c[2], c[1]) not in in_packs)
    ranges = sorted((pack_rows.pack_path(store.blobs.objects_root, p), o, n, d, a)
                    for (a, d), (p, o, n) in in_packs.items())
    if rehash:
        results = _core.verify_files(ordered)
        range_results = _core.verify_packed(ranges)
    else:
        results = [None if os.path.isfile(c[0]) else "missing" for c in ordered]
        range_results = [None if os.path.isfile(r[0]) else "missing" for r in ranges]
    problems += [f"{c[0]}: {r}" for c, r in zip(ordered, results) if r is not None]
    problems += [f"{c[0]} [{c[2]} bytes at {c[1]}]: {r}" for c, r in zip(ranges, range_results) if r is not None]
    return problems
