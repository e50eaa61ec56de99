"""The logged state, filled from a server record (wandb's synthetic vector)."""

from __future__ import annotations

import json
import os

import pytest

from artefact import Artifact, instance_cache
from artefact.errors import ArtifactFinalizedError
from artefact.manifest import ArtifactManifest

VECTORS = os.path.join(os.path.dirname(__file__), "..", "compat", "data", "errors.json")


@pytest.fixture(scope="module")
def synthetic():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)["synthetic_logged_artifact"]


def _logged(synthetic) -> Artifact:
    entity, project, name = synthetic["input_path"].split("/")
    return Artifact._from_attrs(entity, project, name, synthetic["input_fragment"])


def test_properties_match_wandb_after_assign_attrs(synthetic):
    artifact = _logged(synthetic)
    for prop, outcome in synthetic["properties"].items():
        if not isinstance(outcome, dict) or "outcome" not in outcome or prop == "size":
            continue
        assert outcome["outcome"] == "ok", prop
        assert getattr(artifact, prop) == outcome["returned"], prop
    assert artifact.size == 6  # the server size while the manifest is not loaded
    assert artifact.is_draft() is False and artifact._final is True
    assert artifact.json_encode() == synthetic["properties"]["json_encode()"]
    assert instance_cache.by_id["QXJ0aWZhY3Q6MTIz"] is artifact
    assert repr(artifact) == "<Artifact QXJ0aWZhY3Q6MTIz>"
    with pytest.raises(ArtifactFinalizedError):
        artifact.add_reference("file:///x")


def test_default_roots(synthetic, isolated_env):
    artifact = _logged(synthetic)
    root = str(isolated_env / "artifacts")
    assert artifact._default_root() == os.path.join(root, "mydata:v3")
    assert artifact._default_root(include_version=False) == os.path.join(root, "mydata")


def test_operations_without_a_store_say_so(synthetic):
    artifact = _logged(synthetic)
    with pytest.raises(NotImplementedError, match="Artifact.download needs an artifact store"):
        artifact.download()
    assert artifact.url == ""


def test_new_draft_and_verify(synthetic, tmp_path):
    artifact = _logged(synthetic)
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_text("hello world\n")
    artifact._manifest = ArtifactManifest.from_manifest_json({
        "version": 1, "storagePolicy": "wandb-storage-policy-v1", "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": {"hello.txt": {"digest": "b1kCrCNwJL3QwXbLkwY9xA==", "size": 12},
                     "ref.bin": {"digest": "e", "ref": "s3://b/k", "size": 1}},
    })  # fmt: skip
    artifact.verify(str(root))
    entry = artifact.get_entry("hello.txt")
    assert entry.parent_artifact() is artifact
    assert entry.ref_url() == "wandb-artifact://41727469666163743a313233/hello.txt"
    (root / "extra.txt").write_text("x")
    with pytest.raises(ValueError, match="Found file .*extra.txt which is not a member of artifact mydata:latest"):
        artifact.verify(str(root))
    os.remove(root / "extra.txt")
    (root / "hello.txt").write_text("changed\n")
    with pytest.raises(ValueError, match="Digest mismatch for file: hello.txt"):
        artifact.verify(str(root))

    draft = artifact.new_draft()
    assert (draft.name, draft.type, draft.is_draft(), draft._base_id) == ("mydata", "dataset", True, "QXJ0aWZhY3Q6MTIz")
    assert draft.manifest.to_manifest_json() == artifact.manifest.to_manifest_json()
    assert draft.digest == artifact.manifest.digest()


def test_wait_uses_the_save_handle(synthetic):
    class Handle:
        def wait(self, timeout):
            return "QXJ0aWZhY3Q6MTIz"

    class Store:
        def artifact_attrs_by_id(self, artifact_id):
            return synthetic["input_fragment"]

    draft = Artifact("mydata", "dataset")
    draft._store, draft._save_handle = Store(), Handle()
    assert draft.wait() is draft
    assert (draft.version, draft.name, draft.is_link, draft.state) == ("v3", "mydata:v3", False, "COMMITTED")
