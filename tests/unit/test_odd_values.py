"""Non-string types, aliases and tags, and `v<N>` aliases, against real wandb 0.31.0
(issue 11, item 12).

wandb raises plain TypeError/AttributeError for non-strings (its validators call str
methods on them); artefact raises the same class with the same message. `log_artifact`
needs wandb's server to get past its own checks, so the oracle there is the validator it
calls first (`wandb/sdk/wandb_run.py`, `_log_artifact`: `validate_aliases`,
`validate_tags`, then `_prepare_artifact`: `util._resolve_aliases`), called directly.
"""

from __future__ import annotations

import pytest


def _error(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the class and text are what is compared
        return type(exc), str(exc)
    return None


@pytest.fixture
def run(tmp_path, monkeypatch):
    import artefact

    monkeypatch.setenv("ARTEFACT_STORE", str(tmp_path / "store"))
    with artefact.init(project="odd") as r:
        yield r


@pytest.mark.parametrize("kwargs", [dict(name="x", type=5), dict(name=5, type="d"),
                                    dict(name="x", type=None), dict(name=None, type="d")])
def test_artifact_with_non_string_name_or_type_fails_as_wandb(wandb, kwargs):
    import artefact

    ours = _error(lambda: artefact.Artifact(**kwargs))
    theirs = _error(lambda: wandb.Artifact(**kwargs))
    assert theirs is not None and ours == theirs


@pytest.mark.parametrize("aliases", [[5], 5, [None], [["nested"]]])
def test_log_with_non_string_aliases_fails_as_wandb(wandb, run, tmp_path, aliases):
    from wandb.sdk.artifacts._validators import validate_aliases
    from wandb.util import _resolve_aliases

    import artefact

    (tmp_path / "f.txt").write_text("x")
    art = artefact.Artifact("x", "dataset")
    art.add_file(str(tmp_path / "f.txt"))
    ours = _error(lambda: run.log_artifact(art, aliases=aliases))
    theirs = _error(lambda: _resolve_aliases(validate_aliases(aliases)))
    assert theirs is not None and ours == theirs


@pytest.mark.parametrize("tags", [[5], [None]])
def test_log_with_non_string_tags_fails_as_wandb(wandb, run, tmp_path, tags):
    from wandb.sdk.artifacts._validators import validate_tags

    import artefact

    (tmp_path / "f.txt").write_text("x")
    art = artefact.Artifact("x", "dataset")
    art.add_file(str(tmp_path / "f.txt"))
    ours = _error(lambda: run.log_artifact(art, tags=tags))
    theirs = _error(lambda: validate_tags(tags))
    assert theirs is not None and ours == theirs


def test_version_alias_is_accepted_as_wandb_does_but_not_silently(wandb, run, tmp_path, monkeypatch, capsys):
    """wandb accepts `v7` (validate_aliases passes it) and its client then reads every
    `v<N>` alias as the version index (`wandb/util.py` alias_is_version_index,
    `wandb/sdk/artifacts/artifact.py` "Expected at most one version alias"), so it can
    never come back as an alias. artefact accepts it too, keeps `name:v7` meaning
    version 7, and warns instead of dropping it silently."""
    from wandb.sdk.artifacts._validators import validate_aliases

    import artefact

    assert validate_aliases(["v7", "best"]) == ["v7", "best"]
    monkeypatch.delenv("ARTEFACT_QUIET")
    monkeypatch.delenv("WANDB_SILENT")
    (tmp_path / "f.txt").write_text("x")
    art = artefact.Artifact("x", "dataset")
    art.add_file(str(tmp_path / "f.txt"))
    logged = run.log_artifact(art, aliases=["v7", "best"])
    logged.wait()
    assert "alias 'v7' not set" in capsys.readouterr().err
    assert logged.version == "v0"
    assert sorted(logged.aliases) == ["best", "latest"]
    assert not artefact.Api(overrides={"project": "odd"}).artifact_exists("x:v7")
