"""Timestamp columns: datetime/date cells are written as wandb 0.31.0 writes them (epoch
milliseconds, a `timestamp` column type) and `Table.from_json` returns UTC datetimes,
as wandb's does (hypothesis against the real wandb)."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_ZONES = st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=2)),
                          dt.timezone(dt.timedelta(hours=-7, minutes=-30))])
_CELLS = st.one_of(
    st.builds(lambda d, tz: d.replace(tzinfo=tz),
              st.datetimes(min_value=dt.datetime(1971, 1, 2), max_value=dt.datetime(2200, 1, 1)), _ZONES),
    st.dates(min_value=dt.date(1971, 1, 2), max_value=dt.date(2200, 1, 1)),
    st.none(),
)


def _table_json(sdk, rows) -> tuple[str, list]:
    table = sdk.Table(columns=["when", "n"], data=[[cell, i] for i, cell in enumerate(rows)])
    art = sdk.Artifact("ts", "dataset")
    art.add(table, "t")
    with open(art.manifest.entries["t.table.json"].local_path, encoding="utf-8") as f:
        text = f.read()
    return text, sdk.Table.from_json(json.loads(text), art).data


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_CELLS, min_size=1, max_size=4).filter(lambda r: any(c is not None for c in r)))
def test_timestamp_cells_match_wandb(wandb, rows):
    import artefact

    theirs_text, theirs_rows = _table_json(wandb, rows)
    ours_text, ours_rows = _table_json(artefact, rows)
    assert ours_text == theirs_text  # byte for byte, column type included
    assert ours_rows == theirs_rows
    assert all(isinstance(r[0], dt.datetime) and r[0].tzinfo is dt.timezone.utc
               for r in ours_rows if r[0] is not None)


def test_numpy_datetime64_cells_match_wandb(wandb):
    np = __import__("pytest").importorskip("numpy")
    import artefact

    rows = [np.datetime64("2024-01-02T03:04:05.123456789"), np.datetime64("2020-05-06", "D")]
    assert _table_json(artefact, rows)[0] == _table_json(wandb, rows)[0]


def test_a_timestamp_column_refuses_other_types(wandb):
    import artefact

    messages = []
    for sdk in (wandb, artefact):
        table = sdk.Table(columns=["when"], data=[[dt.datetime(2024, 1, 1)]])
        try:
            table.add_data("not a time")
        except TypeError as e:
            messages.append(str(e))
        else:
            raise AssertionError(f"{sdk.__name__} accepted a string in a timestamp column")
        assert len(table.data) == 1  # the refused row is not kept
    assert messages[1] == messages[0]
