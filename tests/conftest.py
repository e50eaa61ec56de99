"""Every test gets its own embedded store, cache, data and download dirs: nothing a test
does can reach the user's real store (the suites' own conftests refine this)."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("artefact-home")
    monkeypatch.setenv("ARTEFACT_STORE", str(base / "store"))
    monkeypatch.setenv("ARTEFACT_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("ARTEFACT_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("ARTEFACT_ARTIFACT_DIR", str(base / "artifacts"))
    monkeypatch.setenv("ARTEFACT_ENTITY", "tester")
    yield
    import artefact

    artefact.finish()
