"""Fixtures for the unit tests: an isolated environment per test and wandb as an oracle."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# One dir for wandb's own state in this session, removed when the session ends.
_WANDB_ROOT = tempfile.mkdtemp(prefix="artefact-unit-wandb-")
atexit.register(shutil.rmtree, _WANDB_ROOT, ignore_errors=True)
_ISOLATED_VARS = (
    "ARTEFACT_DATA_DIR", "WANDB_DATA_DIR", "ARTEFACT_CACHE_DIR", "WANDB_CACHE_DIR",
    "ARTEFACT_ARTIFACT_DIR", "WANDB_ARTIFACT_DIR", "_WANDB_USE_V1_ARTIFACTS",
    "ARTEFACT_QUIET", "WANDB_SILENT", "ARTEFACT_DEBUG", "WANDB_DEBUG",
)  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Data, cache and artifact dirs under tmp_path; quiet; no V1 layout."""
    for var in _ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ARTEFACT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ARTEFACT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    # wandb (the oracle) uses its own dirs, never ours.
    for name, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"),
                      ("WANDB_ARTIFACT_DIR", "artifacts"), ("WANDB_DIR", "dir"),
                      ("WANDB_CONFIG_DIR", "config")):  # fmt: skip
        monkeypatch.setenv(name, os.path.join(_WANDB_ROOT, sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("ARTEFACT_QUIET", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path


@pytest.fixture(scope="session")
def wandb():
    """The real wandb 0.31.0 (skips the test if it is not installed).

    Imported with offline settings that are restored afterwards, so nothing leaks into
    other suites; each test gets wandb's variables from `isolated_env`.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_SILENT", "true")
        for name, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DIR", "dir"),
                          ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):  # fmt: skip
            patch.setenv(name, os.path.join(_WANDB_ROOT, sub))
        return pytest.importorskip("wandb")
