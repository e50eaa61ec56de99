"""`artifact.manifest.entries` behaves as wandb 0.31.0's dict: `.keys()`, `.values()`
and `.items()` are live views that compare and combine like a dict's (checked against
the real wandb on the same files)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def pair(wandb, tmp_path):
    import artefact

    for name, body in (("f.txt", "one"), ("d/g.txt", "two"), ("d/h.bin", "three")):
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    arts = []
    for sdk in (wandb, artefact):
        art = sdk.Artifact("views", "dataset")
        art.add_file(str(tmp_path / "src" / "f.txt"))
        art.add_file(str(tmp_path / "src" / "d" / "g.txt"), name="d/g.txt")
        arts.append(art)
    return arts, tmp_path


def _observe(art, tmp_path) -> dict:
    entries = art.manifest.entries
    keys, values, items = entries.keys(), entries.values(), entries.items()
    before = (list(keys), [v.path for v in values], [(k, v.digest) for k, v in items])
    art.add_file(str(tmp_path / "src" / "d" / "h.bin"), name="d/h.bin")  # the views are live
    return {
        "before": before,
        "after": (list(keys), [v.path for v in values], [(k, v.digest) for k, v in items]),
        "len": (len(keys), len(values), len(items)),
        "keys == set": keys == {"f.txt", "d/g.txt", "d/h.bin"},
        "keys == list": keys == ["f.txt", "d/g.txt", "d/h.bin"],
        "keys & set": keys & {"f.txt", "nope"},
        "keys | set": sorted(keys | {"x"}),
        "keys - set": sorted(keys - {"f.txt"}),
        "keys ^ set": sorted(keys ^ {"f.txt", "y"}),
        "keys <= set": keys <= {"f.txt", "d/g.txt", "d/h.bin", "z"},
        "isdisjoint": keys.isdisjoint({"q"}),
        "in keys": ("f.txt" in keys, "nope" in keys),
        "in items": (("f.txt", entries["f.txt"]) in items, ("f.txt", None) in items),
        "in values": entries["d/g.txt"] in values,
        "reversed keys": list(reversed(keys)),
        "reversed items": [k for k, _ in reversed(items)],
        "reversed values": [v.path for v in reversed(values)],
        "items == items": items == art.manifest.entries.items(),
        "keys == keys": keys == art.manifest.entries.keys(),
        "values == values": values == art.manifest.entries.values(),  # dict views: identity only
        "repr keys": repr(keys),
        "view kinds": [type(v).__name__.lower().replace("dict", "").replace("view", "").strip("_")
                       for v in (keys, values, items)],
        "dict(entries)": sorted(dict(entries)),
        "sorted(entries)": sorted(entries),
        "get": (entries.get("f.txt").path, entries.get("nope")),
    }


def test_entry_views_behave_as_wandbs(pair):
    (theirs, ours), tmp_path = pair
    expected, got = _observe(theirs, tmp_path), _observe(ours, tmp_path)
    for key in expected:
        assert got[key] == expected[key], key


def test_views_are_set_like_abcs(pair):
    from collections.abc import ItemsView, KeysView, Set, ValuesView

    (_, ours), _ = pair
    entries = ours.manifest.entries
    assert isinstance(entries.keys(), KeysView) and isinstance(entries.keys(), Set)
    assert isinstance(entries.items(), ItemsView) and isinstance(entries.values(), ValuesView)
    assert entries.keys() == {"f.txt", "d/g.txt"}
    del entries["f.txt"]
    assert entries.keys() == {"d/g.txt"}
