"""Artifacts in `run.config`, `log_artifact`/`use_artifact` on a run fetched with
`Api().run(path)`, and `Artifact.save()` checking what it writes, as wandb 0.31.0.

Client-side checks are compared with a real offline wandb run; the rest follows the
wandb 0.31.0 source cited in each docstring."""

from __future__ import annotations

import pytest

import artefact
from artefact.errors import CommError



@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    """Runs keep their files under `./artefact/run-<id>` (as wandb under `./wandb`)."""
    monkeypatch.chdir(tmp_path)

def _api() -> "artefact.Api":
    return artefact.Api(overrides={"entity": "e", "project": "p"})


@pytest.fixture()
def logged(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with artefact.init(project="p", entity="e") as run:
        art = artefact.Artifact("ds", "dataset")
        art.add_file(str(tmp_path / "f.txt"))
        run.log_artifact(art, aliases=["best"], tags=["t0"])
    return art.wait()


# --- artifacts in the config ---------------------------------------------------------


def test_an_artifact_in_the_config_is_used_and_stored_as_wandb(logged):
    """wandb/sdk/wandb_config.py `_sanitize` -> wandb/sdk/wandb_run.py
    `_config_artifact_callback` (uses the artifact); wandb/util.py `artifact_to_json`
    is what the config stores (`Artifact.json_encode`)."""
    with artefact.init(project="p", entity="e") as run:
        run.config.update({"dataset": logged, "lr": 0.1})
        assert isinstance(run.config["dataset"], artefact.Artifact)
        assert run.config["dataset"].id == logged.id and run.config.lr == 0.1
        first = run.id
    stored = _api().run(first).config
    assert stored["dataset"] == {"_type": "artifactVersion", "_version": "v0", "id": logged.id,
                                 "version": "v0", "sequenceName": "ds", "usedAs": None}
    assert [a.qualified_name for a in _api().run(first).used_artifacts()] == ["e/p/ds:v0"]

    # the stored dict, a wandb-artifact:// string, or init(config=...) read back as Artifacts
    with artefact.init(project="p", entity="e", config={"from_init": logged}) as run:
        run.config["from_dict"] = stored["dataset"]
        run.config["from_id"] = f"wandb-artifact://_id/{logged.id}"
        run.config["from_path"] = "wandb-artifact://e/p/ds:best"
        for key in ("from_init", "from_dict", "from_id", "from_path"):
            assert isinstance(run.config[key], artefact.Artifact) and run.config[key].id == logged.id
        second = run.id
    assert len(_api().run(second).used_artifacts()) == 1  # one version, used once
    assert _api().run(second).config["from_init"]["id"] == logged.id
    # resuming: the stored dicts read back as Artifacts (wandb re-sanitizes the config)
    with artefact.init(project="p", entity="e", id=first, resume=True) as run:
        assert isinstance(run.config["dataset"], artefact.Artifact) and run.config["dataset"].id == logged.id
        assert run.config["lr"] == 0.1


def test_config_refusals_match_wandb(wandb, logged, tmp_path):
    """Nested artifacts and media objects are refused before anything is stored."""
    theirs_run = wandb.init(project="surface", dir=str(tmp_path / "wandb-run"))
    theirs_art = wandb.Artifact("x", "dataset")
    try:
        cases = [
            (lambda c, a: c.update({"outer": {"inner": a}}), "nested"),
            (lambda c, a: c.__setitem__("outer", {"inner": a}), "nested item"),
            (lambda c, a: c.update({"outer": {"deeper": {"s": "wandb-artifact://e/p/ds:v0"}}}), "nested string"),
        ]
        with artefact.init(project="p", entity="e") as ours_run:
            for case, what in cases:
                outcomes = []
                for config, art in ((theirs_run.config, theirs_art), (ours_run.config, logged)):
                    with pytest.raises(Exception) as e:
                        case(config, art)
                    outcomes.append((type(e.value).__name__, str(e.value)))
                assert outcomes[1] == outcomes[0], what
            theirs_table = wandb.Table(columns=["a"], data=[[1]])
            ours_table = artefact.Table(columns=["a"], data=[[1]])
            with pytest.raises(TypeError) as theirs:
                theirs_run.config["t"] = theirs_table
            with pytest.raises(TypeError) as ours:
                ours_run.config["t"] = ours_table
            assert str(ours.value) == str(theirs.value)
            assert "outer" not in ours_run.config and "t" not in ours_run.config
            run_id = ours_run.id
        assert _api().run(run_id).config == {}
    finally:
        theirs_run.finish()


# --- Api().run(path).log_artifact / use_artifact --------------------------------------


def test_public_run_logs_and_uses_artifacts(logged, tmp_path):
    """wandb/apis/public/runs.py `Run.log_artifact` (same digest: the same version gets
    the run, aliases and tags) and `Run.use_artifact`; refusals as there, through
    `normalize_exceptions` (CommError)."""
    with artefact.init(project="p", entity="e", id="later") as run:
        pass
    public = _api().run("e/p/later")
    fetched = _api().artifact("ds:v0")
    assert public.log_artifact(fetched, aliases=["prod"], tags=["t1"]) is fetched
    assert public.use_artifact(fetched, use_as="input") is fetched
    assert [a.qualified_name for a in public.logged_artifacts()] == ["e/p/ds:v0"]
    assert [a.qualified_name for a in public.used_artifacts()] == ["e/p/ds:v0"]
    again = _api().artifact("ds:prod")
    assert again.version == "v0" and sorted(again.aliases) == ["best", "latest", "prod"]
    assert again.tags == ["t0", "t1"]
    assert len(_api().artifacts("dataset", "ds")) == 1  # no new version

    draft = artefact.Artifact("draft", "dataset")
    for call in (lambda: public.log_artifact(draft), lambda: public.use_artifact(draft)):
        with pytest.raises(CommError, match="Only existing artifacts are accepted by this api."):
            call()
    with pytest.raises(CommError, match="You must pass a wandb.Api"):
        public.use_artifact("ds:v0")
    with artefact.init(project="elsewhere", entity="e", id="far") as run:
        pass
    with pytest.raises(CommError, match="A run can't log an artifact to a different project."):
        artefact.Api().run("e/elsewhere/far").log_artifact(fetched)
    with pytest.raises(CommError, match="Invalid tag"):
        public.log_artifact(fetched, tags=["bad/tag"])
    assert _api().artifact("ds:v0").tags == ["t0", "t1"]


# --- Artifact.save() checks what it writes --------------------------------------------


@pytest.mark.parametrize("edit,message", [
    (lambda a: a.tags.append("bad/tag"), "Invalid tag"),
    (lambda a: a.aliases.append("bad:alias"), "Aliases must not contain"),
    (lambda a: a.aliases.append("bad/alias"), "Aliases must not contain"),
    (lambda a: setattr(a, "description", 5), "description must be a string"),
])
def test_save_refuses_invalid_fields_and_stores_nothing(logged, edit, message):
    """wandb/sdk/artifacts/artifact.py `Artifact._update` validates tags before the
    mutation (under `normalize_exceptions`: CommError); artefact checks every field it
    writes first, so a refused save stores nothing (no alias, description or metadata)."""
    art = _api().artifact("ds:v0")
    art.description = "changed"
    art.metadata = {"k": 1}
    art.aliases.append("extra")
    edit(art)
    with pytest.raises(CommError, match=message):
        art.save()
    fresh = _api().artifact("ds:v0")
    assert (fresh.description, fresh.metadata, sorted(fresh.aliases), fresh.tags) == (
        None, {}, ["best", "latest"], ["t0"])


def test_setters_refuse_as_wandb(wandb, logged):
    """The setters' own checks run client-side: compared with wandb's on a logged
    artifact built from the same server record."""
    from artefact.store.backend import fragment

    ours = _api().artifact("ds:v0")
    theirs = wandb.Artifact._from_attrs(
        path=__import__("wandb.sdk.artifacts._validators", fromlist=["x"]).FullArtifactPath(
            prefix="e", project="p", name="ds:v0"),
        src_art=__import__("wandb.sdk.artifacts._generated", fromlist=["x"]).ArtifactFragment.model_validate(
            _gql_fragment(fragment(ours._record))),
        service_api=None,
    )
    for field, value in [("tags", ["bad/tag"]), ("tags", "one"), ("aliases", ["a:b"]), ("aliases", "one"),
                         ("metadata", {"k": {1, 2}}), ("tags", ["x", "x"])]:
        outcome = []
        for art in (theirs, ours):
            try:
                setattr(art, field, value)
                outcome.append(("ok", getattr(art, field)))
            except Exception as e:  # noqa: BLE001 - compared
                outcome.append((type(e).__name__, str(e)))
        assert outcome[1] == outcome[0], (field, value)


def _gql_fragment(frag: dict) -> dict:
    """The store's fragment with the fields wandb's generated ArtifactFragment requires."""
    def project(p: dict) -> dict:
        return {"name": p["name"], "id": "UHJvamVjdDox", "internalId": "UHJvamVjdDox",
                "entity": {"name": p["entity"]["name"]}}

    seq = frag["artifactSequence"]
    return {
        "__typename": "Artifact", "id": frag["id"], "artifactType": frag["artifactType"],
        "artifactSequence": {"__typename": "ArtifactSequence", "name": seq["name"],
                             "project": project(seq["project"])},
        "versionIndex": frag["versionIndex"], "description": frag["description"],
        "metadata": frag["metadata"], "ttlDurationSeconds": -2, "ttlIsInherited": True,
        "aliases": [{"id": f"QWxpYXM6{i}", "alias": a["alias"],
                     "artifactCollection": {"__typename": "ArtifactSequence",
                                            "name": a["artifactCollection"]["name"],
                                            "project": project(a["artifactCollection"]["project"])}}
                    for i, a in enumerate(frag["aliases"])],
        "tags": [{"id": f"VGFnOj{i}", "name": t["name"]} for i, t in enumerate(frag["tags"])],
        "historyStep": None, "state": "COMMITTED", "size": frag["size"],
        "digest": frag["digest"], "commitHash": frag["commitHash"], "fileCount": frag["fileCount"],
        "createdAt": frag["createdAt"], "updatedAt": frag["updatedAt"],
    }


def test_config_changes_and_log_keys_refused_as_wandb(wandb, tmp_path):
    """A config value changes only with allow_val_change (ConfigError otherwise), and
    run.log refuses non-dict rows and non-str keys: compared with an offline wandb run."""
    from wandb.sdk.lib.config_util import ConfigError as TheirConfigError

    from artefact.sdk.lib.config_util import ConfigError

    assert issubclass(ConfigError, artefact.errors.Error) and issubclass(TheirConfigError, wandb.errors.Error)
    theirs_run = wandb.init(project="surface", dir=str(tmp_path / "wandb-run"), config={"lr": 0.1})
    try:
        with artefact.init(project="p", entity="e", config={"lr": 0.1}) as ours_run:
            calls = [
                lambda r: r.config.__setitem__("lr", 0.2),
                lambda r: setattr(r.config, "lr", 0.3),
                lambda r: r.config.update({"lr": 0.4, "other": 1}),
                lambda r: r.log([1, 2]),
                lambda r: r.log({1: 2}),
            ]
            for call in calls:
                outcomes = []
                for run in (theirs_run, ours_run):
                    with pytest.raises(Exception) as e:
                        call(run)
                    outcomes.append((type(e.value).__name__, str(e.value)))
                assert outcomes[1] == outcomes[0]
            assert ours_run.config["lr"] == theirs_run.config["lr"] == 0.1
            assert "other" not in ours_run.config  # the refused update stored nothing
            for run in (theirs_run, ours_run):
                run.config.update({"lr": 0.5}, allow_val_change=True)
                run.config["lr"] = 0.5  # the same value is no change
            assert ours_run.config["lr"] == theirs_run.config["lr"] == 0.5
            run_id = ours_run.id
        assert _api().run(run_id).config == {"lr": 0.5}
    finally:
        theirs_run.finish()


def test_a_finished_run_refuses_as_wandb(wandb, logged, tmp_path):
    """After `finish()`, logging, artifact calls and config/summary changes raise
    UsageError with wandb's message (compared with an offline wandb run)."""
    (tmp_path / "m.bin").write_bytes(b"w")
    theirs_run = wandb.init(project="surface", dir=str(tmp_path / "wandb-run"))
    theirs_run.finish()
    ours_run = artefact.init(project="p", entity="e")
    ours_run.finish()
    theirs_art, ours_art = wandb.Artifact("x", "dataset"), artefact.Artifact("x", "dataset")
    calls = [
        lambda r, a: r.log({"a": 1}),
        lambda r, a: r.log_artifact(a),
        lambda r, a: r.use_artifact("ds:v0"),
        lambda r, a: r.link_artifact(a, "p/portfolio"),
        lambda r, a: r.log_model(str(tmp_path / "m.bin")),
        lambda r, a: r.use_model("ds:v0"),
        lambda r, a: r.link_model(str(tmp_path / "m.bin"), "Reg"),
        lambda r, a: r.upsert_artifact(a, distributed_id="d"),
        lambda r, a: r.finish_artifact(a, distributed_id="d"),
        lambda r, a: r.config.__setitem__("k", 1),
        lambda r, a: r.summary.__setitem__("k", 1),
    ]
    for call in calls:
        outcomes = []
        for run, art in ((theirs_run, theirs_art), (ours_run, ours_art)):
            with pytest.raises(Exception) as e:
                call(run, art)
            outcomes.append((type(e.value).__name__, str(e.value).replace(run.id, "<id>")))
        assert outcomes[1] == outcomes[0]
    assert _api().run(ours_run.id).history() == [] and _api().run(ours_run.id).config == {}
    assert ours_art.is_draft()
