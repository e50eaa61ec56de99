"""`s3://bucket/key[?versionId=...]` references, through boto3 (optional dependency).

The object's ETag (quotes removed; multipart `"<hex>-N"` kept verbatim) is the digest.
A missing key, an `x-directory` object or an empty key lists the prefix, truncated to
`max_objects`; zero-size objects are skipped. Endpoint and region come from
AWS_S3_ENDPOINT_URL / AWS_REGION as in wandb.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import parse_qsl, urlparse

from ..errors import CommError, Error
from ..manifest import ArtifactManifestEntry
from ..term import termlog
from .base import DEFAULT_MAX_OBJECTS, StorageHandler, timed

if TYPE_CHECKING:
    from ..artifact import Artifact

BOTO3_REQUIRED = "s3:// references requires the boto3 library, run pip install wandb[aws]"
_CW_LEGACY_NETLOC = re.compile(r"accel-object\.[a-z0-9-]+\.coreweave\.com|object\.[a-z0-9-]+\.coreweave\.com")


def _is_coreweave_endpoint(endpoint_url: str) -> bool:
    url = endpoint_url.strip().rstrip("/")
    if not url:
        return False
    if url == "http://cwlota.com":
        return True
    https_url = url if url.startswith("https://") else f"https://{url}"
    netloc = urlparse(https_url).netloc
    return netloc == "cwobject.com" or bool(_CW_LEGACY_NETLOC.fullmatch(netloc))


def parse_s3_uri(uri: str) -> tuple[str, str, Optional[str]]:
    """(bucket, key, versionId or None)."""
    url = urlparse(uri)
    return url.netloc, url.path[1:], dict(parse_qsl(url.query)).get("versionId")


class S3Handler(StorageHandler):
    """Handles `s3://` references."""

    scheme = "s3"

    def __init__(self) -> None:
        self._s3: Any = None
        self._session: Any = None
        self._botocore: Any = None

    def init_boto(self) -> Any:
        """The boto3 S3 resource; errors.Error with wandb's message if boto3 is missing."""
        if self._s3 is not None:
            return self._s3
        try:
            import boto3
            import botocore
            from botocore.client import Config
        except ImportError:
            raise Error(BOTO3_REQUIRED) from None
        endpoint = os.getenv("AWS_S3_ENDPOINT_URL")
        config = (
            Config(s3={"addressing_style": "virtual"})
            if endpoint and _is_coreweave_endpoint(endpoint)
            else None
        )
        self._session = boto3.session.Session()  # its credential chain also signs the core's GETs
        self._s3 = self._session.resource(
            "s3", endpoint_url=endpoint, region_name=os.getenv("AWS_REGION"), config=config
        )
        self._botocore = botocore
        return self._s3

    def store_path(
        self,
        artifact: "Artifact",
        path: str,
        name: Optional[str] = None,
        checksum: bool = True,
        max_objects: Optional[int] = None,
    ) -> list[ArtifactManifestEntry]:
        s3 = self.init_boto()
        bucket, key, version = parse_s3_uri(path)
        path = f"{self.scheme}://{bucket}/{key}"
        max_objects = max_objects or DEFAULT_MAX_OBJECTS
        if not checksum:
            return [ArtifactManifestEntry._new(name or (key if key != "" else bucket), path, ref=path)]

        objs: Any = [s3.ObjectVersion(bucket, key, version).Object()] if version else [s3.Object(bucket, key)]
        multi = key == ""
        if not multi:
            try:
                objs[0].load()
                multi = "x-directory" in objs[0].content_type
            except self._botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "404":
                    raise CommError(
                        f"Unable to connect to S3 ({e.response['Error']['Code']}): "
                        f"{e.response['Error']['Message']}. Check that your authentication "
                        "credentials are valid and that your region is set correctly."
                    ) from None
                multi = True
        with timed(multi):
            if multi:
                termlog(
                    f'Generating checksum for up to {max_objects} objects in "{bucket}/{key}"... ',
                    newline=False,
                )
                objects = s3.Bucket(bucket).objects
                objs = (objects.filter(Prefix=key) if key else objects).limit(max_objects)
            entries = [
                self._entry_from_obj(obj, path, name, prefix=key, multi=multi)
                for obj in objs
                if self._size(obj) > 0
            ]
        if len(entries) > max_objects:
            raise ValueError(f"Exceeded {max_objects} objects tracked, pass max_objects to add_reference")
        return entries

    @staticmethod
    def _size(obj: Any) -> int:
        return obj.size if hasattr(obj, "size") else obj.content_length

    def _entry_from_obj(
        self, obj: Any, path: str, name: Optional[str], prefix: str, multi: bool
    ) -> ArtifactManifestEntry:
        bucket, key, _ = parse_s3_uri(path)
        posix_key = PurePosixPath(obj.key)
        posix_path = PurePosixPath(bucket) / key
        posix_prefix = PurePosixPath(prefix)
        posix_name = PurePosixPath(name or "")
        posix_ref = posix_path
        if name is None:
            if str(posix_prefix) in str(posix_key) and posix_prefix != posix_key:
                posix_name = posix_key.relative_to(posix_prefix)
                posix_ref = posix_path / posix_name
            else:
                posix_name = PurePosixPath(posix_key.name)
        elif multi:
            relpath = posix_key.relative_to(posix_prefix)
            posix_name = posix_name / relpath
            posix_ref = posix_path / relpath
        etag = obj.e_tag[1:-1]
        return ArtifactManifestEntry._new(
            posix_name,
            etag,
            ref=f"{self.scheme}://{posix_ref}",
            size=self._size(obj),
            extra=self._extra(obj, etag),
        )

    def _extra(self, obj: Any, etag: str) -> dict[str, str]:
        extra = {"etag": etag}
        if not hasattr(obj, "version_id"):  # an ObjectSummary: fetch the Object
            obj = self._s3.Object(obj.bucket_name, obj.key)
        version_id = getattr(obj, "version_id", None)
        if version_id and version_id != "null":
            extra["versionID"] = version_id
        return extra
