"""Where the templates live at runtime: ``s3://bbws-templates-{env}/templates/``.

The s3 stack publishes the package's sources there (the runbook's ``aws s3 sync
templates/ s3://bbws-templates-prod/``); a service fetches them back with
:func:`fetch_sources` and renders them with ``render_from_source``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from bbws.templates import template_sources

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "templates/"
DIGEST_METADATA = "sha256"  # stored as x-amz-meta-sha256, so unchanged ones are skipped
CONTENT_TYPE = "text/plain; charset=utf-8"  # Jinja2 source, not HTML a browser should run


def template_objects() -> dict[str, str]:
    """The objects to publish: S3 key -> template source, the layout included."""
    return {PREFIX + name: source for name, source in sorted(template_sources().items())}


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def live_digest(s3: S3Client, bucket: str, key: str) -> str | None:
    """The published object's digest; None if there is no object, "" if it has none."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    return head.get("Metadata", {}).get(DIGEST_METADATA, "")


def publish(s3: S3Client, bucket: str, key: str, body: str) -> bool:
    """Upload one template unless the same content is already there; True if uploaded."""
    sha = digest(body)
    if live_digest(s3, bucket, key) == sha:
        return False
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body.encode(),
        ContentType=CONTENT_TYPE,
        Metadata={DIGEST_METADATA: sha},
    )
    return True


def fetch_sources(s3: S3Client, bucket: str) -> dict[str, str]:
    """Every published template by file name, ready for ``render_from_source``."""
    sources: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            sources[entry["Key"].removeprefix(PREFIX)] = body.decode("utf-8")
    return sources
