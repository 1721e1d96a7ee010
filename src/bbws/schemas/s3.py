"""The s3_schemas foundation stack: six private buckets per environment, the CDN's origin
access identity, PROD DR replication and the email templates, through boto3 only.

    plan(target)  -> list[Change]      what apply would do, each change classified
    apply(target, changes, allow_destructive=False) -> the changes that changed something
    drift(target) -> list[Change]      how the live account differs from the definition

This module plans (diffs the definition against the live state) and holds the public API;
``_s3_live`` reads and writes the live state, and ``_s3_apply`` holds the handlers apply runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bbws.schemas._s3_apply import handler_for, phase, step
from bbws.schemas._s3_live import (
    ATTRS,
    CREATE_ATTRS,
    POST_ATTRS,
    ROLE_POLICY,
    Aws,
    absent,
    bucket_exists,
    bucket_region,
    find_oai,
    read_role_policy,
    read_tags,
)
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
    VERDICTS,
    BucketSpec,
    S3Definition,
    define,
    oai_comment,
    oai_principal,
    pending_oai_principal,
    policy_grants,
    replication_role_policy,
    same,
)
from bbws.templates.store import digest, live_digest

__all__ = ["apply", "apply_all", "define", "drift", "find_origin_access_identity", "plan"]

CREATE, UPDATE, DESTRUCTIVE = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DESTRUCTIVE
_REPORT_ONLY = "report-unmanaged-bucket"  # drift entries for a human; apply skips them


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
    attributes = {a: desired[a] for a in CREATE_ATTRS}
    where = {"bucket": spec.name, "region": spec.region}
    return Change(
        kind,
        f"s3:bucket/{spec.name}",
        "create-bucket",
        reason,
        {**where, "attributes": attributes},
        {"exists": False},
    )


def _plan_bucket(aws: Aws, spec: BucketSpec, oai: str, d: S3Definition) -> list[Change]:
    s3 = aws.s3(spec.region)
    desired = spec.desired(oai, d.replication_role)
    if not bucket_exists(s3, spec.name):
        later = [a for a in POST_ATTRS if desired[a] is not None]
        return [_create_change(spec, desired)] + [
            _attr_change(spec, a, desired[a], None, d.oai_comment) for a in later
        ]
    changes = []
    for attr, value in desired.items():
        live = ATTRS[attr].read(s3, spec.name)
        if not same(attr, value, live):
            changes.append(_attr_change(spec, attr, value, live, d.oai_comment))
    return changes


# --- plan: the OAI, the replication role, the templates, buckets no longer defined --------


def find_origin_access_identity(
    target: Target, session: boto3.session.Session | None = None
) -> tuple[str, str] | None:
    """(Id, S3CanonicalUserId) of the OAI with comment ``bbws-cdn-{env}``, or None.

    backend_public uses this for its CloudFront origins, so both stacks share one OAI."""
    try:
        return find_oai(Aws(target, session), oai_comment(target.env))
    except ClientError as err:
        raise StackError(f"looking up the origin access identity failed: {err}") from err


def _plan_oai(aws: Aws, comment: str) -> tuple[list[Change], str]:
    """Changes for the OAI, and the principal the bucket policies should name."""
    found = find_oai(aws, comment)
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


def _plan_role(aws: Aws, d: S3Definition) -> list[Change]:
    role = d.replication_role
    if role is None:
        return []
    desired: dict[str, Any] = {"role": role, "policy": replication_role_policy(d)}
    if absent(lambda: aws.iam.get_role(RoleName=role), "NoSuchEntity") is None:
        why = f"S3 needs role {role} to copy objects to DR: create it (read sources, write DR)"
        return [Change(CREATE, f"iam:role/{role}", "create-replication-role", why, desired)]
    live = read_role_policy(aws, role)
    if policy_grants(live) == policy_grants(desired["policy"]):
        return []
    why = f"inline policy {ROLE_POLICY} differs from the defined least-privilege one: replace it"
    action = "put-replication-role-policy"
    return [Change(UPDATE, f"iam:role/{role}", action, why, desired, {"policy": live})]


def _plan_templates(aws: Aws, d: S3Definition) -> list[Change]:
    s3, bucket = aws.s3(d.region), d.templates_bucket
    if bucket not in {b.name for b in d.buckets}:
        return []
    present = bucket_exists(s3, bucket)
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


def _undefined_buckets(aws: Aws, d: S3Definition) -> tuple[list[tuple[str, str]], list[str]]:
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
            region = bucket_region(s3, name)
            tags = read_tags(aws.s3(region), name)
            if tags.get("managed-by") == MANAGED_BY and tags.get("environment") == d.env:
                ours.append((name, region))
            else:
                foreign.append(name)
    return ours, foreign


def _delete_change(aws: Aws, bucket: str, region: str) -> Change:
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


def _survey(aws: Aws, d: S3Definition) -> tuple[list[Change], list[str]]:
    """The plan in apply order, and the bbws-*-{env} buckets that are not ours."""
    changes, oai = _plan_oai(aws, d.oai_comment)
    changes += _plan_role(aws, d)
    for spec in d.buckets:
        changes += _plan_bucket(aws, spec, oai, d)
    changes += _plan_templates(aws, d)
    ours, foreign = _undefined_buckets(aws, d)
    changes += [_delete_change(aws, name, region) for name, region in ours]
    return sorted(changes, key=phase), foreign


def _read_only(
    target: Target, session: boto3.session.Session | None, definition: S3Definition | None
) -> tuple[list[Change], list[str]]:
    d = definition or define(target)
    if (d.env, d.region) != (target.env, target.region):
        raise TargetError(f"definition is for {d.env}/{d.region}, target {target.env}")
    aws = Aws(target, session)
    try:
        check_account(aws.session, target)
        return _survey(aws, d)
    except ClientError as err:
        raise StackError(f"reading the live S3 state of {target.env} failed: {err}") from err


# --- public API -------------------------------------------------------------------------


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
    unknown = sorted({c.action for c in changes if c.action != _REPORT_ONLY and not step(c)})
    if unknown:
        raise StackError(f"the s3 stack cannot apply {', '.join(unknown)}")
    aws = Aws(target, session)
    applied: list[Change] = []
    try:
        check_account(aws.session, target)
        for change in sorted((c for c in changes if c.action != _REPORT_ONLY), key=phase):
            if handler_for(change)(aws, change):
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
