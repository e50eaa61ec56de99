"""s3:// references, run against a fake boto3 by both wandb and artefact (differential).

The fake stands in for AWS only; both SDKs' own code paths run unchanged.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

import artefact
from artefact import references

# bucket -> key -> (etag, size, content_type, version_id)
OBJECTS = {
    "bkt": {
        "single.bin": ('"aaa"', 10, "binary/octet-stream", "v1"),
        "empty.bin": ('"e"', 0, "binary/octet-stream", None),
        "dir/a.txt": ('"bbb"', 3, "text/plain", "null"),
        "dir/sub/b.txt": ('"ccc-2"', 5, "text/plain", "v9"),
        "dir/zero": ('"z"', 0, "text/plain", None),
        "folder": ('"f"', 0, "application/x-directory", None),
        "folder/x.txt": ('"ddd"', 4, "text/plain", None),
    }
}


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": "nope"}}


class _Object:
    def __init__(self, bucket: str, key: str, version: str | None = None) -> None:
        self.bucket_name, self.key = bucket, key
        etag, size, ctype, vid = OBJECTS.get(bucket, {}).get(key, ('""', 0, "", None))
        self.e_tag, self.content_length, self.content_type = etag, size, ctype
        self.version_id = version or vid

    def load(self) -> None:
        if self.key not in OBJECTS.get(self.bucket_name, {}):
            raise ClientError("404")


class _Summary:
    def __init__(self, bucket: str, key: str) -> None:
        self.bucket_name, self.key = bucket, key
        self.e_tag, self.size = OBJECTS[bucket][key][:2]


class _Objects:
    def __init__(self, bucket: str, prefix: str = "", limit: int | None = None) -> None:
        self.bucket, self.prefix, self._limit = bucket, prefix, limit

    def filter(self, Prefix: str) -> "_Objects":  # noqa: N803 - boto3's spelling
        return _Objects(self.bucket, Prefix, self._limit)

    def limit(self, n: int) -> "_Objects":
        return _Objects(self.bucket, self.prefix, n)

    def __iter__(self):
        keys = sorted(k for k in OBJECTS[self.bucket] if k.startswith(self.prefix))
        return iter([_Summary(self.bucket, k) for k in keys][: self._limit])


class _Resource:
    def Object(self, bucket: str, key: str) -> _Object:  # noqa: N802
        return _Object(bucket, key)

    def ObjectVersion(self, bucket: str, key: str, version: str):  # noqa: N802
        return types.SimpleNamespace(Object=lambda: _Object(bucket, key, version))

    def Bucket(self, bucket: str):  # noqa: N802
        return types.SimpleNamespace(objects=_Objects(bucket))


@pytest.fixture
def fake_boto3(monkeypatch, wandb):
    boto3 = types.ModuleType("boto3")
    boto3.session = types.SimpleNamespace(Session=lambda: types.SimpleNamespace(resource=lambda *a, **k: _Resource()))
    botocore = types.ModuleType("botocore")
    botocore.exceptions = types.SimpleNamespace(ClientError=ClientError)
    client = types.ModuleType("botocore.client")
    client.Config = lambda **kwargs: kwargs
    botocore.client = client
    for name, module in (("boto3", boto3), ("botocore", botocore), ("botocore.client", client)):
        monkeypatch.setitem(sys.modules, name, module)
    import wandb.util

    for name in ("boto3", "botocore"):
        wandb.util._not_importable.discard(name)
    monkeypatch.setattr(references, "_handlers", None)  # fresh handlers, then dropped again
    yield
    references._handlers = None


def _s3_ops(artifact):
    artifact.add_reference("s3://bkt/single.bin")
    artifact.add_reference("s3://bkt/single.bin?versionId=v7", name="pinned.bin")
    artifact.add_reference("s3://bkt/empty.bin", name="never")  # zero size: no entry
    artifact.add_reference("s3://bkt/dir")  # missing key: list the prefix
    artifact.add_reference("s3://bkt/dir", name="named")
    artifact.add_reference("s3://bkt/folder")  # x-directory object: list
    artifact.add_reference("s3://bkt/dir/a.txt", name="nock", checksum=False)
    artifact.add_reference("s3://bkt/dir/sub/b.txt?versionId=v2", checksum=False)
    artifact.add_reference("s3://bkt/dir/", name="limited", max_objects=1)
    return artifact


def test_s3_references_match_wandb(fake_boto3, wandb):
    ours = _s3_ops(artefact.Artifact("s3", "dataset"))
    theirs = _s3_ops(wandb.Artifact("s3", "dataset"))
    assert json.dumps(ours.manifest.to_manifest_json()) == json.dumps(theirs.manifest.to_manifest_json())
    assert ours.digest == theirs.digest
    contents = ours.manifest.to_manifest_json()["contents"]
    assert contents["single.bin"] == {
        "digest": "aaa", "ref": "s3://bkt/single.bin", "size": 10, "extra": {"etag": "aaa", "versionID": "v1"}}  # fmt: skip
    assert "never" not in contents
