"""`Artifact.get(name)` reads each media type back from a logged artifact, and an object
read so and added to another artifact becomes a `wandb-artifact://` reference.

The reference behaviour is wandb 0.31.0's, which needs a server to observe:
`wandb/sdk/artifacts/artifact.py` (`Artifact.add`: `obj._get_artifact_entry_ref_url()`
then `add_reference(ref_path, type(obj).with_suffix(name))`; `Artifact.get`:
`result._set_artifact_source(self, name)`), `wandb/sdk/data_types/base_types/wb_value.py`
(`_get_artifact_entry_ref_url`) and `wandb/sdk/data_types/base_types/media.py`
(`Media.to_json`: a file of an object from another artifact becomes
`add_reference(source.get_entry(name).ref_url(), name=name)`).
"""

from __future__ import annotations

import numpy as np
import pytest

import artefact

pytest.importorskip("PIL.Image")


def _log(art):
    with artefact.init(project="media") as run:
        run.log_artifact(art).wait()
    return artefact.Api().artifact(f"media/{art.name.split(':')[0]}:latest")


def _source():
    r = np.random.default_rng(5)
    pixels = r.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    mask = r.integers(0, 3, (6, 5))
    boxes = {"gt": {"box_data": [{"position": {"minX": 0, "maxX": 2, "minY": 0, "maxY": 3}, "class_id": 1}],
                    "class_labels": {1: "one"}}}  # fmt: skip
    image = artefact.Image(pixels, caption="c", masks={"seg": {"mask_data": mask, "class_labels": {0: "a", 1: "b", 2: "c"}}},
                           boxes=boxes)  # fmt: skip
    table = artefact.Table(columns=["img", "label", "vec", "grid"])
    for i in range(3):
        table.add_data(artefact.Image(pixels + i), i, np.arange(3.0) + i, np.ones((2, 2)) * i)
    art = artefact.Artifact("src", "dataset")
    art.add(image, "image")
    art.add(table, "table")
    art.add(artefact.Classes([{"id": 1, "name": "one"}]), "classes")
    return pixels, mask, art


def test_get_reads_every_type_back():
    pixels, mask, art = _source()
    logged = _log(art)
    image = logged.get("image")
    assert isinstance(image, artefact.Image)
    assert np.array_equal(np.asarray(image.image), pixels) and image._caption == "c"
    from PIL import Image as PILImage

    assert np.array_equal(np.asarray(PILImage.open(image._masks["seg"]._path)), mask)
    assert image._boxes["gt"]._val[0]["class_id"] == 1
    # wandb's legacy merge: box labels first, then the mask's clobber id 1
    assert image._classes._class_set == [{"id": 1, "name": "b"}, {"id": 0, "name": "a"}, {"id": 2, "name": "c"}]
    table = logged.get("table")
    assert table.columns == ["img", "label", "vec", "grid"] and table.get_column("label") == [0, 1, 2]
    assert np.array_equal(np.asarray(table.data[2][0].image), pixels + 2)
    assert np.array_equal(table.data[1][3], np.ones((2, 2)))  # read back from the .npz column
    assert table.data[1][2] == [1.0, 2.0, 3.0]
    assert logged.get("classes") == artefact.Classes([{"id": 1, "name": "one"}])
    assert logged.get("nothing") is None


def test_objects_read_from_a_logged_artifact_become_references():
    _, _, art = _source()
    logged = _log(art)
    image, table = logged.get("image"), logged.get("table")
    target = artefact.Artifact("dst", "dataset")
    entry = target.add(image, "copied_image")
    assert entry.path == "copied_image.image-file.json"
    assert entry.ref == logged.get_entry("image.image-file.json").ref_url()
    assert entry.ref.startswith("wandb-artifact://")
    table_entry = target.add(table, "copied_table")
    assert table_entry.ref == logged.get_entry("table.table.json").ref_url()
    # A cell of the read table, put into a new table: its file is referenced, not copied.
    fresh = artefact.Table(columns=["img"], data=[[table.data[0][0]]])
    target.add(fresh, "fresh")
    png = [e for p, e in target.manifest.entries.items() if p.endswith(".png")]
    assert len(png) == 1 and png[0].ref.startswith("wandb-artifact://")
    source_png = logged.get_entry(png[0].path)
    assert png[0].ref == source_png.ref_url() and png[0].digest == source_png.digest
    assert _log(target).manifest.entries[png[0].path].ref == png[0].ref
