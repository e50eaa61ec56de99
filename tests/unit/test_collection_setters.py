"""`ArtifactCollection` setters, `save()` and `change_type()` behave as wandb 0.31.0's.

wandb's `ArtifactCollection` is built offline from a GraphQL fragment equal to the
stored collection (its setters and checks run before any server call), and the same
random sequences of assignments run on it and on artefact's: each outcome (error
class and message, or success) and the state after it must match. A refused value
changes nothing, in memory or, after `save()`, in the store.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAMES = ["renamed", "bad/name", "", "a" * 129, "bad:name", 5, None, "ok-name.v2"]
TYPES = ["model", "wandb-history", "", 5, None, "dataset"]
DESCRIPTIONS = ["text", None, 5, ""]
TAGS = [["t1"], "single", ["bad/tag"], ["a,b"], [""], [5], ["x", "x", "y"], [], ("t2", "t3")]
OPS = st.lists(st.one_of(
    st.tuples(st.just("name"), st.sampled_from(NAMES)),
    st.tuples(st.just("type"), st.sampled_from(TYPES)),
    st.tuples(st.just("description"), st.sampled_from(DESCRIPTIONS)),
    st.tuples(st.just("tags"), st.sampled_from(TAGS)),
), max_size=6)


def _fragment(wandb, coll, kind: str):
    from wandb.sdk.artifacts._generated import ArtifactCollectionFragment

    return ArtifactCollectionFragment.model_validate({
        "__typename": kind, "id": coll.id, "name": coll.name, "description": coll.description,
        "createdAt": coll.created_at, "updatedAt": coll.updated_at,
        "project": {"name": coll.project, "id": "UHJvamVjdDox", "internalId": "UHJvamVjdDox",
                    "entity": {"name": coll.entity, "id": "RW50aXR5OjE="}},
        "type": {"name": coll.type},
        "tags": {"edges": [{"node": {"name": t, "id": f"VGFnOi{i}"}} for i, t in enumerate(coll.tags)]},
    })


def _theirs(wandb, coll, kind: str):
    from wandb.apis.public.artifacts import ArtifactCollection

    return ArtifactCollection(None, coll.entity, coll.project, coll.name, coll.type,
                              attrs=_fragment(wandb, coll, kind))


@pytest.fixture()
def collections(tmp_path):
    """A sequence `mydata` (tags t0) and a portfolio `reg` it is linked into."""
    import artefact

    (tmp_path / "f.txt").write_text("hello")
    with artefact.init(project="p", entity="e") as run:
        art = artefact.Artifact("mydata", "dataset")
        art.add_file(str(tmp_path / "f.txt"))
        run.log_artifact(art)
        run.link_artifact(art, "e/p/reg")
    api = artefact.Api(overrides={"entity": "e", "project": "p"})
    seq = api.artifact_collection("dataset", "mydata")
    seq.tags = ["t0"]
    seq.save()
    return api


def _outcome(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class and text are what is compared
        return (type(e).__name__, str(e))
    return ("ok",)


def _state(c) -> tuple:
    return (c.name, c.type, c.description, list(c.tags))


def _run(c, ops) -> list:
    out = []
    for field, value in ops:
        out.append((field, value, _outcome(lambda: setattr(c, field, value)), _state(c)))
    return out


@pytest.mark.parametrize("kind,type_name,name", [("ArtifactSequence", "dataset", "mydata"),
                                                 ("ArtifactPortfolio", "dataset", "reg")])
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_setter_sequences_match_wandb(wandb, collections, kind, type_name, name, ops):
    ours = collections.artifact_collection(type_name, name)
    theirs = _theirs(wandb, ours, kind)
    assert _state(ours) == _state(theirs)
    assert ours.is_sequence() == theirs.is_sequence()
    assert _run(ours, ops) == _run(theirs, ops)


def test_refused_values_change_nothing_stored(wandb, collections):
    """Refused assignments leave the saved collection as it was; accepted ones are saved."""
    ours = collections.artifact_collection("dataset", "mydata")
    for field, value in [("name", "bad/name"), ("tags", ["bad/tag"]), ("description", 5), ("type", 5)]:
        with pytest.raises(ValueError):
            setattr(ours, field, value)
    ours.save()
    again = collections.artifact_collection("dataset", "mydata")
    assert _state(again) == ("mydata", "dataset", None, ["t0"])
    ours.name, ours.description, ours.tags = "renamed", "words", ["t1", "t2"]
    ours.save()
    again = collections.artifact_collection("dataset", "renamed")
    assert _state(again) == ("renamed", "dataset", "words", ["t1", "t2"])
    assert [a.name for a in again.artifacts()] == ["renamed:v0"]


def test_in_place_tag_edits_are_checked_at_save(wandb, collections):
    """`c.tags.append("bad/tag")` bypasses the setter; save() refuses it, storing nothing."""
    from artefact.errors import CommError

    ours = collections.artifact_collection("dataset", "mydata")
    ours.description = "new words"
    ours.tags.append("bad/tag")
    with pytest.raises(CommError, match="Invalid tag"):
        ours.save()
    assert _state(collections.artifact_collection("dataset", "mydata")) == ("mydata", "dataset", None, ["t0"])


@pytest.mark.parametrize("kind,name,new_type", [
    ("ArtifactSequence", "mydata", "wandb-history"),  # reserved type
    ("ArtifactPortfolio", "reg", "model"),             # a portfolio keeps its type
])
def test_save_and_change_type_refusals_match_wandb(wandb, collections, kind, name, new_type):
    ours = collections.artifact_collection("dataset", name)
    theirs = _theirs(wandb, ours, kind)
    assert _outcome(lambda: ours.change_type(new_type)) == _outcome(lambda: theirs.change_type(new_type))
    if kind == "ArtifactSequence":
        ours.type = theirs.type = new_type
        assert _outcome(ours.save) == _outcome(theirs.save)
    assert collections.artifact_collection("dataset", name).type == "dataset"


def test_change_type_and_type_save(collections):
    """Retyping a sequence (wandb's mutation needs a server: wandb/apis/public/artifacts.py,
    `ArtifactCollection.change_type` and `save` -> `_update_sequence_type`)."""
    ours = collections.artifact_collection("dataset", "mydata")
    ours.change_type("corpus")
    assert ours.type == "corpus"
    assert collections.artifact_collection("corpus", "mydata").type == "corpus"
    ours.type = "dataset"
    ours.save()
    assert collections.artifact("mydata:v0").type == "dataset"


def test_an_empty_name_is_refused_at_save(collections):
    """wandb's setter accepts "" (its plain validator skips `min_length`); its server
    refuses the rename (wandb/apis/public/artifacts.py `_update_collection`). Nothing is stored."""
    from artefact.errors import CommError

    ours = collections.artifact_collection("dataset", "mydata")
    ours.name = ""
    ours.description = "words"
    with pytest.raises(CommError, match="the name must not be empty"):
        ours.save()
    assert _state(collections.artifact_collection("dataset", "mydata")) == ("mydata", "dataset", None, ["t0"])
