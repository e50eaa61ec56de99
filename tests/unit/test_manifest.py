"""ArtifactManifest / ArtifactManifestEntry: the Rust-held mapping and wandb's JSON."""

from __future__ import annotations

import json

import pytest

from artefact import Artifact
from artefact.enums import ArtifactDigestAlgorithm
from artefact.errors import ValidationError
from artefact.manifest import ArtifactManifest, ArtifactManifestEntry, ArtifactManifestV1

from ._helpers import error_of

E = ArtifactManifestEntry
BASE = {"version": 1, "storagePolicy": "wandb-storage-policy-v1", "storagePolicyConfig": {}}


def _manifest(*entries: ArtifactManifestEntry) -> ArtifactManifestV1:
    manifest = ArtifactManifestV1()
    for entry in entries:
        manifest.add_entry(entry)
    return manifest


# --- entries ----------------------------------------------------------------------------


def test_entry_fields_defaults_and_to_json():
    entry = E(path="a/./b", digest="x", birthArtifactID="q", extra={"k": 1})
    assert entry.path == "a/b"
    assert (entry.ref, entry.size, entry.local_path, entry.skip_cache) == (None, None, None, False)
    assert entry.birth_artifact_id == "q"
    assert entry.to_json() == {"path": "a/b", "digest": "x", "birthArtifactID": "q", "extra": {"k": 1}, "skip_cache": False}
    assert E(path="a", digest="x", ref="s3://b/k", size=0).to_json() == {
        "path": "a", "digest": "x", "ref": "s3://b/k", "size": 0, "extra": {}, "skip_cache": False,
    }  # fmt: skip


def test_entry_repr_matches_wandb(wandb, tmp_path):
    from wandb.sdk.artifacts.artifact_manifest_entry import ArtifactManifestEntry as WE

    local = tmp_path / "f.txt"
    local.write_text("hi\n")
    samples = [
        dict(path="a", digest="x"),
        dict(path="a/./b", digest="x", birth_artifact_id="q", extra={"a": 1}),
        dict(path="a", digest="x", ref="s3://b/k", size=0, extra={}),
        dict(path="a", digest="x", local_path=str(local), skip_cache=True, extra={"alg": "XXH128"}),
    ]
    for fields in samples:
        assert repr(E(**fields)) == repr(WE(**fields))
        assert E(**fields).to_json() == WE(**fields).to_json()


def test_entry_size_is_read_from_local_path(tmp_path):
    local = tmp_path / "f.txt"
    local.write_bytes(b"abc")
    assert E(path="a", digest="x", local_path=str(local)).size == 3


@pytest.mark.parametrize(
    "fields",
    [dict(path="a", digest="x", size=-1), dict(path="a", digest="x", skip_cache=None),
     dict(path="a", digest=1), dict(path="a", digest="x", size="x"), dict(path="a", digest="x", size=2.5),
     dict(path="a", digest="x", extra=[]), dict(path="a", digest="x", ref=5), dict(path="a")],
)  # fmt: skip
def test_entry_validation_errors_match_wandb(wandb, fields):
    from wandb.sdk.artifacts.artifact_manifest_entry import ArtifactManifestEntry as WE

    with pytest.raises(ValidationError) as ours:
        E(**fields)
    with pytest.raises(ValueError) as theirs:
        WE(**fields)
    assert str(ours.value) == str(theirs.value)


def test_entry_lax_coercions_match_wandb(wandb):
    from wandb.sdk.artifacts.artifact_manifest_entry import ArtifactManifestEntry as WE

    fields = dict(path="a", digest="d", size="5", skip_cache="yes")
    assert repr(E(**fields)) == repr(WE(**fields))
    assert E(path="a", digest="d", size=True).size == 1


def test_entry_is_keyword_only_and_path_must_be_a_path():
    with pytest.raises(TypeError):
        E("a", "x")  # type: ignore[misc]
    with pytest.raises(TypeError):
        E(path=5, digest="x")


def test_entry_methods():
    entry = E(path="a", digest="x", extra={"alg": "XXH128"})
    assert entry.digest_algorithm() is ArtifactDigestAlgorithm.MANIFEST_XXH128
    assert E(path="a", digest="x", extra={"alg": "SHA"}).digest_algorithm() is ArtifactDigestAlgorithm.MANIFEST_MD5
    with pytest.raises(NotImplementedError):
        entry.parent_artifact()
    with pytest.raises(NotImplementedError):
        entry.ref_url()
    with pytest.raises(ValueError, match=r"Only reference entries support ref_target\(\)."):
        entry.ref_target()
    assert E(path="a", digest="x", ref="s3://b/k").ref_target() == "s3://b/k"
    assert entry == E(path="a", digest="x", extra={"alg": "XXH128"})
    with pytest.raises(TypeError):
        hash(entry)


def test_entry_name_is_a_deprecated_alias(capsys, monkeypatch):
    monkeypatch.delenv("ARTEFACT_QUIET")
    monkeypatch.delenv("WANDB_SILENT")
    assert E(path="a/b", digest="x").name == "a/b"
    assert "ArtifactManifestEntry.name is deprecated, use .path instead." in capsys.readouterr().err


def test_entry_assignment_is_validated_and_written_through():
    manifest = _manifest(E(path="a", digest="x", size=1))
    entry = manifest.entries["a"]
    entry.size = 5
    entry.extra = {"etag": "e"}
    assert manifest.to_manifest_json()["contents"]["a"] == {"digest": "x", "size": 5, "extra": {"etag": "e"}}
    assert manifest.size() == 5
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        entry.size = -5


# --- the manifest ---------------------------------------------------------------------


def test_entries_view_keeps_insertion_order_identity_and_overwrite_position():
    manifest = _manifest(E(path="b", digest="1"), E(path="a", digest="2"), E(path="c", digest="3"))
    assert list(manifest.entries) == ["b", "a", "c"]
    assert manifest.entries["a"] is manifest.entries["a"]
    replacement = E(path="b", digest="9")
    manifest.add_entry(replacement, overwrite=True)
    assert list(manifest.entries) == ["b", "a", "c"]
    assert manifest.entries["b"] is replacement
    assert manifest.entries["b"].digest == "9"
    assert [e.path for e in manifest.entries.values()] == ["b", "a", "c"]
    assert len(manifest) == 3 and "a" in manifest.entries and "zz" not in manifest.entries
    assert manifest.entries.get("zz") is None


def test_add_entry_validates_and_refuses_changed_duplicates():
    manifest = _manifest(E(path="f.txt", digest="1"))
    manifest.add_entry(E(path="f.txt", digest="1"))  # same digest: fine
    with pytest.raises(ValueError, match="Cannot add the same path twice: 'f.txt'"):
        manifest.add_entry(E(path="f.txt", digest="2"))
    with pytest.raises(ValueError, match=r"Invalid artifact path: '\.\./x'"):
        manifest.add_entry(E(path="../x", digest="1"))


def test_remove_entry_and_directories():
    manifest = _manifest(E(path="d/a", digest="1"), E(path="d/b", digest="2"), E(path="d2/c", digest="3"))
    assert [e.path for e in manifest.get_entries_in_directory("d")] == ["d/a", "d/b"]
    entry = manifest.entries["d/a"]
    manifest.remove_entry(entry)
    with pytest.raises(FileNotFoundError, match="Cannot remove missing entry: 'd/a'"):
        manifest.remove_entry(entry)
    assert manifest.get_entry_by_path("d/a") is None
    del manifest.entries["d/b"]
    assert list(manifest.entries) == ["d2/c"]


def test_manifest_json_key_order_and_omissions():
    manifest = _manifest(
        E(path="z", digest="d0", size=0),
        E(path="r", digest="d1", ref="s3://b/k", birth_artifact_id="B", size=3, extra={"etag": "e"}),
        E(path="n", digest="d2", ref="x://y"),
    )
    data = manifest.to_manifest_json()
    assert list(data) == ["version", "storagePolicy", "storagePolicyConfig", "contents"]
    assert data["storagePolicyConfig"] == {"storageLayout": "V2"}
    contents = data["contents"]
    assert list(contents) == ["z", "r", "n"]
    assert contents["z"] == {"digest": "d0", "size": 0}
    assert list(contents["r"]) == ["digest", "ref", "birthArtifactID", "size", "extra"]
    assert contents["n"] == {"digest": "d2", "ref": "x://y"}
    assert manifest.size() == 3


def test_digest_matches_the_vector_examples():
    assert ArtifactManifestV1().digest() == "64e7c61456b10382e2f3b571ac24b659"
    manifest = _manifest(E(path="hello.txt", digest="b1kCrCNwJL3QwXbLkwY9xA=="))
    assert manifest.digest() == "21866c7249bdfd9cd0fd1a1c7f4209a6"
    assert ArtifactManifest.version() == 1


def test_storage_layout_v1_from_env(monkeypatch):
    monkeypatch.setenv("_WANDB_USE_V1_ARTIFACTS", "false")  # any non-empty value
    assert Artifact("x", "t").manifest.to_manifest_json()["storagePolicyConfig"] == {"storageLayout": "V1"}
    monkeypatch.setenv("_WANDB_USE_V1_ARTIFACTS", "")
    assert Artifact("x", "t").manifest.storage_policy.config() == {"storageLayout": "V2"}


_BAD_MANIFESTS = [
    {},
    {"version": 2},
    {"version": "1"},
    {**BASE, "storagePolicy": "x", "contents": {}},
    {"version": 1},
    {"version": 1, "contents": {}},
    {**BASE, "contents": {"a": {}}},
    {**BASE, "contents": {"a": {"digest": 1, "size": "x"}}},
    {**BASE, "contents": {"a": {"digest": "d", "size": -1}}},
    {**BASE, "contents": {"a": {"digest": "d", "size": 2.5}}},
    {**BASE, "contents": {"a": {"digest": "d", "skip_cache": 2}}},
    {**BASE, "contents": {"a": {"digest": "d", "skip_cache": []}}},
    {**BASE, "contents": {"a": {"digest": "d", "size": float("inf")}}},
    {**BASE, "contents": {"a": "x"}},
    {**BASE, "contents": {"a": {"digest": "d", "extra": []}}},
    {**BASE, "contents": {}, "storagePolicyConfig": {"storageLayout": "V3"}},
    {**BASE, "contents": {}, "storagePolicyConfig": {"storageRegion": "  "}},
    {**BASE, "contents": {}, "storagePolicyConfig": []},
    {**BASE, "contents": {}, "storagePolicy": 5},
    {"version": 1, "contents": {}, "storagePolicy": "x"},
]


@pytest.mark.parametrize("index", range(len(_BAD_MANIFESTS)))
def test_from_manifest_json_errors_match_wandb(wandb, index):
    from wandb.sdk.artifacts.artifact_manifest import ArtifactManifest as WM

    ours = error_of(lambda: ArtifactManifest.from_manifest_json(_BAD_MANIFESTS[index]))
    theirs = error_of(lambda: WM.from_manifest_json(_BAD_MANIFESTS[index]))
    assert ours == theirs


_GOOD_MANIFESTS = [
    {**BASE, "contents": {}},
    {**BASE, "storagePolicyConfig": {"storageLayout": "V1", "storageRegion": " r "},
     "contents": {"a": {"digest": "x", "birthArtifactID": "QXJ0aWZhY3Q6MQ==", "size": 1, "extra": {"k": 1},
                        "local_path": "/nope", "skip_cache": True, "unknown": 3}}},
    {**BASE, "contents": {"../a": {"digest": "d"}, "a//b": {"digest": "e", "size": "7"}, "b": {"digest": "f", "ref": "s3://x/y", "size": 0}}},
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(_GOOD_MANIFESTS)))
def test_from_manifest_json_round_trip_matches_wandb(wandb, index):
    from wandb.sdk.artifacts.artifact_manifest import ArtifactManifest as WM

    ours = ArtifactManifest.from_manifest_json(_GOOD_MANIFESTS[index])
    theirs = WM.from_manifest_json(_GOOD_MANIFESTS[index])
    assert json.dumps(ours.to_manifest_json()) == json.dumps(theirs.to_manifest_json())
    assert list(ours.entries) == list(theirs.entries)
    assert [repr(e) for e in ours.entries.values()] == [repr(e) for e in theirs.entries.values()]
    assert ours.digest() == theirs.digest()


def test_from_manifest_json_uses_the_given_algorithm():
    data = {**BASE, "contents": {"a": {"digest": "d"}}}
    md5 = ArtifactManifest.from_manifest_json(data)
    xxh = ArtifactManifest.from_manifest_json(data, ArtifactDigestAlgorithm.MANIFEST_XXH128)
    assert md5.digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_MD5
    assert xxh.digest_algorithm is ArtifactDigestAlgorithm.MANIFEST_XXH128
    assert md5.digest() != xxh.digest()


def test_hash_contents_with_md5(tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("hello world\n")
    artifact = Artifact("x", "t", digest_algorithm="XXH128")
    artifact.add_file(str(local), policy="immutable")
    artifact.manifest.hash_contents_with_md5()
    assert artifact.manifest.to_manifest_json()["contents"]["f.txt"] == {"digest": "b1kCrCNwJL3QwXbLkwY9xA==", "size": 12}
