"""Every test gets its own embedded store, cache, data and download dirs: nothing a test
does can reach the user's real store (the suites' own conftests refine this)."""

import gc

# Imported now, so pytest rewrites (and ast-parses) hypothesis's modules at start-up and
# not in its terminal summary: CPython 3.11's AST conversion is not re-entrant, and a
# garbage-collected object whose __del__ fails there (its traceback is formatted with
# ast.parse) ends the run with "AST constructor recursion depth mismatch".
import hypothesis  # noqa: F401
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
    gc.collect()  # finalizers run here, not inside a later ast.parse (see above)
