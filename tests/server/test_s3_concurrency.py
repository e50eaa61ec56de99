"""Concurrency with S3 blobs: two server processes on one PostgreSQL catalog and one
bucket, eight client processes logging to one collection (test_concurrency.py's
scenario); contiguous versions, none lost or duplicated, `latest` on the newest, equal
content one version, and no object in the bucket overwritten (create-only)."""

from __future__ import annotations

import pytest

import artefact as wandb

from .test_concurrency import eight_clients_one_collection
from .test_concurrency import test_collections_commit_side_by_side_and_each_stays_contiguous as _side_by_side


@pytest.mark.slow
def test_two_servers_eight_clients_one_collection_on_s3(s3_blobs, pg_url, tmp_path, monkeypatch):
    endpoint, bucket = s3_blobs
    with eight_clients_one_collection(pg_url, tmp_path, monkeypatch, {"ARTEFACT_INLINE_BYTES": "0"}) as (_api, listed, _):
        shared = [e for e in listed[0].manifest.entries.values() if e.path == "shared.txt"][0]
        hexd = wandb._core.b64_to_hex(shared.digest)
        keys = endpoint.keys(bucket)
        # small blobs sit in packs (s3_packs.py): the shared file is never an object of its own
        assert not [k for k in keys if k.endswith("/md5/" + hexd)] and [k for k in keys if "/packs/" in k]
        versions = endpoint.client().list_object_versions(Bucket=bucket, Prefix="blobs/")["Versions"]
        assert len(versions) == len({v["Key"] for v in versions}), "create-only: no object was overwritten"


@pytest.mark.slow
def test_collections_commit_side_by_side_on_s3(s3_blobs, pg_url, tmp_path, monkeypatch):
    _side_by_side(pg_url, tmp_path, monkeypatch)
