"""Fixtures for the store tier: a private store, cache and data dir per test."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

from artefact import _core
from artefact.cache import ArtifactCache
from artefact.store import LocalStore

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_worker.py")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Nothing a test does may touch the user's real store or cache."""
    monkeypatch.setenv("ARTEFACT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cachedir"))
    monkeypatch.setenv("ARTEFACT_DATA_DIR", str(tmp_path / "datadir"))
    for name in ("ARTEFACT_CACHE_MAX", "ARTEFACT_CACHE_LINK", "ARTEFACT_FAILPOINT",
                 "ARTEFACT_GC_GRACE_SECONDS", "WANDB_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path) -> Iterator[LocalStore]:
    s = LocalStore.open(str(tmp_path / "store"))
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path) -> ArtifactCache:
    return ArtifactCache(str(tmp_path / "cache"))


def write_tree(root, files: dict[str, bytes | str]) -> str:
    """Create `files` (relative path -> content) under root; returns root."""
    for rel, content in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
    return str(root)


def manifest_of(root, files: dict[str, bytes | str] | None = None, algorithm: str = "MD5"):
    """A manifest of every file under root (written first if `files` is given)."""
    if files is not None:
        write_tree(root, files)
    m = _core.Manifest()
    m.add_dir(str(root), None, algorithm, "immutable", None, False, False)
    return m


def worker_cmd(*args: str) -> list[str]:
    return [sys.executable, WORKER, *args]
