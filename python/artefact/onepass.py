"""The immutable policy's one pass over a large file (see rust/core/src/onepass.rs).

wandb's immutable policy hashes a file when it is added and uploads it when the
artifact is logged: two reads, and with the embedded store a second full write. Here,
a file of `ARTEFACT_ONE_PASS_MIN` bytes or more (default 8MiB) is copied into the
staging dir while it is hashed, the hash running on the other core; logging to the
embedded store then renames that copy into the store. The entry's `local_path` stays
the user's file, as in wandb. A copy nobody logs is owner-tagged like a staged copy,
so `artefact gc` removes it once its process is gone.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from . import _core, config

__all__ = ["hash_immutable", "discard_precopies", "precopy_target", "put_dir_policy"]


def hash_immutable(path: str, algorithm: str) -> tuple[str, int]:
    """(digest, size) of `path` for an immutable entry, copying a large file toward
    the embedded store while hashing it (only hashing it for a team server, below the
    threshold, or where the staging dir is not on the store's filesystem)."""
    minimum = config.one_pass_min()
    if minimum is not None and not config.base_url():
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1  # hash_file names the problem
        if size >= minimum:
            staging = _staging_beside_store()
            if staging is not None:
                return _core.hash_and_precopy(path, staging, minimum, algorithm)
    return _core.hash_file(path, algorithm)


def put_dir_policy(policy: str) -> str:
    """The policy `artefact put DIR` adds with. Into the embedded store, a mutable put
    adds like an immutable one: the put reads each file once more as it logs it, into
    the store (small files into a pack, which is then the snapshot; large ones copied
    once), so no staging copy is written and removed. The version logged is the same
    (entries, digests, manifest); a file changed between the add and the log, moments
    apart in one command, fails the put naming it instead of being snapshotted early.
    For a team server the staged copies are the snapshot the upload reads: unchanged."""
    if policy == "mutable" and not config.base_url():
        return "immutable"
    return policy


def precopy_target() -> tuple[Optional[str], Optional[int]]:
    """(staging dir, minimum size) for an immutable `add_dir`'s one pass over its large
    files, or (None, None) where it does not apply (see `hash_immutable`)."""
    minimum = config.one_pass_min()
    if minimum is None or config.base_url():
        return None, None
    staging = _staging_beside_store()
    return (staging, minimum) if staging is not None else (None, None)


def discard_precopies(local_paths: Iterable[Optional[str]]) -> int:
    """Remove the pre-copies made for these files (a log that failed); how many."""
    if not _core.precopies_pending():
        return 0
    return _core.discard_precopies([p for p in local_paths if p])


def _staging_beside_store() -> Optional[str]:
    """The staging dir, if it is on the embedded store's filesystem (a rename then
    moves a copy in); None otherwise, or if it cannot be made."""
    from .staging import get_staging_dir
    from .store.blobs import default_store_root

    try:
        staging = get_staging_dir()
        store = os.path.abspath(default_store_root())
        while not os.path.exists(store):
            parent = os.path.dirname(store)
            if parent == store:
                return None
            store = parent
        return staging if os.stat(staging).st_dev == os.stat(store).st_dev else None
    except OSError:
        return None
