"""The AWS side of the s3 stack: its clients, and every read and write of live state.

Readers return each bucket attribute normalized like ``s3_definition`` describes it, so plan
compares with ``same``; writers take the desired value exactly as plan recorded it. ``ATTRS``
pairs them per attribute, and ``ensure`` writes only what differs, which is what makes a
second apply change nothing. ``s3`` plans with the readers and ``_s3_apply`` applies with
both.
"""

# ruff: noqa: N803  (the IAM Protocol below must use boto3's CamelCase parameter names)
from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import boto3
from botocore.exceptions import ClientError

from bbws.schemas.common import StackError, Target
from bbws.schemas.s3_definition import PAB_FLAGS, normalize_lifecycle, normalize_replication, same

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        ReplicationConfigurationTypeDef,
        ServerSideEncryptionRuleTypeDef,
        TagTypeDef,
    )

T = TypeVar("T")
ROLE_POLICY = "bbws-s3-replication"


class _IamClient(Protocol):
    """The IAM calls this stack makes (mypy_boto3_iam is not installed, so typed here)."""

    def get_role(self, *, RoleName: str) -> Mapping[str, Any]: ...
    def get_role_policy(self, *, RoleName: str, PolicyName: str) -> Mapping[str, Any]: ...
    def put_role_policy(
        self, *, RoleName: str, PolicyName: str, PolicyDocument: str
    ) -> Mapping[str, Any]: ...
    def create_role(
        self,
        *,
        RoleName: str,
        AssumeRolePolicyDocument: str,
        Description: str,
        Tags: Sequence[Mapping[str, str]],
    ) -> Mapping[str, Any]: ...


class Aws:
    """The boto3 clients of one run: one S3 client per region, because DR is elsewhere."""

    def __init__(self, target: Target, session: boto3.session.Session | None) -> None:
        self.session = target.session(session)
        self._s3: dict[str, S3Client] = {}

    def s3(self, region: str) -> S3Client:
        if region not in self._s3:
            self._s3[region] = self.session.client("s3", region_name=region)
        return self._s3[region]

    @functools.cached_property
    def cloudfront(self) -> CloudFrontClient:
        return self.session.client("cloudfront")

    @functools.cached_property
    def iam(self) -> _IamClient:
        return cast(_IamClient, self.session.client("iam"))


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def absent(call: Callable[[], T], *codes: str) -> T | None:
    """The call's result, or None when AWS answers with one of the 'not there' codes."""
    try:
        return call()
    except ClientError as err:
        if _code(err) in codes:
            return None
        raise


# --- live state of one bucket, normalized like the definition -----------------------------


def bucket_exists(s3: S3Client, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        if _code(err) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if _code(err) == "403":
            raise StackError(f"{bucket} exists but another account may own it") from err
        raise
    return True


def _read_pab(s3: S3Client, bucket: str) -> dict[str, bool]:
    found = absent(
        lambda: s3.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration"
    )
    cfg: Mapping[str, Any] = found["PublicAccessBlockConfiguration"] if found else {}
    return {flag: bool(cfg.get(flag, False)) for flag in PAB_FLAGS}


def _read_encryption(s3: S3Client, bucket: str) -> str | None:
    found = absent(
        lambda: s3.get_bucket_encryption(Bucket=bucket),
        "ServerSideEncryptionConfigurationNotFoundError",
    )
    rules = found["ServerSideEncryptionConfiguration"]["Rules"] if found else []
    default = rules[0].get("ApplyServerSideEncryptionByDefault") if rules else None
    return default["SSEAlgorithm"] if default else None


def _read_versioning(s3: S3Client, bucket: str) -> str:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")


def read_tags(s3: S3Client, bucket: str) -> dict[str, str]:
    found = absent(lambda: s3.get_bucket_tagging(Bucket=bucket), "NoSuchTagSet")
    return {t["Key"]: t["Value"] for t in found["TagSet"]} if found else {}


def _read_lifecycle(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    found = absent(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
        "NoSuchLifecycleConfiguration",
    )
    return normalize_lifecycle(cast(list[dict[str, Any]], found["Rules"])) if found else []


def _read_policy(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    found = absent(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy")
    return cast(dict[str, Any], json.loads(found["Policy"])) if found else None


def _read_replication(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    found = absent(
        lambda: s3.get_bucket_replication(Bucket=bucket), "ReplicationConfigurationNotFoundError"
    )
    config = cast(dict[str, Any], found["ReplicationConfiguration"]) if found else None
    return normalize_replication(config)


# --- writers: each takes the desired value exactly as plan recorded it ---------------------


def _write_pab(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=value)


def _write_encryption(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_encryption(Bucket=bucket)
        return
    rule: ServerSideEncryptionRuleTypeDef = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": value},
        "BucketKeyEnabled": value != "AES256",  # only KMS bills per request; keys cut that
    }
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})


def _write_versioning(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": value})


def _write_tags(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    # Merge, so tags others add (cost centre, owner) survive.
    merged = {**read_tags(s3, bucket), **value}
    tag_set: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in sorted(merged.items())]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})


def _write_lifecycle(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if not value:
        s3.delete_bucket_lifecycle(Bucket=bucket)
        return
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": value})


def _write_policy(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_policy(Bucket=bucket)
        return
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(value))


def _write_replication(aws: Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_replication(Bucket=bucket)
        return
    role_arn = aws.iam.get_role(RoleName=value["Role"])["Role"]["Arn"]
    config: ReplicationConfigurationTypeDef = {"Role": role_arn, "Rules": value["Rules"]}
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=config)


@dataclass(frozen=True)
class _Attr:
    read: Callable[[S3Client, str], Any]
    write: Callable[[Aws, S3Client, str, Any], None]
    phase: int  # apply order: safety settings first, then access, then replication


ATTRS: dict[str, _Attr] = {
    "public_access_block": _Attr(_read_pab, _write_pab, 2),
    "encryption": _Attr(_read_encryption, _write_encryption, 2),
    "versioning": _Attr(_read_versioning, _write_versioning, 3),
    "tags": _Attr(read_tags, _write_tags, 3),
    "lifecycle": _Attr(_read_lifecycle, _write_lifecycle, 3),
    "policy": _Attr(_read_policy, _write_policy, 4),
    "replication": _Attr(_read_replication, _write_replication, 5),
}
CREATE_ATTRS = ("public_access_block", "encryption", "versioning", "tags", "lifecycle")
POST_ATTRS = ("policy", "replication")  # need the OAI / the DR bucket and role first


def ensure(aws: Aws, s3: S3Client, bucket: str, attr: str, value: Any) -> bool:
    """Write one attribute only if it differs, so applying twice changes nothing."""
    op = ATTRS[attr]
    if same(attr, value, op.read(s3, bucket)):
        return False
    op.write(aws, s3, bucket, value)
    return True


# --- the OAI, the replication role and where a bucket lives ----------------------------


def find_oai(aws: Aws, comment: str) -> tuple[str, str] | None:
    pages = aws.cloudfront.get_paginator("list_cloud_front_origin_access_identities").paginate()
    found = [
        (item["Id"], item["S3CanonicalUserId"])
        for page in pages
        for item in page["CloudFrontOriginAccessIdentityList"].get("Items", [])
        if item["Comment"] == comment
    ]
    if len(found) > 1:
        # The bucket policy and the CDN must agree on one identity; never guess.
        raise StackError(f"{len(found)} origin access identities have comment {comment!r}")
    return found[0] if found else None


def read_role_policy(aws: Aws, role: str) -> dict[str, Any] | None:
    found = absent(
        lambda: aws.iam.get_role_policy(RoleName=role, PolicyName=ROLE_POLICY), "NoSuchEntity"
    )
    doc = found["PolicyDocument"] if found else None
    # boto3 decodes the document to a dict; the raw API returns it URL-encoded.
    return json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc


def bucket_region(s3: S3Client, bucket: str) -> str:
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, str(location))
