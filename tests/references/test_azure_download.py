"""Downloads of Azure blob references against real wandb 0.31.0 on the same endpoint.

The endpoint is tests/references/_azure_fake.py (no Azure emulator is on PyPI): the REST
calls azure-storage-blob makes for wandb's storage_handlers/azure_handler.py, SharedKey
signatures checked. wandb's side: `AzureHandler.load_path` run by `Artifact._download`
(see _wandb_worker.py), with the account key from its run setting
`azure_account_url_to_access_key`, artefact's from ARTEFACT_AZURE_ACCOUNT_KEYS.
"""

from __future__ import annotations

import os

import pytest

from ._diff import Artefact, Wandb, contents, etag_cache, tree

pytestmark = pytest.mark.timeout(600)


def _both(tmp_path, refs, change=None, **options):
    wb, af = Wandb(tmp_path), Artefact()
    added_wb, added_af = wb.add(refs), af.add(refs)
    assert "manifest" in added_wb, added_wb
    assert contents(added_af["manifest"]) == contents(added_wb["manifest"])
    if change is not None:
        change()
    root_wb, root_af = tmp_path / "root-wandb", tmp_path / "root-artefact"
    got_wb = wb.download(af.logged_manifest(), root_wb, **options)
    got_af = af.download(root_af, **options)
    assert got_af == got_wb
    if "error" in got_wb:
        assert tree(root_af) == {}
    else:
        assert tree(root_af) == tree(root_wb)
        if not options.get("skip_cache"):
            assert etag_cache(os.environ["ARTEFACT_CACHE_DIR"]) == etag_cache(wb.cache)
    return got_wb, tree(root_wb)


def test_blob_prefix_and_versions(tmp_path, azure):
    store, account, url = azure
    store.put(account, "cont", "d/a.txt", b"alpha")
    store.put(account, "cont", "d/sub/b.bin", os.urandom(2000))
    store.put(account, "cont", "d/folder", b"", {"hdi_isfolder": "true"})
    store.put(account, "cont", "v.txt", b"first")

    def overwrite():
        store.put(account, "cont", "v.txt", b"second")  # the recorded version is kept

    got, files = _both(tmp_path, [[f"{url}/cont/d", {}], [f"{url}/cont/v.txt", {"name": "pinned.txt"}]],
                       change=overwrite)  # fmt: skip
    assert got == {"ok": True}
    assert files["pinned.txt"] == b"first" and sorted(files) == ["a.txt", "pinned.txt", "sub/b.bin"]


def test_skip_cache_and_path_prefix(tmp_path, azure):
    store, account, url = azure
    store.put(account, "cont", "p/keep/a.txt", b"a")
    store.put(account, "cont", "p/drop/b.txt", b"b")
    got, files = _both(tmp_path, [[f"{url}/cont/p", {}]], skip_cache=True, path_prefix="keep")
    assert got == {"ok": True} and files == {"keep/a.txt": b"a"}


def test_deleted_version_is_an_error(tmp_path, azure):
    store, account, url = azure
    store.put(account, "cont", "gone.txt", b"soon gone")

    def purge():
        store.delete(account, "cont", "gone.txt", purge=True)

    got, _ = _both(tmp_path, [[f"{url}/cont/gone.txt", {}]], change=purge, allow_missing_references=True)
    assert got["error"][0] == "ResourceNotFoundError"
