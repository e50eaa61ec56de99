"""Content-addressed blobs and manifests of the embedded store, on local disk.

Layout under the store root (`$ARTEFACT_STORE`, default `<user data dir>/artefact/store`):

    catalog.db                      the SQLite catalog (see catalog.py)
    objects/obj/md5/<2>/<30>        file contents, wandb's cache layout (xxh128 likewise)
    objects/packs/<name>.pack       small blobs of large logs, back to back (pack_log.py;
                                    their offsets are rows of the catalog, pack_rows.py)
    objects/tmp/                    in-flight object and pack writes
    manifests/<2>/<30>.json         manifests as uploaded (wire JSON), keyed by MD5 hex
    manifests/tmp/                  in-flight manifest writes

Objects are written create-if-absent, in one write per byte (`_core.store_files`): a
staged copy (mutable policy) is renamed into place, any other file is copied once and
verified while copying; content already stored is not written again. Durable before the
catalog commit: `ARTEFACT_SYNC` says how (see `sync_mode`). Manifests likewise: temp file, fsync, rename, fsync
the directory. Nothing here is ever modified in place, so readers need no locks.
"""

from __future__ import annotations

import json
import os
import time
from typing import Iterator, Optional, Sequence

from .. import _core
from .. import config as _config
from .errors import CorruptBlobError, MissingBlobError
from .failpoints import armed, failpoint

__all__ = ["BlobStore", "default_store_root", "entry_algorithm", "STORE_ENV"]

STORE_ENV = "ARTEFACT_STORE"
SYNC_ENV = "ARTEFACT_SYNC"
SYNC_MODES = ("auto", "files", "filesystem", "written")


def sync_mode() -> str:
    """`ARTEFACT_SYNC`: how logged files are made durable before the commit. "files"
    fsyncs each written file and directory; "filesystem" syncs the store's whole
    filesystem once (`syncfs`: fewer calls, but it also waits for other processes'
    dirty data); "written" starts the writeback of each of this log's files
    (`sync_file_range`), then fdatasyncs each from many threads (they share journal
    commits and cache flushes), then fsyncs the touched directories (no other process's
    data waited for); "auto"
    (default) fsyncs a batch of up to 64 files, else syncs the filesystem while the
    system holds little other dirty data (/proc/meminfo), and flushes like "written"
    when it holds more (64 MiB, or more than the batch)."""
    value = os.environ.get(SYNC_ENV, "").strip().lower() or "auto"
    if value not in SYNC_MODES:
        raise ValueError(f"{SYNC_ENV}={value!r}: expected one of {', '.join(SYNC_MODES)}")
    return value


def default_store_root() -> str:
    """`$ARTEFACT_STORE`, else `<user data dir>/artefact/store` (XDG_DATA_HOME aware)."""
    return os.path.abspath(os.path.expanduser(_config.store_root()))


def entry_algorithm(extra: Optional[str]) -> str:
    """The hash of an entry's content digest: "XXH128" if `extra.alg` says so, else "MD5"."""
    if not extra or extra == "{}" or "XXH128" not in extra:
        return "MD5"
    alg = json.loads(extra).get("alg")
    return "XXH128" if alg == "XXH128" else "MD5"


def fsync_dir(path: str) -> None:
    """Make a rename in `path` durable (no-op where directories cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def touch(path: str) -> bool:
    """Refresh mtime so a running gc's grace period protects `path`; False if missing."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


class BlobStore:
    """Objects and manifests under one store root."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.objects_root = os.path.join(self.root, "objects")
        self.manifests_root = os.path.join(self.root, "manifests")

    # --- objects -------------------------------------------------------------------
    def object_path(self, digest: str, algorithm: str = "MD5") -> str:
        """Where the object for an entry digest lives (whether or not it exists)."""
        return os.path.join(self.objects_root, _core.object_relpath(digest, algorithm))

    def put_files(
        self,
        items: Sequence[tuple[str, str, str, str]],
        progress: "Optional[_core.Progress]" = None,
    ) -> int:
        """Put many `(src, digest, algorithm, entry path)` durably and in parallel; the
        number of new objects. A staged copy (a `src` in the staging dir) is moved in, or
        removed if its content is already stored. A file that no longer matches its
        digest raises ValueError naming both, and none of the batch is placed."""
        if not items:
            return 0
        # One batch: each batch pays its flushes (two syncfs, or a round of fsyncs). A
        # crash test that stops the process between blobs gets two.
        if not armed("during_blobs"):
            return self._put_batch(items, progress)
        half = (len(items) + 1) // 2
        written = self._put_batch(items[:half], progress)
        failpoint("during_blobs")
        return written + self._put_batch(items[half:], progress)

    def _put_batch(self, items: Sequence[tuple[str, str, str, str]], progress: "Optional[_core.Progress]") -> int:
        if not items:
            return 0
        from ..staging import staged_prefix

        staged = staged_prefix()
        todo = [(s, d, a, s.startswith(staged)) for s, d, a, _ in items]
        try:
            flags = _core.store_files(self.objects_root, todo, sync_mode(), progress)
        except ValueError as exc:
            entry_path = items[getattr(exc, "index", 0)][3]
            raise ValueError(
                f"cannot store artifact entry '{entry_path}': {exc} (was the file"
                " modified after it was added?)"
            ) from None
        return sum(flags)

    def require_objects(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Check `(entry path, digest, algorithm)` objects exist (refreshing them against
        gc); entries carried over from a base version have no local file to fall back on."""
        missing = [i for i in items if not touch(self.object_path(i[1], i[2]))]
        if missing:
            path, digest, algorithm = missing[0]
            more = f" ({len(missing) - 1} more entries likewise)" if len(missing) > 1 else ""
            raise MissingBlobError(
                f"artifact entry '{path}' has no local file and its content (digest {digest})"
                f" is not in the store at {self.object_path(digest, algorithm)}{more}; was the"
                " version it came from deleted?"
            )

    def verify_object(self, digest: str, algorithm: str = "MD5") -> None:
        """Re-hash one object; CorruptBlobError or MissingBlobError naming the file."""
        path = self.object_path(digest, algorithm)
        reason = _core.verify_files([(path, digest, algorithm)])[0]
        if reason == "missing":
            raise MissingBlobError(f"store object {path} for digest {digest} is missing")
        if reason is not None:
            raise CorruptBlobError(f"store object {path} is corrupt: {reason}")

    # --- manifests -----------------------------------------------------------------
    def manifest_path(self, key: str) -> str:
        """Where manifest `key` (MD5 hex of its bytes) lives."""
        return os.path.join(self.manifests_root, key[:2], key[2:] + ".json")

    def put_manifest(self, data: bytes) -> str:
        """Store manifest bytes durably under their MD5 hex (create-if-absent); the key."""
        import hashlib  # lazily, as tempfile: a re-put that dedupes stores no manifest
        import tempfile

        key = hashlib.md5(data).hexdigest()
        path = self.manifest_path(key)
        if touch(path):
            return key
        tmp_dir = os.path.join(self.manifests_root, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="manifest-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        fsync_dir(os.path.dirname(path))
        return key

    def load_manifest(self, key: str) -> "_core.Manifest":
        """The manifest stored under `key`, parsed while its MD5 is checked."""
        path = self.manifest_path(key)
        try:
            return _core.Manifest.read(path, key)
        except FileNotFoundError:
            raise MissingBlobError(f"manifest {path} is missing from the store") from None
        except ValueError as exc:
            if getattr(exc, "kind", None) == "corrupt":
                raise CorruptBlobError(f"manifest {path} is corrupt: {exc}") from None
            raise

    # --- listing (for gc) -----------------------------------------------------------
    def iter_objects(self) -> Iterator[os.DirEntry]:
        """Every object file under objects/obj."""
        yield from files_under(os.path.join(self.objects_root, "obj"))

    def iter_manifests(self) -> Iterator[tuple[str, os.DirEntry]]:
        """`(key, file)` for every stored manifest."""
        if not os.path.isdir(self.manifests_root):
            return
        for sub in os.scandir(self.manifests_root):
            if sub.name == "tmp" or not sub.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(sub.path):
                if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                    yield sub.name + entry.name[: -len(".json")], entry

    def iter_temp(self) -> Iterator[os.DirEntry]:
        """Leftover temp files of interrupted writes."""
        for tmp in (os.path.join(self.objects_root, "tmp"), os.path.join(self.manifests_root, "tmp")):
            yield from files_under(tmp)


def files_under(root: str) -> Iterator[os.DirEntry]:
    """Every regular file below `root` (symlinks not followed); nothing if it is absent."""
    if not os.path.isdir(root):
        return
    stack = [root]
    while stack:
        for entry in os.scandir(stack.pop()):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry


def age_seconds(entry: os.DirEntry, now: Optional[float] = None) -> float:
    """Seconds since the file was last written or touched (fresh stat, not cached)."""
    now = time.time() if now is None else now
    return now - os.stat(entry.path).st_mtime
