"""Replay the draft-API records of errors.json (exceptions, messages and the values
of the calls that succeed) against the subject module (env COMPAT_SUBJECT)."""

from __future__ import annotations

import datetime
import importlib.util
import os
import types

import pytest

from . import _support as S
from .outcomes import check_outcome

ERRORS = S.load_json("errors.json")
RECORDS = {r["id"]: r for r in ERRORS["errors_and_behaviours"]}
RUN_PREFIXES = ("run_", "offline_", "artifact_link_")  # -> test_run_errors.py

NAMES = [("name_slash", "a/b"), ("name_colon", "a:b"), ("name_space", "a b"), ("name_empty", ""),
         ("name_unicode", "café"), ("name_plus", "a+b"), ("name_129_chars", "a" * 129),
         ("name_128_chars", "a" * 128), ("name_trailing_newline", "abc\n"),
         ("name_dotdot", ".."), ("name_leading_dash_dot", "-.x_Y.9")]
TYPES = [("type_wandb_prefix", "wandb-foo", "x"), ("type_wandb_history", "wandb-history", "x"),
         ("type_job", "job", "anything"), ("type_jobs_ok", "jobs", "x"),
         ("type_run_table_run_prefix", "run_table", "run-x"), ("type_run_table_ok", "run_table", "x"),
         ("type_code_source_prefix", "code", "source-x"), ("type_code_ok", "code", "x"),
         ("type_uppercase_WANDB_ok", "WANDB-x", "x"), ("type_slash_ok", "a/b", "x"),
         ("type_empty_ok", "", "x"), ("type_300_chars_ok", "t" * 300, "x")]
ALIASES = [("ok", ["latest", "best v2", "a-b", "é"]), ("slash", ["a/b"]), ("colon", ["v1:x"]),
           ("string", "solo")]
TAGS = [("ok_dedup", ["a", "b c", "a", "x-y_z", "é", "a  b"]), ("dot", ["v1.0"]),
        ("slash", ["a/b"]), ("leading_space", [" a"]), ("trailing_space", ["a "]), ("empty", [""]),
        ("colon", ["a:b"])]
ADD_FILE_NAMES = ["/abs.txt", "../up.txt", "a/../b.txt", ".", "C:foo.txt", "c:/x", "a:b", "1:b.txt",
                  "é:b.txt", "\\x.txt", "a\\..\\b.txt", "//two.txt", "a//b.txt", "./a.txt", "a/",
                  "ab:c.txt", "a\\b.txt", " lead.txt", "trail.txt ", "~/x", "nl\n.txt", "nul\x00.txt"]
MANIFEST_V1 = {"version": 1, "storagePolicy": "wandb-storage-policy-v1", "storagePolicyConfig": {}}


def _lib_importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def tree():
    return S.errors_tree()


def _new_file(art, name, mode="x", payload="x", encoding=None):
    with art.new_file(name, mode=mode, encoding=encoding) as f:
        f.write(payload)
    return art.manifest.entries[str(name).lstrip("/")].path


def build_repros(sj: S.Subject, tree: str, port: int) -> dict:
    """id -> zero-argument callable, each self-contained (fresh artifacts)."""
    Art = sj.Artifact
    A, B, D = (os.path.join(tree, p) for p in ("a.txt", "b.txt", "d"))
    R: dict = {}
    for label, nm in NAMES:
        R[f"ctor_{label}"] = lambda nm=nm: Art(nm, "dataset").name
    for label, typ, nm in TYPES:
        R[f"ctor_{label}"] = lambda typ=typ, nm=nm: Art(nm, typ).type
    keys = lambda n: {str(i): i for i in range(n)}  # noqa: E731
    R["ctor_metadata_100_keys"] = lambda: len(Art("x", "t", metadata=keys(100)).metadata)
    R["ctor_metadata_101_keys"] = lambda: Art("x", "t", metadata=keys(101))
    R["ctor_metadata_inf"] = lambda: Art("x", "t", metadata={"a": float("inf")})
    R["ctor_metadata_nan_becomes_null"] = lambda: Art("x", "t", metadata={"a": float("nan")}).metadata
    R["ctor_metadata_json_string"] = lambda: Art("x", "t", metadata='{"a": 1}').metadata
    R["ctor_metadata_list"] = lambda: Art("x", "t", metadata=[1])
    R["ctor_metadata_coercions"] = lambda: Art("x", "t", metadata={
        1: (1, 2), "d": datetime.datetime(2020, 1, 2, 3, 4, 5), "n": None}).metadata
    R["ctor_metadata_empty_string"] = lambda: Art("x", "t", metadata="").metadata
    R["ctor_digest_algorithm_unknown_falls_back_to_md5"] = \
        lambda: Art("x", "t", digest_algorithm="SHA1").digest_algorithm.value
    R["ctor_digest_algorithm_lowercase_falls_back_to_md5"] = \
        lambda: Art("x", "t", digest_algorithm="xxh128").digest_algorithm.value
    R["ctor_storage_region_empty"] = lambda: Art("x", "t", storage_region="")
    R["ctor_storage_region_stripped"] = \
        lambda: Art("x", "t", storage_region="  r1 ").manifest.to_manifest_json()["storagePolicyConfig"]
    for label, al in ALIASES:
        R[f"validate_aliases_{label}"] = lambda al=al: sj.validate_aliases(al)
    for label, tg in TAGS:
        R[f"validate_tags_{label}"] = lambda tg=tg: sj.validate_tags(tg)

    def ttl(*setup):
        t = Art("ttl", "t")
        for v in setup:
            t.ttl = v
        return t

    R["ttl_get_draft_inherited"] = lambda: ttl().ttl
    R["ttl_set_zero"] = lambda: ttl(datetime.timedelta(0))
    R["ttl_set_negative"] = lambda: ttl(datetime.timedelta(seconds=-5))
    R["ttl_set_1_5s_truncates"] = lambda: (lambda t: [str(t.ttl), t._ttl_duration_seconds_to_gql()])(
        ttl(datetime.timedelta(seconds=1.5)))
    R["ttl_set_none_disables"] = lambda: (lambda t: [t.ttl, t._ttl_duration_seconds_to_gql()])(ttl(None))
    R["ttl_set_inherit_then_get"] = lambda: ttl(sj.ArtifactTTL.INHERIT).ttl
    R["ttl_inherit_gql_value"] = lambda: ttl(sj.ArtifactTTL.INHERIT)._ttl_duration_seconds_to_gql()
    for nm in ADD_FILE_NAMES:
        R[f"add_file_name_{nm!r}"] = lambda nm=nm: Art("paths", "t").add_file(A, name=nm).path

    def dup():
        art = Art("dup", "t")
        art.add_file(A, name="f.txt")
        return art

    R["add_file_same_path_different_content"] = lambda: dup().add_file(B, name="f.txt")
    R["add_file_same_path_same_content"] = lambda: dup().add_file(A, name="f.txt").path
    R["add_file_missing"] = lambda: dup().add_file(os.path.join(tree, "missing.txt"))
    R["add_file_directory"] = lambda: dup().add_file(D)
    R["add_file_bad_policy"] = lambda: dup().add_file(A, name="p", policy="foo")
    R["add_dir_not_a_dir"] = lambda: dup().add_dir(A)
    R["add_dir_name_absolute"] = lambda: Art("x", "t").add_dir(D, name="/abs")
    R["add_dir_name_dotdot"] = lambda: Art("x", "t").add_dir(D, name="..")
    R["remove_missing"] = lambda: dup().remove("nope")

    def remove_twice():
        art = dup()
        e = art.manifest.entries["f.txt"]
        art.remove(e)
        art.remove(e)

    R["remove_entry_twice"] = remove_twice
    R["add_reference_not_uri"] = lambda: dup().add_reference(A)
    R["add_reference_missing_file"] = lambda: dup().add_reference(f"file://{tree}/missing")
    R["add_reference_unknown_scheme_no_name"] = lambda: dup().add_reference("foo://bar/baz.txt")
    R["add_reference_max_objects_exceeded"] = \
        lambda: Art("x", "t").add_reference(f"file://{tree}/refdir", max_objects=2)
    R["add_reference_s3_without_boto3"] = lambda: Art("x", "t").add_reference("s3://bucket/key")
    R["add_reference_gs_without_gcs_lib"] = lambda: Art("x", "t").add_reference("gs://bucket/key")

    def load_nochecksum():
        a = Art("x", "t")
        [entry] = a.add_reference(f"file://{tree}/a.txt", checksum=False)
        return a.manifest.storage_policy.load_reference(entry, local=True)

    R["add_reference_file_nochecksum_then_download_from_cache"] = load_nochecksum
    R["add_reference_http_trailing_slash"] = \
        lambda: Art("x", "t").add_reference(f"http://127.0.0.1:{port}/etag/dir/")

    def nf_art():
        art = Art("nf", "t")
        _new_file(art, "exists.txt")
        return art

    R["new_file_exists_mode_x"] = lambda: _new_file(nf_art(), "exists.txt")
    R["new_file_bad_path"] = lambda: _new_file(nf_art(), "../esc.txt")
    R["new_file_encoding_error"] = lambda: _new_file(nf_art(), "e.txt", payload="é", encoding="ascii")
    R["add_non_wbvalue"] = lambda: nf_art().add("str", "x")

    def fin():
        art = Art("fin", "t")
        art.add_file(A)
        art.finalize()
        return art

    def set_and_get(attr, value):
        art = fin()
        setattr(art, attr, value)
        return getattr(art, attr)

    R["finalized_add_file"] = lambda: fin().add_file(B)
    R["finalized_add_dir"] = lambda: fin().add_dir(D)
    R["finalized_add_reference"] = lambda: fin().add_reference(f"file://{tree}/b.txt")
    R["finalized_remove"] = lambda: fin().remove("a.txt")
    R["finalized_new_file"] = lambda: _new_file(fin(), "z.txt")
    R["finalized_add_wbvalue"] = lambda: fin().__setitem__("k", sj.Html("<p>x</p>"))
    R["finalized_set_metadata_allowed"] = lambda: set_and_get("metadata", {"a": 1})
    R["finalized_set_description_allowed"] = lambda: set_and_get("description", "x")
    R["finalized_still_draft"] = lambda: (lambda a: [a.is_draft(), a.state])(fin())
    R["draft_set_aliases"] = lambda: setattr(Art("draft", "dataset"), "aliases", ["x"])
    R["draft_set_tags"] = lambda: setattr(Art("draft", "dataset"), "tags", ["x"])
    AM = lambda: sj.ArtifactManifest  # noqa: E731 - resolved lazily, per record
    R["manifest_from_json_no_version"] = lambda: AM().from_manifest_json({})
    R["manifest_from_json_version_2"] = lambda: AM().from_manifest_json(
        {**MANIFEST_V1, "version": 2, "contents": {}})
    R["manifest_from_json_unknown_policy"] = lambda: AM().from_manifest_json(
        {**MANIFEST_V1, "storagePolicy": "x", "contents": {}})
    R["manifest_from_json_roundtrip_drops_local_fields"] = lambda: AM().from_manifest_json({
        **MANIFEST_V1, "storagePolicyConfig": {"storageLayout": "V1", "unknownKey": 1},
        "contents": {"a": {"digest": "x", "size": 1, "local_path": "/nonexistent", "skip_cache": True,
                           "birthArtifactID": "QXJ0aWZhY3Q6MQ==", "extra": {"k": 1}, "zzz": 2}},
    }).to_manifest_json()
    R["manifest_from_json_negative_size"] = lambda: AM().from_manifest_json(
        {**MANIFEST_V1, "contents": {"a": {"digest": "x", "size": -1}}})
    R["manifest_from_json_no_contents"] = lambda: AM().from_manifest_json(dict(MANIFEST_V1))
    R["manifest_from_json_path_not_validated"] = lambda: list(AM().from_manifest_json(
        {**MANIFEST_V1, "contents": {"../a": {"digest": "x"}}}).entries)
    return R


DRAFT_IDS = [r["id"] for r in ERRORS["errors_and_behaviours"] if not r["id"].startswith(RUN_PREFIXES)]
SKIP_IF_IMPORTABLE = {"add_reference_s3_without_boto3": "boto3",
                      "add_reference_gs_without_gcs_lib": "google.cloud.storage"}


@pytest.fixture(scope="module")
def repros(subject, tree, http_port):
    return build_repros(subject, tree, http_port)


@pytest.mark.parametrize("rid", DRAFT_IDS)
def test_record(rid, repros):
    rec = RECORDS[rid]
    lib = SKIP_IF_IMPORTABLE.get(rid)
    if lib and _lib_importable(lib):
        pytest.skip(f"{lib} is importable here, so this reference is not an error")
    outcome = S.capture(repros[rid])
    if rid == "add_non_wbvalue":
        # the list of accepted classes names each SDK's own modules
        kind, exc = outcome
        assert kind == "raises" and type(exc) is TypeError, outcome
        prefix = "Found object of type <class 'str'>, expected one of:"
        assert str(exc).startswith(prefix), str(exc)
        assert rec["message"].startswith(prefix)
        return
    check_outcome(rec, outcome)


def test_every_record_has_a_reproducer(tmp_path):
    ids = set(build_repros(types.SimpleNamespace(Artifact=None), str(tmp_path), 0))
    assert set(DRAFT_IDS) == ids, (set(DRAFT_IDS) ^ ids)


DRAFT_ACCESS = ERRORS["draft_property_access"]


@pytest.mark.parametrize("key", list(DRAFT_ACCESS))
def test_draft_property_access(key, subject):
    rec = DRAFT_ACCESS[key]
    dr = subject.Artifact("draft", "dataset")
    if key.endswith("()"):
        meth = key[:-2]
        args = {"get_entry": ("x",), "get": ("x",), "get_added_local_path_name": ("nope",)}.get(meth, ())
        outcome = S.capture(lambda: getattr(dr, meth)(*args))
    else:
        outcome = S.capture(lambda: getattr(dr, key))
    if "returned_type" in rec:
        check_outcome(rec, outcome, check_value=False)
        assert type(outcome[1]).__name__ == rec["returned_type"], type(outcome[1])
        if "returned" in rec:  # digest_algorithm: a str enum equal to its value
            assert outcome[1] == rec["returned"]
            assert getattr(outcome[1], "value", None) == rec["returned"]
        return
    check_outcome(rec, outcome)
