"""Fixtures for the hardening tier: a private store and cache per test, a logged
artifact, and small filesystems mounted by the test itself (root only)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_worker.py")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Nothing a test does may touch the user's real store or cache."""
    monkeypatch.setenv("ARTEFACT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cachedir"))
    monkeypatch.setenv("ARTEFACT_DATA_DIR", str(tmp_path / "datadir"))
    monkeypatch.setenv("ARTEFACT_QUIET", "1")
    for name in ("ARTEFACT_CACHE_MAX", "ARTEFACT_CACHE_LINK", "WANDB_CACHE_DIR", "ARTEFACT_THREADS"):
        monkeypatch.delenv(name, raising=False)


def cli(*args: str, check: bool = True, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `artefact` command in a fresh process."""
    p = subprocess.run([sys.executable, "-m", "artefact", *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"artefact {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def worker(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, WORKER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def write_files(root, files: dict[str, bytes]) -> str:
    for rel, data in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return str(root)


def put(src: str, name: str = "ds") -> None:
    cli("put", src, "--name", name, "--type", "dataset")


def tree(root: str) -> dict[str, bytes]:
    """Every file under root by relative path (symlinks not followed)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


@pytest.fixture
def small_fs(tmp_path) -> Iterator[str]:
    """A 6 MiB tmpfs mounted at a fresh directory (skipped where it cannot be mounted)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def readonly_fs(tmp_path) -> Iterator[str]:
    """A read-only directory: chmod 0555 for a normal user; a read-only tmpfs for root
    (who ignores permissions). Skipped where neither works."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0:
        mnt.chmod(0o555)
        yield str(mnt)
        mnt.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.strip()}")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
