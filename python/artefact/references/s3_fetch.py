"""Downloading `s3://` references: one conditional GET per object, wandb's answers on failure.

wandb 0.31.0 (s3_handler.py `load_path`) HEADs each object, compares its ETag with the
entry's digest (falling back to a search of the object's versions for one with the
recorded ETag) and then downloads it with boto3. Here each object is one GET, signed by
the Rust core (SigV4) with the credentials resolved here, pinned to the recorded
`versionId` and sent with `If-Match: "<digest>"`, so the server itself refuses a changed
object (412). Only a GET that does not succeed runs wandb's steps through boto3, which
gives the same version fallback and errors. The bytes are checked as they stream: the
MD5 of a single-part ETag, the MD5 of the part MD5s for a multipart `"<hex>-N"` ETag
(the part size from a HEAD of part 1).

Credentials, as boto3 resolves them for wandb: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
(`AWS_SESSION_TOKEN`) directly, else the boto3 session's chain (profiles, SSO, instance
roles); none at all: unsigned requests (public buckets).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from .s3 import S3Handler, parse_s3_uri
from .transfer import Fetched, Get, S3Auth

if TYPE_CHECKING:
    from ..download import Entry

_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_MULTIPART = re.compile(r"([0-9a-f]{32})-(\d+)")


class S3Fetcher:
    """Builds the GETs for s3 entries and settles the ones that did not succeed."""

    def __init__(self, handler: S3Handler) -> None:
        self.handler = handler
        self.resource = handler.init_boto()  # wandb's resource: endpoint, region, credentials
        self.client = self.resource.meta.client
        self.auth = credentials(handler, self.client.meta.region_name)
        self._bucket_urls: dict[str, str] = {}

    def bucket_url(self, bucket: str) -> str:
        """The URL objects of `bucket` live under (ends with `/`), as botocore addresses
        it (path or virtual-hosted style, the endpoint and region in use)."""
        url = self._bucket_urls.get(bucket)
        if url is None:
            try:
                probe = self.client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
                url = probe.split("?", 1)[0][: -len("k")]
            except self.handler._botocore.exceptions.NoCredentialsError:  # anonymous: path style
                url = f"{self.client.meta.endpoint_url.rstrip('/')}/{quote(bucket)}/"
            self._bucket_urls[bucket] = url
        return url

    def get_for(self, entry: "Entry", target: str, version: Optional[str] = None, key: Optional[str] = None) -> Get:
        """The GET of `entry` into `target` (pinned to `version`, else to its versionID)."""
        assert entry.ref is not None
        bucket, ref_key, _ = parse_s3_uri(entry.ref)
        key = key or ref_key
        version = version or _extra(entry).get("versionID")
        params = {"Bucket": bucket, "Key": key}
        url = self.bucket_url(bucket) + quote(key, safe="/~")
        if version:
            params["VersionId"] = version
            url += "?versionId=" + quote(version, safe="~")
        md5_hex = entry.digest if _MD5_HEX.fullmatch(entry.digest) else None
        part_size = self._part_size(params, entry.digest) if md5_hex is None else None
        return Get(
            url=url,
            headers={"If-Match": f'"{entry.digest}"'},
            target=target,
            size=entry.size,
            md5_hex=md5_hex,
            etag=entry.digest,
            label=entry.ref + (f"?versionId={version}" if version else ""),
            part_size=part_size,
            signed=self.auth is not None,
        )

    def _part_size(self, params: dict, digest: str) -> Optional[int]:
        """The part size of a multipart object whose parts were equal (all but the last),
        from a HEAD of part 1; None when that cannot be known (then only the ETag and
        size are checked)."""
        match = _MULTIPART.fullmatch(digest)
        if match is None:
            return None
        try:
            head = self.client.head_object(PartNumber=1, **params)
        except self.handler._botocore.exceptions.ClientError:
            return None  # the GET will meet the same problem and settle it
        if head.get("ServerSideEncryption", "").startswith("aws:kms") or head.get("SSECustomerAlgorithm"):
            return None  # the ETag of an SSE-KMS/SSE-C object is not an MD5
        if head.get("PartsCount") != int(match.group(2)):
            return None
        return int(head["ContentLength"])

    def settle(self, entry: "Entry", target: str, fetched: Fetched) -> Get:
        """A GET that did not succeed: run wandb's steps through boto3. Raises what wandb
        raises (FileNotFoundError for a missing object or version, ValueError for a
        digest mismatch), else returns the GET of the version whose ETag matches."""
        assert entry.ref is not None
        s3, botocore = self.resource, self.handler._botocore
        bucket, key, _ = parse_s3_uri(entry.ref)
        version = _extra(entry).get("versionID")
        try:
            if version:
                etag = s3.ObjectVersion(bucket, key, version).head()["ETag"][1:-1]
            else:
                etag = s3.Object(bucket, key).e_tag[1:-1]
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "404":
                raise FileNotFoundError(f"Unable to find {entry.path} at s3://{bucket}/{key}") from e
            raise
        if etag != entry.digest:
            if version:
                raise ValueError(
                    f"Digest mismatch for object {entry.ref} with version {version}: expected"
                    f" {entry.digest} but found {etag}"
                )
            recorded = _extra(entry).get("etag")
            for object_version in s3.Bucket(bucket).object_versions.filter(Prefix=key):
                if recorded == object_version.e_tag[1:-1]:
                    # as wandb: the first version under the prefix with that ETag
                    return self.get_for(entry, target, object_version.version_id, object_version.object_key)
            raise FileNotFoundError(f"Couldn't find object version for {bucket}/{key} matching etag {recorded}")
        # The object is there with the right ETag, yet the presigned GET failed (a region
        # redirect, SSE-C, requester pays...): once more, then `download_with_sdk`.
        return self.get_for(entry, target, version)

    def download_with_sdk(self, get: Get, fetched: Fetched) -> None:
        """The last resort for a GET that keeps failing: boto3's own download (as wandb's
        `download_fileobj`), then the MD5 of a single-part ETag checked on the file."""
        from urllib.parse import parse_qsl, urlparse

        from .. import _core
        from .transfer import DigestMismatchError, b64_md5_to_hex, write_atomically

        bucket, key, _ = parse_s3_uri(get.label)
        version = dict(parse_qsl(urlparse(get.label).query)).get("versionId")
        extra = {"VersionId": version} if version else {}
        try:
            write_atomically(get.target, get.temp_dir,
                             lambda f: self.client.download_fileobj(bucket, key, f, ExtraArgs=extra))  # fmt: skip
        except self.handler._botocore.exceptions.ClientError as exc:
            raise ConnectionError(
                f"Failed to download {get.label}: HTTP {fetched.status}: {_message(fetched.body)}; then {exc}"
            ) from exc
        if get.md5_hex is not None:
            found = b64_md5_to_hex(_core.hash_file(get.target, "MD5")[0])
            if found != get.md5_hex:
                os.unlink(get.target)
                raise DigestMismatchError(
                    f"Digest mismatch for object {get.label}: expected {get.md5_hex} but the bytes"
                    f" received hash to {found}"
                )


def credentials(handler: S3Handler, region: Optional[str]) -> Optional[S3Auth]:
    """The access key, secret, session token and region the core signs with: the AWS
    variables directly, else the boto3 session's credential chain; None if neither."""
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if access and secret:
        return S3Auth(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None, region)
    session = getattr(handler, "_session", None)
    found = session.get_credentials() if session is not None else None
    if found is None:
        return None
    frozen = found.get_frozen_credentials()  # refreshes SSO/assumed-role credentials first
    return S3Auth(frozen.access_key, frozen.secret_key, frozen.token, region)


def _extra(entry: "Entry") -> dict[str, Any]:
    import json

    return json.loads(entry.extra) if entry.extra and entry.extra != "{}" else {}


def _message(body: bytes) -> str:
    """The <Code>/<Message> of an S3 error response, else the body's start."""
    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>(.*?)</Code>", text)
    message = re.search(r"<Message>(.*?)</Message>", text)
    if code and message:
        return f"{code.group(1)}: {message.group(1)}"
    return text[:200]
