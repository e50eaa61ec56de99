"""`artefact.Image` (and its masks, boxes and classes) against real wandb 0.31.0: the same
script through both writes the same files, byte for byte, the same manifest and digest."""

from __future__ import annotations

import os

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, outcome, snapshot

PIL = pytest.importorskip("PIL.Image")


def _rng():
    return np.random.default_rng(7)


ARRAYS = {
    "hw-uint8": lambda r: r.integers(0, 256, (9, 7), dtype=np.uint8),
    "hw1-uint8": lambda r: r.integers(0, 256, (9, 7, 1), dtype=np.uint8),
    "hw3-uint8": lambda r: r.integers(0, 256, (9, 7, 3), dtype=np.uint8),
    "hw4-uint8": lambda r: r.integers(0, 256, (9, 7, 4), dtype=np.uint8),
    "hw3-float32": lambda r: (r.random((5, 6, 3)) * 255).astype(np.float32),
    "hw-float64": lambda r: r.random((5, 6)) * 255,
    "hw-int64": lambda r: r.integers(0, 256, (5, 6)),
    "hw-bool": lambda r: r.random((5, 6)) > 0.5,
    "1hw3-squeezed": lambda r: r.integers(0, 256, (1, 4, 5, 3), dtype=np.uint8),
    "hw3-uint16": lambda r: r.integers(0, 256, (4, 4, 3), dtype=np.uint16),
}


@pytest.mark.parametrize("kind", sorted(ARRAYS))
@pytest.mark.parametrize("file_type", [None, "png", "jpg", "jpeg", "bmp"])
def test_numpy_image_matches_wandb(wandb, kind, file_type):
    def script(m, art):
        image = m.Image(ARRAYS[kind](_rng()), file_type=file_type, caption=f"{kind} {file_type}")
        art.add(image, "images/one")
        art.add(m.Image(ARRAYS[kind](_rng()), grouping=3), "two")  # same pixels: one file

    assert_same(wandb, script)


# Pillow 13 warns when saving mode "I" as PNG; pytest ignores the warning in wandb's module
# (pyproject) and here in artefact's, as Python does by default outside __main__.
@pytest.mark.filterwarnings("ignore:Saving I mode images as PNG is deprecated:DeprecationWarning")
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "1", "CMYK", "I", "F", "LA"])
def test_mode_argument_matches_wandb(wandb, mode):
    def script(m, art):
        art.add(m.Image(_rng().integers(0, 256, (6, 5, 3), dtype=np.uint8), mode=mode), "img")

    assert_same(wandb, script)


@pytest.mark.parametrize("pil_mode", ["L", "RGB", "RGBA", "P", "I;16", "LA", "1"])
def test_pil_image_matches_wandb(wandb, pil_mode):
    def script(m, art):
        pil = PIL.fromarray(_rng().integers(0, 256, (8, 8, 3), dtype=np.uint8)).convert(pil_mode)
        art.add(m.Image(pil, caption="pil"), "pil")

    assert_same(wandb, script)


def test_a_pil_image_changed_after_construction_is_stored_as_it_was(wandb):
    def script(m, art):
        pil = PIL.fromarray(np.zeros((4, 4, 3), dtype=np.uint8))
        image = m.Image(pil)
        pil.paste((255, 0, 0), (0, 0, 4, 4))  # after the constructor: must not show
        art.add(image, "img")

    assert_same(wandb, script)


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp", "gif", "tiff"])
@pytest.mark.parametrize("as_pathlib", [False, True])
def test_image_from_path_matches_wandb(wandb, tmp_path, suffix, as_pathlib):
    path = tmp_path / "sub" / f"photo.{suffix}"
    path.parent.mkdir()
    PIL.fromarray(_rng().integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(path)

    def script(m, art):
        art.add(m.Image(path if as_pathlib else str(path), caption="file"), "from_path")
        art.add(m.Image(str(path)), "again")  # the same file is stored once

    assert_same(wandb, script)


def _masks_and_boxes(r):
    mask = r.integers(0, 3, (8, 6))
    return (
        {"pred": {"mask_data": mask, "class_labels": {0: "bg", 1: "cat", 2: "dog"}},
         "truth": {"mask_data": r.integers(0, 5, (8, 6))}},  # labels made up by wandb
        {"gt": {"box_data": [
            {"position": {"minX": 1, "maxX": 4, "minY": 0, "maxY": 5}, "class_id": 1, "box_caption": "cat",
             "scores": {"iou": 0.5, "conf": 1}},
            {"position": {"middle": [3, 3], "width": 2, "height": 1.5}, "class_id": 2, "domain": "pixel"},
        ], "class_labels": {1: "cat", 2: "dog"}},
         "pred": {"box_data": [{"position": {"minX": 0.1, "maxX": 0.4, "minY": 0.2, "maxY": 0.9}, "class_id": 7}]}},
    )  # fmt: skip


@pytest.mark.parametrize("classes_form", ["none", "list", "Classes"])
def test_masks_boxes_and_classes_match_wandb(wandb, classes_form):
    def script(m, art):
        r = _rng()
        masks, boxes = _masks_and_boxes(r)
        classes = {"none": None, "list": [{"id": 1, "name": "CAT"}, {"id": 9, "name": "nine"}],
                   "Classes": m.Classes([{"id": 0, "name": "zero"}, {"id": "x", "name": "str id"}])}[classes_form]  # fmt: skip
        image = m.Image(r.integers(0, 256, (8, 6, 3), dtype=np.uint8), masks=masks, boxes=boxes, classes=classes)
        art.add(image, "annotated")

    assert_same(wandb, script)


def test_mask_and_box_objects_match_wandb(wandb, tmp_path):
    mask_png = tmp_path / "mask.png"
    PIL.fromarray(np.eye(6, dtype=np.uint8)).save(mask_png)

    def script(m, art):
        r = _rng()
        mask = m.data_types.ImageMask({"mask_data": r.integers(0, 4, (6, 6))}, "seg")
        from_path = m.data_types.ImageMask({"path": str(mask_png)}, "file")
        boxes = m.data_types.BoundingBoxes2D(
            {"box_data": [{"position": {"middle": [1, 1], "width": 1, "height": 1}, "class_id": 3}]}, "b"
        )
        classes = [{"id": 1, "name": "one"}]
        image = m.Image(r.integers(0, 256, (6, 6)), masks={"seg": mask, "file": from_path},
                        boxes={"b": boxes}, classes=classes)  # fmt: skip
        art.add(image, "img")
        art.add(mask, "mask_alone")
        art.add(m.Classes([{"id": 5, "name": "five"}]), "classes_alone")

    assert_same(wandb, script)


def test_image_of_an_image_copies_pixels_not_annotations(wandb):
    def script(m, art):
        r = _rng()
        masks, boxes = _masks_and_boxes(r)
        first = m.Image(r.integers(0, 256, (8, 6, 3), dtype=np.uint8), masks=masks, boxes=boxes, caption="a")
        art.add(m.Image(first, caption="copy", grouping=2), "copy")

    assert_same(wandb, script)


# --- bad input: wandb's error class and message, and the artifact unchanged -----------

BAD_INPUTS = {
    "two channels": lambda m, p: m.Image(np.zeros((4, 4, 2), dtype=np.uint8)),
    "five channels": lambda m, p: m.Image(np.zeros((4, 4, 5))),
    "1-D": lambda m, p: m.Image(np.zeros(7)),
    "4-D": lambda m, p: m.Image(np.zeros((2, 3, 4, 3))),
    "unknown file_type": lambda m, p: m.Image(np.zeros((4, 4)), file_type="gif"),
    "missing path": lambda m, p: m.Image(os.path.join(p, "nope.png")),
    "not an image file": lambda m, p: m.Image(_text_file(p)),
    "unknown mode": lambda m, p: m.Image(np.zeros((4, 4)), mode="nonsense"),
    "rgba as jpg mode": lambda m, p: m.Image(np.zeros((4, 4, 3)), mode="RGBA", file_type="jpg"),
    "mask 3-D": lambda m, p: m.Image(np.zeros((4, 4)), masks={"k": {"mask_data": np.zeros((4, 4, 2))}}),
    "mask > 255": lambda m, p: m.Image(np.zeros((4, 4)), masks={"k": {"mask_data": np.full((4, 4), 300)}}),
    "mask without data": lambda m, p: m.Image(np.zeros((4, 4)), masks={"k": {"class_labels": {1: "a"}}}),
    "mask labels str keys": lambda m, p: m.Image(
        np.zeros((4, 4)), masks={"k": {"mask_data": np.zeros((4, 4)), "class_labels": {"a": "b"}}}
    ),
    "masks not a dict": lambda m, p: m.Image(np.zeros((4, 4)), masks=[1]),
    "boxes not a dict": lambda m, p: m.Image(np.zeros((4, 4)), boxes=[1]),
    "box without position": lambda m, p: m.Image(np.zeros((4, 4)), boxes={"b": {"box_data": [{"class_id": 1}]}}),
    "box bad class_id": lambda m, p: m.Image(
        np.zeros((4, 4)), boxes={"b": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1},
                                                      "class_id": "x"}]}}),  # fmt: skip
    "box scores not numbers": lambda m, p: m.Image(
        np.zeros((4, 4)), boxes={"b": {"box_data": [{"position": {"middle": [0, 0], "width": 1, "height": 1},
                                                      "class_id": 1, "scores": {"s": "x"}}]}}),  # fmt: skip
    "classes without name": lambda m, p: m.Classes([{"id": 1}]),
}


def _text_file(directory):
    path = os.path.join(directory, "notes.png")
    with open(path, "w") as f:
        f.write("not a png")
    return path


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_wandbs_error(wandb, tmp_path, case):
    theirs = outcome(lambda: BAD_INPUTS[case](wandb, str(tmp_path)))
    ours = outcome(lambda: BAD_INPUTS[case](artefact, str(tmp_path)))
    assert theirs[0] != "ok"
    if case in ("missing path", "not an image file"):  # messages name temp paths
        assert ours[0] == theirs[0]
    else:
        assert ours == theirs


def test_nan_pixels_warn_as_in_wandb(wandb):
    """NaN pixels: wandb casts them to uint8 under numpy's RuntimeWarning; so does artefact
    (pytest turns the warning into an error here, for both)."""
    nan = np.full((3, 3), np.nan)
    theirs = outcome(lambda: wandb.Image(nan))
    ours = outcome(lambda: artefact.Image(nan))
    assert ours == theirs and theirs[0] == "RuntimeWarning"


def test_mask_without_classes_is_refused_and_the_artifact_is_unchanged(wandb, tmp_path):
    """A mask read from a file has no labels, so the image has no classes: wandb refuses it
    when adding (after storing the image file); artefact refuses it before storing anything."""
    mask_png = tmp_path / "mask.png"
    PIL.fromarray(np.eye(4, dtype=np.uint8)).save(mask_png)

    def add(m, art):
        art.add(m.Image(np.zeros((4, 4)), masks={"k": m.data_types.ImageMask({"path": str(mask_png)}, "k")}), "x")

    theirs_art, ours_art = wandb.Artifact("a", "d"), artefact.Artifact("a", "d")
    before = snapshot(ours_art)
    theirs, ours = outcome(lambda: add(wandb, theirs_art)), outcome(lambda: add(artefact, ours_art))
    assert ours == theirs and theirs[0] == "ValueError"
    assert snapshot(ours_art) == before


def test_wandb_objects_are_refused_with_the_artefact_class_to_use(wandb):
    art = artefact.Artifact("a", "d")
    before = snapshot(art)
    for obj in (wandb.Image(np.zeros((2, 2))), wandb.Table(columns=["a"]), wandb.Classes([{"id": 1, "name": "a"}])):
        name = type(obj).__name__
        with pytest.raises(TypeError, match=rf"artefact\.{name}\("):
            art.add(obj, "x")
    with pytest.raises(TypeError, match=r"artefact\.Image"):
        artefact.Image(wandb.Image(np.zeros((2, 2))))
    with pytest.raises(TypeError, match=r"in an artefact\.Table; build it as artefact\.Image\("):
        artefact.Table(columns=["a"], data=[[wandb.Image(np.zeros((2, 2)))]])
    assert snapshot(art) == before


def test_missing_pillow_raises_wandbs_install_error(tmp_path):
    """Without pillow, building an Image raises wandb's `Error` with its install hint."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['PIL'] = None; sys.modules['PIL.Image'] = None\n"
        "import numpy, artefact\n"
        "try:\n    artefact.Image(numpy.zeros((2, 2)))\n"
        "except artefact.Error as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'Error wandb.Image needs the PIL package. To get it, run "pip install pillow".'


def test_images_are_reachable_as_wandb_names_them():
    from artefact import data_types

    assert artefact.Image is data_types.Image
    for name in ("Classes", "ImageMask", "BoundingBoxes2D", "Table", "Html"):
        assert getattr(artefact, name) is getattr(data_types, name)


def test_encoding_without_worker_threads_gives_the_same_bytes(wandb, monkeypatch):
    monkeypatch.setenv("ARTEFACT_MEDIA_WORKERS", "0")

    def script(m, art):
        art.add(m.Image(_rng().integers(0, 256, (16, 16, 3), dtype=np.uint8)), "serial")

    assert_same(wandb, script)
    monkeypatch.setenv("ARTEFACT_MEDIA_WORKERS", "many")
    with pytest.raises(ValueError, match="ARTEFACT_MEDIA_WORKERS must be an integer, got 'many'"):
        artefact.Image(np.zeros((2, 2)))



def test_small_images_encoded_in_batches_give_wandbs_bytes(wandb):
    """Small images go to the pool in batches of 64 (one GIL release each): 150 of them,
    two full batches and a partial one, give the files wandb writes."""

    def script(m, art):
        rng = _rng()
        for i in range(150):
            art.add(m.Image(rng.integers(0, 256, (8, 8 + i % 5), dtype=np.uint8)), f"small{i}")

    assert_same(wandb, script)


def test_images_built_in_a_forked_child_are_encoded(tmp_path):
    """The encode pool's threads do not survive fork: a child (a data-loader worker, say)
    that builds images after its parent did gets a fresh pool instead of hanging."""
    import subprocess
    import sys

    code = (
        "import os, numpy, artefact\n"
        "images = [artefact.Image(numpy.full((64, 64), i, dtype=numpy.uint8)) for i in range(16)]\n"
        "[image._sha256 for image in images]  # every pool thread started, now idle\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    image = artefact.Image(numpy.ones((4, 4), dtype=numpy.uint8))\n"
        "    os._exit(0 if image._sha256 and image._size else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "0"
