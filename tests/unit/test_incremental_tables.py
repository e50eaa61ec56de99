"""`run.log` of a Table with `log_mode="INCREMENTAL"` as wandb 0.31.0: each log after rows
were added stores only the new rows, as the next version of `run-<id>-incr-<key>` (type
`wandb-run-incremental-table`), with an `incremental-table-file` history value.

Compared with a real offline wandb run (`history_dict_to_json`, what wandb's `run.log`
applies) where it happens client-side. The server side — each version of an incremental
artifact holds the latest version's entries plus the new one (wandb/sdk/interface/
interface.py sets `incremental_beta1`), which `Table.from_json` reads back in order
(wandb/sdk/data_types/table.py `_get_data_from_increments`) — is cited.
"""

from __future__ import annotations

import json
import os
import re

import pytest

import artefact
from artefact.errors import Error

_STABLE = ("_type", "sha256", "size", "path", "increment_num", "ncols", "nrows", "log_mode")
_ENTRY = re.compile(r"^(None|\d+)-(\d{13})\.inc\.table\.json$")


@pytest.fixture()
def wandb_run(wandb, tmp_path):
    run = wandb.init(project="incremental", dir=str(tmp_path / "wandb-run"))
    yield run
    run.finish()


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _api() -> "artefact.Api":
    return artefact.Api(overrides={"entity": "e", "project": "p"})


def _steps(table):
    """The log sequence both SDKs run: log, log unchanged, add two rows, log, add one, log."""
    yield
    yield
    table.add_data(2, "y")
    table.add_data(3, None)
    yield
    table.add_data(4, "w")
    yield


def _wandb_side(wandb, run):
    from wandb.sdk.data_types.utils import history_dict_to_json

    table = wandb.Table(columns=["a", "b"], data=[[1, "x"]], log_mode="INCREMENTAL")
    values, files, entries = [], [], []
    for step, _ in enumerate(_steps(table)):
        value = json.loads(json.dumps(history_dict_to_json(run, {"inc": table}, step=step)["inc"]))
        values.append(value)
        with open(os.path.join(run.dir, value["path"]), "rb") as f:
            files.append(f.read())
        art = table._artifact_target.artifact
        (name,) = art.manifest.entries
        with open(art.manifest.entries[name].local_path, "rb") as f:
            entries.append((art.name, art.type, name, f.read()))
    return values, files, entries


def _path_map(theirs: list, ours: list) -> dict:
    """Their increment references -> ours (theirs are offline client ids, ours store ids)."""
    mapping = {}
    for t, o in zip(theirs, ours):
        mapping[t["artifact_path"]] = o["artifact_path"]
    return mapping


def test_incremental_table_matches_wandb(wandb, wandb_run):
    theirs, their_files, their_entries = _wandb_side(wandb, wandb_run)

    with artefact.init(project="p", entity="e") as run:
        table = artefact.Table(columns=["a", "b"], data=[[1, "x"]], log_mode="INCREMENTAL")
        our_files = []
        for _ in _steps(table):
            run.log({"inc": table})
            value = run.summary["inc"]
            with open(os.path.join(run.dir, value["path"]), "rb") as f:
                our_files.append(f.read())
        run_id = run.id
    ours = [row["inc"] for row in _api().run(run_id).history()]

    # History values: same keys in the same order, same stable values, same chaining.
    assert [list(v) for v in ours] == [list(v) for v in theirs]
    assert [{k: v[k] for k in _STABLE} for v in ours] == [{k: v[k] for k in _STABLE} for v in theirs]
    assert [v["increment_num"] for v in ours] == [0, 0, 1, 2]
    for values in (ours, theirs):
        assert values[1]["artifact_path"] == values[0]["artifact_path"]  # unchanged: not logged again
        assert [v["previous_increments_paths"] for v in values] == [
            [], [], [values[0]["artifact_path"]], [values[0]["artifact_path"], values[2]["artifact_path"]]]
    assert our_files == their_files  # the run's media/table copies: only the new rows

    # The increments: one version each, entry names "<increment>-<epoch ms>.inc.table.json".
    versions = [_api().artifact(f"run-{run_id}-incr-inc:v{n}") for n in range(3)]
    with pytest.raises(Exception):
        _api().artifact(f"run-{run_id}-incr-inc:v3")
    their_logged = [their_entries[i] for i in (0, 2, 3)]
    mapping = _path_map([theirs[i] for i in (0, 2, 3)], [ours[i] for i in (0, 2, 3)])
    seen: set = set()
    for version, (their_name, their_type, their_entry, their_bytes) in zip(versions, their_logged):
        assert their_name == f"run-{wandb_run.id}-incr-inc" and their_type == "wandb-run-incremental-table"
        assert (version.source_name.split(":")[0], version.type) == (f"run-{run_id}-incr-inc", their_type)
        (new,) = set(version.manifest.entries) - seen
        seen |= set(version.manifest.entries)
        assert set(version.manifest.entries) == seen  # the latest's entries plus the new one (cited)
        assert _ENTRY.match(new).group(1) == _ENTRY.match(their_entry).group(1)
        with open(version.get_entry(new).download(), "rb") as f:
            our_bytes = f.read()
        their_text = their_bytes.decode()
        for their_path, our_path in mapping.items():
            their_text = their_text.replace(their_path, our_path)
        assert our_bytes == their_text.encode()
    assert versions[0].manifest.entries and ours[0]["artifact_path"].endswith(
        "/" + next(iter(versions[0].manifest.entries)))

    # Read back: the latest version's table holds every increment's rows, in order (cited).
    latest = _api().artifact(f"run-{run_id}-incr-inc:latest")
    last_entry = ours[-1]["artifact_path"].rsplit("/", 1)[1][: -len(".table.json")]
    read = latest.get(last_entry)
    assert read.log_mode == "INCREMENTAL"
    assert read.data == [[1, "x"], [2, "y"], [3, None], [4, "w"]]


def test_an_incremental_table_goes_to_one_run():
    """wandb/sdk/data_types/table.py `_set_incremental_table_run_target`: AssertionError;
    artefact checks before the row stores anything."""
    table = artefact.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with artefact.init(project="p", entity="e") as first:
        first.log({"inc": table})
    table.add_data(2)
    with artefact.init(project="p", entity="e") as second:
        with pytest.raises(AssertionError, match="An incremental Table can only be logged to one Run."):
            second.log({"other": artefact.Table(columns=["a"], data=[[1]]), "inc": table, "x": 1})
        second_id = second.id
    assert _api().run(second_id).history() == []
    assert list(_api().run(second_id).logged_artifacts()) == []


def test_a_resumed_run_continues_the_increments():
    """wandb/sdk/data_types/table.py `_load_incremental_table_state_from_resumed_run`: a new
    INCREMENTAL table logged to the key of a resumed run is the next increment (it needs
    the run's summary from a server in wandb)."""
    with artefact.init(project="p", entity="e") as run:
        run.log({"inc": artefact.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")})
        run_id = run.id
        first = run.summary["inc"]
    with artefact.init(project="p", entity="e", id=run_id, resume="allow") as run:
        assert run.resumed
        run.log({"inc": artefact.Table(columns=["a"], data=[[2], [3]], log_mode="INCREMENTAL")})
        second = run.summary["inc"]
    assert (second["increment_num"], second["previous_increments_paths"]) == (1, [first["artifact_path"]])
    assert second["nrows"] == 2
    latest = _api().artifact(f"run-{run_id}-incr-inc:latest")
    assert latest.get(second["artifact_path"].rsplit("/", 1)[1][: -len(".table.json")]).data == [[1], [2], [3]]


@pytest.mark.parametrize("operation", ["add_column", "add_computed_columns"])
def test_column_operations_refuse_incremental_tables_as_wandb(wandb, operation):
    args = {"add_column": ("c", [5]), "add_computed_columns": (lambda ndx, row: {"c": 1},)}[operation]
    theirs = wandb.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with pytest.raises(wandb.Error) as their_error:
        getattr(theirs, operation)(*args)
    ours = artefact.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with pytest.raises(Error) as our_error:
        getattr(ours, operation)(*args)
    assert str(our_error.value) == str(their_error.value)
    assert ours.columns == ["a"]


def test_an_incremental_table_in_artifacts_counts_its_increments_as_wandb(wandb):
    """Added to an artifact, then a row added, then added to another: the second entry is
    increment 1, as wandb's (same bytes; all rows, since only run.log marks rows logged)."""

    def entries(sdk):
        table = sdk.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
        first = sdk.Artifact("one", "dataset")
        first.add(table, "t")
        table.add_data(2)
        second = sdk.Artifact("two", "dataset")
        second.add(table, "t")
        out = []
        for art in (first, second):
            with open(art.manifest.entries["t.table.json"].local_path, "rb") as f:
                out.append(f.read())
        return out

    theirs = entries(wandb)
    ours = entries(artefact)
    assert ours == theirs
    assert [json.loads(body)["increment_num"] for body in ours] == [0, 1]
