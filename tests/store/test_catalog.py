"""Catalog rules: versions, aliases, dedupe, tags, links, TTL, deletes, runs, migrations."""

from __future__ import annotations

import sqlite3

import pytest

from artefact.store import (
    ArtifactNotFoundError,
    Catalog,
    DeleteRefusedError,
    ProjectNotFoundError,
    RunNotFoundError,
    StoreVersionError,
    TypeMismatchError,
    decode_id,
    encode_id,
)
from artefact.store.migrations import MIGRATIONS, apply_migrations, schema_version


@pytest.fixture
def cat(tmp_path):
    c = Catalog(str(tmp_path / "catalog.db"))
    yield c
    c.close()


def log(cat, digest, name="ds", type="dataset", **kw):
    fields = dict(entity="ent", project="proj", name=name, type=type, digest=digest,
                  digest_algorithm="MANIFEST_MD5", manifest_key="k" + digest, size=1,
                  file_count=1)
    fields.update(kw)
    return cat.assign_version(**fields)


def test_versions_are_consecutive_and_latest_moves(cat):
    records = [log(cat, f"d{i}") for i in range(3)]
    assert [r.version_index for r in records] == [0, 1, 2]
    assert all(r.created for r in records)
    assert cat.resolve("ent", "proj", "ds").version_index == 2
    assert cat.resolve("ent", "proj", "ds", "v0").digest == "d0"
    assert cat.resolve("ent", "proj", "ds", "latest").aliases == ("latest",)
    assert cat.resolve("ent", "proj", "ds", "v0").aliases == ()
    assert records[1].name == "ds:v1" and records[1].qualified_name == "ent/proj/ds:v1"
    assert not records[1].is_link and records[1].source_name == "ds:v1"


def test_custom_aliases_move_and_version_aliases_are_implicit(cat):
    log(cat, "a", aliases=["best", "v7"])
    log(cat, "b", aliases=["best"])
    assert cat.resolve("ent", "proj", "ds", "best").digest == "b"
    assert cat.resolve("ent", "proj", "ds", "v0").aliases == ()
    assert cat.resolve("ent", "proj", "ds", "v1").aliases == ("best", "latest")
    with pytest.raises(ArtifactNotFoundError):
        cat.resolve("ent", "proj", "ds", "v7")


def test_dedupe_returns_existing_version_and_adds_aliases_and_tags(cat):
    first = log(cat, "same", tags=["t1"])
    log(cat, "other")
    again = log(cat, "same", aliases=["latest", "gold"], tags=["t2"])
    assert not again.created
    assert again.pk == first.pk and again.version_index == 0
    assert again.aliases == ("gold", "latest")
    assert again.tags == ("t1", "t2")
    assert len(cat.list_versions("ent", "proj", "ds")) == 2


def test_type_mismatch_uses_wandb_message(cat):
    log(cat, "a")
    with pytest.raises(TypeMismatchError) as info:
        log(cat, "b", type="model")
    assert str(info.value) == (
        "Artifact ds already exists with type 'dataset'; cannot create another with type 'model'"
    )
    assert isinstance(info.value, ValueError)
    with pytest.raises(TypeMismatchError, match="type 'model' specified but this artifact is of type 'dataset'"):
        cat.resolve("ent", "proj", "ds", type="model")


def test_resolve_errors_carry_wandb_messages(cat):
    with pytest.raises(ProjectNotFoundError, match="project 'proj' not found under entity 'ent'"):
        cat.resolve("ent", "proj", "ds", "latest")
    log(cat, "a")
    with pytest.raises(ArtifactNotFoundError, match="artifact membership 'nope:latest' not found in 'ent/proj'"):
        cat.resolve("ent", "proj", "nope", "latest")
    with pytest.raises(ArtifactNotFoundError, match="'ds:v3' not found"):
        cat.resolve("ent", "proj", "ds", "v3")
    with pytest.raises(LookupError):
        cat.resolve("ent", "proj", "ds", "missing-alias")


def test_list_versions_order_and_tag_filter(cat):
    for i in range(4):
        log(cat, f"d{i}", tags=["even"] if i % 2 == 0 else ["odd"])
    assert [r.version_index for r in cat.list_versions("ent", "proj", "ds")] == [3, 2, 1, 0]
    assert [r.version_index for r in cat.list_versions("ent", "proj", "ds", order="+version_index")] == [0, 1, 2, 3]
    assert [r.version_index for r in cat.list_versions("ent", "proj", "ds", order="-createdAt")] == [3, 2, 1, 0]
    assert [r.version_index for r in cat.list_versions("ent", "proj", "ds", tags=["even"])] == [2, 0]
    with pytest.raises(ValueError, match="cannot order versions by 'colour'"):
        cat.list_versions("ent", "proj", "ds", order="colour")


def test_update_version_fields_aliases_and_tags(cat):
    r = log(cat, "a", tags=["x"])
    log(cat, "b")
    r = cat.update_version(r, description="desc", metadata={"k": 1}, ttl_seconds=60,
                           ttl_inherited=False, add_aliases=["best"], add_tags=["y"],
                           remove_tags=["x"])
    assert (r.description, r.metadata, r.ttl_seconds, r.ttl_inherited) == ("desc", {"k": 1}, 60, False)
    assert r.aliases == ("best",) and r.tags == ("y",)
    r = cat.update_version(r, remove_aliases=["best", "latest"])  # latest is v1's: untouched
    assert r.aliases == ()
    assert cat.resolve("ent", "proj", "ds").digest == "b"


def test_links_have_their_own_index_and_aliases(cat):
    a, b, c = (log(cat, d) for d in "abc")
    l1 = cat.link(c, "ent", "model-registry", "reg", ["prod"])
    l2 = cat.link(a, "ent", "model-registry", "reg", ["staging"])
    assert (l1.version_index, l2.version_index) == (0, 1)
    assert l1.is_link and l1.source_version_index == 2 and l1.source_name == "ds:v2"
    assert l1.collection_kind == "portfolio" and l1.linked_at is not None
    assert (l1.entity, l1.project, l1.collection) == ("ent", "model-registry", "reg")
    got = cat.resolve("ent", "model-registry", "reg", "prod")
    assert got.pk == c.pk and got.aliases == ("prod",)
    assert cat.resolve("ent", "model-registry", "reg", "latest").pk == a.pk
    assert cat.resolve("ent", "model-registry", "reg", "v1").pk == a.pk
    # linking again only adds aliases
    again = cat.link(c, "ent", "model-registry", "reg", ["gold"])
    assert again.version_index == 0 and again.aliases == ("gold", "prod")
    # the source is unaffected
    assert cat.resolve("ent", "proj", "ds", "v2").aliases == ("latest",)
    # unlink frees the membership but never reuses the index; latest falls back
    cat.unlink(l2)
    assert cat.resolve("ent", "model-registry", "reg", "latest").pk == c.pk
    l3 = cat.link(b, "ent", "model-registry", "reg")
    assert l3.version_index == 2
    with pytest.raises(ValueError, match="is not a linked artifact and cannot be unlinked"):
        cat.unlink(a)
    with pytest.raises(ValueError, match="portfolio"):
        log(cat, "z", name="reg", project="model-registry")
    with pytest.raises(ValueError, match="sequence"):
        cat.link(a, "ent", "proj", "ds")


def test_delete_refuses_aliases_unless_asked(cat):
    v0 = log(cat, "a")
    v1 = log(cat, "b")
    with pytest.raises(DeleteRefusedError, match=r"has aliases \(latest\)"):
        cat.delete_version(v1)
    cat.delete_version(v0)  # no aliases: fine
    with pytest.raises(ArtifactNotFoundError):
        cat.resolve("ent", "proj", "ds", "v0")
    cat.delete_version(v1, delete_aliases=True)
    with pytest.raises(ArtifactNotFoundError):
        cat.resolve("ent", "proj", "ds", "latest")
    v2 = log(cat, "a")  # deleted versions are not deduped against, indices not reused
    assert v2.created and v2.version_index == 2


def test_delete_latest_moves_latest_back_and_drops_links(cat):
    v0 = log(cat, "a")
    v1 = log(cat, "b")
    cat.link(v1, "ent", "reg", "port")
    cat.delete_version(v1, delete_aliases=True)
    assert cat.resolve("ent", "proj", "ds", "latest").pk == v0.pk
    with pytest.raises(ArtifactNotFoundError):
        cat.resolve("ent", "reg", "port", "v0")


def test_delete_of_a_link_unlinks(cat):
    v0 = log(cat, "a")
    link = cat.link(v0, "ent", "reg", "port", ["prod"])
    cat.delete_version(link)
    assert cat.resolve("ent", "proj", "ds").pk == v0.pk
    assert cat.list_versions("ent", "reg", "port") == []


def test_ttl_expiry_marks_deleted(cat):
    v0 = log(cat, "a", ttl_seconds=10, ttl_inherited=False)
    v1 = log(cat, "b")
    created = cat.live_manifest_keys()[0]
    assert created == {"ka", "kb"}
    import time

    assert cat.expire_versions(now=time.time() + 5) == []
    expired = cat.expire_versions(now=time.time() + 11)
    assert [r.pk for r in expired] == [v0.pk]
    assert cat.version_by_id(v1.id).state == "COMMITTED"
    assert cat.version_by_id(v0.id, include_deleted=True).state == "DELETED"
    assert cat.live_manifest_keys()[0] == {"kb"}


def test_collections_types_and_updates(cat):
    log(cat, "a")
    log(cat, "m", name="net", type="model")
    v = cat.resolve("ent", "proj", "net")
    cat.link(v, "ent", "proj", "registry-net")
    assert cat.list_types("ent", "proj") == ["dataset", "model"]
    names = [c.name for c in cat.list_collections("ent", "proj")]
    assert names == ["ds", "net", "registry-net"]
    assert [c.name for c in cat.list_collections("ent", "proj", kind="portfolio")] == ["registry-net"]
    coll = cat.get_collection("ent", "proj", "ds")
    assert coll.is_sequence() and coll.version_count == 1 and coll.aliases == ("latest",)
    coll = cat.update_collection(coll, name="ds2", description="d", add_tags=["t"], type="data")
    assert (coll.name, coll.description, coll.tags, coll.type) == ("ds2", "d", ("t",), "data")
    assert cat.resolve("ent", "proj", "ds2").type == "data"
    port = cat.get_collection("ent", "proj", "registry-net")
    with pytest.raises(ValueError, match="sequence"):
        cat.update_collection(port, type="x")
    with pytest.raises(ValueError, match="already exists"):
        cat.update_collection(coll, name="net")


def test_delete_collection_frees_the_name(cat):
    log(cat, "a")
    log(cat, "b")
    cat.delete_collection(cat.get_collection("ent", "proj", "ds"))
    with pytest.raises(ArtifactNotFoundError):
        cat.resolve("ent", "proj", "ds")
    again = log(cat, "a", type="model")
    assert again.version_index == 0 and again.type == "model"


def test_runs_and_lineage(cat):
    run = cat.create_run("ent", "proj", "r1", name="first", job_type="train", config={"lr": 1})
    assert (run.path, run.state, run.config) == ("ent/proj/r1", "running", {"lr": 1})
    with pytest.raises(ValueError, match="already exists"):
        cat.create_run("ent", "proj", "r1")
    v = log(cat, "a", run_pk=run.pk, history_step=3)
    assert v.logged_by_run_id == "r1" and v.history_step == 3
    reader = cat.create_run("ent", "other", "r2")
    cat.record_use(reader, v)
    cat.record_use(reader, v)  # idempotent
    assert cat.logged_by(v).run_id == "r1"
    assert [r.run_id for r in cat.used_by(v)] == ["r2"]
    assert [x.pk for x in cat.logged_versions(run)] == [v.pk]
    assert [x.pk for x in cat.used_versions(reader)] == [v.pk]
    # a dedupe by another run counts as that run's output too, logged_by stays
    twin = log(cat, "a", run_pk=reader.pk)
    assert twin.pk == v.pk and cat.logged_by(twin).run_id == "r1"
    assert [x.pk for x in cat.logged_versions(reader)] == [v.pk]
    cat.set_config(run, {"lr": 2})
    cat.set_summary(run, {"acc": 0.9})
    cat.log_row(run, 0, {"loss": 1.0})
    cat.log_row(run, 1, {"loss": 0.5})
    cat.log_row(run, 1, {"loss": 0.4})
    assert cat.history(run) == [{"loss": 1.0, "_step": 0}, {"loss": 0.4, "_step": 1}]
    done = cat.finish_run(run)
    assert (done.state, done.exit_code, done.config, done.summary) == ("finished", 0, {"lr": 2}, {"acc": 0.9})
    assert cat.finish_run(reader, exit_code=1).state == "failed"
    resumed = cat.create_run("ent", "proj", "r1", resume=True)
    assert resumed.state == "running" and resumed.pk == run.pk
    assert cat.get_run("ent", "proj", "r1").pk == run.pk
    assert [r.run_id for r in cat.list_runs("ent", "proj")] == ["r1"]
    with pytest.raises(RunNotFoundError):
        cat.get_run("ent", "proj", "nope")


def test_ids_round_trip(cat):
    v = log(cat, "a")
    assert v.id == encode_id("Artifact", v.pk) and decode_id(v.id, "Artifact") == v.pk
    assert encode_id("Artifact", 123) == "QXJ0aWZhY3Q6MTIz"
    assert decode_id("not base64!", "Artifact") is None
    assert cat.version_by_id(v.id).pk == v.pk
    with pytest.raises(ArtifactNotFoundError, match="not found"):
        cat.version_by_id(encode_id("Artifact", 999))


def test_migrations_from_empty_and_idempotent_reopen(tmp_path):
    path = str(tmp_path / "c.db")
    c1 = Catalog(path)
    log(c1, "a")
    c1.close()
    c2 = Catalog(path)  # re-open: no migration, data intact
    assert schema_version(c2.conn) == len(MIGRATIONS)
    assert c2.resolve("ent", "proj", "ds").digest == "a"
    assert c2.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    c2.close()


def test_migrations_apply_in_order_and_refuse_newer(tmp_path):
    conn = sqlite3.connect(str(tmp_path / "m.db"), isolation_level=None)
    steps = [("CREATE TABLE a (x)",), ("ALTER TABLE a ADD COLUMN y", "INSERT INTO a VALUES (1, 2)")]
    assert apply_migrations(conn, steps[:1]) == 1
    assert apply_migrations(conn, steps) == 2
    assert apply_migrations(conn, steps) == 2  # idempotent
    assert conn.execute("SELECT x, y FROM a").fetchall() == [(1, 2)]
    with pytest.raises(StoreVersionError, match="newer"):
        apply_migrations(conn, steps[:1])
    # a failing step rolls back entirely
    bad = steps + [("CREATE TABLE b (z)", "NOT SQL")]
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(conn, bad)
    assert schema_version(conn) == 2
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone() is None
    conn.close()
