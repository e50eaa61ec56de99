"""Logical (artifact-relative) paths: thin wrappers over the Rust rules in `_core`.

`LogicalPath(p)` is wandb's `LogicalPath`: on POSIX `str(PurePosixPath(p))`, so `//`
collapses, `.` parts and a trailing `/` go, `..` stays and `""` becomes `"."`.
`validate_artifact_path(p)` also rejects absolute, drive-anchored and `..` paths with
`ValueError("Invalid artifact path: <repr(p)>")`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Union

from . import _core

if TYPE_CHECKING:
    from pathlib import PurePosixPath

StrPath = Union[str, "os.PathLike[str]"]

__all__ = ["LogicalPath", "StrPath", "logical_path", "validate_artifact_path", "validate_fspath"]


def _as_text(path: Any) -> str:
    if isinstance(path, str):
        text = path
    elif hasattr(path, "as_posix"):
        text = path.as_posix()
    else:
        text = os.fspath(path)  # TypeError for non-paths, as wandb
        if isinstance(text, bytes):
            text = os.fsdecode(text)
    if sys.platform == "win32":
        text = text.replace("\\", "/")
    return text


def logical_path(path: StrPath) -> str:
    """The normalised logical path as a plain str (no validation)."""
    if type(path) is LogicalPath:
        return str.__str__(path)
    return _core.normalize_path(_as_text(path))


class LogicalPath(str):
    """A path relative to an artifact root, always in POSIX form, e.g. "foo/bar.txt".

    Like wandb's, it behaves as a `PurePosixPath` for anything `str` lacks:
    `LogicalPath("a/b.txt").parent / "c"` is `LogicalPath("a/c")`.
    """

    def __new__(cls, path: StrPath) -> "LogicalPath":
        return super().__new__(cls, logical_path(path))

    @classmethod
    def _trusted(cls, path: str) -> "LogicalPath":
        """Wrap a string already normalised by `_core` (no second pass)."""
        return str.__new__(cls, path)

    def to_path(self) -> "PurePosixPath":
        """Convert this path to a PurePosixPath."""
        from pathlib import PurePosixPath

        return PurePosixPath(self)

    def __getattr__(self, name: str) -> Any:
        from pathlib import PurePosixPath

        try:
            attr = getattr(self.to_path(), name)
        except AttributeError:
            raise AttributeError(f"{type(self).__qualname__!r} has no attribute {name!r}") from None
        if isinstance(attr, PurePosixPath):
            return LogicalPath(attr)
        if callable(attr):

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = attr(*args, **kwargs)
                return LogicalPath(result) if isinstance(result, PurePosixPath) else result

            wrapper.__name__ = getattr(attr, "__name__", name)
            wrapper.__doc__ = getattr(attr, "__doc__", None)
            return wrapper
        return attr

    def __truediv__(self, other: StrPath) -> "LogicalPath":
        return LogicalPath(self.to_path() / LogicalPath(other))


def validate_artifact_path(path: StrPath) -> LogicalPath:
    """Normalise and validate an artifact-relative path.

    Raises:
        ValueError: `Invalid artifact path: <repr(path)>` for ".", absolute paths,
            Windows anchors (`C:x`, `\\x`, UNC) and `..` components.
    """
    try:
        text = _as_text(path)
        normalized = _core.validate_path(text)
    except ValueError:
        # The message always shows Python's repr of what the caller passed.
        raise ValueError(f"Invalid artifact path: {path!r}") from None
    return LogicalPath._trusted(normalized)


def validate_fspath(root: StrPath, relpath: StrPath) -> str:
    """A native path under `root` for a validated artifact path."""
    return os.path.join(os.fspath(root), validate_artifact_path(relpath))


def validate_artifact_root_name(name: str) -> str:
    """Validate `name` or `name:version` used as a default download root.

    A leading `X:` is skipped so that single-letter collection names (`a:v0`) work.
    """
    relpath = name[2:] if len(name) > 1 and name[1] == ":" else name
    try:
        validate_artifact_path(relpath)
    except ValueError:
        raise ValueError(f"Invalid artifact name: {name!r}") from None
    return name
