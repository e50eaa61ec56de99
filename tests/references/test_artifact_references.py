"""`wandb-artifact://` references: added from logged artifacts, downloaded, read with get().

wandb 0.31.0 needs its server for these (storage_handlers/wb_artifact_handler.py resolves
ids with `Api()._artifact_from_id`), so the expected behaviour is taken from its source:
- `store_path` follows reference chains to the concrete entry and records
  `wandb-artifact://<hex id of that artifact>/<path>` with the entry's digest and size 0;
- `load_path(local=True)` downloads the other artifact's entry (to that artifact's own
  default root) and the entry is then copied into the root being downloaded;
- `Artifact.get` (artifact.py) of an entry that references another artifact returns
  `<that artifact>.get(<path>)`, without downloading the referencing artifact.
"""

from __future__ import annotations

import os

import pytest

import artefact
from artefact import instance_cache

from ._diff import tree


def _log(art):
    with artefact.init(project="refs") as run:
        return run.log_artifact(art).wait()


@pytest.fixture
def source():
    art = artefact.Artifact("src", "dataset")
    with art.new_file("f.txt") as f:
        f.write("hello")
    with art.new_file("sub/g.bin", mode="wb") as f:
        f.write(os.urandom(5000))
    logged = _log(art)
    instance_cache.by_id.pop(logged.id, None)  # resolved from the store, as from wandb's server
    return logged


def test_add_from_what_log_artifact_returned(source):
    dst = artefact.Artifact("dst", "dataset")
    [entry] = dst.add_reference(source.get_entry("f.txt"))
    hex_id = base_hex(source.id)
    assert (entry.path, entry.ref, entry.size) == ("f.txt", f"wandb-artifact://{hex_id}/f.txt", 0)
    assert entry.digest == source.manifest.entries["f.txt"].digest
    assert dst.manifest.to_manifest_json()["contents"] == {
        "f.txt": {"digest": entry.digest, "ref": f"wandb-artifact://{hex_id}/f.txt", "size": 0}
    }


def base_hex(artifact_id: str) -> str:
    import base64

    return base64.standard_b64decode(artifact_id).hex()


def test_add_from_api_and_use_artifact_and_chains(source):
    fetched = artefact.Api().artifact("refs/src:latest")
    middle = artefact.Artifact("middle", "dataset")
    middle.add_reference(fetched.get_entry("sub/g.bin"), name="g.bin")
    middle_logged = _log(middle)
    with artefact.init(project="refs") as run:
        used = run.use_artifact("middle:latest")
        top = artefact.Artifact("top", "dataset")
        [entry] = top.add_reference(used.get_entry("g.bin"), name="again.bin")
    # the chain is followed to the artifact that holds the bytes
    assert entry.ref == f"wandb-artifact://{base_hex(source.id)}/sub/g.bin"
    assert middle_logged.id != source.id


def test_download_places_the_referenced_bytes(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dst = artefact.Artifact("dst", "dataset")
    dst.add_reference(source.get_entry("f.txt"))
    dst.add_reference(source.get_entry("sub/g.bin"), name="copy/g.bin")
    with dst.new_file("own.txt") as f:
        f.write("own")
    logged = _log(dst)
    for skip_cache in (False, True):
        root = tmp_path / f"out-{skip_cache}"
        logged.download(str(root), skip_cache=skip_cache)
        src_files = tree(source.download(str(tmp_path / "src-root")))
        assert tree(root) == {"f.txt": b"hello", "copy/g.bin": src_files["sub/g.bin"], "own.txt": b"own"}
    # as wandb: the referenced entry went to the source artifact's own default root first
    default_root = os.environ["ARTEFACT_ARTIFACT_DIR"]
    with open(os.path.join(default_root, "src:v0", "f.txt"), "rb") as f:
        assert f.read() == b"hello"
    # and one entry alone
    one = logged.get_entry("copy/g.bin").download(str(tmp_path / "one"))
    assert open(one, "rb").read() == src_files["sub/g.bin"]


def test_a_deleted_source_fails_before_anything_is_placed(source, tmp_path):
    dst = artefact.Artifact("dst", "dataset")
    dst.add_reference(source.get_entry("f.txt"))
    with dst.new_file("own.txt") as f:
        f.write("own")
    logged = _log(dst)
    artefact.Api().artifact("refs/src:v0").delete(delete_aliases=True)
    instance_cache.by_id.pop(source.id, None)
    with pytest.raises(artefact.errors.Error, match="is not in this process nor in the artifact store"):
        logged.download(str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_get_table_through_a_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = artefact.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])
    tables = artefact.Artifact("tables", "dataset")
    tables.add(table, "t1")
    logged_tables = _log(tables)
    refs = artefact.Artifact("tableref", "dataset")
    refs.add_reference(logged_tables.get_entry("t1.table.json"), "t2.table.json")
    logged_refs = _log(refs)
    instance_cache.by_id.pop(logged_tables.id, None)

    got = artefact.Api().artifact("refs/tableref:latest").get("t2")
    assert isinstance(got, artefact.Table)
    assert got.columns == ["a", "b"] and got.data == [[1, "x"], [2, "y"]]
    # read from the referenced artifact, which was downloaded; the referencing one was not
    default_root = os.environ["ARTEFACT_ARTIFACT_DIR"]
    assert os.path.isfile(os.path.join(default_root, "tables:v0", "t1.table.json"))
    assert logged_refs.name == "tableref:v0"
    assert not os.path.exists(os.path.join(default_root, "tableref:v0"))
