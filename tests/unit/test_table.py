"""Table JSON is byte-identical to wandb.Table's for scalar cells (hypothesis vs wandb)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artefact import Artifact, Table

from ._helpers import error_of

_VALUES = {
    "int": st.integers(min_value=-(2**70), max_value=2**70),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "str": st.text(max_size=6),
    "bool": st.booleans(),
    "none": st.none(),
}


@st.composite
def tables(draw):
    ncols = draw(st.integers(min_value=0, max_value=4))
    columns = draw(
        st.lists(st.one_of(st.text(min_size=1, max_size=5), st.integers(0, 99)), min_size=ncols, max_size=ncols,
                 unique_by=str)  # fmt: skip
    )
    if len({type(c) for c in columns}) > 1:  # wandb cannot sort mixed str/int keys either
        columns = [str(c) for c in columns]
    kinds = [draw(st.sampled_from(sorted(_VALUES))) for _ in columns]
    nrows = draw(st.integers(min_value=0, max_value=5))
    rows = []
    for _ in range(nrows):
        row = []
        for kind in kinds:
            # mostly the column's kind, sometimes None (optional columns accept it)
            row.append(draw(st.one_of(_VALUES[kind], st.none())))
        rows.append(row)
    return columns, rows


def _json(module_table, artifact, columns, rows, **kwargs):
    table = module_table(columns=columns, data=rows, **kwargs)
    return json.dumps(table.to_json(artifact), sort_keys=True)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # the same examples every run: CI never fails by chance
@given(tables())
def test_table_json_matches_wandb(wandb, spec):
    columns, rows = spec
    theirs = error_of(lambda: _json(wandb.Table, wandb.Artifact("t", "dataset"), columns, rows))
    ours = error_of(lambda: _json(Table, Artifact("t", "dataset"), columns, rows))
    assert ours == theirs


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # the same examples every run: CI never fails by chance
@given(st.lists(st.lists(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True)), min_size=2, max_size=2), max_size=4))
def test_mixed_number_columns_and_nan_match_wandb(wandb, rows):
    theirs = _json(wandb.Table, wandb.Artifact("t", "d"), ["a", "b"], rows)
    assert _json(Table, Artifact("t", "d"), ["a", "b"], rows) == theirs


@pytest.mark.parametrize(
    "rows",
    [[[1], ["x"]], [["x"], [True]], [[None], [1.5], ["s"]], [[float("inf")], [1]], [[True], [None], [0]]],
)
def test_type_errors_match_wandb(wandb, rows):
    theirs = error_of(lambda: _json(wandb.Table, wandb.Artifact("t", "d"), ["a"], rows))
    assert error_of(lambda: _json(Table, Artifact("t", "d"), ["a"], rows)) == theirs


def test_numpy_arrays_match_wandb(wandb):
    import numpy as np

    for data in (np.array([[1, 2], [3, 4]]), np.array([[1.5, 2.0], [3.0, float("nan")]]),
                 np.array([[True, False]]), np.array([[1, 2]], dtype=np.uint8)):  # fmt: skip
        assert _json(Table, Artifact("t", "d"), ["a", "b"], data) == _json(wandb.Table, wandb.Artifact("t", "d"), ["a", "b"], data)


def test_constructor_options_match_wandb(wandb):
    cases = [
        dict(data=[[1, 2, 3]]),
        dict(columns=["a"], data=[[1]], optional=False),
        dict(columns=["a"], data=[[1]], allow_mixed_types=True),
        dict(columns=["a"], data=[[1]], dtype=int),
        dict(columns=["a", "b"], rows=[[1, "x"]]),
        dict(columns=["a"], data=[[1]], log_mode="INCREMENTAL"),
        dict(columns=["a"], data=[]),
    ]
    for kwargs in cases:
        ours = error_of(lambda: json.dumps(Table(**kwargs).to_json(Artifact("t", "d")), sort_keys=True))
        theirs = error_of(lambda: json.dumps(wandb.Table(**kwargs).to_json(wandb.Artifact("t", "d")), sort_keys=True))
        assert ours == theirs, kwargs


def test_table_api_errors():
    table = Table(columns=["a", "b"])
    with pytest.raises(ValueError, match=r"This table expects 2 columns: \['a', 'b'\], found 1"):
        table.add_data(1)
    table.add_data(1, "x")
    assert table.get_column("b") == ["x"]
    with pytest.raises(TypeError, match="to_json accepts"):
        table.to_json(object())
    # list cells are supported now (see test_media_table.py for their JSON vs wandb)
    assert Table(columns=["a"], data=[[[1, 2]]]).get_column("a") == [[1, 2]]
