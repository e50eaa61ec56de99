"""Fixtures for the pytest-benchmark suites (`pytest benches/`; not part of the default run,
whose testpaths is tests/).

Trees are made once per session. Nothing a benchmark writes is deleted between rounds
(BENCHMARKING.md quirk 1: file creation crawls for minutes after a mass delete).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import KiB, MiB, TreeSpec, make_tree  # noqa: E402


@pytest.fixture(scope="session")
def buffer_64mib() -> bytes:
    return random.Random(0).randbytes(64 * MiB)


@pytest.fixture(scope="session")
def file_64mib(tmp_path_factory: pytest.TempPathFactory, buffer_64mib: bytes) -> Path:
    p = tmp_path_factory.mktemp("big") / "blob.bin"
    p.write_bytes(buffer_64mib)
    return p


@pytest.fixture(scope="session")
def tree_1k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 files x 4 KiB (case A at --quick size)."""
    path, _ = make_tree(str(tmp_path_factory.mktemp("tree")), TreeSpec("A", 1_000, 4 * KiB))
    return Path(path)


@pytest.fixture(scope="session")
def sdk_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Offline, silent, private data/cache dirs for in-process SDK use."""
    base = tmp_path_factory.mktemp("sdk")
    env = {
        "WANDB_MODE": "offline", "WANDB_SILENT": "true", "ARTEFACT_QUIET": "true",
        "WANDB_DIR": str(base / "wandb"), "WANDB_CONFIG_DIR": str(base / "config"),
        "WANDB_DATA_DIR": str(base / "data"), "ARTEFACT_DATA_DIR": str(base / "data"),
        "WANDB_CACHE_DIR": str(base / "cache"), "ARTEFACT_CACHE_DIR": str(base / "cache"),
    }
    for k in ("wandb", "config", "data", "cache"):
        (base / k).mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield base


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the pytest-benchmark plugin (absent or `-p no:benchmark`), skip, don't error."""
    if config.pluginmanager.hasplugin("benchmark"):
        return
    skip = pytest.mark.skip(reason="pytest-benchmark plugin not active")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
