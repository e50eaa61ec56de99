"""Logical paths: normalisation, validation, and agreement with wandb's rules."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artefact.paths import LogicalPath, logical_path, validate_artifact_path, validate_artifact_root_name

from ._helpers import error_of


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("a//b.txt", "a/b.txt"),
        ("./a.txt", "a.txt"),
        ("a/./b", "a/b"),
        ("a/", "a"),
        ("a/../b", "a/../b"),
        ("/abs", "/abs"),
        ("//two", "//two"),
        ("///three", "/three"),
        ("", "."),
        ("a\\b.txt", "a\\b.txt"),
        (" lead ", " lead "),
    ],
)
def test_logical_path_normalises_like_pure_posix_path(raw, normalized):
    assert logical_path(raw) == normalized
    assert LogicalPath(raw) == normalized
    assert isinstance(LogicalPath(raw), str)


def test_logical_path_accepts_path_objects_and_acts_like_pure_posix_path():
    assert LogicalPath(Path("a") / "b.txt") == "a/b.txt"
    path = LogicalPath("a/b/c.txt")
    assert path.parts == ("a", "b", "c.txt")
    assert path.parent / "d" == "a/b/d"
    assert isinstance(path.parent, LogicalPath)
    assert path.to_path() == PurePosixPath("a/b/c.txt")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        path.nope  # noqa: B018
    with pytest.raises(TypeError):
        LogicalPath(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [".", "", "/abs.txt", "../up.txt", "a/../b.txt", "C:foo.txt", "c:/x", "a:b", "\\x.txt",
     "a\\..\\b.txt", "//two.txt", "\\\\server\\share\\x"],
)  # fmt: skip
def test_invalid_paths_raise_with_the_repr_of_the_input(bad):
    with pytest.raises(ValueError) as info:
        validate_artifact_path(bad)
    assert str(info.value) == f"Invalid artifact path: {bad!r}"


@pytest.mark.parametrize(
    ("good", "expected"),
    [("1:b.txt", "1:b.txt"), ("é:b.txt", "é:b.txt"), ("ab:c.txt", "ab:c.txt"), ("a\\b.txt", "a\\b.txt"),
     ("~/x", "~/x"), ("nl\n.txt", "nl\n.txt"), ("nul\x00.txt", "nul\x00.txt"), ("a//b.txt", "a/b.txt"),
     ("./a.txt", "a.txt"), ("a/", "a"), ("trail.txt ", "trail.txt ")],
)  # fmt: skip
def test_valid_paths_are_normalised(good, expected):
    result = validate_artifact_path(good)
    assert result == expected
    assert isinstance(result, LogicalPath)


def test_validation_error_shows_repr_of_path_objects():
    with pytest.raises(ValueError, match=r"Invalid artifact path: PurePosixPath\('/x'\)"):
        validate_artifact_path(PurePosixPath("/x"))


def test_root_name_allows_single_letter_collection_with_version():
    assert validate_artifact_root_name("a:v0") == "a:v0"
    assert validate_artifact_root_name("mydata:v3") == "mydata:v3"
    with pytest.raises(ValueError, match="Invalid artifact name: '../x:v0'"):
        validate_artifact_root_name("../x:v0")


_PATH_CHARS = st.sampled_from(list("ab/.:\\C1 é\n"))


@pytest.mark.parametrize("raw", ["./a:", "./C:x", "./\\x"])
def test_leading_dot_slash_before_a_drive_like_part_is_valid(raw):
    # wandb: PureWindowsPath("./a:") has no anchor, so the path is valid ("a:").
    assert validate_artifact_path(raw) == raw[2:]


@pytest.mark.parametrize("raw", ["./a:", "./C:x", "./\\x"])
def test_add_file_refuses_them_once_normalised(raw):
    # add_entry validates LogicalPath(name): "./C:x" becomes "C:x", a drive.
    with pytest.raises(ValueError, match="Invalid artifact path"):
        validate_artifact_path(logical_path(raw))


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # the same examples every run: CI never fails by chance
@given(st.text(_PATH_CHARS, max_size=8))
def test_validation_agrees_with_wandb(wandb, raw):
    from wandb.sdk.artifacts._validators import validate_artifact_path as wandb_validate
    from wandb.sdk.lib.paths import LogicalPath as WandbLogicalPath

    assert logical_path(raw) == str(WandbLogicalPath(raw))
    ours = error_of(lambda: str(validate_artifact_path(raw)))
    theirs = error_of(lambda: str(wandb_validate(raw)))
    assert ours == theirs
