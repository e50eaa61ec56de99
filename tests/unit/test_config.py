"""Environment knobs: artefact variables win over wandb's, read at call time."""

from __future__ import annotations

import os

from artefact import config


def test_dirs_prefer_artefact_variables_then_wandb(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "w"))
    assert config.data_dir() == str(tmp_path / "data")  # ARTEFACT_DATA_DIR from the fixture
    monkeypatch.delenv("ARTEFACT_DATA_DIR")
    assert config.data_dir() == str(tmp_path / "w")
    assert config.staging_dir_path() == os.path.join(str(tmp_path / "w"), "artifacts", "staging")
    monkeypatch.delenv("ARTEFACT_CACHE_DIR")
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wc"))
    assert config.artifacts_cache_dir() == os.path.join(str(tmp_path / "wc"), "artifacts")


def test_defaults(monkeypatch, tmp_path):
    for var in ("ARTEFACT_DATA_DIR", "ARTEFACT_CACHE_DIR", "ARTEFACT_ARTIFACT_DIR"):
        monkeypatch.delenv(var)
    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_ARTIFACT_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert config.data_dir() == os.path.join(str(tmp_path), ".local", "share", "artefact")
    assert config.cache_dir() == os.path.join(str(tmp_path), ".cache", "artefact")
    assert config.artifact_dir() == os.path.join(str(tmp_path), "artifacts")


def test_v1_layout_and_quiet(monkeypatch):
    assert config.storage_layout() == "V2"
    monkeypatch.setenv("_WANDB_USE_V1_ARTIFACTS", "false")
    assert config.storage_layout() == "V1"
    monkeypatch.delenv("ARTEFACT_QUIET")
    monkeypatch.delenv("WANDB_SILENT")
    assert not config.quiet()
    monkeypatch.setenv("WANDB_SILENT", "True")
    assert config.quiet()
    monkeypatch.setenv("WANDB_SILENT", "no")
    monkeypatch.setenv("ARTEFACT_QUIET", "1")
    assert config.quiet()
