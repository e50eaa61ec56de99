"""Who is looking at the pages, and what they may change.

The hook is one callable, `authenticate(api_key) -> principal or None`, where a principal
is anything with a `role` (`reader`, `writer` or `admin`) and, optionally, a `name` and
an `allows(entity, project, role) -> bool` that narrows it to some projects (as a
server's per-project API keys are). `None` means unknown or revoked. The app calls it on
every request with the key the session holds, so revoking a key ends its sessions at once.

Without a hook (`artefact ui`) every request is the local user, with the role the app was
created with (`reader` unless asked otherwise). Every form carries a CSRF token bound to
a SameSite=Strict cookie, and POSTs from another origin are refused, so a page on some
other site cannot move an alias through the user's browser.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = ["Principal", "Scope", "Authenticate", "ROLES", "WRITE_ROLES", "Sessions", "as_principal",
           "SESSION_COOKIE", "CSRF_COOKIE", "new_token", "same_token"]

ROLES = ("reader", "writer", "admin")
WRITE_ROLES = frozenset({"writer", "admin"})
SESSION_COOKIE = "artefact_session"
CSRF_COOKIE = "artefact_csrf"
SESSION_IDLE_SECONDS = 12 * 3600


Scope = Callable[[str, str, str], bool]
"""`(entity, project, role) -> bool`: may the principal act as `role` in that project."""


@dataclass(frozen=True)
class Principal:
    """Someone the pages are served to: a display name, a role, and optionally a scope
    (which projects the role holds in; None: every project of the store)."""

    name: str
    role: str
    scope: Optional[Scope] = field(default=None, compare=False, repr=False)

    @property
    def can_write(self) -> bool:
        """Writers and admins may move aliases and tags; readers only look."""
        return self.role in WRITE_ROLES

    def can_read(self, entity: str, project: str) -> bool:
        """May this principal see the pages of `entity/project`."""
        return self.scope is None or bool(self.scope(entity, project, "reader"))

    def can_write_in(self, entity: str, project: str) -> bool:
        """May this principal move aliases and tags in `entity/project`."""
        return self.can_write and (self.scope is None or bool(self.scope(entity, project, "writer")))


Authenticate = Callable[[str], Optional[Any]]
"""`api_key -> principal` (anything with `.role`, optionally `.name`, `.allows`), None if refused."""


def as_principal(found: Any) -> Optional[Principal]:
    """A Principal from what an `Authenticate` hook returned; an unknown role is refused."""
    if found is None:
        return None
    if isinstance(found, Principal):
        return found if found.role in ROLES else None
    role = getattr(found, "role", None)
    if role not in ROLES:
        return None
    name = getattr(found, "name", None) or getattr(found, "user", None) or role
    allows = getattr(found, "allows", None)
    return Principal(str(name), str(role), allows if callable(allows) else None)


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def same_token(a: Optional[str], b: Optional[str]) -> bool:
    """Constant-time equality of two tokens, False if either is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class Sessions:
    """Logged-in browsers: session token -> the API key it logged in with.

    Kept in the server's memory (a restart logs everyone out); the cookie holds only the
    random token, never the key.
    """

    def __init__(self, idle_seconds: float = SESSION_IDLE_SECONDS) -> None:
        self._keys: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._idle = idle_seconds

    def start(self, api_key: str) -> str:
        """A new session for `api_key`; returns its token."""
        token = new_token()
        now = time.monotonic()
        with self._lock:
            # Forget idle sessions here, so abandoned ones do not pile up.
            for old in [t for t, (_, seen) in self._keys.items() if now - seen > self._idle]:
                del self._keys[old]
            self._keys[token] = (api_key, now)
        return token

    def key(self, token: Optional[str]) -> Optional[str]:
        """The API key of a live session, refreshing its idle timer."""
        if not token:
            return None
        now = time.monotonic()
        with self._lock:
            found = self._keys.get(token)
            if found is None:
                return None
            if now - found[1] > self._idle:
                del self._keys[token]
                return None
            self._keys[token] = (found[0], now)
            return found[0]

    def end(self, token: Optional[str]) -> None:
        """Forget a session (logout, or its key was refused)."""
        if token:
            with self._lock:
                self._keys.pop(token, None)
