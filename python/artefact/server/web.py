"""The web pages inside `artefact server`: the UI app (`artefact.ui`) mounted at `/`,
behind the server's own API keys.

The login page takes an API key; the hook below checks it against the key table on
every request (one indexed catalog read), so a revoked key is refused at once, in a
session already open too. A key only sees the projects it is granted (`ApiKey.allows`):
other projects are left out of the list and their pages answer 404.

The pages answer every path the API routes do not, so `api_fallback` keeps the API's
own paths (`/api/`, `/blobs/`, `/healthz`) a JSON API: a wrong method still gets 405
and an unknown API path a JSON 404, never a web page.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match

from .keys import ApiKey, authenticate
from .state import ServerState
from .wire import error_body

__all__ = ["KeyPrincipal", "web_app", "api_fallback", "API_PREFIXES"]

API_PREFIXES = ("/api/", "/blobs/", "/healthz")


class KeyPrincipal:
    """What the UI sees of a live API key: a display name, a role, and its grant."""

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.role = key.role
        self.name = f"{key.entity}/{key.project or '*'} key {key.key_id[:6]}"

    def allows(self, entity: str, project: str, role: str) -> bool:
        """True if the key may act as `role` in `entity/project`."""
        return self.key.allows(entity, project, role)


def web_app(state: ServerState) -> Starlette:
    """The UI over the server's store, authenticated by the server's key table."""
    from ..ui import create_app

    def principal_for(api_key: str) -> Optional[KeyPrincipal]:
        key = authenticate(state.catalog, api_key)
        return KeyPrincipal(key) if key is not None else None

    return create_app(state.store, auth=principal_for)


def api_fallback(api_routes: Sequence[BaseRoute], pages: Any) -> Any:
    """An ASGI app for the mount at `/`: the pages, except on the API's own paths, where a
    path of an API route with another method gets 405 and any other path a JSON 404."""

    async def app(scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("root_path", "") + scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIXES):
            await pages(scope, receive, send)
            return
        # The mount strips nothing at "/", so the API routes match the scope as it is.
        method = scope.get("method", "GET")
        allowed = sorted({m for r in api_routes if r.matches(scope)[0] == Match.PARTIAL
                          for m in getattr(r, "methods", None) or ()})
        if allowed:
            response = JSONResponse(error_body("MethodNotAllowed", f"{method} is not allowed on {path}"),
                                    405, headers={"Allow": ", ".join(allowed)})
        else:
            response = JSONResponse(error_body("NotFound", f"no API route {method} {path}"), 404)
        await response(scope, receive, send)

    return app
