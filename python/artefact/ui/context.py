"""Per-request plumbing shared by the routes: who is asking, links, CSRF, rendering.

URLs are built here only (`Links`), each part percent-encoded, under the app's mount
point (`root_path`), so a page works the same at `/` of `artefact ui` and mounted
inside `artefact server`.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..store import LocalStore
from .auth import CSRF_COOKIE, SESSION_COOKIE, Principal, as_principal, new_token, same_token

__all__ = ["LoginRequired", "Forbidden", "NotGranted", "BadRequest", "Links", "principal", "visible", "render", "check_csrf", "store_of"]


class LoginRequired(Exception):
    """No session (or its key was revoked): the handler sends the browser to /login."""


class Forbidden(Exception):
    """The principal's role does not allow the request (a reader posting an alias move)."""


class NotGranted(LookupError):
    """A project the principal's key is not granted: answered as not found (404), so a key
    learns nothing of projects outside its grant."""


class BadRequest(Exception):
    """A request with a bad value; the message names it."""


class Links:
    """Builds the app's URLs: `links.to("p", entity, project, dir="a/b")`."""

    def __init__(self, request: Request) -> None:
        self.root = request.scope.get("root_path", "").rstrip("/")

    def to(self, *parts: Any, **query: Any) -> str:
        """`/<part>/<part>...?<query>`, parts quoted (a `/` in a part stays inside it)."""
        path = "/".join(quote(str(p), safe="") for p in parts)
        q = {k: v for k, v in query.items() if v is not None and v != ""}
        return f"{self.root}/{path}" + (f"?{urlencode(q)}" if q else "")

    def version(self, entity: str, project: str, collection: str, index: int, *tail: str, **query: Any) -> str:
        """A version page (or one of its parts, e.g. `"file"`)."""
        return self.to("p", entity, project, "c", collection, f"v{index}", *tail, **query)


def store_of(request: Request) -> LocalStore:
    """The app's store."""
    return request.app.state.store


def principal(request: Request) -> Principal:
    """Who is asking: the local user without an auth hook, else the session's key as the
    hook sees it now. Raises LoginRequired when there is no valid session, NotGranted when
    the URL names a project outside the principal's scope."""
    state = request.app.state
    if state.auth is None:
        return Principal("local", state.local_role)
    token = request.cookies.get(SESSION_COOKIE)
    key = state.sessions.key(token)
    found = as_principal(state.auth(key)) if key is not None else None
    if found is None:
        state.sessions.end(token)
        raise LoginRequired()
    entity, project = request.path_params.get("entity"), request.path_params.get("project")
    if entity is not None and project is not None and not found.can_read(entity, project):
        raise NotGranted(f"no project {entity}/{project} is open to this API key")
    return found


def visible(who: Principal, items: Any) -> Any:
    """The records (runs, versions) of `items` in projects `who` may read; for one record,
    itself or None. Keeps lineage and registry links from naming other projects' names."""
    if isinstance(items, (list, tuple)):
        return [i for i in items if who.can_read(i.entity, i.project)]
    return items if items is not None and who.can_read(items.entity, items.project) else None


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (made on first use, set as a cookie by `render`)."""
    token = request.cookies.get(CSRF_COOKIE) or request.scope.get("artefact.csrf")
    if not token:
        token = request.scope["artefact.csrf"] = new_token()
    return token


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """Refuse a POST whose token does not match its cookie, or from another origin."""
    origin = request.headers.get("origin")
    if origin is not None:
        # Host only, not scheme: behind a TLS-terminating proxy the app sees http.
        if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Forbidden(f"cross-origin request from {origin!r} refused")
    if not same_token(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
        raise Forbidden("missing or stale form token; reload the page and try again")


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    who: Optional[Principal] = None,
    **values: Any,
) -> Response:
    """Render a template with the common values (links, principal, csrf token)."""
    env = request.app.state.templates
    token = csrf_token(request)
    html = env.get_template(template).render(
        links=Links(request), who=who, csrf=token, login_enabled=request.app.state.auth is not None,
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            path=Links(request).root or "/")
    return response
