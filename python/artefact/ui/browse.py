"""The pages above a version: projects, a project's types, collections, versions, runs."""

from __future__ import annotations

from collections import Counter

from starlette.requests import Request
from starlette.responses import Response

from .context import BadRequest, principal, render, store_of, visible
from .reads import collection_summaries, list_projects, version_page

__all__ = ["projects_page", "project_page", "type_page", "collection_page", "run_page"]


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None


def projects_page(request: Request) -> Response:
    """`/`: every project of the store."""
    who = principal(request)
    projects = [p for p in list_projects(store_of(request)) if who.can_read(p.entity, p.name)]
    return render(request, "projects.html", who=who, projects=projects)


def project_page(request: Request) -> Response:
    """`/p/<entity>/<project>`: its artifact types, with collection counts."""
    who = principal(request)
    entity, project = request.path_params["entity"], request.path_params["project"]
    store = store_of(request)
    types = store.list_types(entity, project)
    collections = store.list_collections(entity, project)
    counts = Counter(c.type for c in collections)
    runs = store.list_runs(entity, project)
    return render(request, "project.html", who=who, entity=entity, project=project,
                  types=[(t, counts[t]) for t in types], runs=runs[-50:][::-1], run_count=len(runs))


def type_page(request: Request) -> Response:
    """`/p/<entity>/<project>/t/<type>`: the collections of one type."""
    who = principal(request)
    p = request.path_params
    summaries = collection_summaries(store_of(request), p["entity"], p["project"], type=p["type"])
    return render(request, "collections.html", who=who, entity=p["entity"], project=p["project"],
                  type=p["type"], summaries=summaries)


def collection_page(request: Request) -> Response:
    """`/p/<entity>/<project>/c/<name>?page=N`: one page of a collection's versions."""
    who = principal(request)
    p = request.path_params
    store = store_of(request)
    collection = store.get_collection(p["entity"], p["project"], p["name"])
    page = version_page(store, p["entity"], p["project"], p["name"], _int_arg(request, "page", 1),
                        request.app.state.per_page)
    return render(request, "versions.html", who=who, entity=p["entity"], project=p["project"],
                  collection=collection, page=page)


def run_page(request: Request) -> Response:
    """`/p/<entity>/<project>/run/<run_id>`: a run, what it logged and what it used."""
    who = principal(request)
    p = request.path_params
    store = store_of(request)
    run = store.get_run(p["entity"], p["project"], p["run_id"])
    return render(request, "run.html", who=who, entity=p["entity"], project=p["project"], run=run,
                  logged=visible(who, store.logged_versions(run)),
                  used=visible(who, store.used_versions(run)))
