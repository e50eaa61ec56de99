"""The exception hierarchy, with wandb's class names, messages and attributes.

`wandb.errors.Error`/`CommError` and the artifact status errors of
`wandb.sdk.artifacts.exceptions` live here together, so `except artefact.errors.CommError`
catches what `except wandb.errors.CommError` caught.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

__all__ = [
    "Error",
    "CommError",
    "UsageError",
    "AuthenticationError",
    "UnsupportedError",
    "WandbCoreNotAvailableError",
    "WaitTimeoutError",
    "ConfigError",
    "TooFewItemsError",
    "TooManyItemsError",
    "ArtifactStatusError",
    "ArtifactNotLoggedError",
    "ArtifactFinalizedError",
    "ValidationError",
]


class Error(Exception):
    """Base W&B (artefact) error: carries `.message` and `.context`."""

    def __init__(self, message: str, context: Optional[dict] = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = context or {}


class CommError(Error):
    """Error communicating with the artifact store; `.exc` is the wrapped exception."""

    def __init__(self, msg: str, exc: Optional[BaseException] = None) -> None:
        self.exc = exc
        self.message = msg
        super().__init__(self.message)


class UsageError(Error):
    """Raised when an invalid usage of the SDK API is detected."""


class AuthenticationError(CommError):
    """Raised when authentication fails (wandb's class; the embedded store has no login)."""


class UnsupportedError(UsageError):
    """Raised when trying to use a feature that is not supported."""


class WandbCoreNotAvailableError(Error):
    """Raised when wandb-core is not available (wandb's class; artefact never needs it)."""


class ConfigError(Error):
    """Raised when a run config value would change without `allow_val_change=True`."""


class TooFewItemsError(ValueError):
    """Raised when there are fewer items than expected in a collection."""


class TooManyItemsError(ValueError):
    """Raised when there are more items than expected in a collection."""


class WaitTimeoutError(Error):
    """Raised when `Artifact.wait()` times out before the upload finished."""


class ArtifactStatusError(AttributeError):
    """Raised when an artifact is in an invalid state for the requested operation.

    A subclass of AttributeError, so `hasattr(draft, "version")` is False.
    """

    def __init__(
        self,
        msg: str = "Artifact is in an invalid state for the requested operation.",
        name: Optional[str] = None,
        obj: Any = None,
    ) -> None:
        try:
            super().__init__(msg, name=name, obj=obj)
        except TypeError:  # Python < 3.10: AttributeError takes no keywords
            super().__init__(msg)
            self.name = name or ""
            self.obj = obj


class ArtifactNotLoggedError(ArtifactStatusError):
    """Raised for Artifact methods or attributes only available after logging."""

    def __init__(self, fullname: str, obj: Any) -> None:
        *_, name = fullname.split(".")
        msg = (
            f"{fullname!r} used prior to logging artifact or while in offline mode. "
            "Call Artifact.wait() before accessing logged artifact properties."
        )
        super().__init__(msg=msg, name=name, obj=obj)


class ArtifactFinalizedError(ArtifactStatusError):
    """Raised for Artifact methods or attributes that can't be changed after logging."""

    def __init__(self, fullname: str, obj: Any) -> None:
        *_, name = fullname.split(".")
        msg = f"{fullname!r} used on logged artifact. Can't modify finalized artifact."
        super().__init__(msg=msg, name=name, obj=obj)


# --- pydantic-compatible validation errors -------------------------------------------

_PYDANTIC_DOCS = "https://errors.pydantic.dev/2.14/v/"


def _truncated_repr(value: Any) -> str:
    """pydantic-core's `input_value`: repr cut to 25 + '...' + 24 UTF-8 bytes if > 50."""
    text = repr(value)
    raw = text.encode("utf-8")
    if len(raw) <= 50:
        return text
    head = raw[:25].decode("utf-8", "ignore")
    tail = raw[-24:].decode("utf-8", "ignore")
    return f"{head}...{tail}"


class ValidationError(ValueError):
    """Raised where wandb raises a `pydantic_core.ValidationError`.

    `str(e)` is byte-identical to pydantic's (pydantic 2.14, as pinned by the vectors);
    `errors()`, `error_count()` and `title` behave like pydantic's.
    """

    def __init__(self, title: str, line_errors: Iterable[dict]) -> None:
        self.title = title
        self._errors = [dict(e) for e in line_errors]
        for err in self._errors:
            err.setdefault("url", _PYDANTIC_DOCS + err["type"])
        super().__init__(self._render())

    def errors(self) -> list[dict]:
        """The list of error dicts (`type`, `loc`, `msg`, `input`, `url`)."""
        return [dict(e) for e in self._errors]

    def error_count(self) -> int:
        """The number of errors."""
        return len(self._errors)

    def _render(self) -> str:
        count = len(self._errors)
        plural = "" if count == 1 else "s"
        lines = [f"{count} validation error{plural} for {self.title}"]
        for err in self._errors:
            lines.append(".".join(str(part) for part in err["loc"]))
            value = err["input"]
            lines.append(
                f"  {err['msg']} [type={err['type']}, input_value={_truncated_repr(value)},"
                f" input_type={type(value).__name__}]"
            )
            lines.append(f"    For further information visit {err['url']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.args[0]
