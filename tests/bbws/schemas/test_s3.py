"""The s3_schemas stack against moto: buckets, the OAI policy, PROD DR and the templates.

Everything is asserted through the stack's public functions and plain boto3 reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bbws.schemas import s3 as stack
from bbws.schemas.common import (
    Change,
    ChangeKind,
    DestructiveChangeRefused,
    StackError,
    Target,
    TargetError,
)
from bbws.schemas.s3_definition import PublicAccessBlock, define
from bbws.templates import TEMPLATES, render, render_from_source
from bbws.templates.store import fetch_sources
from tests.bbws.aws_doubles import CloudFrontOaiDouble

DEV = Target("dev", "eu-west-1", "536580886816")
SIT = Target("sit", "eu-west-1", "815856636111")
PROD = Target("prod", "af-south-1", "093646564004", dr_region="eu-west-1")
ROLES = ("frontend", "templates", "product-images", "orders", "tenant-assets", "logs")
PAB_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
Session = boto3.session.Session


@pytest.fixture
def session_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Target], Session]]:
    """A moto-backed session whose account is the target's (MOTO_ACCOUNT_ID)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    oai = CloudFrontOaiDouble()

    def make(target: Target) -> Session:
        monkeypatch.setenv("MOTO_ACCOUNT_ID", target.account_id)
        session = Session(region_name=target.region)
        oai.install(session)
        return session

    with mock_aws():
        yield make


def _names(env: str, dr: bool) -> set[str]:
    names = {f"bbws-{role}-{env}" for role in ROLES}
    return names | {f"{n}-dr" for n in names} if dr else names


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return str(err.value.response["Error"]["Code"])


def _assert_locked_down(s3: Any, bucket: str, env: str) -> None:
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab == PAB_ON, bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", bucket
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"managed-by": "bbws-s3-schemas", "environment": env}


def _assert_cdn_policy(s3: Any, bucket: str, oai_id: str) -> None:
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    principal = f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {oai_id}"
    assert policy["Statement"] == [
        {
            "Sid": "CdnReadOnly",
            "Effect": "Allow",
            "Principal": {"AWS": [principal]},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
    ]


def _assert_logs_lifecycle(s3: Any, bucket: str) -> None:
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert rule["Expiration"] == {"Days": 365}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def _assert_replication(session: Session, target: Target) -> None:
    s3 = session.client("s3", region_name="eu-west-1")
    names = [f"bbws-{r}-{target.env}" for r in ROLES]
    if target.dr_region is None:
        for name in names:
            code = _code(lambda b=name: s3.get_bucket_replication(Bucket=b))
            assert code == "ReplicationConfigurationNotFoundError"
        return
    role = session.client("iam").get_role(RoleName=f"bbws-s3-replication-{target.env}")
    for name in names:
        config = s3.get_bucket_replication(Bucket=name)["ReplicationConfiguration"]
        assert config["Role"] == role["Role"]["Arn"]
        (rule,) = config["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{name}-dr"
        location = s3.get_bucket_location(Bucket=f"{name}-dr")["LocationConstraint"]
        assert location == target.dr_region
    _assert_logs_lifecycle(s3, f"bbws-logs-{target.env}-dr")


def _assert_templates(s3: Any, env: str) -> None:
    bucket = f"bbws-templates-{env}"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="templates/")["Contents"]
    expected = {f"templates/{name}.html.j2" for name in TEMPLATES}
    assert len(expected) == 12
    assert {o["Key"] for o in listed} == expected | {"templates/_layout.html.j2"}
    head = s3.head_object(Bucket=bucket, Key="templates/welcome.html.j2")
    assert len(head["Metadata"]["sha256"]) == 64
    # A service that fetches them from the bucket renders exactly what the package does.
    sources = fetch_sources(s3, bucket)
    for name, spec in TEMPLATES.items():
        assert render_from_source(sources, name, spec.sample) == render(name, spec.sample)


@pytest.mark.parametrize("target", [DEV, SIT, PROD], ids=["dev", "sit", "prod"])
def test_apply_creates_the_locked_down_stack(
    session_for: Callable[[Target], Session], target: Target
) -> None:
    session = session_for(target)
    changes = stack.plan(target, session)
    assert not [c for c in changes if c.destructive]
    assert stack.apply(target, changes, session=session) == changes

    s3 = session.client("s3")
    dr = target.dr_region is not None
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == _names(target.env, dr)
    for bucket in _names(target.env, dr):
        _assert_locked_down(s3, bucket, target.env)
    oai = stack.find_origin_access_identity(target, session)
    assert oai is not None
    for role in ROLES:
        bucket = f"bbws-{role}-{target.env}"
        if role in ("frontend", "product-images"):
            _assert_cdn_policy(s3, bucket, oai[0])
        else:
            assert _code(lambda b=bucket: s3.get_bucket_policy(Bucket=b)) == "NoSuchBucketPolicy"
    _assert_logs_lifecycle(s3, f"bbws-logs-{target.env}")
    region = s3.get_bucket_location(Bucket=f"bbws-orders-{target.env}")["LocationConstraint"]
    assert region == target.region
    _assert_replication(session, target)
    _assert_templates(s3, target.env)


def test_second_plan_is_empty_and_second_apply_changes_nothing(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(PROD)
    changes = stack.plan(PROD, session)
    stack.apply(PROD, changes, session=session)
    s3 = session.client("s3")
    before = s3.list_object_versions(Bucket="bbws-templates-prod")["Versions"]

    assert stack.plan(PROD, session) == []
    assert stack.drift(PROD, session) == []
    assert stack.apply(PROD, changes, session=session) == []
    assert stack.apply_all(PROD, session=session) == []
    assert s3.list_object_versions(Bucket="bbws-templates-prod")["Versions"] == before
    assert (
        len(
            session.client("cloudfront").list_cloud_front_origin_access_identities()[
                "CloudFrontOriginAccessIdentityList"
            ]["Items"]
        )
        == 1
    )


def test_deleting_a_bucket_from_the_definition_is_refused_without_permission(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    stack.apply_all(DEV, session=session)
    s3 = session.client("s3")
    s3.put_object(Bucket="bbws-orders-dev", Key="order-1.json", Body=b"{}")
    shrunk = define(DEV).without_bucket("bbws-orders-dev")

    changes = stack.plan(DEV, session, shrunk)
    (change,) = changes
    assert (change.kind, change.action) == (ChangeKind.DESTRUCTIVE, "delete-bucket")
    assert "emptying first" in change.reason and "1 object version" in change.reason
    with pytest.raises(DestructiveChangeRefused) as refused:
        stack.apply(DEV, changes, session=session)
    assert refused.value.changes == (change,)
    assert s3.get_object(Bucket="bbws-orders-dev", Key="order-1.json")["Body"].read() == b"{}"

    assert stack.apply(DEV, changes, allow_destructive=True, session=session) == changes
    assert "bbws-orders-dev" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert stack.plan(DEV, session, shrunk) == []


def test_turning_a_public_access_flag_off_is_refused_without_permission(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(SIT)
    stack.apply_all(SIT, session=session)
    opened = define(SIT).with_bucket(
        "bbws-frontend-sit", public_access_block=PublicAccessBlock(block_public_policy=False)
    )

    (change,) = stack.plan(SIT, session, opened)
    assert (change.kind, change.action) == (ChangeKind.DESTRUCTIVE, "weaken-public-access-block")
    assert "BlockPublicPolicy" in change.reason
    with pytest.raises(DestructiveChangeRefused):
        stack.apply_all(SIT, session=session, definition=opened)
    s3 = session.client("s3")
    live = s3.get_public_access_block(Bucket="bbws-frontend-sit")
    assert live["PublicAccessBlockConfiguration"] == PAB_ON

    stack.apply_all(SIT, allow_destructive=True, session=session, definition=opened)
    live = s3.get_public_access_block(Bucket="bbws-frontend-sit")
    assert live["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is False
    assert stack.plan(SIT, session, opened) == []


def test_versioning_suspended_by_hand_shows_in_drift_and_plan(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    stack.apply_all(DEV, session=session)
    s3 = session.client("s3")
    s3.put_bucket_versioning(
        Bucket="bbws-orders-dev", VersioningConfiguration={"Status": "Suspended"}
    )

    (entry,) = stack.drift(DEV, session)
    assert entry.resource == "s3:bucket/bbws-orders-dev"
    assert (entry.desired["value"], entry.current["value"]) == ("Enabled", "Suspended")
    assert "defined Enabled, live Suspended" in entry.reason
    (change,) = stack.plan(DEV, session)
    assert (change.kind, change.action) == (ChangeKind.UPDATE, "enable-versioning")

    stack.apply(DEV, [change], session=session)
    assert s3.get_bucket_versioning(Bucket="bbws-orders-dev")["Status"] == "Enabled"
    assert stack.drift(DEV, session) == []


def test_drift_reports_each_hand_edit_with_defined_and_live(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    stack.apply_all(DEV, session=session)
    s3 = session.client("s3")
    s3.put_public_access_block(
        Bucket="bbws-logs-dev", PublicAccessBlockConfiguration={**PAB_ON, "IgnorePublicAcls": False}
    )
    s3.delete_bucket_encryption(Bucket="bbws-orders-dev")
    s3.delete_bucket_lifecycle(Bucket="bbws-logs-dev")
    stranger = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}
    s3.put_bucket_policy(
        Bucket="bbws-frontend-dev",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        **stranger,
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::bbws-frontend-dev/*",
                    }
                ],
            }
        ),
    )
    s3.create_bucket(
        Bucket="bbws-scratch-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.create_bucket(
        Bucket="bbws-terraform-state-dev",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )

    found = {(c.resource, c.action): c for c in stack.drift(DEV, session)}
    assert set(found) == {
        ("s3:bucket/bbws-logs-dev", "put-public-access-block"),
        ("s3:bucket/bbws-orders-dev", "put-bucket-encryption"),
        ("s3:bucket/bbws-logs-dev", "put-bucket-lifecycle"),
        ("s3:bucket/bbws-frontend-dev", "put-bucket-policy"),
        ("s3:bucket/bbws-scratch-dev", "report-unmanaged-bucket"),
    }
    assert (
        "live allows arn:aws:iam::111122223333:root"
        in found[("s3:bucket/bbws-frontend-dev", "put-bucket-policy")].reason
    )
    assert found[("s3:bucket/bbws-orders-dev", "put-bucket-encryption")].current == {"value": None}
    assert all(c.kind is not ChangeKind.DESTRUCTIVE for c in found.values())

    # Healing drift restores every safety setting and leaves the stranger's bucket alone.
    stack.apply(DEV, list(found.values()), session=session)
    assert [c.action for c in stack.drift(DEV, session)] == ["report-unmanaged-bucket"]
    _assert_locked_down(s3, "bbws-logs-dev", "dev")
    _assert_logs_lifecycle(s3, "bbws-logs-dev")


def test_a_policy_granting_anyone_but_the_oai_is_destructive(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    stack.apply_all(DEV, session=session)
    widened = define(DEV).with_bucket(
        "bbws-product-images-dev", extra_readers=("arn:aws:iam::111122223333:root",)
    )
    (change,) = stack.plan(DEV, session, widened)
    assert (change.kind, change.action) == (ChangeKind.DESTRUCTIVE, "put-bucket-policy")
    assert "ALL buckets MUST block public access" in change.reason
    with pytest.raises(DestructiveChangeRefused):
        stack.apply(DEV, [change], session=session)


def test_suspending_versioning_in_the_definition_is_destructive(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    stack.apply_all(DEV, session=session)
    unversioned = define(DEV).with_bucket("bbws-logs-dev", versioning=False)
    (change,) = stack.plan(DEV, session, unversioned)
    assert (change.kind, change.action) == (ChangeKind.DESTRUCTIVE, "suspend-versioning")


def test_a_template_edited_in_s3_is_uploaded_again_and_only_that_one(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    stack.apply_all(DEV, session=session)
    s3 = session.client("s3")
    key = "templates/invoice.html.j2"
    s3.put_object(Bucket="bbws-templates-dev", Key=key, Body=b"{{ hacked }}")

    (change,) = stack.plan(DEV, session)
    assert (change.kind, change.action, change.resource) == (
        ChangeKind.UPDATE,
        "upload-template",
        f"s3:object/bbws-templates-dev/{key}",
    )
    stack.apply(DEV, [change], session=session)
    body = s3.get_object(Bucket="bbws-templates-dev", Key=key)["Body"].read().decode()
    assert body == define(DEV).templates[key]


def test_a_fresh_plan_is_ordered_and_reviewable(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(PROD)
    changes = stack.plan(PROD, session)
    actions = [c.action for c in changes]
    assert actions[:2] == ["create-origin-access-identity", "create-replication-role"]
    assert actions.index("put-bucket-policy") > max(
        i for i, a in enumerate(actions) if a == "create-bucket"
    )
    assert actions[-1] == "upload-template"
    assert actions.count("create-bucket") == 12
    assert actions.count("put-bucket-replication") == 6
    assert actions.count("upload-template") == 13
    assert all(c.reason and "\n" not in c.reason for c in changes)


def test_credentials_for_the_wrong_account_are_refused(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    with pytest.raises(TargetError):
        stack.plan(PROD, session)
    with pytest.raises(TargetError):
        stack.apply(Target("sit", "eu-west-1", "815856636111"), [], session=session)


def test_apply_rejects_actions_it_does_not_know(
    session_for: Callable[[Target], Session],
) -> None:
    session = session_for(DEV)
    bogus = Change(ChangeKind.UPDATE, "s3:bucket/bbws-logs-dev", "drop-everything", "nope")
    with pytest.raises(StackError, match="drop-everything"):
        stack.apply(DEV, [bogus], session=session)
    assert session.client("s3").list_buckets()["Buckets"] == []
