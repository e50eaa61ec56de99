"""Names, types, metadata, aliases, tags and storage regions, checked against wandb."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json

import pytest

from artefact.errors import ValidationError
from artefact.validate import (
    json_friendly_val,
    validate_aliases,
    validate_artifact_name,
    validate_artifact_name_chars,
    validate_artifact_type,
    validate_metadata,
    validate_storage_region,
    validate_tags,
)

from ._helpers import error_of


@pytest.mark.parametrize("name", ["abc", "abc\n", "..", "-.x_Y.9", "a" * 128])
def test_accepted_names(name):
    assert validate_artifact_name(validate_artifact_name_chars(name)) == name


@pytest.mark.parametrize("name", ["a/b", "a:b", "a b", "", "café", "a+b", "abc\n\n"])
def test_rejected_name_characters(name):
    with pytest.raises(ValueError) as info:
        validate_artifact_name_chars(name)
    assert str(info.value) == (
        "Artifact name may only contain alphanumeric characters, dashes, underscores, "
        f"and dots. Invalid name: {name!r}"
    )


def test_name_longer_than_128_characters():
    with pytest.raises(ValueError) as info:
        validate_artifact_name("a" * 129)
    assert str(info.value) == f"Artifact name is longer than 128 characters: '{'a' * 128} ...'"


@pytest.mark.parametrize(
    ("typ", "name", "reserved"),
    [("wandb-foo", "x", True), ("wandb-history", "x", True), ("job", "anything", True),
     ("jobs", "x", False), ("run_table", "run-x", True), ("run_table", "x", False),
     ("code", "source-x", True), ("code", "x", False), ("WANDB-x", "x", False),
     ("a/b", "x", False), ("", "x", False), ("t" * 300, "x", False)],
)  # fmt: skip
def test_reserved_types(typ, name, reserved):
    if reserved:
        with pytest.raises(ValueError) as info:
            validate_artifact_type(typ, name)
        assert str(info.value) == f"Artifact type {typ!r} is reserved for internal use. Please use a different type."
    else:
        assert validate_artifact_type(typ, name) == typ


def test_aliases():
    assert validate_aliases(["latest", "best v2", "a-b", "é"]) == ["latest", "best v2", "a-b", "é"]
    assert validate_aliases("solo") == ["solo"]
    for bad in (["a/b"], ["v1:x"]):
        with pytest.raises(ValueError, match="Aliases must not contain any of the following characters: '/', ':'"):
            validate_aliases(bad)


def test_tags():
    assert validate_tags(["a", "b c", "a", "x-y_z", "é", "a  b"]) == ["a", "b c", "x-y_z", "é", "a  b"]
    assert validate_tags("t") == ["t"]
    for bad in (["v1.0"], ["a/b"], [" a"], ["a "], [""], ["a:b"]):
        with pytest.raises(ValueError) as info:
            validate_tags(bad)
        assert str(info.value) == (
            "Invalid tag(s).  Tags must only contain alphanumeric characters separated by "
            "hyphens, underscores, and/or spaces."
        )


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: tuple


class Opaque:
    def __str__(self) -> str:
        return "<opaque>"


def _metadata_samples():
    import numpy as np

    return [
        None,
        "",
        '{"a": 1, "b": [1, 2]}',
        {"a": float("nan")},
        {1: (1, 2), "d": datetime.datetime(2020, 1, 2, 3, 4, 5), "n": None},
        {"date": datetime.date(2021, 5, 6), "set": {3}, "enum": Color.RED, "bytes": b"xy"},
        {"np_int": np.int64(3), "np_float": np.float32(1.5), "np_nan": np.float64("nan"), "np_bool": np.bool_(True)},
        {"small": np.arange(4), "one": np.array([2.5]), "big": np.arange(40)},
        {"nested": {"deep": [1, (2, 3), {"x": Color.RED}]}, "point": Point(1, (2, 3))},
        {"slice": slice(1, 5, 2), "func": len, "obj": Opaque()},
        {f"k{i}": i for i in range(100)},
        {f"k{i}": i for i in range(101)},
        {"a": float("inf")},
        [1],
        3,
        '{"a": NaN}',
        "[1, 2]",
    ]


@pytest.mark.parametrize("index", range(17))
def test_metadata_matches_wandb(wandb, index):
    from wandb.sdk.artifacts._validators import validate_metadata as wandb_validate

    sample = _metadata_samples()[index]
    ours = error_of(lambda: validate_metadata(sample))
    theirs = error_of(lambda: wandb_validate(_metadata_samples()[index]))
    assert ours == theirs


def test_metadata_examples():
    assert validate_metadata({1: (1, 2)}) == {"1": [1, 2]}
    with pytest.raises(TypeError, match="Cannot parse <class 'list'> as artifact metadata"):
        validate_metadata([1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Artifact must not have more than 100 metadata keys."):
        validate_metadata({str(i): i for i in range(101)})
    assert json.dumps(json_friendly_val({"t": (1, {2})})) == '{"t": [1, [2]]}'


def test_storage_region_strips_and_rejects_empty(wandb):
    from wandb.sdk.artifacts._models.storage import StoragePolicyConfig

    assert validate_storage_region("  r1 ") == "r1"
    assert validate_storage_region(None) is None
    for bad in ("", "   ", 5):
        with pytest.raises(ValidationError) as ours:
            validate_storage_region(bad)
        with pytest.raises(ValueError) as theirs:
            StoragePolicyConfig(storage_region=bad)
        assert str(ours.value) == str(theirs.value)
        assert isinstance(ours.value, ValueError)
        assert ours.value.error_count() == 1
        assert ours.value.title == "StoragePolicyConfig"
