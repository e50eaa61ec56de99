"""gs:// references, run against a fake google-cloud-storage by wandb and artefact."""

from __future__ import annotations

import json
import sys
import types

import pytest

import artefact
from artefact import references

# name -> (etag, size, generation)
BLOBS = {
    "single.bin": ("CKih16GjycICEAE=", 10, 1),
    "dir/a.txt": ("e-a", 3, 7),
    "dir/sub/b.txt": ("e-b", 5, 8),
    "dir/marker/": ("e-m", 0, 9),
    "hns/": ("e-h", 0, 2),
    "hns/c.txt": ("e-c", 2, 3),
}


class _Blob:
    def __init__(self, name: str) -> None:
        self.name = name
        self.etag, self.size, self.generation = BLOBS[name]


class _Bucket:
    def get_blob(self, key: str, generation=None):
        if key not in BLOBS or (generation is not None and int(generation) != BLOBS[key][2]):
            return None
        return _Blob(key)

    def list_blobs(self, prefix: str, max_results=None):
        return [_Blob(n) for n in sorted(BLOBS) if n.startswith(prefix)][:max_results]


@pytest.fixture
def fake_gcs(monkeypatch, wandb):
    import google.cloud

    storage = types.ModuleType("google.cloud.storage")
    storage.Client = lambda: types.SimpleNamespace(bucket=lambda name: _Bucket())
    monkeypatch.setitem(sys.modules, "google.cloud.storage", storage)
    monkeypatch.setattr(google.cloud, "storage", storage, raising=False)
    monkeypatch.setattr(references, "_handlers", None)
    yield
    references._handlers = None


def _gcs_ops(artifact):
    artifact.add_reference("gs://bkt/single.bin")
    artifact.add_reference("gs://bkt/single.bin#1", name="pinned.bin")
    artifact.add_reference("gs://bkt/dir")  # no such blob: list the prefix
    artifact.add_reference("gs://bkt/dir", name="named")
    artifact.add_reference("gs://bkt/hns/")  # a folder marker blob: list, skipping "/" names
    artifact.add_reference("gs://bkt/dir/a.txt", name="nock", checksum=False)
    return artifact


def test_gcs_references_match_wandb(fake_gcs, wandb):
    ours = _gcs_ops(artefact.Artifact("gcs", "dataset"))
    theirs = _gcs_ops(wandb.Artifact("gcs", "dataset"))
    assert json.dumps(ours.manifest.to_manifest_json()) == json.dumps(theirs.manifest.to_manifest_json())
    contents = ours.manifest.to_manifest_json()["contents"]
    assert contents["single.bin"]["extra"] == {"versionID": 1}
    assert "marker" not in json.dumps(contents)
    with pytest.raises(ValueError, match="Object does not exist: gs://bkt/single.bin#5"):
        artefact.Artifact("x", "t").add_reference("gs://bkt/single.bin#5")
