"""Every URL of the UI, and how errors become pages.

    /                                          projects
    /p/<entity>/<project>                      artifact types (and recent runs)
    /p/<entity>/<project>/t/<type>             collections of a type
    /p/<entity>/<project>/c/<name>?page=N      versions of a collection
    /p/<entity>/<project>/c/<name>/<v<N>|alias>            one version (aliases redirect to v<N>)
    /p/<entity>/<project>/c/<name>/v<N>/tree?dir=&offset=  a directory of its files (fragment)
    /p/<entity>/<project>/c/<name>/v<N>/file?path=         a file preview
    /p/<entity>/<project>/c/<name>/v<N>/raw?path=          a file's bytes
    /p/<entity>/<project>/c/<name>/v<N>/aliases|tags       POST: alias and tag moves
    /p/<entity>/<project>/diff/<name>?a=v1&b=v2            diff of two versions
    /p/<entity>/<project>/run/<run_id>                     a run's lineage
    /login, /logout                                        API-key sessions (with an auth hook)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..store import ArtifactNotFoundError, ProjectNotFoundError, RunNotFoundError
from .actions import alias_action, login_page, login_submit, logout, tag_action
from .browse import collection_page, project_page, projects_page, run_page, type_page
from .context import BadRequest, Forbidden, Links, LoginRequired, render
from .version import diff_page, file_page, raw_file, tree_fragment, version_page

__all__ = ["ROUTES", "ERROR_HANDLERS"]

_P = "/p/{entity}/{project}"
_V = _P + "/c/{name}/{version}"

ROUTES = [
    Route("/", projects_page, name="projects"),
    Route(_P, project_page, name="project"),
    Route(_P + "/t/{type}", type_page, name="type"),
    Route(_P + "/c/{name}", collection_page, name="collection"),
    Route(_V, version_page, name="version"),
    Route(_V + "/tree", tree_fragment, name="tree"),
    Route(_V + "/file", file_page, name="file"),
    Route(_V + "/raw", raw_file, name="raw"),
    Route(_V + "/aliases", alias_action, methods=["POST"], name="aliases"),
    Route(_V + "/tags", tag_action, methods=["POST"], name="tags"),
    Route(_P + "/diff/{name}", diff_page, name="diff"),
    Route(_P + "/run/{run_id}", run_page, name="run"),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/login", login_submit, methods=["POST"], name="login_submit"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]


async def _login_required(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = Links(request).to("")
    return RedirectResponse(Links(request).to("login", next=target), status_code=303)


def _error(status: int, title: str):  # noqa: ANN202
    async def handler(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", status_code=status, title=title, detail=str(exc))

    return handler


ERROR_HANDLERS = {
    LoginRequired: _login_required,
    Forbidden: _error(403, "Not allowed"),
    ProjectNotFoundError: _error(404, "Not found"),
    ArtifactNotFoundError: _error(404, "Not found"),
    RunNotFoundError: _error(404, "Not found"),
    LookupError: _error(404, "Not found"),
    BadRequest: _error(400, "Bad request"),
    ValueError: _error(400, "Bad request"),
}
