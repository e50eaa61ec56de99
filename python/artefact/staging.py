"""The staging dir: where the "mutable" policy keeps a private copy of each added file.

Copies are made by `_core.stage_file` (copy and hash in one pass, mode 0o400, wandb's
`tmpXXXXXXXX` names), so a file changed after `add_file` cannot corrupt the upload.
With the embedded store, logging moves each staged copy into the store (a rename, when
both are on one filesystem, as by default): the copy made when adding is the only one.

Leaks: the name of a staged copy carries its process's owner tag (`tmp<tag>.....`), and
the process holds a shared lock on `<staging>-owners/<tag>.lock` while it lives (see
rust/core/src/stage.rs). `remove_stale` (run by `gc`) deletes the copies of owners that
are gone, e.g. killed before their log committed; copies without an owner lock (made by
wandb, say) once they are older than the grace period.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
import time
from typing import Iterator, Optional

from . import _core
from . import config

__all__ = ["get_staging_dir", "skipping_packed", "stage_file", "clean_staged_copies", "staged_paths", "remove_stale",
           "remove_staged", "settle_removals"]

_STAGED_NAME = re.compile(r"tmp[a-z0-9_]{8}\Z")


def get_staging_dir() -> str:
    """Create (if needed) and return the absolute staging dir.

    Raises:
        PermissionError: with wandb's message if the dir cannot be created.
    """
    path = config.staging_dir_path()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise PermissionError(
            f"Unable to write staging files to {path}. To fix this problem, please set "
            "WANDB_DATA_DIR to a directory where you have the necessary write access."
        ) from e
    from .store.blobs import default_store_root

    # Content the embedded store already holds is not staged again (see stage.rs). With
    # the team server, the cache holds what was logged (remote/cache_fill.py).
    if config.base_url():
        from .remote.direct_upload import staging_part_size

        _core.set_known_objects(config.artifacts_cache_dir())
        # A server whose blobs live in S3: large copies are hashed in its parts as well.
        _core.set_staging_part_size(staging_part_size())
    else:
        _core.set_known_objects(os.path.join(default_store_root(), "objects"))
        _core.set_staging_part_size(0)
    return os.path.abspath(os.path.expanduser(path))


@contextlib.contextmanager
def skipping_packed(root: str, algorithm: str) -> Iterator[None]:
    """While a mutable `add_dir(root)` runs: files the stat cache knows whose content the
    embedded store holds in a pack are not staged (as for loose objects, see stage.rs);
    their entries keep the original's path, and the log stores them again from it
    (verified) should the pack's row be gone by then. Nothing changes with a team server
    or the stat cache off. A store without packs costs one query; with packs, a walk and
    one query per 500 digests the cache knows under `root`: never the whole pack table.
    The set is process-wide: an add in another thread at the same time may lose the skip
    (it stages, as before), never skip content the store lacks."""
    digests = _packed_known(root, algorithm)
    if digests is None:
        yield
        return
    _core.set_known_packed(algorithm, digests)
    try:
        yield
    finally:
        _core.set_known_packed(algorithm, None)


def _packed_known(root: str, algorithm: str) -> Optional[list[str]]:
    """The digests of known files under `root` that the store holds in packs; None if
    there is nothing to ask (no store, no packs, no stat cache, a team server)."""
    if config.base_url() or config.statcache_path() is None:
        return None
    from .store import pack_rows
    from .store.blobs import default_store_root

    catalog = os.path.join(default_store_root(), "catalog.db")
    if not os.path.isfile(catalog):
        return None
    import sqlite3

    try:  # a reader of its own: no migration, no lock; any trouble only means staging
        conn = sqlite3.connect(catalog, timeout=5.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        if not pack_rows.has_rows(conn):
            return None
        known = _core.known_digests(os.fspath(root), algorithm)
        if not known:
            return None
        return [d for _, d in pack_rows.held(None, [(algorithm, d) for d in known], conn)]
    except sqlite3.Error:  # an older schema (no pack tables), say
        return None
    finally:
        conn.close()


def stage_file(src: str, algorithm: str) -> tuple[str, int, str]:
    """Copy `src` into the staging dir while hashing it: (digest, size, staged path)."""
    return _core.stage_file(os.fspath(src), get_staging_dir(), algorithm)


def staged_prefix() -> str:
    """The staging dir with a trailing separator: a local path starting with it is a
    staged copy this library made (and may move or delete)."""
    return os.path.abspath(os.path.expanduser(config.staging_dir_path())) + os.sep


def staged_paths(core_manifest: "_core.Manifest") -> list[str]:
    """Local paths of the manifest's entries that are staged copies."""
    return _core.staged_local_paths(core_manifest, staged_prefix())  # one pass in the core, no tuple per entry


def clean_staged_copies(core_manifest: "_core.Manifest") -> int:
    """Delete the staged copies a logged manifest points at (wandb-core does this after a
    save); returns how many were removed. Files outside the staging dir are never touched.
    Copies moved into the store by the log are already gone, and those a pack took in are
    being removed on a thread (`remove_staged`): one listing of the staging dir, less
    those, spares a second unlink for each of them."""
    try:
        present = set(os.listdir(staged_prefix()))
    except FileNotFoundError:
        return 0
    with _removals_lock:
        present.difference_update(_being_removed)
    if not present:
        return 0
    cut = len(staged_prefix())
    return _core.remove_files([p for p in staged_paths(core_manifest) if p[cut:] in present])


# More staged copies than this are removed on a thread of their own.
_BACKGROUND_AFTER = 64
_removals: list[threading.Thread] = []
_being_removed: set[str] = set()  # names (in the staging dir) a removal thread has yet to finish
_removals_lock = threading.Lock()


def remove_staged(paths: list[str]) -> None:
    """Remove staged copies whose bytes are now in the store (after the commit). Many go
    on a thread of their own: the version is committed and durable already, so `wait()`
    does not wait for thousands of unlinks (10k: ~60 ms); the interpreter joins the
    thread at exit (`settle_removals` joins it sooner), and copies left by a process
    killed first are removed by `remove_stale` (their owner is dead)."""
    if len(paths) <= _BACKGROUND_AFTER:
        if paths:
            _core.remove_files(paths)
        return
    names = {os.path.basename(p) for p in paths}

    def remove() -> None:
        try:
            _core.remove_files(paths)
        finally:
            with _removals_lock:
                _being_removed.difference_update(names)

    t = threading.Thread(target=remove, name="artefact-remove-staged")
    with _removals_lock:
        _being_removed.update(names)
    try:
        t.start()
    except RuntimeError:  # no new threads at interpreter shutdown (an atexit log)
        remove()
        return
    with _removals_lock:
        _removals[:] = [x for x in _removals if x.is_alive()]
        _removals.append(t)


def settle_removals() -> None:
    """Wait until every staged copy `remove_staged` was given is removed."""
    with _removals_lock:
        pending, _removals[:] = list(_removals), []
    for t in pending:
        t.join()


def remove_stale(grace_seconds: float, now: Optional[float] = None) -> tuple[int, int]:
    """Delete staged copies nobody will log: those of owners no longer alive (any age),
    and untagged ones older than `grace_seconds`. Returns (files removed, bytes freed)."""
    import fcntl

    staging = os.path.abspath(os.path.expanduser(config.staging_dir_path()))
    owners = staging + "-owners"
    now = time.time() if now is None else now
    by_tag: dict[Optional[str], list[os.DirEntry]] = {}
    try:
        with os.scandir(staging) as it:
            for e in it:
                if e.is_file(follow_symlinks=False):
                    tag = e.name[3:6] if _STAGED_NAME.match(e.name) else None
                    by_tag.setdefault(tag, []).append(e)
    except FileNotFoundError:
        pass
    try:
        with os.scandir(owners) as it:
            for e in it:  # owners with nothing staged: their lock files go too
                if e.name.endswith(".lock"):
                    by_tag.setdefault(e.name[: -len(".lock")], [])
    except FileNotFoundError:
        pass
    removed = freed = 0
    for tag, entries in by_tag.items():
        lock = os.path.join(owners, f"{tag}.lock") if tag is not None else None
        try:
            fd = os.open(lock, os.O_RDWR) if lock else -1
        except FileNotFoundError:
            fd = -1
        if fd < 0:
            for e in entries:  # no owner on record: by age, as other temp files
                n = _unlink_if(e.path, lambda st: st.st_mtime <= now - grace_seconds)
                removed, freed = removed + (n is not None), freed + (n or 0)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # a live process owns them
                raise
            for e in entries:
                n = _unlink_if(e.path, lambda st: True)
                removed, freed = removed + (n is not None), freed + (n or 0)
            try:
                os.unlink(lock)  # under the lock: a new owner re-checks and retries
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)
    return removed, freed


def _unlink_if(path: str, old_enough) -> Optional[int]:  # noqa: ANN001
    """Unlink `path` if `old_enough(stat)`; its size, or None if kept or gone."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if not old_enough(st):
            return None
        os.unlink(path)
    except FileNotFoundError:
        return None
    return st.st_size
