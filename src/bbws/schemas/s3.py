"""The s3_schemas foundation stack: six private buckets per environment, the CDN's origin
access identity, PROD DR replication and the email templates, through boto3 only.

    plan(target)  -> list[Change]      what apply would do, each change classified
    apply(target, changes, allow_destructive=False) -> the changes that changed something
    drift(target) -> list[Change]      how the live account differs from the definition
"""

# ruff: noqa: N803  (the IAM Protocol below must use boto3's CamelCase parameter names)
from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import boto3
from botocore.exceptions import ClientError

from bbws.schemas.common import (
    Change,
    ChangeKind,
    StackError,
    Target,
    TargetError,
    check_account,
    refuse_destructive,
)
from bbws.schemas.s3_definition import (
    MANAGED_BY,
    PAB_FLAGS,
    REPLICATION_TRUST_POLICY,
    VERDICTS,
    BucketSpec,
    S3Definition,
    define,
    normalize_lifecycle,
    normalize_replication,
    oai_comment,
    oai_principal,
    pending_oai_principal,
    policy_grants,
    replication_role_policy,
    same,
)
from bbws.templates.store import digest, live_digest, publish

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        ObjectIdentifierTypeDef,
        ReplicationConfigurationTypeDef,
        ServerSideEncryptionRuleTypeDef,
        TagTypeDef,
    )

__all__ = ["apply", "apply_all", "define", "drift", "find_origin_access_identity", "plan"]

T = TypeVar("T")
CREATE, UPDATE, DESTRUCTIVE = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DESTRUCTIVE
ROLE_POLICY = "bbws-s3-replication"
_REPORT_ONLY = "report-unmanaged-bucket"  # drift entries for a human; apply skips them


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


class _Aws:
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


def _absent(call: Callable[[], T], *codes: str) -> T | None:
    """The call's result, or None when AWS answers with one of the 'not there' codes."""
    try:
        return call()
    except ClientError as err:
        if _code(err) in codes:
            return None
        raise


# --- live state of one bucket, normalized like the definition -----------------------------


def _exists(s3: S3Client, bucket: str) -> bool:
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
    found = _absent(
        lambda: s3.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration"
    )
    cfg: Mapping[str, Any] = found["PublicAccessBlockConfiguration"] if found else {}
    return {flag: bool(cfg.get(flag, False)) for flag in PAB_FLAGS}


def _read_encryption(s3: S3Client, bucket: str) -> str | None:
    found = _absent(
        lambda: s3.get_bucket_encryption(Bucket=bucket),
        "ServerSideEncryptionConfigurationNotFoundError",
    )
    rules = found["ServerSideEncryptionConfiguration"]["Rules"] if found else []
    default = rules[0].get("ApplyServerSideEncryptionByDefault") if rules else None
    return default["SSEAlgorithm"] if default else None


def _read_versioning(s3: S3Client, bucket: str) -> str:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")


def _read_tags(s3: S3Client, bucket: str) -> dict[str, str]:
    found = _absent(lambda: s3.get_bucket_tagging(Bucket=bucket), "NoSuchTagSet")
    return {t["Key"]: t["Value"] for t in found["TagSet"]} if found else {}


def _read_lifecycle(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    found = _absent(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
        "NoSuchLifecycleConfiguration",
    )
    return normalize_lifecycle(cast(list[dict[str, Any]], found["Rules"])) if found else []


def _read_policy(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    found = _absent(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy")
    return cast(dict[str, Any], json.loads(found["Policy"])) if found else None


def _read_replication(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    found = _absent(
        lambda: s3.get_bucket_replication(Bucket=bucket), "ReplicationConfigurationNotFoundError"
    )
    config = cast(dict[str, Any], found["ReplicationConfiguration"]) if found else None
    return normalize_replication(config)


# --- writers: each takes the desired value exactly as plan recorded it ---------------------


def _write_pab(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=value)


def _write_encryption(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_encryption(Bucket=bucket)
        return
    rule: ServerSideEncryptionRuleTypeDef = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": value},
        "BucketKeyEnabled": value != "AES256",  # only KMS bills per request; keys cut that
    }
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})


def _write_versioning(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": value})


def _write_tags(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    # Merge, so tags others add (cost centre, owner) survive.
    merged = {**_read_tags(s3, bucket), **value}
    tag_set: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in sorted(merged.items())]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})


def _write_lifecycle(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if not value:
        s3.delete_bucket_lifecycle(Bucket=bucket)
        return
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": value})


def _write_policy(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_policy(Bucket=bucket)
        return
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(value))


def _write_replication(aws: _Aws, s3: S3Client, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_replication(Bucket=bucket)
        return
    role_arn = aws.iam.get_role(RoleName=value["Role"])["Role"]["Arn"]
    config: ReplicationConfigurationTypeDef = {"Role": role_arn, "Rules": value["Rules"]}
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=config)


@dataclass(frozen=True)
class _Attr:
    read: Callable[[S3Client, str], Any]
    write: Callable[[_Aws, S3Client, str, Any], None]
    phase: int  # apply order: safety settings first, then access, then replication


_ATTRS: dict[str, _Attr] = {
    "public_access_block": _Attr(_read_pab, _write_pab, 2),
    "encryption": _Attr(_read_encryption, _write_encryption, 2),
    "versioning": _Attr(_read_versioning, _write_versioning, 3),
    "tags": _Attr(_read_tags, _write_tags, 3),
    "lifecycle": _Attr(_read_lifecycle, _write_lifecycle, 3),
    "policy": _Attr(_read_policy, _write_policy, 4),
    "replication": _Attr(_read_replication, _write_replication, 5),
}
_CREATE_ATTRS = ("public_access_block", "encryption", "versioning", "tags", "lifecycle")
_POST_ATTRS = ("policy", "replication")  # need the OAI / the DR bucket and role first


def _ensure(aws: _Aws, s3: S3Client, bucket: str, attr: str, value: Any) -> bool:
    """Write one attribute only if it differs, so applying twice changes nothing."""
    op = _ATTRS[attr]
    if same(attr, value, op.read(s3, bucket)):
        return False
    op.write(aws, s3, bucket, value)
    return True


# --- plan: one bucket ------------------------------------------------------------------


def _attr_change(spec: BucketSpec, attr: str, desired: Any, live: Any, oai: str) -> Change:
    kind, action, reason = VERDICTS[attr](spec, desired, live)
    where = {"bucket": spec.name, "region": spec.region, "attribute": attr}
    return Change(
        kind,
        f"s3:bucket/{spec.name}",
        action,
        reason,
        desired={**where, "value": desired, "oai_comment": oai},
        current={"value": live},
    )


def _create_change(spec: BucketSpec, desired: Mapping[str, Any]) -> Change:
    problems = "; ".join(spec.violations())
    kind, reason = (
        (
            DESTRUCTIVE,
            f"would create the bucket with {problems}: ALL buckets MUST block public "
            "access and Versioning MUST be enabled",
        )
        if problems
        else (
            CREATE,
            f"not in {spec.region} yet: create it, block public access and set "
            f"{spec.encryption} encryption first, then versioning, tags and lifecycle",
        )
    )
    attributes = {a: desired[a] for a in _CREATE_ATTRS}
    where = {"bucket": spec.name, "region": spec.region}
    return Change(
        kind,
        f"s3:bucket/{spec.name}",
        "create-bucket",
        reason,
        {**where, "attributes": attributes},
        {"exists": False},
    )


def _plan_bucket(aws: _Aws, spec: BucketSpec, oai: str, d: S3Definition) -> list[Change]:
    s3 = aws.s3(spec.region)
    desired = spec.desired(oai, d.replication_role)
    if not _exists(s3, spec.name):
        later = [a for a in _POST_ATTRS if desired[a] is not None]
        return [_create_change(spec, desired)] + [
            _attr_change(spec, a, desired[a], None, d.oai_comment) for a in later
        ]
    changes = []
    for attr, value in desired.items():
        live = _ATTRS[attr].read(s3, spec.name)
        if not same(attr, value, live):
            changes.append(_attr_change(spec, attr, value, live, d.oai_comment))
    return changes


# --- plan: the OAI, the replication role, the templates, buckets no longer defined --------


def _find_oai(aws: _Aws, comment: str) -> tuple[str, str] | None:
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


def find_origin_access_identity(
    target: Target, session: boto3.session.Session | None = None
) -> tuple[str, str] | None:
    """(Id, S3CanonicalUserId) of the OAI with comment ``bbws-cdn-{env}``, or None.

    backend_public uses this for its CloudFront origins, so both stacks share one OAI."""
    try:
        return _find_oai(_Aws(target, session), oai_comment(target.env))
    except ClientError as err:
        raise StackError(f"looking up the origin access identity failed: {err}") from err


def _plan_oai(aws: _Aws, comment: str) -> tuple[list[Change], str]:
    """Changes for the OAI, and the principal the bucket policies should name."""
    found = _find_oai(aws, comment)
    if found:
        return [], oai_principal(found[0])
    change = Change(
        CREATE,
        f"cloudfront:origin-access-identity/{comment}",
        "create-origin-access-identity",
        f"no CloudFront origin access identity has comment {comment}: create it so only "
        "the CDN can read frontend and product-images",
        desired={"comment": comment},
        current={"exists": False},
    )
    return [change], pending_oai_principal(comment)


def _read_role_policy(aws: _Aws, role: str) -> dict[str, Any] | None:
    found = _absent(
        lambda: aws.iam.get_role_policy(RoleName=role, PolicyName=ROLE_POLICY), "NoSuchEntity"
    )
    doc = found["PolicyDocument"] if found else None
    # boto3 decodes the document to a dict; the raw API returns it URL-encoded.
    return json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc


def _plan_role(aws: _Aws, d: S3Definition) -> list[Change]:
    role = d.replication_role
    if role is None:
        return []
    desired: dict[str, Any] = {"role": role, "policy": replication_role_policy(d)}
    if _absent(lambda: aws.iam.get_role(RoleName=role), "NoSuchEntity") is None:
        why = f"S3 needs role {role} to copy objects to DR: create it (read sources, write DR)"
        return [Change(CREATE, f"iam:role/{role}", "create-replication-role", why, desired)]
    live = _read_role_policy(aws, role)
    if policy_grants(live) == policy_grants(desired["policy"]):
        return []
    why = f"inline policy {ROLE_POLICY} differs from the defined least-privilege one: replace it"
    action = "put-replication-role-policy"
    return [Change(UPDATE, f"iam:role/{role}", action, why, desired, {"policy": live})]


def _plan_templates(aws: _Aws, d: S3Definition) -> list[Change]:
    s3, bucket = aws.s3(d.region), d.templates_bucket
    if bucket not in {b.name for b in d.buckets}:
        return []
    present = _exists(s3, bucket)
    changes = []
    for key, body in sorted(d.templates.items()):
        sha, live = digest(body), (live_digest(s3, bucket, key) if present else None)
        if live == sha:
            continue
        why = (
            f"{key} is not in {bucket} yet: upload it"
            if live is None
            else f"{key} in {bucket} differs from the package (sha256 {live[:12] or 'unknown'}"
            f" -> {sha[:12]}): upload it; the old one stays as a noncurrent version"
        )
        desired = {"bucket": bucket, "region": d.region, "key": key, "sha256": sha}
        changes.append(
            Change(
                CREATE if live is None else UPDATE,
                f"s3:object/{bucket}/{key}",
                "upload-template",
                why,
                desired={**desired, "body": body},
                current={"sha256": live},
            )
        )
    return changes


def _bucket_region(s3: S3Client, bucket: str) -> str:
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, str(location))


def _undefined_buckets(aws: _Aws, d: S3Definition) -> tuple[list[tuple[str, str]], list[str]]:
    """bbws-*-{env} buckets outside the definition: (ours, with region) and (not ours)."""
    pattern = re.compile(rf"^bbws-[a-z0-9-]+-{re.escape(d.env)}(-dr)?$")
    known = {b.name for b in d.buckets} | d.ignored_buckets
    s3 = aws.s3(d.region)
    ours: list[tuple[str, str]] = []
    foreign: list[str] = []
    for page in s3.get_paginator("list_buckets").paginate():
        for name in (b.get("Name", "") for b in page.get("Buckets", [])):
            if name in known or not pattern.match(name):
                continue
            region = _bucket_region(s3, name)
            tags = _read_tags(aws.s3(region), name)
            if tags.get("managed-by") == MANAGED_BY and tags.get("environment") == d.env:
                ours.append((name, region))
            else:
                foreign.append(name)
    return ours, foreign


def _delete_change(aws: _Aws, bucket: str, region: str) -> Change:
    page = aws.s3(region).list_object_versions(Bucket=bucket, MaxKeys=1000)
    count = len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    versions = f"{count}+" if page.get("IsTruncated") else str(count)
    return Change(
        DESTRUCTIVE,
        f"s3:bucket/{bucket}",
        "delete-bucket",
        f"tagged managed-by={MANAGED_BY} but no longer defined; Bucket deletion requires "
        f"emptying first, so its {versions} object version(s) are deleted for good",
        desired={"bucket": bucket, "region": region, "exists": False},
        current={"exists": True, "object_versions": versions},
    )


def _survey(aws: _Aws, d: S3Definition) -> tuple[list[Change], list[str]]:
    """The plan in apply order, and the bbws-*-{env} buckets that are not ours."""
    changes, oai = _plan_oai(aws, d.oai_comment)
    changes += _plan_role(aws, d)
    for spec in d.buckets:
        changes += _plan_bucket(aws, spec, oai, d)
    changes += _plan_templates(aws, d)
    ours, foreign = _undefined_buckets(aws, d)
    changes += [_delete_change(aws, name, region) for name, region in ours]
    return sorted(changes, key=_phase), foreign


def _read_only(
    target: Target, session: boto3.session.Session | None, definition: S3Definition | None
) -> tuple[list[Change], list[str]]:
    d = definition or define(target)
    if (d.env, d.region) != (target.env, target.region):
        raise TargetError(f"definition is for {d.env}/{d.region}, target {target.env}")
    aws = _Aws(target, session)
    try:
        check_account(aws.session, target)
        return _survey(aws, d)
    except ClientError as err:
        raise StackError(f"reading the live S3 state of {target.env} failed: {err}") from err


def plan(
    target: Target,
    session: boto3.session.Session | None = None,
    definition: S3Definition | None = None,
) -> list[Change]:
    """What apply would change to make the account match the definition, in apply order."""
    return _read_only(target, session, definition)[0]


def drift(
    target: Target,
    session: boto3.session.Session | None = None,
    definition: S3Definition | None = None,
) -> list[Change]:
    """Every live difference from the definition (``desired`` vs ``current``), plus
    ``report-unmanaged-bucket`` entries for bbws-*-{env} buckets nobody defined; apply
    skips those, they are for a human to adopt or remove."""
    changes, foreign = _read_only(target, session, definition)
    reports = [
        Change(
            UPDATE,
            f"s3:bucket/{name}",
            _REPORT_ONLY,
            f"{name} is neither defined nor tagged managed-by={MANAGED_BY}: "
            "add it to the definition or remove it by hand",
            desired={"defined": False},
            current={"exists": True, "managed": False},
        )
        for name in foreign
    ]
    return changes + reports


# --- apply ------------------------------------------------------------------------------


def _apply_create_oai(aws: _Aws, change: Change) -> bool:
    comment = change.desired["comment"]
    if _find_oai(aws, comment):
        return False
    # CallerReference = comment: CloudFront answers a repeated identical request with the
    # existing OAI instead of making a second one.
    aws.cloudfront.create_cloud_front_origin_access_identity(
        CloudFrontOriginAccessIdentityConfig={"CallerReference": comment, "Comment": comment}
    )
    return True


def _ensure_role_policy(aws: _Aws, change: Change) -> bool:
    role, policy = change.desired["role"], change.desired["policy"]
    if policy_grants(_read_role_policy(aws, role)) == policy_grants(policy):
        return False
    aws.iam.put_role_policy(
        RoleName=role, PolicyName=ROLE_POLICY, PolicyDocument=json.dumps(policy)
    )
    return True


def _apply_create_role(aws: _Aws, change: Change) -> bool:
    role = change.desired["role"]
    created = _absent(lambda: aws.iam.get_role(RoleName=role), "NoSuchEntity") is None
    if created:
        aws.iam.create_role(
            RoleName=role,
            AssumeRolePolicyDocument=json.dumps(REPLICATION_TRUST_POLICY),
            Description="S3 replication of the BBWS buckets to the DR region",
            Tags=[{"Key": "managed-by", "Value": MANAGED_BY}],
        )
    return _ensure_role_policy(aws, change) or created


def _apply_create_bucket(aws: _Aws, change: Change) -> bool:
    bucket, region = change.desired["bucket"], change.desired["region"]
    s3 = aws.s3(region)
    created = not _exists(s3, bucket)
    if created:
        config: Any = {} if region == "us-east-1" else {"LocationConstraint": region}
        kwargs: Any = {"CreateBucketConfiguration": config} if config else {}
        # ACLs off from the first second: only policies (the OAI's) decide access.
        s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **kwargs)
    # Dict order is _CREATE_ATTRS: public access block and encryption come first.
    results = [_ensure(aws, s3, bucket, a, v) for a, v in change.desired["attributes"].items()]
    return created or any(results)


def _resolve_oai(aws: _Aws, value: Any, comment: str) -> Any:
    pending = pending_oai_principal(comment)
    text = json.dumps(value)
    if pending not in text:
        return value
    found = _find_oai(aws, comment)
    if found is None:
        raise StackError(f"no origin access identity {comment}; plan again")
    return json.loads(text.replace(pending, oai_principal(found[0])))


def _apply_attribute(aws: _Aws, change: Change) -> bool:
    d = change.desired
    s3 = aws.s3(d["region"])
    if not _exists(s3, d["bucket"]):
        raise StackError(f"{d['bucket']} does not exist; plan again")
    value = d["value"]
    if d["attribute"] == "policy":
        value = _resolve_oai(aws, value, d["oai_comment"])
    return _ensure(aws, s3, d["bucket"], d["attribute"], value)


def _apply_upload(aws: _Aws, change: Change) -> bool:
    d = change.desired
    return publish(aws.s3(d["region"]), d["bucket"], d["key"], d["body"])


def _apply_delete_bucket(aws: _Aws, change: Change) -> bool:
    bucket = change.desired["bucket"]
    s3 = aws.s3(change.desired["region"])
    if not _exists(s3, bucket):
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


# action -> (apply phase, handler). Phases: identities, buckets (created locked down),
# bucket safety settings, access, replication, templates, and deletions last.
_HANDLERS: dict[str, tuple[int, Callable[[_Aws, Change], bool]]] = {
    "create-origin-access-identity": (0, _apply_create_oai),
    "create-replication-role": (0, _apply_create_role),
    "put-replication-role-policy": (0, _ensure_role_policy),
    "create-bucket": (1, _apply_create_bucket),
    "upload-template": (6, _apply_upload),
    "delete-bucket": (7, _apply_delete_bucket),
}


def _step(change: Change) -> tuple[int, Callable[[_Aws, Change], bool]] | None:
    """How to apply a change: its own handler, or the attribute it carries; None if neither."""
    if change.action in _HANDLERS:
        return _HANDLERS[change.action]
    attr = _ATTRS.get(change.desired.get("attribute", ""))
    return (attr.phase, _apply_attribute) if attr else None


def _phase(change: Change) -> int:
    step = _step(change)
    return step[0] if step else 9


def apply(
    target: Target,
    changes: Sequence[Change],
    allow_destructive: bool = False,
    session: boto3.session.Session | None = None,
) -> list[Change]:
    """Execute a plan; returns the changes that changed something (none, the second time).

    Raises DestructiveChangeRefused before any AWS call if a change is destructive and
    allow_destructive is False."""
    refuse_destructive(changes, allow_destructive)
    unknown = sorted({c.action for c in changes if c.action != _REPORT_ONLY and not _step(c)})
    if unknown:
        raise StackError(f"the s3 stack cannot apply {', '.join(unknown)}")
    aws = _Aws(target, session)
    applied: list[Change] = []
    try:
        check_account(aws.session, target)
        for change in sorted((c for c in changes if c.action != _REPORT_ONLY), key=_phase):
            _, handler = _HANDLERS.get(change.action, (0, _apply_attribute))
            if handler(aws, change):
                applied.append(change)
    except ClientError as err:
        done = f"{len(applied)} change(s) applied before it"
        raise StackError(f"apply failed ({done}): {err}") from err
    return applied


def apply_all(
    target: Target,
    allow_destructive: bool = False,
    session: boto3.session.Session | None = None,
    definition: S3Definition | None = None,
) -> list[Change]:
    """plan + apply with one session."""
    session = target.session(session)
    return apply(target, plan(target, session, definition), allow_destructive, session)
