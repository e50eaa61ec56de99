"""The UI's parts on their own: the file tree index, the diff, the Markdown sanitiser, the
auth hook's principals."""

from __future__ import annotations

import pytest

from artefact import _core


def _index(entries: dict[str, tuple[str, int]]):
    from artefact.ui.tree import FileIndex

    m = _core.Manifest()
    for path, (digest, size) in entries.items():
        m.insert(path, digest, None, None, size, "{}", None, False)
    return FileIndex(m.entries())


def test_listing_groups_directories_and_pages_children():
    paths = {"a/b.txt": ("d1", 1), "a/b/c.txt": ("d2", 2), "a/b/d/e.txt": ("d3", 4), "a/b0": ("d4", 8),
             "a/a.txt": ("d5", 16), "top.txt": ("d6", 32), "z/y/x.txt": ("d7", 64)}
    index = _index(paths)
    root = index.listing("")
    assert [(d.path, d.files, d.size) for d in root.dirs] == [("a", 5, 31), ("z", 1, 64)]
    assert [f.path for f in root.files] == ["top.txt"]
    a = index.listing("a")
    assert [(d.path, d.files, d.size) for d in a.dirs] == [("a/b", 2, 6)]
    assert [f.path for f in a.files] == ["a/a.txt", "a/b.txt", "a/b0"]  # "a/b0" is not under "a/b/"
    assert index.is_dir("a/b") and index.is_dir("a/b/d") and not index.is_dir("a/b.txt")
    assert not index.is_dir("a/b/d/e.txt") and not index.is_dir("nope")
    assert index.get("a/b/d/e.txt").size == 4 and index.get("a/b/d") is None
    # Paging: 3 children a page.
    many = _index({f"flat/f{i:03d}": ("d", 1) for i in range(7)} | {"flat/sub/x": ("d", 1)})
    first = many.listing("flat", 0, 3)
    assert [f.name for f in first.files] == ["f000", "f001", "f002"] and first.next_offset == 3
    rest = many.listing("flat", 3, 3), many.listing("flat", 6, 3)
    assert [f.name for f in rest[0].files] == ["f003", "f004", "f005"]
    assert [f.name for f in rest[1].files] == ["f006"] and [d.name for d in rest[1].dirs] == ["sub"]
    assert rest[1].next_offset is None


def test_diff_counts_and_metadata():
    from artefact.ui.diff import diff_versions

    old = _index({"same": ("a", 1), "gone": ("b", 1), "edit": ("c", 1)})
    new = _index({"same": ("a", 1), "edit": ("C", 2), "new": ("d", 3)})
    diff = diff_versions(old, new, {"k": 1, "x": [1], "drop": 0}, {"k": 2, "x": [1], "add": "v"}, limit=10)
    assert diff.counts == {"added": 1, "removed": 1, "changed": 1, "same": 1}
    assert [f.path for f in diff.added] == ["new"] and [f.path for f in diff.removed] == ["gone"]
    assert [(c.old.digest, c.new.digest) for c in diff.changed] == [("c", "C")]
    assert [(m.key, m.kind) for m in diff.metadata] == [("add", "added"), ("drop", "removed"), ("k", "changed")]
    capped = diff_versions(_index({}), _index({f"f{i}": ("d", 1) for i in range(5)}), {}, {}, limit=2)
    assert capped.counts["added"] == 5 and len(capped.added) == 2


@pytest.mark.parametrize("source, present, absent", [
    ("**bold** and `code`", ["<strong>bold</strong>", "<code>code</code>"], []),
    ("<script>alert(1)</script>", ["&lt;script&gt;"], ["<script"]),
    ('<img src=x onerror="alert(1)">', ["&lt;img"], ["<img"]),
    ("[x](javascript:alert(1))", [], ["href=\"javascript"]),
    ("![i](javascript:alert(1))", [], ["javascript:alert(1)\""]),
    ("[ok](https://example.org)", ['href="https://example.org"', "noopener"], []),
    ("| a | b |\n|---|---|\n| 1 | 2 |", ["<table>", "<td>1</td>"], []),
])
def test_markdown_is_rendered_and_sanitised(source, present, absent):
    from artefact.ui.markdown import render_markdown

    html = render_markdown(source)
    for text in present:
        assert text in html
    for text in absent:
        assert text not in html


def test_principals_from_hooks():
    from artefact.ui.auth import Principal, Sessions, as_principal

    class User:
        name, role = "u", "writer"

    assert as_principal(User()) == Principal("u", "writer")
    assert as_principal(Principal("r", "reader")).can_write is False
    assert as_principal(Principal("a", "admin")).can_write is True
    assert as_principal(Principal("x", "owner")) is None
    assert as_principal(None) is None
    sessions = Sessions(idle_seconds=0.0)
    token = sessions.start("key")
    import time

    time.sleep(0.01)
    assert sessions.key(token) is None  # idle too long
    sessions = Sessions()
    token = sessions.start("key")
    assert sessions.key(token) == "key" and sessions.key("other") is None
    sessions.end(token)
    assert sessions.key(token) is None


def test_create_app_refuses_what_it_cannot_serve(tmp_path):
    from artefact.store import LocalStore
    from artefact.ui import create_app

    with pytest.raises(TypeError, match="needs a LocalStore"):
        create_app(str(tmp_path))
    with LocalStore.open(str(tmp_path / "s")) as store:
        with pytest.raises(ValueError, match="unknown role 'root'"):
            create_app(store, local_role="root")
