"""The handlers behind ``s3.apply``: one per planned action, and the order they run in.

Every handler re-reads what it is about to change and returns False when it already matches,
so applying a plan twice changes nothing. Bucket attributes are written through
``_s3_live.ensure``; the rest (the OAI, the replication role, templates, deleting a bucket)
is here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bbws.schemas._s3_live import (
    ATTRS,
    ROLE_POLICY,
    Aws,
    absent,
    bucket_exists,
    ensure,
    find_oai,
    read_role_policy,
)
from bbws.schemas.common import Change, StackError
from bbws.schemas.s3_definition import (
    MANAGED_BY,
    REPLICATION_TRUST_POLICY,
    oai_principal,
    pending_oai_principal,
    policy_grants,
)
from bbws.templates.store import publish

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

_Handler = Callable[[Aws, Change], bool]


# --- one handler per action, each a no-op when the live state already matches -------------


def _apply_create_oai(aws: Aws, change: Change) -> bool:
    comment = change.desired["comment"]
    if find_oai(aws, comment):
        return False
    # CallerReference = comment: CloudFront answers a repeated identical request with the
    # existing OAI instead of making a second one.
    aws.cloudfront.create_cloud_front_origin_access_identity(
        CloudFrontOriginAccessIdentityConfig={"CallerReference": comment, "Comment": comment}
    )
    return True


def _ensure_role_policy(aws: Aws, change: Change) -> bool:
    role, policy = change.desired["role"], change.desired["policy"]
    if policy_grants(read_role_policy(aws, role)) == policy_grants(policy):
        return False
    aws.iam.put_role_policy(
        RoleName=role, PolicyName=ROLE_POLICY, PolicyDocument=json.dumps(policy)
    )
    return True


def _apply_create_role(aws: Aws, change: Change) -> bool:
    role = change.desired["role"]
    created = absent(lambda: aws.iam.get_role(RoleName=role), "NoSuchEntity") is None
    if created:
        aws.iam.create_role(
            RoleName=role,
            AssumeRolePolicyDocument=json.dumps(REPLICATION_TRUST_POLICY),
            Description="S3 replication of the BBWS buckets to the DR region",
            Tags=[{"Key": "managed-by", "Value": MANAGED_BY}],
        )
    return _ensure_role_policy(aws, change) or created


def _apply_create_bucket(aws: Aws, change: Change) -> bool:
    bucket, region = change.desired["bucket"], change.desired["region"]
    s3 = aws.s3(region)
    created = not bucket_exists(s3, bucket)
    if created:
        config: Any = {} if region == "us-east-1" else {"LocationConstraint": region}
        kwargs: Any = {"CreateBucketConfiguration": config} if config else {}
        # ACLs off from the first second: only policies (the OAI's) decide access.
        s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **kwargs)
    # Dict order is CREATE_ATTRS: public access block and encryption come first.
    results = [ensure(aws, s3, bucket, a, v) for a, v in change.desired["attributes"].items()]
    return created or any(results)


def _resolve_oai(aws: Aws, value: Any, comment: str) -> Any:
    pending = pending_oai_principal(comment)
    text = json.dumps(value)
    if pending not in text:
        return value
    found = find_oai(aws, comment)
    if found is None:
        raise StackError(f"no origin access identity {comment}; plan again")
    return json.loads(text.replace(pending, oai_principal(found[0])))


def _apply_attribute(aws: Aws, change: Change) -> bool:
    d = change.desired
    s3 = aws.s3(d["region"])
    if not bucket_exists(s3, d["bucket"]):
        raise StackError(f"{d['bucket']} does not exist; plan again")
    value = d["value"]
    if d["attribute"] == "policy":
        value = _resolve_oai(aws, value, d["oai_comment"])
    return ensure(aws, s3, d["bucket"], d["attribute"], value)


def _apply_upload(aws: Aws, change: Change) -> bool:
    d = change.desired
    return publish(aws.s3(d["region"]), d["bucket"], d["key"], d["body"])


def _apply_delete_bucket(aws: Aws, change: Change) -> bool:
    bucket = change.desired["bucket"]
    s3 = aws.s3(change.desired["region"])
    if not bucket_exists(s3, bucket):
        return False
    # S3 refuses to delete a bucket that still holds any version or delete marker.
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        batch: list[ObjectIdentifierTypeDef] = [
            {"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries
        ]
        if batch:
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                raise StackError(f"could not empty {bucket}: {result['Errors'][:3]}")
    s3.delete_bucket(Bucket=bucket)
    return True


# --- which handler applies a change, and when ------------------------------------------------


# action -> (apply phase, handler). Phases: identities, buckets (created locked down),
# bucket safety settings, access, replication, templates, and deletions last.
_HANDLERS: dict[str, tuple[int, _Handler]] = {
    "create-origin-access-identity": (0, _apply_create_oai),
    "create-replication-role": (0, _apply_create_role),
    "put-replication-role-policy": (0, _ensure_role_policy),
    "create-bucket": (1, _apply_create_bucket),
    "upload-template": (6, _apply_upload),
    "delete-bucket": (7, _apply_delete_bucket),
}


def step(change: Change) -> tuple[int, _Handler] | None:
    """How to apply a change: its own handler, or the attribute it carries; None if neither."""
    if change.action in _HANDLERS:
        return _HANDLERS[change.action]
    attr = ATTRS.get(change.desired.get("attribute", ""))
    return (attr.phase, _apply_attribute) if attr else None


def phase(change: Change) -> int:
    """The sort key that puts a plan in apply order; changes no step knows sort last."""
    known = step(change)
    return known[0] if known else 9


def handler_for(change: Change) -> _Handler:
    """The handler for a change that ``step`` knows."""
    return _HANDLERS.get(change.action, (0, _apply_attribute))[1]
