"""The artifact file cache: wandb's layout, so an existing wandb cache keeps working.

Root: `<cache dir>/artifacts`, the cache dir being `$ARTEFACT_CACHE_DIR`, else
`$WANDB_CACHE_DIR`, else the user cache dir (`~/.cache/artefact`). Under it:

    obj/md5/<2 hex>/<30 hex>      file contents by MD5 entry digest
    obj/xxh128/<2 hex>/<30 hex>   ... by XXH128 entry digest
    obj/etag/<2>/<62>             remote references by (URL, ETag)
    tmp/                          in-flight writes

Objects are written atomically and verified while copying (`_core.put_object`). A hit
is a regular file of the entry's size (wandb does not re-hash hits). Unlike wandb there
is an optional size cap, `ARTEFACT_CACHE_MAX` (e.g. `10GB`, powers of 10), enforced
least-recently-used first after a fill or download that added objects. A running total
(`usage`, raised by each fill) tells when the cache may be over it, so the whole cache
is scanned only then, not after every download.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Iterable, Optional

from . import _core
from . import config as _config
from . import settings as _settings
from .progress import human_size
from .store.blobs import entry_algorithm
from .term import termerror, termwarn

__all__ = ["ArtifactCache", "from_human_size", "CACHE_MAX_ENV", "ETAG_SCHEMES"]

DEFAULT_CACHE_MAX = _config.DEFAULT_CACHE_MAX
CACHE_MAX_ENV = _config.CACHE_MAX_ENV
ETAG_SCHEMES = ("http", "https", "s3", "gs")  # references cached by (URL, ETag); azure is https
_MAX_TARGET = (1 << 63) - 1
_PUT_WORKERS = min(32, (os.cpu_count() or 1) * 4)


def from_human_size(size: str) -> int:
    """wandb's `util.from_human_size` (`10`, `10B`, `1.5 GB`), parsed strictly: the whole
    string, powers of 10 or of 2 (`10GiB`), range-checked (settings.parse_size)."""
    return _settings.parse_size(size, "size")


class ArtifactCache:
    """One cache root. Cheap to create; nothing is touched until the first write."""

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = os.path.abspath(root or _config.artifacts_cache_dir())
        self.obj_dir = os.path.join(self.root, "obj")
        self.tmp_dir = os.path.join(self.root, "tmp")
        self._writable = False

    # --- paths and hits --------------------------------------------------------------
    def object_path(self, digest: str, algorithm: str = "MD5") -> str:
        """`obj/md5/...` (or `obj/xxh128/...`) for an entry digest."""
        return os.path.join(self.root, _core.object_relpath(digest, algorithm))

    def etag_path(self, url: str, etag: str) -> str:
        """`obj/etag/...` for a remote reference (wandb's key: the URL and its ETag)."""
        return os.path.join(self.root, _core.etag_relpath(url, etag))

    def entry_path(self, entry: tuple) -> Optional[str]:
        """Where an entry (a `_core` entry tuple) is cached; None if it never is."""
        path, digest, ref, _birth, _size, extra = entry[:6]
        if ref is None:
            return self.object_path(digest, entry_algorithm(extra))
        from urllib.parse import urlparse  # lazily: ~5 ms on every put otherwise

        scheme = urlparse(ref).scheme
        if scheme == "file":
            return self.object_path(digest, "MD5")
        if scheme in ETAG_SCHEMES:
            return self.etag_path(ref, digest)
        return None

    def is_hit(self, path: str, size: Optional[int]) -> bool:
        """A regular file of `size or 0` bytes, itself and its shard directory checked
        without following symlinks (a symlink or directory in the cache is a miss). A
        hit's access time is refreshed so the LRU cleanup sees it as used even on
        `relatime`/`noatime` mounts."""
        try:
            st = os.lstat(path)
            shard = os.lstat(os.path.dirname(path))
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or not stat.S_ISDIR(shard.st_mode) or st.st_size != (size or 0):
            return False
        try:
            os.utime(path, (time.time(), st.st_mtime))
        except OSError:
            pass
        return True

    # --- writing -----------------------------------------------------------------------
    def ensure_writable(self) -> None:
        """wandb's probe: PermissionError("Unable to write to <dir>. ...") if we cannot."""
        if self._writable:
            return
        try:
            os.makedirs(self.tmp_dir, exist_ok=True)
            # os.open, not tempfile: importing tempfile (shutil, bz2, lzma) cost a re-log 3-10 ms
            probe = os.path.join(self.tmp_dir, f"probe-{os.getpid()}-{os.urandom(6).hex()}")
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"artefact")
            finally:
                os.close(fd)
                os.unlink(probe)
        except PermissionError as exc:
            raise PermissionError(
                f"Unable to write to {self.root}. Ensure that the current user has write permissions."
            ) from exc
        self._writable = True

    def put(self, src: str, digest: str, algorithm: str = "MD5") -> str:
        """Copy `src` into the cache as `digest`, verifying while copying; the object path.

        Atomic (temp file in `tmp/`, then rename). If `src` does not hash to `digest`
        a ValueError names `src` and nothing enters the cache.
        """
        self.ensure_writable()
        try:
            path, _ = _core.put_object(self.root, src, digest, algorithm, False)
        except ValueError as exc:
            raise ValueError(f"{src} cannot enter the artifact cache: {exc}") from None
        return path

    def temp_file(self, directory: Optional[str] = None) -> tuple[int, str]:
        """`(fd, path)` of a new temp file in `tmp/` (or `directory`) for streamed writes."""
        directory = directory or self.tmp_dir
        if directory == self.tmp_dir:
            self.ensure_writable()
        os.makedirs(directory, exist_ok=True)
        import tempfile

        return tempfile.mkstemp(dir=directory, prefix="artefact-")

    def fill_after_log(self, manifest: "_core.Manifest") -> int:
        """Copy the logged files of `manifest` into the cache, as wandb-core does after an
        upload: entries with a local path, no ref and not `skip_cache`. A file that changed
        since it was added is reported and skipped. Returns how many objects were added."""
        todo: dict[str, tuple[str, str, str, int]] = {}  # target: (source, digest, algorithm, size)
        for entry in manifest.entries():
            _path, digest, ref, _b, size, extra, local_path, skip_cache = entry
            if ref is not None or not local_path or skip_cache:
                continue
            algorithm = entry_algorithm(extra)
            target = self.object_path(digest, algorithm)
            if target not in todo and not self.is_hit(target, size):
                todo[target] = (local_path, digest, algorithm, size or 0)
        if not todo:
            return 0

        def put(item: tuple[str, str, str, int]) -> Optional[int]:
            source, digest, algorithm, size = item
            try:
                self.put(source, digest, algorithm)
                return size
            except (OSError, ValueError) as exc:
                termerror(f"could not add {source} to the artifact cache: {exc}")
                return None

        from concurrent.futures import ThreadPoolExecutor  # lazily: logging, traceback...

        with ThreadPoolExecutor(min(_PUT_WORKERS, len(todo))) as pool:
            added = [n for n in pool.map(put, todo.values()) if n is not None]
        self.enforce_cap(sum(added))
        return len(added)

    # --- size management ---------------------------------------------------------------
    def cleanup(
        self,
        target_size: Optional[int] = None,
        remove_temp: bool = False,
        target_fraction: Optional[float] = None,
    ) -> int:
        """wandb's `ArtifactFileCache.cleanup`: delete objects least recently used first
        until the cache is at most `target_size` bytes (or `target_fraction` of its size).
        With neither, clear it. Temp files count, and are deleted only if `remove_temp`.
        Returns the bytes reclaimed."""
        if target_size is None and target_fraction is None:
            target_size = 0
        if target_size is not None and target_fraction is not None:
            raise ValueError("Cannot specify both target_size and target_fraction")
        if target_size is not None and target_size < 0:
            raise ValueError("target_size must be non-negative")
        if target_fraction is not None and (target_fraction < 0 or target_fraction > 1):
            raise ValueError("target_fraction must be between 0 and 1")

        reclaimed, temp_size = 0, 0
        for path, size in _temp_files(self.tmp_dir):
            if remove_temp:
                try:
                    os.remove(path)
                    reclaimed += size
                    continue
                except FileNotFoundError:
                    continue  # renamed into place or removed by its writer meanwhile
                except OSError:
                    pass
            temp_size += size
        if temp_size:
            termwarn(
                f"Cache contains {human_size(temp_size)} of temporary files. "
                "Run `artefact artifact cache cleanup --remove-temp` to remove them."
            )
        if target_fraction is not None:
            _, objects_size = _core.cleanup(self.root, _MAX_TARGET)  # only measures
            target_size = int((objects_size + temp_size) * target_fraction)
        assert target_size is not None
        freed, remaining = _core.cleanup(self.root, max(0, target_size - temp_size))
        if remaining + temp_size > target_size:
            termerror(
                f"Failed to reclaim enough space in {self.root}. Try running"
                " `artefact artifact cache cleanup --remove-temp` to remove temporary files."
            )
        return reclaimed + freed

    def max_size(self) -> Optional[int]:
        """The cap: `ARTEFACT_CACHE_MAX` (e.g. `10GB`), default 100GB; `off` or `0` means none."""
        return _config.cache_max()

    def enforce_cap(self, added: Optional[int] = None) -> int:
        """Evict least recently used objects down to the cap (if one is set); bytes freed.
        `added`: bytes the caller just put in, checked against the running total (the
        cache is scanned only if it may be over); None counts the cache now."""
        cap = self.max_size()
        if cap is None:
            return 0
        if added is None:
            freed, _ = _core.cleanup(self.root, cap)
        else:
            freed, _ = _core.enforce_cap(self.root, cap, added)
        return freed


def _temp_files(root: str) -> Iterable[tuple[str, int]]:
    """(path, size) of the regular files under `root` (symlinks not followed). Temp files
    come and go while this runs (other processes finish their writes): one that vanishes
    between the listing and its stat is skipped, as is a directory that vanishes."""
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path, entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
