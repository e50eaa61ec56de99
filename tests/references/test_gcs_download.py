"""Downloads of gs:// references against real wandb 0.31.0 on the same GCS emulator.

wandb's side: wandb/sdk/artifacts/storage_handlers/gcs_handler.py `load_path` (folder
entries skipped, the recorded generation else the live blob, etag compared), run by
`Artifact._download` (see _wandb_worker.py).
"""

from __future__ import annotations

import os

import pytest

from ._diff import Artefact, Wandb, contents, etag_cache, tree

pytestmark = pytest.mark.timeout(600)


def _both(tmp_path, refs, change=None, **options):
    wb, af = Wandb(tmp_path), Artefact()
    added_wb, added_af = wb.add(refs), af.add(refs)
    assert contents(added_af["manifest"]) == contents(added_wb["manifest"])
    if change is not None:
        change()
    root_wb, root_af = tmp_path / "root-wandb", tmp_path / "root-artefact"
    got_wb = wb.download(af.logged_manifest(), root_wb, **options)  # what the server returns
    got_af = af.download(root_af, **options)
    assert got_af == got_wb
    if "error" in got_wb:
        assert tree(root_af) == {}
    else:
        assert tree(root_af) == tree(root_wb)
        if not options.get("skip_cache"):
            assert etag_cache(os.environ["ARTEFACT_CACHE_DIR"]) == etag_cache(wb.cache)
    return got_wb, tree(root_wb)


def test_file_prefix_and_names(tmp_path, gcs):
    for name, body in {"d/a.txt": b"alpha", "d/sub/b.bin": os.urandom(3000), "d/folder/": b"",
                       "other.txt": b"o"}.items():  # fmt: skip
        gcs.blob(name).upload_from_string(body)
    b = gcs.name
    got, files = _both(tmp_path, [[f"gs://{b}/d/a.txt", {}], [f"gs://{b}/d", {"name": "all"}],
                                  [f"gs://{b}/other.txt", {"name": "x/o.txt"}]])  # fmt: skip
    assert got == {"ok": True}
    assert sorted(files) == ["a.txt", "all/a.txt", "all/sub/b.bin", "x/o.txt"]


def test_skip_cache_and_path_prefix(tmp_path, gcs):
    gcs.blob("p/keep/a.txt").upload_from_string(b"a")
    gcs.blob("p/drop/b.txt").upload_from_string(b"b")
    got, files = _both(tmp_path, [[f"gs://{gcs.name}/p", {}]], skip_cache=True, path_prefix="keep")
    assert got == {"ok": True} and files == {"keep/a.txt": b"a"}


@pytest.mark.parametrize("allow_missing", [False, True])
def test_changed_and_deleted_objects(tmp_path, gcs, allow_missing):
    gcs.blob("c/changed.txt").upload_from_string(b"before")
    gcs.blob("c/deleted.txt").upload_from_string(b"here")

    def change():
        gcs.blob("c/changed.txt").upload_from_string(b"after!")

    got, _ = _both(tmp_path, [[f"gs://{gcs.name}/c/changed.txt", {}]], change=change,
                   allow_missing_references=allow_missing)  # fmt: skip
    assert got["error"][0] == "ValueError" and "Digest mismatch for object" in got["error"][1]

    def delete():
        gcs.blob("c/deleted.txt").delete()

    got, _ = _both(tmp_path / "2", [[f"gs://{gcs.name}/c/deleted.txt", {}]], change=delete,
                   allow_missing_references=allow_missing)  # fmt: skip
    assert got["error"][0] == "ValueError" and "Unable to download object" in got["error"][1]
