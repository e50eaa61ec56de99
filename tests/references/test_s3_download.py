"""Downloads of s3:// references against real wandb 0.31.0 on the same moto endpoint.

Each case adds the same references with both SDKs (manifests must be equal), changes the
bucket the same way, downloads with both, and compares the files, their bytes, the
reference objects in the caches (wandb's `obj/etag/...` layout) and the errors. wandb's
side is wandb/sdk/artifacts/storage_handlers/s3_handler.py `load_path`, run by
`Artifact._download` (see _wandb_worker.py).
"""

from __future__ import annotations

import os

import pytest
from boto3.s3.transfer import TransferConfig

from ._diff import Artefact, Wandb, contents, etag_cache, tree

pytestmark = pytest.mark.timeout(600)


def _put(s3, bucket: str, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def _both(tmp_path, refs, *, change=None, **options):
    """Add `refs` with both, apply `change`, download with both; returns both results."""
    wb, af = Wandb(tmp_path), Artefact()
    added_wb, added_af = wb.add(refs), af.add(refs)
    assert added_af.keys() == added_wb.keys()
    if "error" in added_wb:
        assert added_af["error"] == added_wb["error"]
        return added_wb, added_af, None, None
    assert contents(added_af["manifest"]) == contents(added_wb["manifest"])
    if change is not None:
        change()
    root_wb, root_af = tmp_path / "root-wandb", tmp_path / "root-artefact"
    got_wb = wb.download(af.logged_manifest(), root_wb, **options)  # what the server returns
    got_af = af.download(root_af, **options)
    assert got_af == got_wb
    if "error" in got_wb:  # wandb leaves what it placed before the error; artefact nothing
        assert tree(root_af) == {}
        return got_wb, tree(root_wb), wb, af
    assert tree(root_af) == tree(root_wb)
    if not options.get("skip_cache"):
        assert etag_cache(os.environ["ARTEFACT_CACHE_DIR"]) == etag_cache(wb.cache)
    return got_wb, tree(root_wb), wb, af


def test_single_file(tmp_path, s3, bucket):
    _put(s3, bucket, {"data/model.bin": os.urandom(3000), "data/other.txt": b"x"})
    got, files, _, _ = _both(tmp_path, [[f"s3://{bucket}/data/model.bin", {}]])
    assert got == {"ok": True} and list(files) == ["model.bin"]


def test_prefix_with_names(tmp_path, s3, bucket):
    _put(s3, bucket, {"ds/a.txt": b"a" * 10, "ds/sub/b.txt": b"b" * 20, "ds/sub/deep/c.bin": os.urandom(999),
                      "ds/empty": b"", "other/x": b"x"})  # fmt: skip
    got, files, _, _ = _both(tmp_path, [[f"s3://{bucket}/ds", {}], [f"s3://{bucket}/ds/", {"name": "named"}]])
    assert got == {"ok": True}
    assert sorted(files) == sorted(["a.txt", "sub/b.txt", "sub/deep/c.bin", "named/a.txt", "named/sub/b.txt",
                                    "named/sub/deep/c.bin"])  # fmt: skip


def test_versioned_reference_keeps_its_bytes(tmp_path, s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="v.bin", Body=b"version one")
    s3.put_object(Bucket=bucket, Key="v.bin", Body=b"version two")
    refs = [[f"s3://{bucket}/v.bin?versionId={first['VersionId']}", {"name": "pinned.bin"}],
            [f"s3://{bucket}/v.bin", {"name": "latest.bin"}]]  # fmt: skip

    def overwrite():
        s3.put_object(Bucket=bucket, Key="v.bin", Body=b"version three")

    got, files, _, _ = _both(tmp_path, refs, change=overwrite)
    assert got == {"ok": True}
    # wandb's store_path reads `ObjectVersion(...).Object()`, which is the live object,
    # so a `?versionId=` reference records the version current at add time; the
    # download is pinned to that version, not to the later "version three".
    assert files == {"pinned.bin": b"version two", "latest.bin": b"version two"}


@pytest.mark.parametrize("ranged", [False, True], ids=["one-stream", "ranged"])
def test_multipart_etag(tmp_path, s3, bucket, ranged, monkeypatch):
    if ranged:  # fetched as parallel part-aligned ranges, each part's MD5 checked
        monkeypatch.setenv("ARTEFACT_REFERENCE_RANGE_THRESHOLD", str(2**20))
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(11 * 2**20 + 5))
    cfg = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    s3.upload_file(str(path), bucket, "big.bin", Config=cfg)
    etag = s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"')
    assert etag.endswith("-3")
    # the part size is learnt (HEAD of part 1), so the ETag itself is recomputed from the bytes
    from artefact.download import Entry
    from artefact.references import handlers
    from artefact.references.s3 import S3Handler
    from artefact.references.s3_fetch import S3Fetcher

    fetcher = S3Fetcher(next(h for h in handlers() if isinstance(h, S3Handler)))
    entry = Entry("big.bin", etag, f"s3://{bucket}/big.bin", None, path.stat().st_size, "{}", None, False)
    assert fetcher.get_for(entry, str(tmp_path / "t")).part_size == 5 * 2**20
    got, files, _, _ = _both(tmp_path, [[f"s3://{bucket}/big.bin", {}]])
    assert got == {"ok": True} and files["big.bin"] == path.read_bytes()


def test_large_single_part_object_in_ranges(tmp_path, s3, bucket, monkeypatch):
    monkeypatch.setenv("ARTEFACT_REFERENCE_RANGE_THRESHOLD", str(2**20))
    body = os.urandom(3 * 2**20 + 17)
    s3.put_object(Bucket=bucket, Key="one.bin", Body=body)
    got, files, _, _ = _both(tmp_path, [[f"s3://{bucket}/one.bin", {}]])
    assert got == {"ok": True} and files["one.bin"] == body


def test_max_objects(tmp_path, s3, bucket):
    _put(s3, bucket, {f"many/{i:02d}.txt": str(i).encode() for i in range(7)})
    got, files, _, _ = _both(tmp_path, [[f"s3://{bucket}/many", {"max_objects": 3}]])
    assert got == {"ok": True} and len(files) == 3


@pytest.mark.parametrize("allow_missing", [False, True])
def test_missing_object(tmp_path, s3, bucket, allow_missing, capsys):
    _put(s3, bucket, {"m/keep.txt": b"keep", "m/gone.txt": b"gone"})

    def delete_version():
        for v in s3.list_object_versions(Bucket=bucket, Prefix="m/gone.txt")["Versions"]:
            s3.delete_object(Bucket=bucket, Key="m/gone.txt", VersionId=v["VersionId"])

    got, files, wb, _ = _both(tmp_path, [[f"s3://{bucket}/m", {}]], change=delete_version,
                              allow_missing_references=allow_missing)  # fmt: skip
    if allow_missing:
        assert got == {"ok": True} and files == {"keep.txt": b"keep"}
        warning = f"Unable to find gone.txt at s3://{bucket}/m/gone.txt"
        assert warning in wb.stderr and warning in capsys.readouterr().err
    else:
        assert got["error"] == ["FileNotFoundError", f"Unable to find gone.txt at s3://{bucket}/m/gone.txt"]


def test_missing_object_leaves_no_half_filled_root(tmp_path, s3, bucket):
    """wandb places what it could before raising; artefact places nothing."""
    _put(s3, bucket, {"h/a.txt": b"a", "h/b.txt": b"b"})
    af = Artefact()
    af.add([[f"s3://{bucket}/h", {}]])
    for v in s3.list_object_versions(Bucket=bucket, Prefix="h/b.txt")["Versions"]:
        s3.delete_object(Bucket=bucket, Key="h/b.txt", VersionId=v["VersionId"])
    got = af.download(tmp_path / "root")
    assert got["error"][0] == "FileNotFoundError"
    assert not (tmp_path / "root").exists()


def test_changed_object_in_unversioned_bucket(tmp_path, s3):
    """No versionID recorded: wandb searches the versions for the recorded ETag."""
    s3.create_bucket(Bucket="refs-unversioned")
    _put(s3, "refs-unversioned", {"u.txt": b"before"})

    def overwrite():
        _put(s3, "refs-unversioned", {"u.txt": b"after!"})

    got, files, _, _ = _both(tmp_path, [["s3://refs-unversioned/u.txt", {}]], change=overwrite)
    assert got["error"][0] == "FileNotFoundError" and "Couldn't find object version" in got["error"][1]
    assert files == {}


def test_version_fallback_finds_the_recorded_etag(tmp_path, s3, bucket):
    """An entry without versionID (added with checksum, versioning turned on later) whose
    object was overwritten: both find the old version by its ETag."""
    s3.create_bucket(Bucket="refs-later-versioned")
    _put(s3, "refs-later-versioned", {"f.txt": b"original"})

    def version_and_overwrite():
        s3.put_bucket_versioning(Bucket="refs-later-versioned", VersioningConfiguration={"Status": "Enabled"})
        _put(s3, "refs-later-versioned", {"f.txt": b"replaced"})

    got, files, _, _ = _both(tmp_path, [["s3://refs-later-versioned/f.txt", {}]], change=version_and_overwrite)
    assert got == {"ok": True} and files == {"f.txt": b"original"}


def test_skip_cache_and_path_prefix(tmp_path, s3, bucket):
    _put(s3, bucket, {"p/keep/a.txt": b"a", "p/keep/c.txt": b"c" * 9, "p/skip/b.txt": b"b"})
    refs = [[f"s3://{bucket}/p", {}], [f"s3://{bucket}/p/keep/a.txt", {"name": "keep/twice.txt"}]]
    got, files, _, _ = _both(tmp_path, refs, skip_cache=True, path_prefix="keep/")
    assert got == {"ok": True} and files == {"keep/a.txt": b"a", "keep/c.txt": b"c" * 9, "keep/twice.txt": b"a"}
    assert etag_cache(os.environ["ARTEFACT_CACHE_DIR"]) == set()


def test_corrupt_bytes_are_refused(tmp_path, s3, bucket, monkeypatch):
    """A body that does not hash to the ETag never reaches the cache or the root (a proxy
    that alters bytes; here: the cache object of a correct download is checked too)."""
    from artefact.references.transfer import DigestMismatchError, Get, fetch_all

    s3.put_object(Bucket=bucket, Key="c.bin", Body=b"real bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "c.bin"})
    target = tmp_path / "out" / "c.bin"
    bad = Get(url, {}, str(target), 10, "0" * 32, None, "s3://c.bin")
    with pytest.raises(DigestMismatchError, match="Digest mismatch for object s3://c.bin"):
        fetch_all([bad])
    assert not target.exists() and os.listdir(tmp_path / "out") == []
    monkeypatch.setenv("ARTEFACT_REFERENCE_RANGE_THRESHOLD", "4")  # the ranged path checks too
    with pytest.raises(DigestMismatchError, match="Digest mismatch for object s3://c.bin"):
        fetch_all([bad])
    assert not target.exists() and os.listdir(tmp_path / "out") == []


def test_sdk_download_is_the_last_resort(tmp_path, s3, bucket):
    """A GET that keeps failing after wandb's steps found the object (a region redirect,
    requester pays...) is downloaded by boto3, and its single-part ETag still checked."""
    import hashlib

    from artefact.download import Entry
    from artefact.references import handlers
    from artefact.references.s3 import S3Handler
    from artefact.references.s3_fetch import S3Fetcher
    from artefact.references.transfer import DigestMismatchError, Fetched

    body = os.urandom(1000)
    put = s3.put_object(Bucket=bucket, Key="sdk.bin", Body=body)
    fetcher = S3Fetcher(next(h for h in handlers() if isinstance(h, S3Handler)))
    etag = hashlib.md5(body).hexdigest()
    extra = '{"etag": "%s", "versionID": "%s"}' % (etag, put["VersionId"])
    entry = Entry("sdk.bin", etag, f"s3://{bucket}/sdk.bin", None, 1000, extra, None, False)
    get = fetcher.get_for(entry, str(tmp_path / "got" / "sdk.bin"))
    assert "?versionId=" in get.label
    fetcher.download_with_sdk(get, Fetched(403, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"))
    assert (tmp_path / "got" / "sdk.bin").read_bytes() == body
    wrong = get._replace(target=str(tmp_path / "bad" / "sdk.bin"), md5_hex="0" * 32)
    with pytest.raises(DigestMismatchError):
        fetcher.download_with_sdk(wrong, Fetched(403, b""))
    assert not (tmp_path / "bad" / "sdk.bin").exists()
