"""The draft Artifact: construction, properties, adding and removing content, state."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import timedelta

import pytest

import artefact
from artefact import Artifact, ArtifactTTL, Html, Table
from artefact.enums import ArtifactDigestAlgorithm
from artefact.errors import ArtifactFinalizedError, ArtifactNotLoggedError, ArtifactStatusError, CommError, ValidationError

from ._helpers import error_of


def _write(path, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    _write(root / "a.txt", "a\n")
    _write(root / "b.txt", "b\n")
    _write(root / "sub" / "c.txt", "c\n")
    _write(root / ".hidden" / "h.json", "{}\n")
    return root


# --- construction --------------------------------------------------------------------


def test_constructor_defaults():
    a = Artifact("draft", "dataset")
    assert (a.id, a.name, a.source_name, a.type, a.description, a.metadata) == (None, "draft", "draft", "dataset", None, {})
    assert (a.state, a.is_draft(), a.is_link, a.incremental, a.distributed_id) == ("PENDING", True, False, False, None)
    assert a.digest == "64e7c61456b10382e2f3b571ac24b659" and a.size == 0
    assert a.digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_MD5
    assert repr(a) == "<Artifact draft>"
    assert len(a._client_id) == 128 and a._client_id.isalnum() and a._client_id.islower()


def test_constructor_validation_order_and_messages():
    assert error_of(lambda: Artifact("a/b", "job")) == (
        "ValueError",
        "Artifact name may only contain alphanumeric characters, dashes, underscores, and dots. Invalid name: 'a/b'",
    )
    assert error_of(lambda: Artifact("x", "job", metadata=[1]))[0] == "ValueError"  # type before metadata
    assert error_of(lambda: Artifact("x", "t", metadata=[1], storage_region="")) == (
        "TypeError", "Cannot parse <class 'list'> as artifact metadata")  # fmt: skip
    assert error_of(lambda: Artifact("abc\n", "t"))[0] == "ok"
    assert Artifact("x", "t", digest_algorithm="xxh128").digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_MD5  # type: ignore[arg-type]
    assert Artifact("x", "t", digest_algorithm="XXH128").digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_XXH128


def test_storage_region(wandb):
    assert Artifact("x", "t", storage_region="  r1 ").manifest.to_manifest_json()["storagePolicyConfig"] == {
        "storageLayout": "V2", "storageRegion": "r1"}  # fmt: skip
    with pytest.raises(ValidationError) as ours:
        Artifact("x", "t", storage_region="")
    with pytest.raises(ValueError) as theirs:
        wandb.Artifact("x", "t", storage_region="")
    assert str(ours.value) == str(theirs.value)


# --- properties of a draft -------------------------------------------------------------

NOT_LOGGED_PROPERTIES = [
    "entity", "project", "version", "source_entity", "source_project", "source_version",
    "source_qualified_name", "collection", "source_collection", "aliases", "tags", "ttl",
    "url", "commit_hash", "file_count", "created_at", "updated_at", "linked_at",
    "history_step", "linked_artifacts", "source_artifact",
]  # fmt: skip


@pytest.mark.parametrize("prop", NOT_LOGGED_PROPERTIES)
def test_server_properties_raise_not_logged(prop):
    a = Artifact("draft", "dataset")
    with pytest.raises(ArtifactNotLoggedError) as info:
        getattr(a, prop)
    expected = {"source_qualified_name": "source_entity"}.get(prop, prop)
    assert info.value.name == expected
    assert info.value.obj is a
    assert str(info.value) == (
        f"'Artifact.{expected}' used prior to logging artifact or while in offline mode. "
        "Call Artifact.wait() before accessing logged artifact properties."
    )
    assert isinstance(info.value, AttributeError) and isinstance(info.value, ArtifactStatusError)
    assert not hasattr(a, prop)


def test_qualified_name_names_entity():
    with pytest.raises(ArtifactNotLoggedError, match="'Artifact.entity'"):
        Artifact("d", "t").qualified_name  # noqa: B018


@pytest.mark.parametrize(
    ("call", "name"),
    [(lambda a: a.wait(), "wait"), (lambda a: a.download(), "download"), (lambda a: a.checkout(), "checkout"),
     (lambda a: a.verify(), "verify"), (lambda a: a.file(), "file"), (lambda a: a.files(), "files"),
     (lambda a: a.get_entry("x"), "get_entry"), (lambda a: a.get("x"), "get"), (lambda a: a["x"], "get"),
     (lambda a: a.delete(), "delete"), (lambda a: a.unlink(), "unlink"), (lambda a: a.used_by(), "used_by"),
     (lambda a: a.logged_by(), "logged_by"), (lambda a: a.json_encode(), "json_encode"),
     (lambda a: a.new_draft(), "new_draft")],
)  # fmt: skip
def test_server_methods_raise_not_logged(call, name):
    a = Artifact("draft", "dataset")
    with pytest.raises(ArtifactNotLoggedError) as info:
        call(a)
    assert info.value.name == name
    assert f"'Artifact.{name}'" in str(info.value)


def test_link_on_a_draft_logs_it_first_and_links():
    linked = Artifact("d", "t").link("proj/coll")
    assert linked.is_link and linked.qualified_name == "tester/proj/coll:v0"


def test_link_errors_become_comm_error():
    with pytest.raises(CommError, match="Invalid artifact path"):
        Artifact("d", "t").link("a/b/c/d")


def test_setting_aliases_and_tags_on_a_draft_raises():
    a = Artifact("d", "t")
    for attr in ("aliases", "tags"):
        with pytest.raises(ArtifactNotLoggedError) as info:
            setattr(a, attr, ["x"])
        assert info.value.name == attr


def test_deprecated_use_as_and_get_path_print_warnings(capsys, monkeypatch):
    from artefact import term

    monkeypatch.delenv("ARTEFACT_QUIET")
    monkeypatch.delenv("WANDB_SILENT")
    monkeypatch.setattr(term, "_printed", set())  # once-per-process warnings: start afresh
    a = Artifact("d", "t", use_as="x")
    assert a.use_as is None
    with pytest.raises(ArtifactNotLoggedError, match="get_entry"):
        a.get_path("x")
    err = capsys.readouterr().err
    assert "artefact: WARNING `use_as` argument is deprecated" in err
    assert "The use_as property of Artifact is deprecated." in err
    assert "Artifact.get_path(name) is deprecated" in err


def test_ttl_semantics():
    a = Artifact("d", "t")
    with pytest.raises(ArtifactNotLoggedError, match="'Artifact.ttl'"):
        a.ttl  # noqa: B018
    for bad, shown in ((timedelta(0), "0.0"), (timedelta(seconds=-5), "-5.0")):
        with pytest.raises(ValueError, match=f"Artifact TTL Duration has to be positive. ttl: {shown}"):
            a.ttl = bad
    a.ttl = timedelta(seconds=1.5)
    assert a.ttl == timedelta(seconds=1) and a._ttl_duration_seconds_to_gql() == 1
    a.ttl = None
    assert a.ttl is None and a._ttl_duration_seconds_to_gql() == -2
    a.ttl = ArtifactTTL.INHERIT
    assert a._ttl_duration_seconds_to_gql() == -1
    with pytest.raises(ArtifactNotLoggedError):
        a.ttl  # noqa: B018


def test_metadata_and_description_setters():
    a = Artifact("d", "t")
    a.metadata = {"a": float("nan")}
    a.description = "desc"
    assert (a.metadata, a.description) == ({"a": None}, "desc")


# --- adding files ------------------------------------------------------------------------


def test_add_file_stages_a_read_only_copy(tree, isolated_env):
    a = Artifact("d", "t")
    entry = a.add_file(str(tree / "a.txt"))
    staging = os.path.abspath(isolated_env / "data" / "artifacts" / "staging")
    assert os.path.dirname(entry.local_path) == staging
    assert os.path.basename(entry.local_path).startswith("tmp")
    assert stat.S_IMODE(os.stat(entry.local_path).st_mode) == 0o400
    assert (entry.path, entry.digest, entry.size, entry.skip_cache) == ("a.txt", "YLcl8QychccNl4gN/oGRsw==", 2, False)
    assert a.get_added_local_path_name(str(tree / "a.txt")) == "a.txt"
    assert a.get_added_local_path_name("a.txt") is None
    assert a.manifest.entries["a.txt"] is entry


def test_add_file_immutable_skip_cache_and_names(tree):
    a = Artifact("d", "t")
    entry = a.add_file(str(tree / "a.txt"), name="x/./y//z.txt", policy="immutable", skip_cache=True)
    assert (entry.path, entry.local_path, entry.skip_cache) == ("x/y/z.txt", str(tree / "a.txt"), True)
    assert a.add_file(str(tree / "b.txt"), name="").path == "b.txt"


def test_add_file_errors(tree):
    a = Artifact("d", "t")
    assert error_of(lambda: a.add_file(str(tree / "missing"))) == ("ValueError", f"Path is not a file: {str(tree / 'missing')!r}")
    assert error_of(lambda: a.add_file(str(tree / "sub"))) == ("ValueError", f"Path is not a file: {str(tree / 'sub')!r}")
    assert error_of(lambda: a.add_file(str(tree / "a.txt"), name="p", policy="foo")) == (
        "ValueError", "Invalid policy 'foo'. Policy may only be `mutable` or `immutable`.")  # fmt: skip
    assert error_of(lambda: a.add_file(str(tree / "a.txt"), name="/abs")) == ("ValueError", "Invalid artifact path: '/abs'")
    a.add_file(str(tree / "a.txt"), name="f.txt")
    a.add_file(str(tree / "a.txt"), name="f.txt")  # same content: fine
    assert error_of(lambda: a.add_file(str(tree / "b.txt"), name="f.txt")) == (
        "ValueError", "Cannot add the same path twice: 'f.txt'")  # fmt: skip
    with pytest.raises(ValidationError, match="skip_cache"):
        a.add_file(str(tree / "a.txt"), skip_cache=None)


def test_overwrite_keeps_the_position(tree):
    a = Artifact("d", "t")
    a.add_file(str(tree / "a.txt"), name="m.txt")
    a.add_file(str(tree / "b.txt"), name="n.txt")
    a.add_file(str(tree / "b.txt"), name="m.txt", overwrite=True)
    assert list(a.manifest.entries) == ["m.txt", "n.txt"]
    assert a.manifest.entries["m.txt"].digest == a.manifest.entries["n.txt"].digest


def test_is_tmp_renames_to_the_digest(tree):
    a = Artifact("d", "t")
    _write(tree / "data.tar.gz", "payload")
    hex20 = a.add_file(str(tree / "data.tar.gz"), name="media/data.tar.gz", is_tmp=True).path.split("/")[1][:20]
    assert a.add_file(str(tree / "data.tar.gz"), name="noext", is_tmp=True).path == hex20
    assert a.add_file(str(tree / "data.tar.gz"), name=".dot.json", is_tmp=True).path == f"{hex20}.dot.json"
    assert list(a.manifest.entries)[0] == f"media/{hex20}.tar.gz"


def test_xxh128_artifacts_tag_local_files_only(tree):
    a = Artifact("d", "t", digest_algorithm="XXH128")
    entry = a.add_file(str(tree / "a.txt"))
    assert entry.extra == {"alg": "XXH128"}
    [ref] = a.add_reference(f"file://{tree / 'b.txt'}")
    assert ref.extra == {} and ref.digest == "O11cNxKVUEIhIxYXPM83vg=="
    a.add_dir(str(tree / "sub"), name="s")
    assert a.manifest.entries["s/c.txt"].extra == {"alg": "XXH128"}


def test_staging_dir_that_cannot_be_created(tree, monkeypatch, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a dir")
    monkeypatch.setenv("ARTEFACT_DATA_DIR", str(blocker))
    path = os.path.join(str(blocker), "artifacts", "staging")
    with pytest.raises(PermissionError) as info:
        Artifact("d", "t").add_file(str(tree / "a.txt"))
    assert str(info.value) == (
        f"Unable to write staging files to {path}. To fix this problem, please set "
        "WANDB_DATA_DIR to a directory where you have the necessary write access."
    )
    Artifact("d", "t").add_file(str(tree / "a.txt"), policy="immutable")  # no staging needed


def test_add_dir(tree):
    a = Artifact("d", "t")
    a.add_dir(str(tree), name="ds/")
    assert sorted(a.manifest.entries) == ["ds/.hidden/h.json", "ds/a.txt", "ds/b.txt", "ds/sub/c.txt"]
    assert a.get_added_local_path_name(os.path.join(str(tree), "sub", "c.txt")) == "ds/sub/c.txt"
    entry = a.manifest.entries["ds/a.txt"]
    assert stat.S_IMODE(os.stat(entry.local_path).st_mode) == 0o400
    with pytest.raises(ValueError, match=r"Path is not a directory: "):
        a.add_dir(str(tree / "a.txt"))


def test_add_dir_merge_semantics(tree):
    a = Artifact("d", "t")
    a.add_dir(str(tree))
    _write(tree / "a.txt", "changed\n")
    _write(tree / "new.txt", "new\n")
    os.remove(tree / "b.txt")
    with pytest.raises(ValueError, match="Cannot add the same path twice: 'a.txt'"):
        a.add_dir(str(tree))
    a.add_dir(str(tree), merge=True)
    assert a.manifest.entries["a.txt"].digest == "7BvrrqLAQr62j3Z53dEGpA=="
    assert {"b.txt", "new.txt"} <= set(a.manifest.entries)


def test_add_dir_follows_symlinked_dirs_and_checks_policy(tree, tmp_path):
    os.symlink(tree / "sub", tree / "linked")
    a = Artifact("d", "t")
    a.add_dir(str(tree), policy="immutable")
    assert "linked/c.txt" in a.manifest.entries
    empty = tmp_path / "empty"
    empty.mkdir()
    a.add_dir(str(empty), policy="nope")  # type: ignore[arg-type]  # wandb checks per file
    with pytest.raises(ValueError, match="Invalid policy 'nope'"):
        a.add_dir(str(tree), policy="nope")  # type: ignore[arg-type]



@pytest.mark.parametrize(("name", "message"), [("/abs", "'/abs/x.txt'"), ("..", "'../x.txt'")])
def test_add_dir_validates_each_logical_path(tmp_path, name, message):
    root = tmp_path / "single"
    _write(root / "x.txt", "x\n")
    with pytest.raises(ValueError) as info:
        Artifact("d", "t").add_dir(str(root), name=name)
    assert str(info.value) == f"Invalid artifact path: {message}"


def test_new_file():
    a = Artifact("d", "t")
    with a.new_file("notes/readme.txt", encoding="utf-8") as f:
        f.write("first version\n")
    with a.new_file("blob.bin", mode="xb") as f:
        f.write(bytes(range(256)))
    with a.new_file("notes/readme.txt", mode="w", encoding="utf-8") as f:
        f.write("second version ✓\n")
    assert a.digest == "cef270ffdbf4f9965985b0b79983eddf"
    assert all(e.skip_cache for e in a.manifest.entries.values())
    with pytest.raises(ValueError, match=r"File with name 'blob.bin' already exists at '.*blob.bin'"):
        with a.new_file("blob.bin", mode="xb"):
            pass
    with pytest.raises(ValueError, match=r"Invalid artifact path: '../esc.txt'"):
        with a.new_file("../esc.txt"):
            pass
    with pytest.raises(UnicodeEncodeError):
        with a.new_file("e.txt", encoding="ascii") as f:
            f.write("é")


def test_remove():
    a = Artifact("d", "t")
    for name in ("README.md", "data/images/a", "data/images/b", "data/x", "empty.txt"):
        with a.new_file(name) as f:
            f.write(name)
    a.remove("README.md")
    a.remove("data/images/")
    a.remove(a.manifest.entries["empty.txt"])
    assert list(a.manifest.entries) == ["data/x"]
    assert error_of(lambda: a.remove("nope")) == ("FileNotFoundError", "No such file or directory: nope")
    entry = a.manifest.entries["data/x"]
    a.remove(entry)
    assert error_of(lambda: a.remove(entry)) == ("FileNotFoundError", "Cannot remove missing entry: 'data/x'")


@pytest.mark.parametrize(
    ("call", "name"),
    [(lambda a, t: a.add_file(str(t / "a.txt")), "add_file"), (lambda a, t: a.add_dir(str(t)), "add_dir"),
     (lambda a, t: a.add_reference(f"file://{t}/a.txt"), "add_reference"), (lambda a, t: a.remove("a.txt"), "remove"),
     (lambda a, t: a.new_file("z"), "new_file"), (lambda a, t: a.__setitem__("k", Table()), "add"),
     (lambda a, t: a.add(Table(), "k"), "add")],
)  # fmt: skip
def test_finalized_artifacts_refuse_changes(tree, call, name):
    a = Artifact("d", "t")
    a.add_file(str(tree / "a.txt"))
    a.finalize()
    with pytest.raises(ArtifactFinalizedError) as info:
        call(a, tree)
    assert info.value.name == name
    assert str(info.value) == f"'Artifact.{name}' used on logged artifact. Can't modify finalized artifact."
    a.metadata = {"a": 1}
    a.description = "x"
    assert (a.is_draft(), a.state) == (True, "PENDING")


# --- media objects ---------------------------------------------------------------------


def test_add_rejects_non_media_with_wandbs_message(wandb):
    ours = error_of(lambda: Artifact("x", "t").add("str", "x"))
    theirs = error_of(lambda: wandb.Artifact("x", "t").add("str", "x"))
    assert ours == theirs


def _media_ops(module, artifact):
    artifact.add(module.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]]), "my_table")
    artifact.add(module.Table(columns=["x"], data=[[3.5]]), "media/tables/t")
    artifact["page"] = module.Html("<p/>")
    table = module.Table(columns=["a", "b"], data=[[1, None], [None, "x"]])
    first = artifact.add(table, "again")
    assert artifact.add(table, "other") is first
    return artifact


def test_media_objects_produce_wandbs_manifest(wandb):
    ours = _media_ops(artefact, Artifact("media", "dataset"))
    theirs = _media_ops(wandb, wandb.Artifact("media", "dataset"))
    assert json.dumps(ours.manifest.to_manifest_json()) == json.dumps(theirs.manifest.to_manifest_json())
    assert ours.digest == theirs.digest
    assert [e.skip_cache for e in ours.manifest.entries.values()] == [
        e.skip_cache for e in theirs.manifest.entries.values()
    ]
    assert ours.get_added_local_path_name("nope") is None


def test_table_vector_bytes():
    a = Artifact("wbvalue-table", "dataset")
    assert a.add(Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]]), "my_table").path == "my_table.table.json"
    assert a.add(Table(columns=["x"], data=[[3.5]]), "media/tables/t").path == "media/tables/bb83e075115bcbd11c6d.table.json"
    assert a.digest == "a0ac581d177add100997663c5e4f4b0e"


def test_html_is_stored_under_its_digest():
    a = Artifact("d", "t")
    entry = a.add(Html("<p/>"), "page")
    assert entry.path == "page.html-file.json"
    body = json.load(open(entry.local_path, encoding="utf-8"))
    assert body["_type"] == "html-file" and body["path"].startswith("media/html/") and body["path"] in a.manifest.entries


def test_concurrent_adds_and_reads(tmp_path):
    import threading

    src = tmp_path / "src"
    for i in range(300):
        _write(src / f"{i}.txt", str(i))
    a = Artifact("d", "t")
    errors: list[BaseException] = []

    def run(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    jobs = [
        lambda: a.add_dir(str(src), name="dir"),
        lambda: [a.add_file(str(src / f"{i}.txt"), name=f"f/{i}.txt") for i in range(100)],
        lambda: [(a.digest, len(a.manifest.entries), "f/1.txt" in a.manifest.entries) for _ in range(50)],
    ]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(a.manifest) == 400


def test_quiet_add_dir_logs_to_a_configured_logger(tmp_path, caplog):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "f.txt").write_text("x")
    a = Artifact("d", "t")
    with caplog.at_level(logging.INFO, logger="artefact"):
        a.add_dir(str(tmp_path / "tree"), policy="immutable")
    lines = [r.getMessage() for r in caplog.records if r.name == "artefact"]
    assert any(f"Adding directory to artifact ({tmp_path / 'tree'})" in line for line in lines), lines
