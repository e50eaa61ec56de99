"""The staging dir: where the "mutable" policy keeps a private copy of each added file.

Copies are made by `_core.stage_file` (copy and hash in one pass, mode 0o400, wandb's
`tmpXXXXXXXX` names), so a file changed after `add_file` cannot corrupt the upload.
"""

from __future__ import annotations

import os

from . import _core
from . import config


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
    return os.path.abspath(os.path.expanduser(path))


def stage_file(src: str, algorithm: str) -> tuple[str, int, str]:
    """Copy `src` into the staging dir while hashing it: (digest, size, staged path)."""
    return _core.stage_file(os.fspath(src), get_staging_dir(), algorithm)


def clean_staged_copies(core_manifest: "_core.Manifest") -> int:
    """Delete the staged copies a logged manifest points at (wandb-core does this after a
    save); returns how many were removed. Files outside the staging dir are never touched."""
    staging = os.path.abspath(config.staging_dir_path()) + os.sep
    removed = 0
    for entry in core_manifest.entries():
        local = entry[6]
        if not local or not os.path.abspath(local).startswith(staging):
            continue
        try:
            os.chmod(local, 0o600)
            os.remove(local)
            removed += 1
        except FileNotFoundError:
            pass
    return removed
