"""Tables holding every cell type wandb accepts, against real wandb 0.31.0: the same
script writes the same table JSON, media files, .npz columns, manifest and digest."""

from __future__ import annotations

import re

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, freeze_zip_clock, outcome

pytest.importorskip("PIL.Image")


@pytest.fixture(autouse=True)
def _fixed_zip_clock(monkeypatch):
    freeze_zip_clock(monkeypatch)


def _annotated_image(m, r, i):
    mask = r.integers(0, 3, (8, 8))
    boxes = {"gt": {"box_data": [{"position": {"minX": 0, "maxX": 3, "minY": 1, "maxY": 5}, "class_id": int(i % 3),
                                  "scores": {"conf": float(r.random())}}],
                    "class_labels": {0: "bg", 1: "cat", 2: "dog"}}}  # fmt: skip
    masks = {"seg": {"mask_data": mask, "class_labels": {0: "bg", 1: "cat", 2: "dog"}}}
    return m.Image(r.integers(0, 256, (8, 8, 3), dtype=np.uint8), masks=masks, boxes=boxes, caption=f"row {i}")


def test_thousand_row_mixed_table_matches_wandb(wandb):
    """1,000 rows mixing images with masks and boxes, plain images, audio, embeddings (1-D
    arrays), 2-D arrays (an .npz column), lists, dicts, numpy scalars, strings and None."""
    pytest.importorskip("soundfile")

    def script(m, art):
        r = np.random.default_rng(11)
        columns = ["image", "plain", "audio", "embedding", "grid", "label", "score", "tags", "meta", "note"]
        table = m.Table(columns=columns)
        for i in range(1000):
            plain = m.Image(r.integers(0, 256, (6, 6), dtype=np.uint8)) if i % 7 else None
            audio = m.Audio(r.random(64).astype(np.float32) - 0.5, sample_rate=8000, caption=f"a{i}")
            table.add_data(
                _annotated_image(m, r, i), plain, audio, r.random(16).astype(np.float32), r.integers(0, 9, (3, 2)),
                np.int64(i % 10), float(r.random()) if i % 5 else float("nan"), [f"t{i % 3}", "x"],
                {"fold": i % 4, "ok": bool(i % 2)}, None if i % 3 else f"note {i}",
            )  # fmt: skip
        art.add(table, "mixed")

    ours = assert_same(wandb, script)
    assert sum(p.startswith("media/images/") and p.endswith(".png") for p in ours["files"]) > 1000


def test_a_table_of_the_same_image_stores_it_once(wandb):
    def script(m, art):
        image = m.Image(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
        table = m.Table(columns=["a", "b"], data=[[image, image], [image, 1.0 if False else image]])
        art.add(table, "t")
        art.add(image, "alone")

    ours = assert_same(wandb, script)
    assert sum(p.endswith(".png") for p in ours["files"]) == 1


CELLS = {
    "lists of numbers": [[1, 2, 3], [4, 5, 6]],
    "lists of varying length": [[1], [2, 3]],
    "tuples": [(1, "a"), (2, "b")],
    "lists with None": [[1, None], [None, 2]],
    "nested lists": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
    "empty lists": [[], []],
    "dicts": [{"a": 1, "b": "x"}, {"a": 2}],
    "nested dicts": [{"a": {"b": [1, 2]}}, {"a": {"b": [3]}}],
    "1-D arrays": [np.arange(4.0), np.arange(4.0) * 2],
    "long 1-D arrays (npz)": [np.arange(200.0), np.arange(200.0) + 1],
    "2-D arrays (npz)": [np.ones((2, 3)), np.zeros((2, 3))],
    "numpy scalars": [np.float32(1.5), np.int8(-3), np.uint64(7), np.bool_(True)],
    # datetime cells (TimestampType) are the `dropin` change to table_types
    "objects": [object.__new__(type("Thing", (), {"__eq__": lambda s, o: True})), None],
    "bytes": [b"abc", b"de"],
}


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_types_match_wandb(wandb, kind):
    def script(m, art):
        table = m.Table(columns=["c"])
        for value in CELLS[kind]:
            table.add_data(value)
        art.add(table, "t")

    if kind == "objects":  # neither can write an arbitrary object as JSON
        theirs = outcome(lambda: script(wandb, wandb.Artifact("a", "d")))
        assert outcome(lambda: script(artefact, artefact.Artifact("a", "d")))[0] == theirs[0]
        return
    assert_same(wandb, script)


def test_classes_id_column_and_cast_match_wandb(wandb):
    def script(m, art):
        classes = m.Classes([{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}])
        table = m.Table(columns=["label", "image"])
        table.cast("label", classes.get_type())
        for i in range(4):
            table.add_data(i % 2, m.Image(np.full((3, 3), i, dtype=np.uint8), classes=[{"id": i, "name": str(i)}]))
        art.add(table, "labelled")

    assert_same(wandb, script)


def test_table_api_matches_wandb(wandb):
    """add_column, add_computed_columns, get_column (numpy too), get_index, iterrows and
    index references to another table (stored as a foreign-index table)."""

    def script(m, art):
        r = np.random.default_rng(3)
        images = [m.Image(r.integers(0, 256, (4, 4, 3), dtype=np.uint8)) for _ in range(3)]
        source = m.Table(columns=["id"], data=[[1], [2], [3]])
        source.add_column("image", images)
        source.add_column("vec", np.arange(6).reshape(3, 2))
        source.add_computed_columns(lambda ndx, row: {"twice": row["id"] * 2, "ndx": int(ndx)})
        pixels = source.get_column("image", convert_to="numpy")
        assert pixels.shape == (3, 4, 4, 3)
        assert source.get_column("twice") == [2, 4, 6]
        refs = m.Table(columns=["ref", "note"])
        for index, row in source.iterrows():
            refs.add_data(index, f"row {row[0]}")
        refs.add_column("idx", source.get_index())
        refs.add_data(source.index_ref(0), "again", source.index_ref(2))
        art.add(source, "source")
        art.add(refs, "refs")
        return pixels.tolist()

    assert_same(wandb, script)


MISUSES = {
    "mixed column": lambda m: m.Table(columns=["a"], data=[[m.Image(np.zeros((2, 2)))], [1]]),
    "image then list": lambda m: m.Table(columns=["a"], data=[[[1, 2]], [m.Image(np.zeros((2, 2)))]]),
    "array shape change": lambda m: m.Table(columns=["a"], data=[[np.zeros((2, 2))], [np.zeros((3, 2))]]),
    "list element type": lambda m: m.Table(columns=["a"], data=[[[1, 2]], [["x"]]]),
    "dict extra key": lambda m: m.Table(columns=["a"], data=[[{"k": 1}], [{"k": 2, "j": 3}]]),
    "add_column mixed": lambda m: m.Table(columns=["a"], data=[[1], [2]]).add_column("b", [1, "x"]),
    "add_column wrong length": lambda m: m.Table(columns=["a"], data=[[1], [2]]).add_column("b", [1]),
    "add_column duplicate": lambda m: m.Table(columns=["a"], data=[[1]]).add_column("a", [1]),
    "class id not in classes": lambda m: _classes_table(m, 5),
    "mixed types allowed": lambda m: _mixed_allowed(m),
    "cast with data": lambda m: m.Table(columns=["a"], data=[["x"]]).cast("a", int),
    "index ref out of range": lambda m: m.Table(columns=["a"], data=[[1]]).index_ref(3),
}


def _classes_table(m, label):
    table = m.Table(columns=["c"], dtype=[m.Classes([{"id": 1, "name": "one"}]).get_type()])
    table.add_data(label)
    return table


def _mixed_allowed(m):
    table = m.Table(columns=["a"], allow_mixed_types=True)
    for value in (1, "x", [1], {"k": 2}):
        table.add_data(value)
    return len(table.data)


@pytest.mark.parametrize("case", sorted(MISUSES))
def test_type_errors_match_wandb(wandb, case):
    theirs = outcome(lambda: MISUSES[case](wandb))
    ours = outcome(lambda: MISUSES[case](artefact))
    if theirs[0] == "ok":
        assert ours[0] == "ok"
    else:  # object reprs name each library's class and address
        unaddressed = lambda o: (o[0], re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>", "<object>", o[1]))  # noqa: E731
        assert unaddressed(ours) == unaddressed(theirs)


def test_add_column_failure_leaves_the_table_unchanged():
    table = artefact.Table(columns=["a"], data=[[1], [2]])
    with pytest.raises(TypeError):
        table.add_column("b", [1, "x"])
    assert table.columns == ["a"] and table.data == [[1], [2]]


def test_mixed_types_table_matches_wandb(wandb):
    def script(m, art):
        table = m.Table(columns=["a", "b"], allow_mixed_types=True)
        for value in (1, "x", [1, 2], {"k": 2}, m.Image(np.eye(3, dtype=np.uint8) * 255)):
            table.add_data(value, 0)
        art.add(table, "mixed")

    assert_same(wandb, script)


def test_dataframe_with_image_column_matches_wandb(wandb):
    pd = pytest.importorskip("pandas")

    def script(m, art):
        frame = pd.DataFrame({"x": [1, 2], "img": [m.Image(np.zeros((2, 2))), m.Image(np.ones((2, 2)) * 9)]})
        art.add(m.Table(dataframe=frame), "df")

    assert_same(wandb, script)


def test_a_refused_cell_leaves_the_artifact_unchanged(wandb, tmp_path):
    """The last image has a mask without labels, so no classes: wandb raises when it gets
    there (after storing the earlier images); artefact raises the same error first."""
    from PIL import Image as PILImage

    from ._media_diff import snapshot

    mask_png = tmp_path / "mask.png"
    PILImage.fromarray(np.eye(3, dtype=np.uint8)).save(mask_png)

    def add(m, art):
        rows = [[m.Image(np.full((3, 3), i, dtype=np.uint8))] for i in range(5)]
        rows.append([m.Image(np.zeros((3, 3)), masks={"k": m.data_types.ImageMask({"path": str(mask_png)}, "k")})])
        art.add(m.Table(columns=["img"], data=rows), "t")

    art = artefact.Artifact("a", "d")
    theirs, ours = outcome(lambda: add(wandb, wandb.Artifact("a", "d"))), outcome(lambda: add(artefact, art))
    assert ours == theirs and theirs[0] == "ValueError"
    assert snapshot(art)["files"] == {}
