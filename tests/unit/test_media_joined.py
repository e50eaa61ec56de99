"""JoinedTable, PartitionedTable and tables inside tables against real wandb 0.31.0."""

from __future__ import annotations

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, outcome

pytest.importorskip("PIL.Image")


def _tables(m):
    left = m.Table(columns=["id", "image"], data=[[i, m.Image(np.full((3, 3), i * 20, dtype=np.uint8))] for i in range(4)])
    right = m.Table(columns=["id", "label"], data=[[i, f"label {i}"] for i in range(4)])
    return left, right


@pytest.mark.parametrize("form", ["objects added first", "paths", "two keys"])
def test_joined_table_matches_wandb(wandb, form):
    def script(m, art):
        left, right = _tables(m)
        art.add(left, "left")
        art.add(right, "right")
        if form == "paths":
            joined = m.JoinedTable("left.table.json", "right.table.json", "id")
        elif form == "two keys":
            joined = m.JoinedTable(left, right, ["id", "id"])
        else:
            joined = m.JoinedTable(left, right, "id")
        art.add(joined, "joined")

    assert_same(wandb, script)


def test_partitioned_table_matches_wandb(wandb):
    def script(m, art):
        for part in range(3):
            table = m.Table(columns=["x", "image"])
            for i in range(2):
                table.add_data(part * 10 + i, m.Image(np.full((2, 2), part * 10 + i, dtype=np.uint8)))
            art.add(table, f"parts/part_{part}")
        art.add(m.data_types.PartitionedTable("parts"), "all")

    assert_same(wandb, script)


def test_tables_inside_a_table_match_wandb(wandb):
    def script(m, art):
        inner = [m.Table(columns=["a"], data=[[i], [i + 1]]) for i in range(3)]
        outer = m.Table(columns=["t", "n"], data=[[t, n] for n, t in enumerate(inner)])
        art.add(outer, "outer")

    assert_same(wandb, script)


@pytest.mark.parametrize("case", ["bad key", "bad table1", "bad table2", "path not in artifact"])
def test_joined_table_errors_match_wandb(wandb, case):
    def make(m):
        left, right = _tables(m)
        if case == "bad key":
            return m.JoinedTable(left, right, ["id"])
        if case == "bad table1":
            return m.JoinedTable("left.json", right, "id")
        if case == "bad table2":
            return m.JoinedTable(left, 3, "id")
        return m.Artifact("a", "d").add(m.JoinedTable("nope.table.json", right, "id"), "j")

    theirs, ours = outcome(lambda: make(wandb)), outcome(lambda: make(artefact))
    assert theirs[0] != "ok" and ours == theirs


def test_joined_and_partitioned_tables_read_back():
    art = artefact.Artifact("joins", "dataset")
    left, right = _tables(artefact)
    art.add(left, "left")
    art.add(right, "right")
    art.add(artefact.JoinedTable(left, right, "id"), "joined")
    for part in range(2):
        art.add(artefact.Table(columns=["x"], data=[[part], [part + 10]]), f"parts/p{part}")
    art.add(artefact.PartitionedTable("parts"), "all")
    with artefact.init(project="media") as run:
        run.log_artifact(art).wait()
    logged = artefact.Api().artifact("media/joins:latest")
    joined = logged.get("joined")
    assert isinstance(joined, artefact.JoinedTable) and joined._join_key == "id"
    assert joined._table2.get_column("label") == [f"label {i}" for i in range(4)]
    parts = logged.get("all")
    assert sorted(row[0] for _, row in parts.iterrows()) == [0, 1, 10, 11]
