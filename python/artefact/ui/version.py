"""The pages of one version: the version itself, a directory of its file tree (a
fragment the page fetches when a directory is opened), a file preview, a file's raw
bytes (images), and the diff of two versions of a collection."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ..store.records import VersionRecord
from ..store.queries import is_version_alias
from .context import BadRequest, Links, principal, render, store_of, visible
from .diff import diff_versions
from .lineage import lineage_graph
from .markdown import render_markdown
from .preview import IMAGE_TYPES, make_preview, object_path
from .tree import file_index

__all__ = ["version_page", "tree_fragment", "file_page", "raw_file", "diff_page", "resolve"]

TREE_PAGE = 200  # children listed per request of a directory


def resolve(request: Request, version: str) -> VersionRecord:
    """The version `v<N>` or `<alias>` of the collection in the path."""
    p = request.path_params
    return store_of(request).get_version(p["entity"], p["project"], f"{p['name']}:{version}")


def _canonical(request: Request, record: VersionRecord, *tail: str) -> Response:
    """Redirect an alias URL (`.../c/mnist/best`) to the version's stable `v<N>` URL."""
    query = dict(request.query_params)
    links = Links(request)
    return RedirectResponse(
        links.version(record.entity, record.project, record.collection, record.version_index, *tail, **query),
        status_code=302,
    )


def snippet(record: VersionRecord) -> str:
    """The code that uses this version from a run."""
    return (
        "import artefact as wandb\n\n"
        f"with wandb.init(entity={record.entity!r}, project={record.project!r}) as run:\n"
        f"    artifact = run.use_artifact({record.qualified_name!r}, type={record.type!r})\n"
        "    path = artifact.download()\n"
    )


def version_page(request: Request) -> Response:
    """`/p/<entity>/<project>/c/<name>/v<N>`: everything about one version."""
    who = principal(request)
    version = request.path_params["version"]
    record = resolve(request, version)
    if version != record.version:
        return _canonical(request, record)
    store = store_of(request)
    links = Links(request)
    index = file_index(store, record)
    logged_by = visible(who, store.logged_by(record))
    used_by = visible(who, store.used_by(record))
    graph = lineage_graph(
        record.name, logged_by, used_by, lambda run: links.to("p", run.entity, run.project, "run", run.run_id)
    )
    source = visible(who, store.version_by_id(record.id)) if record.is_link else None
    return render(
        request, "version.html", who=who, v=record, entity=record.entity, project=record.project,
        description=render_markdown(record.description or ""), metadata=sorted(record.metadata.items()),
        listing=index.listing("", 0, TREE_PAGE), snippet=snippet(record), logged_by=logged_by,
        used_by=used_by, graph=graph, registry=visible(who, store.links_of(record)), source=source,
    )


def tree_fragment(request: Request) -> Response:
    """`.../v<N>/tree?dir=a/b&offset=200`: one page of a directory, as an HTML fragment."""
    who = principal(request)
    record = resolve(request, request.path_params["version"])
    directory = request.query_params.get("dir", "").strip("/")
    try:
        offset = max(0, int(request.query_params.get("offset", "0") or 0))
    except ValueError:
        raise BadRequest(f"offset must be a whole number, got {request.query_params['offset']!r}") from None
    index = file_index(store_of(request), record)
    if not index.is_dir(directory):
        raise LookupError(f"no directory {directory!r} in {record.qualified_name}")
    return render(request, "tree.html", who=who, v=record, listing=index.listing(directory, offset, TREE_PAGE))


def _entry(request: Request, record: VersionRecord):  # noqa: ANN202
    path = request.query_params.get("path", "")
    if not path:
        raise BadRequest("path is required, e.g. ?path=data/train.csv")
    entry = file_index(store_of(request), record).get(path)
    if entry is None:
        raise LookupError(f"no file {path!r} in {record.qualified_name}")
    return entry


def file_page(request: Request) -> Response:
    """`.../v<N>/file?path=...`: a preview of one file of the version."""
    who = principal(request)
    record = resolve(request, request.path_params["version"])
    if request.path_params["version"] != record.version:
        return _canonical(request, record, "file")
    store = store_of(request)
    index = file_index(store, record)
    entry = _entry(request, record)
    preview = make_preview(store, index, entry)
    parts = entry.path.split("/")
    crumbs = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
    return render(request, "file.html", who=who, v=record, entity=record.entity, project=record.project,
                  entry=entry, preview=preview, crumbs=crumbs)


def raw_file(request: Request) -> Response:
    """`.../v<N>/raw?path=...`: the file's bytes. Images are shown inline; anything else
    is a download, and no response may run script (sandboxed CSP, no sniffing)."""
    principal(request)
    record = resolve(request, request.path_params["version"])
    entry = _entry(request, record)
    path = object_path(store_of(request), entry)
    if path is None:
        raise BadRequest(f"{entry.path!r} is a reference ({entry.ref}); it is not served")
    ext = "." + entry.name.rpartition(".")[2].lower() if "." in entry.name else ""
    media = IMAGE_TYPES.get(ext)
    headers = {"content-security-policy": "default-src 'none'; sandbox", "cache-control": "private, max-age=3600"}
    if media is None:
        return FileResponse(path, media_type="application/octet-stream", filename=entry.name,
                            headers=headers, content_disposition_type="attachment")
    return FileResponse(path, media_type=media, headers=headers)


def diff_page(request: Request) -> Response:
    """`/p/<entity>/<project>/diff/<name>?a=v1&b=v2`: what changed from version a to b."""
    who = principal(request)
    p = request.path_params
    store = store_of(request)
    collection = store.get_collection(p["entity"], p["project"], p["name"])
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a or not b:
        raise BadRequest("choose two versions to compare: ?a=v1&b=v2")
    for value in (a, b):
        if ":" in value or "/" in value:
            raise BadRequest(f"{value!r} is not a version or alias of {collection.name}")
    old = store.get_version(p["entity"], p["project"], f"{p['name']}:{a}")
    new = store.get_version(p["entity"], p["project"], f"{p['name']}:{b}")
    if not (is_version_alias(a) and is_version_alias(b)):
        links = Links(request)
        return RedirectResponse(links.to("p", p["entity"], p["project"], "diff", p["name"], a=old.version,
                                         b=new.version), status_code=302)
    diff = diff_versions(file_index(store, old), file_index(store, new), old.metadata, new.metadata)
    return render(request, "diff.html", who=who, entity=p["entity"], project=p["project"],
                  collection=collection, old=old, new=new, diff=diff,
                  description_changed=(old.description or "") != (new.description or ""))
