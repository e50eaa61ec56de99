"""Small real filesystems for fault tests: a tmpfs mounted by the test itself.

Mounting needs root (CI runs as root); where it is impossible the test is skipped
with the reason, never faked.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import Iterator

import pytest


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


@contextlib.contextmanager
def tmpfs(path: str, size: str = "1m") -> Iterator[str]:
    """Mount a tmpfs of `size` at `path` (created) for the duration; skips if it cannot."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _run("mount", "-o", "remount,rw", path)
        done = _run("umount", path)
        if done.returncode != 0:  # a child still has a file open: detach lazily
            _run("umount", "-l", path)


def remount_read_only(path: str) -> None:
    """Make a tmpfs from `tmpfs()` read-only (root ignores file modes, not this)."""
    done = _run("mount", "-o", "remount,ro", path)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")


def fill(path: str) -> None:
    """Fill the filesystem holding `path` until a write fails with ENOSPC."""
    with open(os.path.join(path, "filler"), "wb") as f:
        chunk = b"\0" * 65536
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    # the last partial block: byte by byte
    with open(os.path.join(path, "filler2"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
