"""After a log to the team server: the client's cache holds what was logged.

wandb-core copies logged files into the cache after an upload. With the remote backend
the cache is the only local copy of a version, and the next add of an unchanged file is
spared staging when the cache holds its content (staging.py points the stat cache's
"known objects" at the cache). So each staged copy (the mutable policy's private copy,
made and hashed at add time) is moved into the cache by a rename, not copied again and
then deleted; any other file is copied in, verified. Like every cache write this is not
fsynced: a lost cache object is fetched again.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

from .. import _core
from ..staging import staged_prefix

if TYPE_CHECKING:
    from ..cache import ArtifactCache

__all__ = ["fill_after_log"]


def _object_mode() -> int:
    """The mode a fresh file gets (staged copies are 0o400; downloads copy the mode)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fill_after_log(cache: "ArtifactCache", manifest: "_core.Manifest",
                   sent: Optional[set[tuple[str, str]]] = None) -> int:
    """Put the logged content of `manifest` into `cache`: staged copies moved in, other
    local files copied (skipping those it holds); with `sent`, only those of the other
    files whose `(algorithm, digest)` this log uploaded (the rest the server already had:
    a re-log's unchanged files, which the cache holds). Returns how many objects were added."""
    prefix = staged_prefix()
    moves: dict[str, tuple[str, int]] = {}  # cache object: (staged copy, size)
    others: dict[tuple[str, str], tuple[str, int]] = {}  # (digest, algorithm): (file, size)
    # The core picks the candidates (staged copies, and files of `sent`): a re-log of
    # 10,000 unchanged files then loops over the one it staged, not over every entry.
    for digest, alg, size, local in _core.local_entries(manifest, prefix, list(sent) if sent is not None else None):
        if local.startswith(prefix) and os.sep not in local[len(prefix):]:
            moves.setdefault(cache.object_path(digest, alg), (local, size))
        elif sent is None or (alg, digest) in sent:
            others.setdefault((digest, alg), (local, size))
    if not moves and not others:
        return 0
    cache.ensure_writable()
    added, count, per_file = 0, 0, False
    mode = _object_mode()
    made: set[str] = set()
    for dest, (staged, size) in moves.items():
        parent = os.path.dirname(dest)
        try:
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            os.chmod(staged, mode)
            os.replace(staged, dest)  # the same content under its digest: replacing is harmless
        except OSError:  # another filesystem, say: the per-file pass copies it
            per_file = True
            continue
        added, count = added + size, count + 1
    if others and not per_file:
        # In the Rust core, in parallel: objects the cache holds (a re-log's unchanged
        # files, spared staging because of it) cost one check each; others are copied,
        # verified while copying.
        items = [(src, digest, alg, False) for (digest, alg), (src, _size) in others.items()]
        try:
            written = _core.store_files(cache.root, items, "auto")
        except (OSError, ValueError):  # a file changed since it was added: reported per file
            per_file = True
        else:
            new = [size for (_src, size), w in zip(others.values(), written) if w]
            added, count = added + sum(new), count + len(new)
    if per_file:  # wandb's rules, file by file (a changed file is reported and skipped)
        count += cache.fill_after_log(manifest)
    elif added:
        cache.enforce_cap(added)
    return count
