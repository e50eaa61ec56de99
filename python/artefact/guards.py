"""Decorators that guard Artifact methods by state, with wandb's errors.

* `ensure_logged`: ArtifactNotLoggedError("'Artifact.<name>' used prior to logging...")
  while the artifact is a draft.
* `ensure_not_finalized`: ArtifactFinalizedError("'Artifact.<name>' used on logged
  artifact...") once `finalize()` ran.
* `normalize_exceptions`: anything but `errors.Error` becomes `errors.CommError`
  (the original is re-raised when WANDB_DEBUG / ARTEFACT_DEBUG is truthy).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any, Callable, TypeVar

from .errors import ArtifactFinalizedError, ArtifactNotLoggedError, CommError, Error

F = TypeVar("F", bound=Callable[..., Any])
_DEBUG_VARS = ("ARTEFACT_DEBUG", "WANDB_DEBUG")


def _fullname(method: Callable[..., Any]) -> str:
    # Always "Artifact.<name>", even for methods defined on a mixin or a subclass.
    return f"Artifact.{method.__name__}"


def ensure_logged(method: F) -> F:
    """Raise ArtifactNotLoggedError if the artifact is still a draft."""
    fullname = _fullname(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.is_draft():
            raise ArtifactNotLoggedError(fullname=fullname, obj=self)
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def ensure_not_finalized(method: F) -> F:
    """Raise ArtifactFinalizedError if the artifact is finalized."""
    fullname = _fullname(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._final:
            raise ArtifactFinalizedError(fullname=fullname, obj=self)
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _debug() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "y", "t", "on"}
        for name in _DEBUG_VARS
    )


def _http_error_message(error: Any) -> str:
    response = error.response
    status = response.status_code
    messages: list[str] = []
    try:
        body = json.loads(response.text or "null")
        if isinstance(body, dict):
            for item in body.get("errors") or []:
                text = item.get("message") if isinstance(item, dict) else item
                if text:
                    messages.append(str(text))
            if not messages and body.get("error"):
                messages.append(str(body["error"]))
    except ValueError:
        pass
    if messages:
        return f"HTTP {status}: {'; '.join(messages)}"
    if response.text:
        return f"HTTP {status}: {response.text}"
    if response.reason:
        return f"HTTP {status} ({response.reason})"
    return f"HTTP {status}"


def normalize_exceptions(func: F) -> F:
    """Re-raise anything that is not an `errors.Error` as `errors.CommError`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Error:
            raise
        except Exception as err:
            requests = sys.modules.get("requests")
            if requests is not None and isinstance(err, requests.HTTPError) and err.response is not None:
                raise CommError(_http_error_message(err), err) from err
            if _debug():
                raise
            payload = err.args[0] if err.args else err
            message = str(err)
            if str(payload).startswith("{"):
                import ast

                try:
                    message = ast.literal_eval(str(payload))["message"]
                except (ValueError, SyntaxError, KeyError, TypeError):
                    pass
            raise CommError(message, err).with_traceback(sys.exc_info()[2])

    return wrapper  # type: ignore[return-value]
