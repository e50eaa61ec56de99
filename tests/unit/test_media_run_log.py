"""`run.log` of media objects as wandb 0.31.0 offline: each file goes to the run's
`media/<type>/<key>_<step>_<sha256[:20]><ext>` and the history value is the object's
run JSON. Compared with a real offline wandb run (`history_dict_to_json`, what wandb's
`run.log` applies): the history values and every media file's bytes.
"""

from __future__ import annotations

import json
import os

import pytest

import artefact


@pytest.fixture()
def wandb_run(wandb, tmp_path):
    run = wandb.init(project="media-log", dir=str(tmp_path / "wandb-run"))
    yield run
    run.finish()


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _row(sdk, tmp_path):
    import numpy as np

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, size=(6, 5, 3), dtype=np.uint8)
    gray = rng.integers(0, 255, size=(4, 4), dtype=np.uint8)
    png = tmp_path / "given.png"
    if not png.exists():
        from PIL import Image as PILImage

        PILImage.fromarray(gray).save(png)
    frames = rng.integers(0, 255, size=(3, 3, 8, 8), dtype=np.uint8)
    points = rng.random((10, 3))
    return {
        "img": sdk.Image(pixels, caption="a cat"),
        "nested": {"gray": sdk.Image(gray, mode="L")},
        "from/path": sdk.Image(str(png)),
        "aud": sdk.Audio(np.sin(np.linspace(0, 20, 800)).astype(np.float32), sample_rate=8000, caption="tone"),
        "vid": sdk.Video(frames, fps=4, format="gif"),
        "pts": sdk.Object3D(points),
        "n": 1.5,
        "page": sdk.Html("<p>hi</p>"),
        "grid": [sdk.Image(pixels, caption="one"), sdk.Image(pixels[::-1], caption="two"), sdk.Image(str(png))],
        "plain": [sdk.Image(gray), sdk.Image(gray)],
        "sounds": [sdk.Audio(np.zeros(400, dtype=np.float32), sample_rate=8000),
                   sdk.Audio(np.ones(200, dtype=np.float32) / 2, sample_rate=4000, caption="half")],
        "clips": [sdk.Video(frames, fps=4, format="gif", caption="c1"), sdk.Video(frames[::-1], fps=2, format="gif")],
        "clouds": [sdk.Object3D(points), sdk.Object3D(points * 2)],
        "pages": [sdk.Html("<b>a</b>"), sdk.Html("<i>b</i>")],
    }


def _files(root: str) -> dict:
    out = {}
    media = os.path.join(root, "media")
    for dirpath, _, names in os.walk(media):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_logged_media_match_wandb(wandb, wandb_run, tmp_path):
    from wandb.sdk.data_types.utils import history_dict_to_json

    theirs = [json.loads(json.dumps(history_dict_to_json(wandb_run, _row(wandb, tmp_path), step=s)))
              for s in range(2)]
    with artefact.init(project="p", entity="e") as run:
        for _ in range(2):
            run.log(_row(artefact, tmp_path))
        our_files = _files(run.dir)
        run_id = run.id
    ours = artefact.Api(overrides={"entity": "e", "project": "p"}).run(run_id).history()
    assert [{k: v for k, v in row.items() if k != "_step"} for row in ours] == theirs
    assert [row["_step"] for row in ours] == [0, 1]
    their_files = _files(wandb_run.dir)
    their_files = {k: v for k, v in their_files.items() if not k.startswith("media/table")}
    assert sorted(our_files) == sorted(their_files)
    assert our_files == their_files


def test_a_media_summary_value_matches_wandb(wandb, wandb_run, tmp_path):
    """`run.summary[key] = media` stores it as run.log does, under the step "summary"."""
    import numpy as np

    from wandb.sdk.data_types.utils import val_to_json

    pixels = np.full((3, 3, 3), 9, dtype=np.uint8)
    theirs = val_to_json(wandb_run, "best", wandb.Image(pixels), namespace="summary")
    with artefact.init(project="p", entity="e") as run:
        run.summary["best"] = artefact.Image(pixels)
        ours = run.summary["best"]
        assert os.path.exists(os.path.join(run.dir, ours["path"]))
    assert ours == theirs


def _annotated_row(sdk):
    import numpy as np

    rng = np.random.default_rng(9)
    pixels = rng.integers(0, 255, size=(8, 6, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, size=(8, 6)).astype(np.uint8)
    boxes = {"box_data": [{"position": {"minX": 1, "maxX": 4, "minY": 0, "maxY": 5}, "class_id": 1,
                           "box_caption": "one", "scores": {"p": 0.75}},
                          {"position": {"middle": [3, 3], "width": 2.5, "height": 2}, "class_id": 2,
                           "domain": "pixel"}],
             "class_labels": {1: "cat", 2: "dog"}}  # fmt: skip
    plain_boxes = {"box_data": [{"position": {"minX": np.float32(0.1), "maxX": 0.4, "minY": 0.2, "maxY": np.float64(0.9)},
                                 "class_id": 0, "scores": {"iou": np.float32(0.5)}}]}  # fmt: skip

    def annotated(shift=0):
        return sdk.Image(pixels + shift, caption=f"c{shift}",
                         masks={"pred": {"mask_data": mask, "class_labels": {0: "bg", 1: "a", 2: "b"}},
                                "truth": {"mask_data": mask[::-1].copy()}},
                         boxes={"gt": boxes, "auto": plain_boxes})  # fmt: skip

    return {
        "seg": annotated(),
        "nested": {"only_boxes": sdk.Image(pixels, boxes={"gt": boxes})},
        "grid": [annotated(1), sdk.Image(pixels), annotated(2)],
        "masks_only": [sdk.Image(pixels, masks={"m": {"mask_data": mask}})],
    }


def test_images_with_masks_and_boxes_match_wandb(wandb, wandb_run):
    """wandb 0.31.0 writes each mask as `media/images/mask/<key>_<step>_<sha>.mask.png`,
    each box layer as `media/metadata/boxes2D/<key>_<step>_<sha>.boxes2D.json`, puts them
    in the history value (`masks`/`boxes`, or `all_masks`/`all_boxes` for lists) and keeps
    each layer's class labels once in the run config (`_wandb`, `Run._add_singleton`)."""
    from wandb.sdk.data_types.utils import history_dict_to_json

    theirs = [json.loads(json.dumps(history_dict_to_json(wandb_run, _annotated_row(wandb), step=s)))
              for s in range(2)]
    with artefact.init(project="p", entity="e") as run:
        for _ in range(2):
            run.log(_annotated_row(artefact))
        our_files = _files(run.dir)
        run_id = run.id
    api = artefact.Api(overrides={"entity": "e", "project": "p"})
    ours = api.run(run_id).history()
    assert [{k: v for k, v in row.items() if k != "_step"} for row in ours] == theirs
    their_files = _files(wandb_run.dir)
    assert any(p.endswith(".mask.png") for p in our_files) and any(p.endswith(".boxes2D.json") for p in our_files)
    assert sorted(our_files) == sorted(their_files)
    assert our_files == their_files
    their_singletons = {k: v for k, v in wandb_run._config["_wandb"].items() if k.endswith("/class_labels")}
    ours_config = api.run(run_id).config["_wandb"]
    assert json.loads(json.dumps(their_singletons)) == json.loads(json.dumps(ours_config))
    assert set(their_singletons) == {"mask/class_labels", "bounding_box/class_labels"}


def test_images_from_a_reference_are_refused_before_anything_is_stored(tmp_path):
    """wandb refuses images made from `s3://`/`http(s)://` references in `run.log`
    (wandb/sdk/data_types/image.py `bind_to_run`); artefact refuses the whole row first."""
    import numpy as np

    pixels = np.zeros((2, 2, 3), dtype=np.uint8)
    remote = artefact.Image("https://example.com/cat.png")
    with artefact.init(project="p", entity="e") as run:
        for row in ({"t": artefact.Table(columns=["a"], data=[[1]]), "nested": {"remote": remote}},
                    {"t": artefact.Table(columns=["a"], data=[[1]]), "many": [artefact.Image(pixels), remote]}):
            with pytest.raises(ValueError, match="reference to external storage"):
                run.log(row)
        run_id = run.id
    api = artefact.Api(overrides={"entity": "e", "project": "p"})
    assert api.run(run_id).history() == []
    assert list(api.run(run_id).logged_artifacts()) == []

