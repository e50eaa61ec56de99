"""Artifact ids are per store (`Artifact:1` exists in every embedded store and on every
server), so a `wandb-artifact://` reference must resolve in the store it was made in,
never to a same-id instance this process fetched from another store earlier."""

from __future__ import annotations

import artefact


def _log(art):
    with artefact.init(project="refs") as run:
        return run.log_artifact(art).wait()


def test_a_reference_resolves_in_its_own_store_not_a_cached_one(tmp_path, monkeypatch):
    # Store one: "other" gets id Artifact:1 and is fetched (so this process caches it by id).
    monkeypatch.setenv("ARTEFACT_STORE", str(tmp_path / "one"))
    other = artefact.Artifact("other", "dataset")
    other.add(artefact.Table(columns=["z"], data=[[0]]), "unrelated")
    _log(other)
    first = artefact.Api().artifact("refs/other:latest")
    assert first.get("unrelated").columns == ["z"]

    # Store two: "tables" gets the same id; a reference to its entry must find it there.
    monkeypatch.setenv("ARTEFACT_STORE", str(tmp_path / "two"))
    tables = artefact.Artifact("tables", "dataset")
    tables.add(artefact.Table(columns=["a", "b"], data=[[1, "x"]]), "t1")
    logged = _log(tables)
    assert logged.id == first.id  # the collision this test is about
    refs = artefact.Artifact("tableref", "dataset")
    refs.add_reference(logged.get_entry("t1.table.json"), "t2.table.json")
    _log(refs)

    got = artefact.Api().artifact("refs/tableref:latest").get("t2")
    assert got.columns == ["a", "b"] and got.data == [[1, "x"]]
