"""Publish a site build to the bucket the way the runbook's ``aws s3 sync --delete`` does.

Cache rules (runbook step 9): hashed assets ``public, max-age=31536000, immutable``;
``index.html`` ``no-cache, no-store, must-revalidate`` so a deploy is visible at once.

An object is skipped when its content and headers already match. Content is compared by MD5,
read from the ``md5`` metadata we write and else from the ETag: the ETag is the MD5 only for
single-part uploads without SSE-KMS, and the bucket's encryption is the S3 stack's choice.
One HEAD per existing object is the price of also catching changed headers; fine for a site
of tens of files. Assets go up before ``index.html``, so the page never names an asset that
is not there yet; stale objects are deleted last.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from bbws.site import BuildManifest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

IMMUTABLE: Final = "public, max-age=31536000, immutable"
NO_CACHE: Final = "no-cache, no-store, must-revalidate"
CONTENT_TYPES: Final[Mapping[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
_DELETE_BATCH: Final = 1000  # DeleteObjects' limit


@dataclass(frozen=True)
class ObjectSpec:
    key: str
    body: bytes
    cache_control: str
    content_type: str

    @property
    def md5(self) -> str:
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()

    def matches(self, head: Mapping[str, Any]) -> bool:
        stored = head.get("Metadata", {}).get("md5") or head.get("ETag", "").strip('"')
        return (
            stored == self.md5
            and head.get("CacheControl") == self.cache_control
            and head.get("ContentType") == self.content_type
        )


@dataclass(frozen=True)
class SyncResult:
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]


def content_type(key: str) -> str:
    suffix = "." + key.rsplit(".", 1)[-1] if "." in key else ""
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def object_specs(manifest: BuildManifest) -> list[ObjectSpec]:
    """Every object to publish, ``index.html`` last."""
    specs = [
        ObjectSpec(
            key=key,
            body=manifest.path(key).read_bytes(),
            cache_control=NO_CACHE if key == manifest.index else IMMUTABLE,
            content_type=content_type(key),
        )
        for key in manifest.keys
    ]
    return sorted(specs, key=lambda s: s.key == manifest.index)


def _existing_keys(s3: S3Client, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield item["Key"]


def _upload(s3: S3Client, bucket: str, spec: ObjectSpec) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=spec.key,
        Body=spec.body,
        CacheControl=spec.cache_control,
        ContentType=spec.content_type,
        ContentMD5=base64.b64encode(bytes.fromhex(spec.md5)).decode("ascii"),
        Metadata={"md5": spec.md5},
    )


def _delete(s3: S3Client, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )


def sync(s3: S3Client, bucket: str, manifest: BuildManifest) -> SyncResult:
    existing = set(_existing_keys(s3, bucket))
    specs = object_specs(manifest)
    uploaded: list[str] = []
    for spec in specs:
        if spec.key in existing and spec.matches(s3.head_object(Bucket=bucket, Key=spec.key)):
            continue
        _upload(s3, bucket, spec)
        uploaded.append(spec.key)
    stale = sorted(existing - {spec.key for spec in specs})
    _delete(s3, bucket, stale)
    return SyncResult(tuple(uploaded), tuple(stale))
