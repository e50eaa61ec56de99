"""Primary keys, foreign keys and foreign indexes (`Table.set_pk`, `set_fk`, `index_ref`)
against real wandb 0.31.0 (`wandb/sdk/data_types/table.py`: `_PrimaryKeyType`,
`_ForeignKeyType`, `_ForeignIndexType`, `cast`, `_update_keys`): the same script through
both writes the same files byte for byte (each referenced table stored once as
`media/tables/<digest>.table.json`), the same manifest and digest, and raises the same
errors. Reading keys back needs a logged artifact: the embedded store's (`from_json` parses
`column_types` as wandb's `Table.from_json` + `_update_keys` do)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import artefact

from ._media_diff import assert_same, outcome


def _users(m):
    users = m.Table(columns=["id", "name"], data=[["u1", "ann"], ["u2", "bob"], ["u3", "cy"]])
    users.set_pk("id")
    return users


def test_primary_and_foreign_keys_match_wandb(wandb):
    def script(m, art):
        users = _users(m)
        users.add_data("u4", "dee")  # a row after set_pk: its key is wrapped too
        orders = m.Table(columns=["order", "user", "amount"], data=[["o1", "u1", 3.5], ["o2", "u2", 1.0]])
        orders.set_fk("user", users, "id")
        orders.set_pk("order")
        orders.add_data("o3", "u4", 7.25)
        art.add(orders, "orders")
        art.add(users, "users")

    assert_same(wandb, script)


def test_a_table_referenced_only_by_keys_is_stored_once(wandb):
    def script(m, art):
        users = _users(m)
        a = m.Table(columns=["user"], data=[["u1"], ["u3"]])
        a.set_fk("user", users, "id")
        b = m.Table(columns=["user", "row"], data=[["u2", users.index_ref(1)]])
        b.set_fk("user", users, "id")
        art.add(a, "a")
        art.add(b, "nested/b")

    assert_same(wandb, script)


def test_keys_in_tables_with_media_and_arrays_match_wandb(wandb):
    def script(m, art):
        r = np.random.default_rng(4)
        items = m.Table(columns=["sku", "image"])
        for i in range(4):
            items.add_data(f"s{i}", m.Image(r.integers(0, 256, (5, 5, 3), dtype=np.uint8)))
        items.set_pk("sku")
        sales = m.Table(columns=["sku", "qty", "vec"])
        for i in range(6):
            sales.add_data(f"s{i % 4}", i, np.arange(3) * i)
        sales.set_fk("sku", items, "sku")
        sales.add_column("ref", [items.index_ref(i % 4) for i in range(6)])
        art.add(sales, "sales")

    assert_same(wandb, script)


MISUSES = {
    "two primary keys": lambda m: _users(m).set_pk("name"),
    "pk of numbers": lambda m: m.Table(columns=["a"], data=[[1], [2]]).set_pk("a"),
    "pk of a missing column": lambda m: _users(m).set_pk("nope"),
    "fk to a missing column": lambda m: m.Table(columns=["u"], data=[["u1"]]).set_fk("u", _users(m), "nope"),
    "fk on the pk column": lambda m: _users(m).set_fk("id", _users(m), "id"),
    "fk to the same table": lambda m: (lambda t: t.set_fk("a", t, "b"))(m.Table(columns=["a", "b"], data=[["x", "y"]])),
    "fk of numbers": lambda m: m.Table(columns=["u"], data=[[1]]).set_fk("u", _users(m), "id"),
    "fk to a non-table": lambda m: m.Table(columns=["u"], data=[["x"]]).set_fk("u", ["not", "a", "table"], "id"),
    "number after pk": lambda m: _users(m).add_data(5, "eve"),
    "unset pk by cast": lambda m: _users(m).cast("id", str),
}


@pytest.mark.parametrize("case", sorted(MISUSES))
def test_key_misuse_raises_wandbs_error(wandb, case):
    theirs = _normalised(outcome(lambda: MISUSES[case](wandb)))
    ours = _normalised(outcome(lambda: MISUSES[case](artefact)))
    assert theirs[0] != "ok"
    assert ours == theirs


def _normalised(result):
    # A referenced table's repr names its module and address: `<… Table object at 0x…>`.
    return (result[0], re.sub(r"<[\w.]+\.Table object at 0x[0-9a-f]+>", "<Table>", str(result[1])))


def test_keys_are_read_back_from_a_logged_artifact():
    users = _users(artefact)
    orders = artefact.Table(columns=["order", "user"], data=[["o1", "u2"], ["o2", "u3"]])
    orders.set_fk("user", users, "id")
    orders.set_pk("order")
    orders.add_column("row", [users.index_ref(2), users.index_ref(0)])
    art = artefact.Artifact("keys", "dataset")
    art.add(orders, "orders")
    with artefact.init(project="keys") as run:
        run.log_artifact(art).wait()
    logged = artefact.Api().artifact("keys/keys:latest")
    back = logged.get("orders")
    assert back.columns == ["order", "user", "row"]
    assert back._pk_col == "order" and back._fk_cols == {"user", "row"}
    order, user, row = back.data[1]
    assert isinstance(order, artefact.table._TableKey) and order._table is back
    assert isinstance(user, artefact.table._TableKey) and user == "u3" and user._col_name == "id"
    assert user._table.data == [["u1", "ann"], ["u2", "bob"], ["u3", "cy"]] and user._table._pk_col == "id"
    assert isinstance(row, artefact.table._TableIndex) and row.get_row() == {"id": "u1", "name": "ann"}
