"""`artefact.Bokeh` (wandb.data_types.Bokeh) against real wandb 0.31.0: the same
`.bokeh.json` bytes, JSON, manifest and digest. Bokeh numbers its models from a process-wide
counter, so each run starts the counter at the same value."""

from __future__ import annotations

import json

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, outcome

bokeh_plotting = pytest.importorskip("bokeh.plotting")
serialization = pytest.importorskip("bokeh.util.serialization")


def _figure():
    serialization._simple_id = 1000  # the same model ids in both runs
    fig = bokeh_plotting.figure(title="loss", width=300, height=200)
    fig.line(np.arange(10), np.arange(10) ** 0.5, legend_label="sqrt", line_width=2)
    fig.scatter([1, 2, 3], [3.5, 1e-7, 2e16], size=5)
    return fig


def test_bokeh_figure_matches_wandb(wandb):
    def script(m, art):
        art.add(m.data_types.Bokeh(_figure()), "plot")
        art.add(m.Table(columns=["p"], data=[[m.data_types.Bokeh(_figure())]]), "plots")

    assert_same(wandb, script)


def test_bokeh_json_file_matches_wandb(wandb, tmp_path):
    from bokeh.document import Document

    doc = Document()
    doc.add_root(_figure())
    path = tmp_path / "plot.bokeh.json"
    path.write_text(json.dumps(doc.to_json(deferred=False)))

    def script(m, art):
        art.add(m.data_types.Bokeh(str(path)), "from_file")

    assert_same(wandb, script)


@pytest.mark.parametrize("value", ["missing.json", 3, "json-string"])
def test_bad_bokeh_input_raises_wandbs_error(wandb, value):
    if value == "json-string":
        value = '{"roots": []}'
    theirs = outcome(lambda: wandb.data_types.Bokeh(value))
    assert outcome(lambda: artefact.data_types.Bokeh(value)) == theirs and theirs[0] == "TypeError"


def test_bokeh_reads_back():
    art = artefact.Artifact("plots", "dataset")
    art.add(artefact.data_types.Bokeh(_figure()), "plot")
    with artefact.init(project="media") as run:
        run.log_artifact(art).wait()
    plot = artefact.Api().artifact("media/plots:latest").get("plot")
    assert isinstance(plot, artefact.data_types.Bokeh)
    assert plot.b_obj.roots[0].title.text == "loss"
