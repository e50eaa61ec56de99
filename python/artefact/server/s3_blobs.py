"""Blobs in an S3 bucket (`--blobs s3://bucket/prefix`): clients move the bytes straight
to and from the bucket on presigned URLs; only the server holds the credentials.

- Keys are `<prefix>p<project id>/<md5|xxh128>/<hex digest>`: content is deduplicated
  within a project, and knowing another tenant's MD5 never grants its bytes.
- A PUT URL is bound to the blob's `Content-MD5` and `Content-Length` and, unless
  `ARTEFACT_SERVER_S3_CREATE_ONLY=0`, is create-only (`If-None-Match: *`): a leaked or
  replayed URL cannot overwrite a blob. URLs live `ARTEFACT_SERVER_URL_TTL` seconds.
- Blobs of `ARTEFACT_SERVER_S3_MULTIPART_BYTES` (default 64 MiB) or more go as multipart
  uploads: the server starts one (or reuses the one a killed client left, with the parts
  it finished), signs part URLs a window at a time as the client asks (each bound to the
  part's MD5 and CRC32), and completes it (create-only where the store supports it).
  Uploads are created with CRC32 part checksums (`ARTEFACT_SERVER_S3_PART_CHECKSUM`,
  `CRC32` or `off`), as the AWS SDKs create theirs: the store then checks each part
  against its CRC32 and builds the object's checksum from the parts' (without one, S3
  and moto default to a full-object CRC64 computed over the whole object at completion).
- Small blobs (`ARTEFACT_SERVER_S3_PACK_BLOB_BYTES`, default 1 MiB) come to the server
  by batch and are written many to one object, a pack (s3_packs.py); downloads read
  them as byte ranges of their pack.
- The catalog records which blobs a project holds; a blob it does not record yet is
  looked up in the bucket before a commit may name it (HEADs in parallel, or one
  ListObjectsV2 sweep of the project's keys when that takes fewer round trips).

Endpoint, region and credentials come from the usual AWS variables (`AWS_ENDPOINT_URL`,
`AWS_REGION`, `AWS_ACCESS_KEY_ID`, profiles, ...), through botocore.
`ARTEFACT_SERVER_S3_PUBLIC_ENDPOINT` sets the host written into URLs when clients reach
the store at another address than the server does.
"""

from __future__ import annotations

import base64
import datetime
import os
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Optional

from .. import _core
from ..settings import env_bytes
from ..store.blobs import BlobStore
from .s3_packs import pack_blob_limit, read_range, write_packs
from .wire import frame_header

__all__ = ["S3Blobs", "MULTIPART_ENV", "PART_ENV", "CREATE_ONLY_ENV", "PUBLIC_ENDPOINT_ENV", "PART_CHECKSUM_ENV"]

MULTIPART_ENV = "ARTEFACT_SERVER_S3_MULTIPART_BYTES"
PART_ENV = "ARTEFACT_SERVER_S3_PART_BYTES"
CREATE_ONLY_ENV = "ARTEFACT_SERVER_S3_CREATE_ONLY"
PUBLIC_ENDPOINT_ENV = "ARTEFACT_SERVER_S3_PUBLIC_ENDPOINT"
PART_CHECKSUM_ENV = "ARTEFACT_SERVER_S3_PART_CHECKSUM"
_MAX_PARTS = 10_000
_MIN_PART = 5 << 20  # S3's smallest part but the last
_HEAD_LIMIT = 64  # more unrecorded blobs than this: list the project's keys instead
_THREADS = 32


def _hex(digest: str) -> str:
    return _core.b64_to_hex(digest)


def _b64_of(value: Any, size: int, what: str) -> str:
    """`value` if it is the base64 of `size` bytes, else ValueError naming `what`."""
    try:
        if not isinstance(value, str) or len(base64.b64decode(value, validate=True)) != size:
            raise ValueError
    except (ValueError, TypeError):
        raise ValueError(f"{what}: {value!r} is not a base64 {'MD5' if size == 16 else 'CRC32'}") from None
    return value


def _part_checksum() -> Optional[str]:
    """The checksum algorithm of new multipart uploads: CRC32 unless turned off (for a
    store that refuses checksums)."""
    raw = os.environ.get(PART_CHECKSUM_ENV, "CRC32").strip().upper()
    if raw in ("", "0", "OFF", "NONE", "FALSE"):
        return None
    if raw != "CRC32":
        raise ValueError(f"{PART_CHECKSUM_ENV}={raw!r}: expected CRC32 or off")
    return raw


class S3Blobs:
    """An S3 bucket (any S3-compatible endpoint) holding the server's blobs."""

    kind = "s3"
    direct = True

    def __init__(self, bucket: str, prefix: str, ttl: int) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix, self.ttl = bucket, prefix, ttl
        self.session = boto3.session.Session()
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        self.region = self.session.region_name or "us-east-1"
        self.client = self.session.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            config=Config(max_pool_connections=_THREADS * 2, retries={"max_attempts": 8, "mode": "standard"},
                          s3={"addressing_style": "path" if self.endpoint else "auto"}))
        public = os.environ.get(PUBLIC_ENDPOINT_ENV) or self.endpoint
        # Path-style URLs on a custom endpoint; virtual-hosted ones on AWS itself.
        self._base, self._path_style = ((public.rstrip("/"), True) if public else
                                        (f"https://{bucket}.s3.{self.region}.amazonaws.com", False))
        self.multipart_bytes = env_bytes(MULTIPART_ENV, 64 << 20, 1)
        self.part_bytes = env_bytes(PART_ENV, 16 << 20, _MIN_PART)
        self.create_only = os.environ.get(CREATE_ONLY_ENV, "1").strip().lower() not in ("0", "false", "off")
        self.part_checksum = _part_checksum()
        self._creds_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="artefact-s3")
        # How many blobs the catalog records for a project (state.py sets it): the size
        # of a ListObjectsV2 sweep of its keys.
        self.recorded_count: Any = lambda pid: 0
        # The catalog's packed_blobs, for packs (state.py sets them; s3_packs.catalog_hooks).
        self.record_packed: Any = None
        self.locate_packed: Any = None
        self.pack_blob_bytes = pack_blob_limit()
        if self.session.get_credentials() is None:
            raise ValueError(f"--blobs s3://{bucket}/{prefix}: no AWS credentials found (set AWS_ACCESS_KEY_ID"
                             " and AWS_SECRET_ACCESS_KEY, or a profile)")

    @classmethod
    def from_url(cls, url: str, ttl: int) -> "S3Blobs":
        """`s3://bucket[/prefix]` (the bucket must exist)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"--blobs {url!r}: expected s3://bucket/prefix")
        prefix = parts.path.strip("/")
        store = cls(parts.netloc, prefix + "/" if prefix else "", ttl)
        try:
            store.client.head_bucket(Bucket=parts.netloc)
        except Exception as exc:  # noqa: BLE001 - any failure names the bucket
            raise ValueError(f"--blobs {url!r}: bucket {parts.netloc!r} is not reachable: {exc}") from None
        return store

    # --- keys and URLs ------------------------------------------------------------------
    def key(self, pid: int, algorithm: str, digest: str) -> str:
        return f"{self.prefix}p{pid}/{algorithm.lower()}/{_hex(digest)}"

    def _sign(self, requests: list[tuple[str, str, Optional[dict], Optional[dict]]]) -> list[str]:
        """Presigned URLs for `(method, key, headers, query)` requests, valid `ttl` seconds:
        signed in the Rust core (SigV4 query auth; botocore's presigner costs about a
        millisecond a URL, and a commit may need ten thousand), all in one call."""
        with self._creds_lock:  # refreshable credentials (roles) refresh here
            c = self.session.get_credentials().get_frozen_credentials()
        items = [(method, f"/{self.bucket}/{key}" if self._path_style else f"/{key}",
                  list((query or {}).items()), list((headers or {}).items()))
                 for method, key, headers, query in requests]
        return _core.sigv4_presign_batch(self._base, items, c.access_key, c.secret_key, c.token or None,
                                         self.region, self.ttl, int(time.time()))

    def _put_headers(self, algorithm: str, digest: str, size: int) -> dict:
        headers = {"Content-Length": str(size)}
        if algorithm == "MD5":  # the store checks the body against it
            headers["Content-MD5"] = digest
        if self.create_only:
            headers["If-None-Match"] = "*"
        return headers

    # --- uploads --------------------------------------------------------------------------
    def upload_plan(self, pid: int, blobs: list) -> list[list]:
        """Per blob: `[alg, digest, url, {"headers": ...}]`, or for a large one
        `[alg, digest, None, {"multipart": {"upload_id", "part_size", "done": [[n, etag], ...]}}]`,
        with `"checksum": "CRC32"` in the multipart plan when the upload has CRC32 part
        checksums (then each part is asked for with its CRC32, and completed with it)."""
        out: list[Any] = [None] * len(blobs)
        large, small, requests = [], [], []
        for i, (algorithm, digest, size) in enumerate(blobs):
            if size >= self.multipart_bytes:
                large.append(i)
                continue
            headers = self._put_headers(algorithm, digest, size)
            small.append((i, headers))
            requests.append(("PUT", self.key(pid, algorithm, digest), headers, None))
        for (i, headers), url in zip(small, self._sign(requests)):
            out[i] = [blobs[i][0], blobs[i][1], url, {"headers": headers}]
        for i, plan in zip(large, self._pool.map(lambda i: self._multipart(pid, *blobs[i]), large)):
            out[i] = [blobs[i][0], blobs[i][1], None, {"multipart": plan}]
        return out

    def part_size(self, size: int) -> int:
        """Parts of `ARTEFACT_SERVER_S3_PART_BYTES`, or larger to stay within 10,000."""
        need = -(-size // _MAX_PARTS)
        return max(self.part_bytes, -(-need // (1 << 20)) * (1 << 20))

    def _multipart(self, pid: int, algorithm: str, digest: str, size: int) -> dict:
        """The upload of this blob a killed client left (with its finished parts), else a new one."""
        from botocore.exceptions import ClientError

        key, part = self.key(pid, algorithm, digest), self.part_size(size)
        try:
            found = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key).get("Uploads", [])
        except ClientError as exc:  # a store that cannot list them (s3s-fs): start afresh
            if exc.response.get("Error", {}).get("Code") not in ("NotImplemented", "501"):
                raise
            found = []
        for upload in sorted((u for u in found if u["Key"] == key), key=lambda u: u["Initiated"], reverse=True):
            done, ok = [], True
            for page in self.client.get_paginator("list_parts").paginate(
                    Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]):
                for p in page.get("Parts", []):
                    n = p["PartNumber"]
                    if p["Size"] != min(part, size - (n - 1) * part):  # another part size: start over
                        ok = False
                    done.append([n, p["ETag"]])
            if ok:
                plan = {"upload_id": upload["UploadId"], "part_size": part, "done": done}
                if upload.get("ChecksumAlgorithm") == "CRC32":  # (one a server before CRC32s began has none)
                    plan["checksum"] = "CRC32"
                return plan
        args: dict[str, Any] = dict(Bucket=self.bucket, Key=key, ContentType="application/octet-stream")
        if self.part_checksum:
            args["ChecksumAlgorithm"] = self.part_checksum
        upload_id = self.client.create_multipart_upload(**args)["UploadId"]
        plan = {"upload_id": upload_id, "part_size": part, "done": []}
        if self.part_checksum:
            plan["checksum"] = self.part_checksum
        return plan

    def part_urls(self, pid: int, algorithm: str, digest: str, size: int, upload_id: str,
                  parts: list) -> list[list]:
        """`[n, url, headers]` for each `[n, base64 MD5 of the part]` asked for, or
        `[n, MD5, base64 CRC32 of the part]` for an upload with CRC32 part checksums (the
        URL is then bound to both)."""
        key, part = self.key(pid, algorithm, digest), self.part_size(size)
        count = max(1, -(-size // part))
        asked, requests = [], []
        for item in parts:
            if not isinstance(item, list) or len(item) not in (2, 3) or not isinstance(item[0], int):
                raise ValueError(f"bad part {item!r}: expected [number, base64 MD5(, base64 CRC32)]")
            n = item[0]
            if not 1 <= n <= count:
                raise ValueError(f"part {n} is out of range: blob {digest} has {count} parts")
            headers = {"Content-Length": str(min(part, size - (n - 1) * part)),
                       "Content-MD5": _b64_of(item[1], 16, f"part {n}")}
            if len(item) == 3:
                headers["x-amz-checksum-crc32"] = _b64_of(item[2], 4, f"part {n}")
            asked.append((n, headers))
            requests.append(("PUT", key, headers, {"partNumber": str(n), "uploadId": upload_id}))
        return [[n, url, headers] for (n, headers), url in zip(asked, self._sign(requests))]

    def complete(self, pid: int, algorithm: str, digest: str, size: int, upload_id: str, parts: list) -> None:
        """Finish a multipart upload from its parts' `[n, etag]`, or `[n, etag, base64
        CRC32]` for an upload with CRC32 part checksums (create-only where supported; an
        object already there ends the upload as done). ValueError if the result is not
        `size` bytes."""
        from botocore.exceptions import ClientError

        key = self.key(pid, algorithm, digest)
        listed = sorted(parts, key=lambda p: p[0])
        crcs = [len(p) == 3 for p in listed]
        if any(crcs) and not all(crcs):
            raise ValueError(f"blob {digest}: either every part or none comes with its CRC32")
        entries: list[dict[str, Any]] = []
        for p in listed:
            entries.append({"PartNumber": int(p[0]), "ETag": str(p[1])})
            if len(p) == 3:
                entries[-1]["ChecksumCRC32"] = _b64_of(p[2], 4, f"part {p[0]}")
        args: dict[str, Any] = dict(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                    MultipartUpload={"Parts": entries})
        if self.create_only:
            args["IfNoneMatch"] = "*"
        try:
            self.client.complete_multipart_upload(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("PreconditionFailed", "412", "NoSuchUpload"):
                raise ValueError(f"completing the upload of blob {digest} failed: {code or exc}") from None
            self.abort(key, upload_id)
        got = self._head(key)
        if got is None or got[0] != size:
            raise ValueError(f"blob {digest}: the completed upload is {got and got[0]} bytes, not {size}")

    def complete_all(self, pid: int, uploads: list[tuple]) -> list[None]:
        """`complete` each `(alg, digest, size, upload_id, parts)`, in parallel."""
        return list(self._pool.map(lambda u: self.complete(pid, *u), uploads))

    def abort(self, key: str, upload_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError:
            pass

    # --- presence -------------------------------------------------------------------------
    def _head(self, key: str) -> Optional[tuple[int, str]]:
        from botocore.exceptions import ClientError

        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return r["ContentLength"], r.get("ETag", "").strip('"')

    def _fits(self, algorithm: str, digest: str, size: int, found: Optional[tuple[int, str]]) -> bool:
        if found is None or found[0] != size:
            return False
        etag = found[1]
        # A single PUT's ETag is the MD5; a multipart one ("...-N") was checked part by part.
        return algorithm != "MD5" or "-" in etag or etag == _hex(digest) or not etag

    def probe(self, pid: int, blobs: list, how: Optional[str] = None) -> list:
        """Those `(alg, digest, size)` that are in the bucket under this project, with
        the right size (and MD5 ETag for single uploads)."""
        if not blobs:
            return []
        # HEADs run _THREADS at a time; a sweep lists the project's keys a thousand per
        # call, one call after another: sweep only when that is fewer round trips.
        if how is None:  # (`how`, "head" or "list": benches/server_s3.py, and pending.claim inside a transaction)
            how = "head" if len(blobs) <= _HEAD_LIMIT or self.sweep_pages(pid) * _THREADS >= len(blobs) else "list"
        if how == "head":
            heads = list(self._pool.map(lambda b: self._head(self.key(pid, b[0], b[1])), blobs))
        else:
            listed: dict[str, tuple[int, str]] = {}
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                              Prefix=f"{self.prefix}p{pid}/"):
                for obj in page.get("Contents", []):
                    listed[obj["Key"]] = (obj["Size"], obj.get("ETag", "").strip('"'))
            heads = [listed.get(self.key(pid, b[0], b[1])) for b in blobs]
        wrong = [b for b, h in zip(blobs, heads) if h is not None and not self._fits(b[0], b[1], b[2], h)]
        for b in wrong:  # not the content its key names (a store that kept a refused body): clear the
            # way for the real upload; no commit names it, as it was never recorded
            self.client.delete_object(Bucket=self.bucket, Key=self.key(pid, b[0], b[1]))
        return [b for b, h in zip(blobs, heads) if self._fits(b[0], b[1], b[2], h)]

    def sweep_pages(self, pid: int, recorded: Optional[int] = None) -> int:
        """ListObjectsV2 calls a sweep of the project's keys takes (`recorded`: how many
        blobs the catalog holds for it, if the caller has counted them)."""
        return (self.recorded_count(pid) if recorded is None else recorded) // 1000 + 1

    def probe_how(self, pid: int, count: int, recorded: int) -> str:
        """"head" or "list": the fewer round trips to probe `count` blobs."""
        return "head" if count <= _HEAD_LIMIT or self.sweep_pages(pid, recorded) * _THREADS >= count else "list"

    def missing(self, pid: int, blobs: list) -> list:
        located = self._located(pid, blobs)
        loose = [b for b in blobs if (b[0], b[1]) not in located]
        heads = list(self._pool.map(lambda b: self._head(self.key(pid, b[0], b[1])), loose))
        return [b for b, h in zip(loose, heads) if h is None]

    # --- downloads ------------------------------------------------------------------------
    def get_urls(self, pid: int, blobs: list) -> list:
        """Per blob, a presigned GET URL of its object, or for a packed blob `[URL of its
        pack, offset, length, pack size]` (each pack signed once)."""
        located = self._located(pid, blobs)
        keys = sorted({loc[0] for loc in located.values()})
        loose = [b for b in blobs if (b[0], b[1]) not in located]
        urls = self._sign([("GET", k, None, None) for k in keys] +
                          [("GET", self.key(pid, b[0], b[1]), None, None) for b in loose])
        pack_url = dict(zip(keys, urls))
        loose_url = iter(urls[len(keys):])
        out: list = []
        for b in blobs:
            loc = located.get((b[0], b[1]))
            out.append(next(loose_url) if loc is None else [pack_url[loc[0]], loc[2], loc[3], loc[1]])
        return out

    def _located(self, pid: int, blobs: list) -> dict:
        return self.locate_packed(pid, blobs) if self.locate_packed is not None and blobs else {}

    def packable(self, size: int) -> bool:
        """Whether a blob of `size` bytes travels in a pack."""
        return size <= self.pack_blob_bytes

    # --- bytes through the server (small versions committed inline) -------------------------
    def store_batch(self, pid: int, body: bytes, frames: list[tuple[str, str, int, int]], fsync: bool) -> None:
        """Check every framed blob's digest, then write the small ones as packs and PUT
        the others one by one (all create-only); the packs are recorded in the catalog
        once durable (the caller then records project_blobs)."""
        view = memoryview(body)
        for algorithm, digest, size, off in frames:
            got = _core.hash_bytes(bytes(view[off: off + size]), algorithm)
            if got != digest:
                raise ValueError(f"blob content hashes to {got}, not {digest}: corrupted or wrong file")
        rest = write_packs(self, pid, body, frames, self.pack_blob_bytes) if self.record_packed else frames
        list(self._pool.map(lambda f: self.put_create_only(self.key(pid, f[0], f[1]), bytes(view[f[3]: f[3] + f[2]]),
                                                           f[1] if f[0] == "MD5" else None), rest))

    def put_create_only(self, key: str, data: bytes, md5: Optional[str]) -> None:
        """PUT `data` under `key`, bound to its base64 `md5` if given, create-only (an
        object already there is the same content: its key names it)."""
        from botocore.exceptions import ClientError

        args: dict[str, Any] = dict(Bucket=self.bucket, Key=key, Body=data)
        if md5:
            args["ContentMD5"] = md5
        if self.create_only:
            args["IfNoneMatch"] = "*"
        try:
            self.client.put_object(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise

    def stream_batch(self, pid: int, blobs: list) -> Iterator[bytes]:
        """Batch frames of stored blobs (packed ones as ranges of their pack), fetched
        from the bucket in parallel."""
        located = self._located(pid, blobs)

        def get(b: tuple) -> bytes:
            loc = located.get((b[0], b[1]))
            if loc is not None:
                return read_range(self, loc)
            return self.client.get_object(Bucket=self.bucket, Key=self.key(pid, b[0], b[1]))["Body"].read()

        for b, data in zip(blobs, self._pool.map(get, blobs)):
            yield frame_header(b[0], b[1], len(data)) + data

    # --- the janitor ----------------------------------------------------------------------
    def stale_uploads(self, older_than: float) -> list[tuple[str, str]]:
        """`(key, upload id)` of unfinished multipart uploads with no activity since
        `older_than` (epoch s): started, and their newest part sent, before it."""
        cutoff = datetime.datetime.fromtimestamp(older_than, datetime.timezone.utc)
        out = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                 Prefix=self.prefix):
            for u in page.get("Uploads", []):
                if u["Initiated"] >= cutoff:
                    continue
                parts = self.client.list_parts(Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"])
                if all(p["LastModified"] < cutoff for p in parts.get("Parts", [])):  # a running upload is kept
                    out.append((u["Key"], u["UploadId"]))
        return out

    def delete_blob(self, pid: int, algorithm: str, digest: str) -> None:
        """Delete one blob's object (the janitor's, for uploads no commit claimed:
        server/pending.py); an absent object is no error."""
        self.client.delete_object(Bucket=self.bucket, Key=self.key(pid, algorithm, digest))

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    # --- manifests --------------------------------------------------------------------------
    def manifests(self, root: str) -> "S3Manifests":
        """The server's manifest store: files under `root`, kept in the bucket too."""
        return S3Manifests(root, self)


class S3Manifests(BlobStore):
    """Manifests kept in the bucket (`<prefix>manifests/<md5 hex>.json`) as well as in
    the server's data dir, which is only a cache: a server process on another machine
    fetches a manifest it lacks, so processes share nothing but the catalog and the
    bucket. A manifest is in the bucket before the commit that names it."""

    def __init__(self, root: str, s3: S3Blobs) -> None:
        super().__init__(root)
        self.s3 = s3

    def _key(self, key: str) -> str:
        return f"{self.s3.prefix}manifests/{key}.json"

    def put_manifest(self, data: bytes) -> str:
        from botocore.exceptions import ClientError

        key = super().put_manifest(data)
        args: dict[str, Any] = dict(Bucket=self.s3.bucket, Key=self._key(key), Body=data,
                                    ContentMD5=base64.b64encode(bytes.fromhex(key)).decode())
        if self.s3.create_only:
            args["IfNoneMatch"] = "*"
        try:
            self.s3.client.put_object(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise
        return key

    def manifest_path(self, key: str) -> str:
        """The local file of manifest `key`, fetched from the bucket first if missing here."""
        from botocore.exceptions import ClientError

        path = super().manifest_path(key)
        if os.path.exists(path):
            return path
        try:
            data = self.s3.client.get_object(Bucket=self.s3.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return path  # absent everywhere: the caller reports it missing
            raise
        # a local copy, atomically (load_manifest checks its MD5 against `key`)
        tmp_dir = os.path.join(self.manifests_root, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(tmp_dir, f"fetched-{key}-{threading.get_ident()}")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return path
