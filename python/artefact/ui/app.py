"""The web UI as a Starlette app: `create_app(store, auth=None)`.

`artefact ui` serves it on 127.0.0.1 for the embedded store; `artefact server` can mount
the same app at `/` and pass its API-key check as `auth` (see auth.py for the hook).
Pages are rendered on the server (Jinja2, autoescaped); the only script is our own
static `ui.js`, and the Content-Security-Policy forbids every other, inline ones included.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..store import LocalStore
from .auth import ROLES, Authenticate, Sessions
from .format import FILTERS
from .routes import ERROR_HANDLERS, ROUTES

__all__ = ["create_app", "CSP"]

_HERE = os.path.dirname(os.path.abspath(__file__))

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class _SecurityHeaders:
    """Adds the CSP and friends to every response that does not set its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def templates() -> Environment:
    """The Jinja2 environment: every template autoescaped, undefined names are errors."""
    from jinja2 import StrictUndefined

    env = Environment(
        loader=FileSystemLoader(os.path.join(_HERE, "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def create_app(
    store: Union[LocalStore, Any],
    auth: Optional[Authenticate] = None,
    *,
    local_role: str = "reader",
    allowed_hosts: Optional[Sequence[str]] = None,
    per_page: int = 50,
) -> Starlette:
    """The browsing app over `store` (a LocalStore, or anything with a `.store` that is one,
    such as the SDK's StoreBackend).

    auth: None serves every request as the local user with `local_role` (`reader`: look
    only, as `artefact ui` does by default; `writer`: may also move aliases and tags).
    Otherwise `auth(api_key)` decides: the login page takes a key, the hook returns a
    principal with a role (or None to refuse), and is asked again on every request.
    allowed_hosts: Host headers accepted (guards a loopback server against DNS rebinding).
    """
    if not isinstance(store, LocalStore):
        store = getattr(store, "store", store)
    if not isinstance(store, LocalStore):
        raise TypeError(f"create_app needs a LocalStore (or a backend holding one), got {store!r}")
    if local_role not in ROLES:
        raise ValueError(f"unknown role {local_role!r}; expected one of {', '.join(ROLES)}")
    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=os.path.join(_HERE, "static")), name="static")],
        middleware=middleware,
        exception_handlers=ERROR_HANDLERS,
    )
    app.state.store = store
    app.state.auth = auth
    app.state.local_role = local_role
    app.state.sessions = Sessions()
    app.state.templates = templates()
    app.state.per_page = per_page
    return app
