"""The run as wandb 0.31.0's: `run.log` of Tables, `run.summary`, `history_step`, the
model methods, links' source artifacts. Compared with a real offline wandb run where the
behaviour happens client-side; where it needs a server, the test cites the source file
of wandb 0.31.0 (site-packages/wandb) it follows.
"""

from __future__ import annotations

import json
import os

import pytest

import artefact


@pytest.fixture()
def wandb_run(wandb, tmp_path):
    run = wandb.init(project="surface", dir=str(tmp_path / "wandb-run"))
    yield run
    run.finish()



@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    """Runs keep their files under `./artefact/run-<id>` (as wandb under `./wandb`)."""
    monkeypatch.chdir(tmp_path)

def _api() -> "artefact.Api":
    return artefact.Api(overrides={"entity": "e", "project": "p"})


# --- run.log of a Table --------------------------------------------------------------

_STABLE = ("_type", "sha256", "size", "path", "ncols", "nrows", "log_mode")


def test_logged_table_matches_wandb(wandb, wandb_run):
    """History value, the run's media file and the `run-<id>-<key>` artifact of type
    `run_table` are wandb's (`history_dict_to_json` is what wandb's `run.log` applies,
    wandb/sdk/interface/interface.py `publish_partial_history`)."""
    from wandb.sdk.data_types.utils import history_dict_to_json

    rows = [[1, "x", 0.5], [2, "y", None]]
    theirs_table = wandb.Table(columns=["a", "b", "c"], data=rows)
    theirs = history_dict_to_json(wandb_run, {"tbl": theirs_table, "n": 3}, step=0)
    theirs_art = theirs_table._artifact_target.artifact

    with artefact.init(project="p", entity="e") as run:
        table = artefact.Table(columns=["a", "b", "c"], data=rows)
        run.log({"tbl": table, "n": 3})
        ours = run.summary["tbl"]
        with open(os.path.join(run.dir, ours["path"]), "rb") as f:
            ours_file = f.read()
        run_id = run.id
    with open(os.path.join(wandb_run.dir, theirs["tbl"]["path"]), "rb") as f:
        theirs_file = f.read()

    assert sorted(ours) == sorted(theirs["tbl"])
    assert {k: ours[k] for k in _STABLE} == {k: theirs["tbl"][k] for k in _STABLE}
    assert ours_file == theirs_file
    history = _api().run(run_id).history()
    assert history == [{"tbl": ours, "n": 3, "_step": 0}]

    logged = _api().artifact(f"run-{run_id}-tbl:latest")
    assert theirs_art.name == f"run-{wandb_run.id}-tbl" and theirs_art.type == "run_table"
    assert (logged.source_name, logged.type) == (f"run-{run_id}-tbl:v0", "run_table")
    assert logged.manifest.to_manifest_json() == theirs_art.manifest.to_manifest_json()
    assert logged.digest == theirs_art.digest
    from wandb.sdk.lib.hashutil import b64_to_hex_id

    assert ours["artifact_path"] == f"wandb-artifact://{b64_to_hex_id(logged.id)}/tbl.table.json"
    assert ours["_latest_artifact_path"] == f"wandb-artifact://e/p/run-{run_id}-tbl:latest/tbl.table.json"
    assert logged.get("tbl") == table  # read back through the Api
    assert [a.name for a in _api().run(run_id).logged_artifacts()] == [f"run-{run_id}-tbl:v0"]


def test_table_keys_are_sanitized_as_wandb(wandb):
    from wandb.sdk.artifacts._internal_artifact import sanitize_artifact_name

    from artefact.history_values import internal_artifact

    for key in ("eval/table", "a b", "ok-key.v1", "üñí"):
        name = f"run-abc-{key}"
        assert internal_artifact(name, "run_table").name == sanitize_artifact_name(name)


def test_summary_and_history_of_plain_values(wandb, wandb_run):
    from wandb.sdk.data_types.utils import history_dict_to_json

    row = {"loss": 0.25, "nested": {"acc": 1, "label": "x"}, "flag": True, "none": None}
    theirs = history_dict_to_json(wandb_run, json.loads(json.dumps(row)), step=0)
    with artefact.init(project="p", entity="e") as run:
        run.log(row)
        run.log({"loss": 0.125})
        assert dict(run.summary) == {**theirs, "loss": 0.125}
        run.summary["best"] = 0.1
        run_id = run.id
    public = _api().run(run_id)
    assert public.history() == [{**theirs, "_step": 0}, {"loss": 0.125, "_step": 1}]
    assert public.summary["best"] == 0.1 and public.summary["nested"] == {"acc": 1, "label": "x"}


# --- history_step --------------------------------------------------------------------


def test_history_step_is_none_before_any_log(tmp_path):
    """wandb/sdk/artifacts/artifact.py `history_step`: None when the server has no step
    (the run logged no history yet), else the step before the run's current one."""
    (tmp_path / "f.txt").write_text("x")
    with artefact.init(project="p", entity="e") as run:
        first = artefact.Artifact("hs", "dataset")
        first.add_file(str(tmp_path / "f.txt"))
        run.log_artifact(first).wait()
        run.log({"a": 1})
        run.log({"a": 2})
        (tmp_path / "f.txt").write_text("y")
        second = artefact.Artifact("hs", "dataset")
        second.add_file(str(tmp_path / "f.txt"))
        run.log_artifact(second).wait()
    assert first.history_step is None
    assert second.history_step == 1
    assert _api().artifact("hs:v0").history_step is None and _api().artifact("hs:v1").history_step == 1


# --- model methods -------------------------------------------------------------------


def test_log_model_returns_none_as_wandb(wandb, wandb_run, tmp_path):
    (tmp_path / "m.bin").write_bytes(b"weights")
    assert wandb_run.log_model(str(tmp_path / "m.bin"), name="net") is None
    with artefact.init(project="p", entity="e") as run:
        assert run.log_model(str(tmp_path / "m.bin"), name="net") is None
    assert _api().artifact("net:latest").type == "model"


def test_use_model_returns_the_file_of_a_one_file_version(tmp_path):
    """wandb/sdk/wandb_run.py `Run.use_model` (offline it raises RuntimeError): the path
    of the only file, else the directory; AssertionError unless the type has "model"."""
    (tmp_path / "m.bin").write_bytes(b"weights")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.pt").write_bytes(b"a")
    (tmp_path / "dir" / "b.pt").write_bytes(b"b")
    (tmp_path / "data.csv").write_text("1,2")
    with artefact.init(project="p", entity="e") as run:
        run.log_model(str(tmp_path / "m.bin"), name="one")
        run.log_model(str(tmp_path / "dir"), name="two")
        run.log_artifact(str(tmp_path / "data.csv"), name="data", type="dataset")
        one = run.use_model("one:latest")
        assert os.path.basename(one) == "m.bin" and open(one, "rb").read() == b"weights"
        two = run.use_model("two:v0")
        assert os.path.isdir(two) and sorted(os.listdir(two)) == ["a.pt", "b.pt"]
        with pytest.raises(AssertionError) as e:
            run.use_model("data:latest")
        assert str(e.value) == (
            "You can only use this method for 'model' artifacts. For an artifact to be a 'model'"
            " artifact, its type property must contain the substring 'model'.")
        used = [a.name for a in _api().run(run.id).used_artifacts()]
    assert used == ["one:v0", "two:v0", "data:v0"]


def test_link_model_refusals_match_wandb(wandb, wandb_run, tmp_path):
    """A path as registered model name is refused client-side (compared with wandb); an
    existing non-model artifact is refused as wandb/sdk/wandb_run.py `Run.link_model` does."""
    (tmp_path / "m.bin").write_bytes(b"weights")
    with pytest.raises(AssertionError) as theirs:
        wandb_run.link_model(str(tmp_path / "m.bin"), "team/registry/name")
    with artefact.init(project="p", entity="e") as run:
        with pytest.raises(AssertionError) as ours:
            run.link_model(str(tmp_path / "m.bin"), "team/registry/name")
        assert str(ours.value) == str(theirs.value)
        run.log_artifact(str(tmp_path / "m.bin"), name="notamodel", type="dataset")
        with pytest.raises(AssertionError, match="You can only use this method for 'model' artifacts"):
            run.link_model(str(tmp_path / "m.bin"), "Reg", name="notamodel")
        linked = run.link_model(str(tmp_path / "m.bin"), "Reg", name="net", aliases=["prod"])
        again = run.link_model(str(tmp_path / "m.bin"), "Reg", name="net")  # same content: same version
    assert (linked.qualified_name, linked.is_link) == ("e/model-registry/Reg:v0", True)
    assert again.version == "v0" and "prod" in again.aliases
    assert linked.source_qualified_name == "e/p/net:v0"
    assert _api().artifact_collection("dataset", "notamodel").type == "dataset"


# --- links ---------------------------------------------------------------------------


def test_a_link_returns_its_source_artifact(tmp_path):
    """wandb/sdk/artifacts/artifact.py `source_artifact`, `is_link`, `linked_artifacts`."""
    (tmp_path / "f.txt").write_text("x")
    with artefact.init(project="p", entity="e") as run:
        art = artefact.Artifact("src", "dataset")
        art.add_file(str(tmp_path / "f.txt"))
        run.log_artifact(art)
        link = run.link_artifact(art, "e/p/portfolio", aliases=["gold"])
        via_method = art.link("e/p/other")
    for linked in (link, via_method, _api().artifact("portfolio:gold")):
        assert linked.is_link and not linked.is_draft()
        source = linked.source_artifact
        assert not source.is_link and source.qualified_name == "e/p/src:v0"
        assert source.id == linked.id == art.id
        assert linked.source_qualified_name == "e/p/src:v0"
        assert linked.linked_artifacts == []
    assert sorted(a.qualified_name for a in art.linked_artifacts) == ["e/p/other:v0", "e/p/portfolio:v0"]
    assert art.source_artifact is art


class _Points:
    """A media type written against wandb's media interface (`_log_type`, `bind_to_run`,
    `is_bound`, `to_json(run)`), as the media modules plug into run.log."""

    _log_type = "points-file"

    def __init__(self, points):
        self.points, self._run, self._path = points, None, None

    def is_bound(self):
        return self._run is not None

    def bind_to_run(self, run, key, step, id_=None, ignore_copy_err=None):
        body = json.dumps(self.points).encode()
        self._path = os.path.join("media", "points", f"{key}_{step}.points.json")
        os.makedirs(os.path.join(run.dir, "media", "points"), exist_ok=True)
        with open(os.path.join(run.dir, self._path), "wb") as f:
            f.write(body)
        self._run = run

    def to_json(self, run_or_artifact):
        assert run_or_artifact is self._run, "bound to another run"
        return {"_type": self._log_type, "path": self._path, "n": len(self.points)}


def test_any_media_object_plugs_into_run_log():
    with artefact.init(project="p", entity="e") as run:
        run.log({"pts": _Points([[0, 1], [2, 3]]), "many": [_Points([[1, 1]]), _Points([])]})
        run.summary["best_pts"] = _Points([[9, 9]])
        assert os.path.exists(os.path.join(run.dir, "media", "points", "pts_0.points.json"))
        run_id = run.id
    (row,) = _api().run(run_id).history()
    assert row["pts"] == {"_type": "points-file", "path": "media/points/pts_0.points.json", "n": 2}
    assert [v["n"] for v in row["many"]] == [1, 0]
    summary = _api().run(run_id).summary
    assert summary["pts"] == row["pts"]
    assert summary["best_pts"] == {"_type": "points-file", "path": "media/points/best_pts_summary.points.json", "n": 1}


@pytest.mark.parametrize("mode", ["IMMUTABLE", "MUTABLE"])
def test_relogging_a_table_matches_wandb(wandb, wandb_run, mode):
    """A table logged again is not stored again unless it is MUTABLE and changed, as in
    wandb (history_dict_to_json on an offline run, three logs with a row added before the last)."""
    from wandb.sdk.data_types.utils import history_dict_to_json

    def shape(values):
        first = values[0]
        return [(v["path"] == first["path"], v["artifact_path"] == first["artifact_path"], v["nrows"],
                 v["sha256"]) for v in values]

    theirs_table = wandb.Table(columns=["a"], data=[[1]], log_mode=mode)
    theirs = [history_dict_to_json(wandb_run, {"t": theirs_table}, step=0)["t"],
              history_dict_to_json(wandb_run, {"t": theirs_table}, step=1)["t"]]
    theirs_table.add_data(2)
    theirs.append(history_dict_to_json(wandb_run, {"t": theirs_table}, step=2)["t"])
    with artefact.init(project="p", entity="e") as run:
        table = artefact.Table(columns=["a"], data=[[1]], log_mode=mode)
        run.log({"t": table})
        run.log({"t": table})
        table.add_data(2)
        run.log({"t": table})
        ours = [row["t"] for row in _api().run(run.id).history()]
        versions = len(_api().artifacts("run_table", f"run-{run.id}-t"))
    assert shape(ours) == shape(theirs)
    assert [v["path"].split("_")[1] for v in ours] == [v["path"].split("_")[1] for v in theirs]
    assert versions == (2 if mode == "MUTABLE" else 1)
