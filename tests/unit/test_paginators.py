"""Listings are paginators as in wandb 0.31.0 (`per_page`, `.cursor`, `start=`, `len()`,
lazy page fetching), and `Api().artifacts` filters by tags and orders.

wandb's listings query a server; the behaviour checked here is the one its source
documents: wandb/apis/paginator.py (`Paginator.__next__`, `__getitem__`,
`SizedPaginator.__len__`, `RelayPaginator.cursor`), wandb/apis/public/artifacts.py
(`Artifacts`: tags kept per page, `len()` the server's total; `ArtifactCollection.artifacts`)
and wandb/apis/public/api.py (`Api.artifacts` docstring: resuming from `.cursor` with
`start=`). Argument checks run offline in wandb and are compared with it directly.
"""

from __future__ import annotations

from itertools import islice

import pytest


@pytest.fixture()
def api(tmp_path):
    """Collection `ds` with v0..v6 (v1, v3, v5 tagged "odd"; v3 also "three")."""
    import artefact

    with artefact.init(project="p", entity="e") as run:
        for i in range(7):
            (tmp_path / "f.txt").write_text(f"content {i}")
            art = artefact.Artifact("ds", "dataset")
            art.add_file(str(tmp_path / "f.txt"))
            tags = (["odd"] if i % 2 else []) + (["three"] if i == 3 else [])
            run.log_artifact(art, tags=tags)
        for name in ("c1", "c2", "c3"):
            other = artefact.Artifact(name, "dataset")
            other.add_file(str(tmp_path / "f.txt"))
            run.log_artifact(other)
        run_id = run.id
    api = artefact.Api(overrides={"entity": "e", "project": "p"})
    api.test_run_id = run_id
    return api


def _versions(arts) -> list[str]:
    return [a.version for a in arts]


def test_pages_are_fetched_lazily(api):
    arts = api.artifacts("dataset", "ds", per_page=3)
    assert arts.objects == [] and arts.last_response is None  # nothing fetched yet
    assert next(arts).version == "v6"
    assert _versions(arts.objects) == ["v6", "v5", "v4"]  # one page, not the whole collection
    assert len(arts) == 7
    assert _versions(arts) == ["v6", "v5", "v4", "v3", "v2", "v1", "v0"]
    assert arts[1].version == "v5" and _versions(arts[2:4]) == ["v4", "v3"]
    assert not arts.more


def test_resume_from_cursor_with_start(api):
    """The example of wandb's `Api.artifacts` docstring: one page, save `.cursor`, resume."""
    first = api.artifacts("dataset", "ds", per_page=3)
    assert first.cursor is None
    head = list(islice(first, 3))
    saved = first.cursor
    assert isinstance(saved, str)
    rest = api.artifacts("dataset", "ds", per_page=3, start=saved)
    assert rest.cursor == saved  # before fetching, the cursor is the start
    assert _versions(head) + _versions(rest) == ["v6", "v5", "v4", "v3", "v2", "v1", "v0"]
    coll = api.artifact_collection("dataset", "ds")
    page = coll.artifacts(per_page=2)
    list(islice(page, 2))
    assert _versions(coll.artifacts(per_page=2, start=page.cursor)) == ["v4", "v3", "v2", "v1", "v0"]


def test_tags_filter_and_order(api):
    assert _versions(api.artifacts("dataset", "ds", tags=["odd"])) == ["v5", "v3", "v1"]
    assert _versions(api.artifacts("dataset", "ds", tags="odd")) == ["v5", "v3", "v1"]  # one tag as a str
    assert _versions(api.artifacts("dataset", "ds", tags=["odd", "three"])) == ["v3"]
    assert _versions(api.artifacts("dataset", "ds", tags=["none-has-it"])) == []
    # per page, as wandb: a page of 2 may keep fewer, iteration goes on to the next page
    assert _versions(api.artifacts("dataset", "ds", tags=["odd"], per_page=2)) == ["v5", "v3", "v1"]
    assert len(api.artifacts("dataset", "ds", tags=["odd"])) == 7  # wandb: the server's total
    assert _versions(api.artifacts("dataset", "ds", order="+versionIndex")) == [f"v{i}" for i in range(7)]
    assert _versions(api.artifacts("dataset", "ds", order="version_index")) == [f"v{i}" for i in range(7)]
    assert _versions(api.artifacts("dataset", "ds", "-createdAt"))[0] == "v6"  # order is 3rd positionally


@pytest.mark.parametrize("kwargs", [dict(per_page=0), dict(per_page=-1), dict(per_page="x"),
                                    dict(order="bad order"), dict(order="1st"), dict(tags=5)])
def test_bad_arguments_raise_as_wandb(wandb, api, kwargs):
    """wandb checks these offline (pydantic `_ArtifactsVars`) before any query: same
    class (after wandb's normalize_exceptions: CommError) and message."""
    from wandb.apis.public.artifacts import Artifacts
    from wandb.apis.normalize import normalize_exceptions

    from artefact.errors import CommError

    with pytest.raises(Exception) as theirs:
        normalize_exceptions(lambda: Artifacts(None, "e", "p", "ds", "dataset", **kwargs))()
    with pytest.raises(CommError) as ours:
        api.artifacts("dataset", "ds", **kwargs)
    assert type(theirs.value).__name__ == "CommError"
    assert str(ours.value) == str(theirs.value)


def test_other_listings_are_paginated(api):
    colls = api.artifact_collections("p", "dataset", per_page=2)
    assert len(colls) == 4
    assert [c.name for c in colls] == ["ds", "c1", "c2", "c3"]
    run = api.run(api.test_run_id)
    logged = run.logged_artifacts(per_page=4)
    assert len(logged) == 10 and len(list(logged)) == 10
    assert len(run.used_artifacts()) == 0
    art = api.artifact("ds:v0")
    files = art.files(per_page=1)
    assert len(files) == 1 and [f.name for f in files] == ["f.txt"]
    assert [t.name for t in api.artifact_types("p")] == ["dataset"]
    assert [c.name for c in api.artifact_type("dataset", "p").collections()] == ["ds", "c1", "c2", "c3"]


def test_a_bad_cursor_is_refused(api):
    from artefact.errors import CommError

    with pytest.raises(CommError, match="Invalid pagination cursor: 'nonsense'"):
        list(api.artifacts("dataset", "ds", start="nonsense"))


def test_paginator_semantics_for_any_page_size():
    """For every page size and stopping point: iteration yields the listing in order,
    pages are fetched only as needed, `len()` is the total, and the cursor (the start of
    the next page, as wandb's `RelayPaginator.cursor`) resumes right after the loaded
    pages (wandb/apis/paginator.py)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from artefact.paginator import Page, SizedPaginator

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(n=st.integers(0, 40), per_page=st.integers(1, 12), stop=st.integers(0, 45))
    def check(n, per_page, stop):
        listing = list(range(n))
        fetched = []

        def fetch(offset, limit):
            fetched.append((offset, limit))
            items = listing[offset:offset + limit]
            return Page(items, offset + limit < n, n)

        pager = SizedPaginator(fetch, per_page)
        head = [x for _, x in zip(range(stop), pager)]
        assert head == listing[:stop]
        pages_needed = -(-min(stop, n) // per_page) if stop else 0
        assert len(fetched) <= pages_needed + 1  # at most one page beyond what was read
        taken = len(pager.objects)
        assert taken >= min(stop, n) and taken % per_page == 0 or taken == n
        resumed = SizedPaginator(fetch, per_page, start=pager.cursor)
        assert list(resumed) == listing[taken:]
        assert len(SizedPaginator(fetch, per_page)) == n
        fresh = SizedPaginator(fetch, per_page)
        assert fresh[n - 1] == n - 1 if n else fresh[0:3] == []

    check()
