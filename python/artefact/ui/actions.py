"""What the pages change: alias and tag moves by writers, and logging in and out.

Alias and tag values go through the SDK's own validators (`validate_aliases`,
`validate_tags`), then one `LocalStore.update_version` call, which is one catalog
transaction: an alias leaves its old version and lands on the new one atomically,
exactly as `Artifact.save()` moves it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..store.queries import is_version_alias
from ..validate import validate_aliases, validate_tags
from .auth import SESSION_COOKIE, as_principal
from .context import BadRequest, Forbidden, Links, check_csrf, principal, render, store_of
from .version import resolve

__all__ = ["alias_action", "tag_action", "login_page", "login_submit", "logout"]

MAX_FORM_BYTES = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the pages post nothing else), size-capped."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest(f"form too large ({len(body)} bytes)")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise BadRequest("form is not UTF-8") from None


async def _writer_form(request: Request) -> dict[str, str]:
    form = await _form(request)
    check_csrf(request, form)
    who = await run_in_threadpool(principal, request)
    entity, project = request.path_params["entity"], request.path_params["project"]
    if not who.can_write_in(entity, project):
        raise Forbidden(f"{who.name} has the role {who.role!r} in {entity}/{project};"
                        " only writers can move aliases and tags")
    return form


def _op(form: dict[str, str]) -> str:
    op = form.get("op", "")
    if op not in ("add", "remove"):
        raise BadRequest(f"op must be 'add' or 'remove', got {op!r}")
    return op


async def alias_action(request: Request) -> Response:
    """POST `.../v<N>/aliases` (`op=add|remove`, `alias=...`): move an alias onto this
    version (from wherever it was in the collection), or take it off."""
    form = await _writer_form(request)
    op, alias = _op(form), form.get("alias", "")
    if not alias:
        raise BadRequest("alias must not be empty")
    validate_aliases([alias])  # ValueError with the SDK's message
    if is_version_alias(alias):
        raise BadRequest(f"{alias!r} is a version index; those are given by the store, not moved")

    def apply() -> str:
        record = resolve(request, request.path_params["version"])
        if op == "remove" and alias not in record.aliases:
            raise BadRequest(f"alias {alias!r} is not on {record.name}")
        changes = {"add_aliases": [alias]} if op == "add" else {"remove_aliases": [alias]}
        moved = store_of(request).update_version(record, **changes)
        return Links(request).version(moved.entity, moved.project, moved.collection, moved.version_index)

    return RedirectResponse(await run_in_threadpool(apply), status_code=303)


async def tag_action(request: Request) -> Response:
    """POST `.../v<N>/tags` (`op=add|remove`, `tag=...`): tag or untag this version."""
    form = await _writer_form(request)
    op, tag = _op(form), form.get("tag", "")
    validate_tags([tag])  # ValueError with the SDK's message

    def apply() -> str:
        record = resolve(request, request.path_params["version"])
        if op == "remove" and tag not in record.tags:
            raise BadRequest(f"tag {tag!r} is not on {record.name}")
        changes = {"add_tags": [tag]} if op == "add" else {"remove_tags": [tag]}
        moved = store_of(request).update_version(record, **changes)
        return Links(request).version(moved.entity, moved.project, moved.collection, moved.version_index)

    return RedirectResponse(await run_in_threadpool(apply), status_code=303)


def _next(request: Request, raw: str) -> str:
    """Where to go after login: a path of this app only (never another site)."""
    root = Links(request).root
    # Browsers drop tabs and newlines from URLs and read "\\" as "/": "/\t/evil" is "//evil".
    plain = all(" " < c and c != "\\" for c in raw)
    if plain and raw.startswith("/") and not raw.startswith("//"):
        return raw
    return root + "/"


async def login_page(request: Request) -> Response:
    """GET /login: the form that takes an API key."""
    if request.app.state.auth is None:
        return RedirectResponse(Links(request).to(""), status_code=302)
    return render(request, "login.html", next=_next(request, request.query_params.get("next", "")), error="")


async def login_submit(request: Request) -> Response:
    """POST /login: start a session if the hook accepts the key, else say it was refused."""
    state = request.app.state
    if state.auth is None:
        return RedirectResponse(Links(request).to(""), status_code=303)
    form = await _form(request)
    check_csrf(request, form)
    key = form.get("api_key", "").strip()
    target = _next(request, form.get("next", ""))
    found = as_principal(await run_in_threadpool(state.auth, key)) if key else None
    if found is None:
        return render(request, "login.html", status_code=401, next=target,
                      error="This API key was refused: it is unknown or has been revoked.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, state.sessions.start(key), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path=Links(request).root or "/")
    return response


async def logout(request: Request) -> Response:
    """POST /logout: end the session."""
    form = await _form(request)
    check_csrf(request, form)
    request.app.state.sessions.end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(Links(request).to("login"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=Links(request).root or "/")
    return response
