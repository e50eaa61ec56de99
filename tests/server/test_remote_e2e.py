"""The end-to-end suites (tests/e2e) run unchanged against `artefact server`, on a SQLite
and on a PostgreSQL catalog: the SDK, the CLI and worker processes all reach the server
through ARTEFACT_BASE_URL/ARTEFACT_API_KEY. ARTEFACT_STORE points at the server's blob
directory, so the assertions that count stored objects count the server's.

Left out, with their server-side equivalents in this directory: the corrupt-blob test
(it edits a blob through the embedded store's path; see test_faults.py) and the killed-
log test (it runs the embedded `artefact gc`; see test_faults.py)."""

from __future__ import annotations

import pytest

from tests.e2e import test_store_e2e as _e2e
from tests.e2e import test_wandb_script as _script

_SKIP = {"test_corrupt_store_blob_is_reported_and_never_placed", "test_killed_log_leaves_no_half_version_and_gc_cleans_up"}

for _module in (_e2e, _script):
    for _name in dir(_module):
        if _name.startswith("test_") and _name not in _SKIP:
            globals()[_name] = getattr(_module, _name)


@pytest.fixture(autouse=True)
def _through_the_server(remote, monkeypatch):
    monkeypatch.setenv("ARTEFACT_STORE", remote.blobs)
    monkeypatch.setenv("ARTEFACT_HTTP_RETRY_SECONDS", "10")
    yield
