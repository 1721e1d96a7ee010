"""The BBWS entry points for promote's python steps, run through promote's own ``run_python``
against moto: the stacks are created, a second run changes nothing, and a destructive change
is a failed step until it is allowed."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

import bbws.promote_steps
from bbws.promote_steps import _flag, target_of
from bbws.schemas.dynamodb_definition import MANAGED_BY as TABLES_MANAGED_BY
from bbws.schemas.s3_definition import MANAGED_BY as BUCKETS_MANAGED_BY
from promote.engine.steps import Outcome, Target
from promote.engine.steps.python_step import run_python
from promote.model.steps import PythonStep
from tests.bbws.aws_doubles import CloudFrontOaiDouble

DEV = "536580886816"
REGION = "eu-west-1"
TABLES = ["campaigns-dev", "orders-dev", "products-dev", "tenants-dev", "users-dev"]
ROLES = ("frontend", "templates", "product-images", "orders", "tenant-assets", "logs")
DYNAMODB = "bbws.promote_steps:apply_dynamodb_schemas"
S3 = "bbws.promote_steps:apply_s3_schemas"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    """moto in process, answering as DEV's account; CloudFront OAIs from the double."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", DEV)
    with mock_aws():
        chosen = boto3.session.Session(region_name=REGION)
        CloudFrontOaiDouble().install(chosen)
        yield chosen


def dev(session: boto3.session.Session, account_id: str = DEV) -> Target:
    variables = {"env": "dev", "account_id": account_id, "region": REGION, "dr_region": ""}
    return Target("dev", account_id, REGION, session, variables)


def run(target: Target, entry: str, **args: Any) -> Outcome:
    step = PythonStep.model_validate({"kind": "python", "entry": entry, "args": args})
    return run_python(step, target, target.region)


def test_dynamodb_tables_are_applied_once(session: boto3.session.Session) -> None:
    first = run(dev(session), DYNAMODB)
    assert first.passed, first.summary
    assert first.summary == f"`{DYNAMODB}` succeeded"
    created = first.evidence["result"]
    assert any(
        line.startswith("create create-table dynamodb:table/products-dev") for line in created
    )
    assert set(created) <= set(first.evidence["log"])
    assert sorted(session.client("dynamodb").list_tables()["TableNames"]) == TABLES

    second = run(dev(session), DYNAMODB)
    assert second.passed and second.evidence["result"] == []
    assert second.evidence["log"][-1] == "dynamodb_schemas: no change"


def test_a_destructive_table_change_fails_until_allowed(session: boto3.session.Session) -> None:
    assert run(dev(session), DYNAMODB).passed
    client = session.client("dynamodb")
    client.create_table(
        TableName="legacy-dev",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[
            {"Key": "managed-by", "Value": TABLES_MANAGED_BY},
            {"Key": "environment", "Value": "dev"},
        ],
    )

    refused = run(dev(session), DYNAMODB)
    assert not refused.passed
    assert refused.evidence["error"] == "DestructiveChangeRefused"
    assert "delete-table dynamodb:table/legacy-dev" in refused.summary
    assert "legacy-dev" in client.list_tables()["TableNames"]

    allowed = run(dev(session), DYNAMODB, allow_destructive=True)
    assert allowed.passed, allowed.summary
    assert [line.split(":")[0] for line in allowed.evidence["result"]] == [
        "destructive delete-table dynamodb"
    ]
    assert sorted(client.list_tables()["TableNames"]) == TABLES


def test_s3_buckets_are_applied_once(session: boto3.session.Session) -> None:
    first = run(dev(session), S3)
    assert first.passed, first.summary
    s3 = session.client("s3")
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {f"bbws-{r}-dev" for r in ROLES}
    assert any(
        "create-bucket s3:bucket/bbws-orders-dev" in line for line in first.evidence["result"]
    )

    second = run(dev(session), S3)
    assert second.passed and second.evidence["result"] == []


def test_a_destructive_bucket_change_fails_until_allowed(session: boto3.session.Session) -> None:
    assert run(dev(session), S3).passed
    s3 = session.client("s3")
    s3.create_bucket(
        Bucket="bbws-old-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    tags: Any = [
        {"Key": "managed-by", "Value": BUCKETS_MANAGED_BY},
        {"Key": "environment", "Value": "dev"},
    ]
    s3.put_bucket_tagging(Bucket="bbws-old-dev", Tagging={"TagSet": tags})

    refused = run(dev(session), S3, allow_destructive="false")  # as a template leaves it
    assert not refused.passed
    assert refused.summary.startswith(f"`{S3}`: DestructiveChangeRefused: ")
    assert "delete-bucket s3:bucket/bbws-old-dev" in refused.summary
    assert "bbws-old-dev" in {b["Name"] for b in s3.list_buckets()["Buckets"]}

    assert run(dev(session), S3, allow_destructive=True).passed
    assert "bbws-old-dev" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_the_wrong_account_is_a_failed_step(session: boto3.session.Session) -> None:
    outcome = run(dev(session, account_id="815856636111"), DYNAMODB)
    assert not outcome.passed
    assert "refusing to touch the wrong account" in outcome.summary
    assert session.client("dynamodb").list_tables()["TableNames"] == []


def test_the_target_comes_from_the_context() -> None:
    context = SimpleNamespace(
        env="prod",
        account_id="093646564004",
        region="af-south-1",
        variables={"dr_region": "eu-west-1"},
    )
    target = target_of(context)
    assert (target.env, target.account_id, target.region) == ("prod", "093646564004", "af-south-1")
    assert target.dr_region == "eu-west-1"
    assert target_of(SimpleNamespace(**{**vars(context), "variables": {}})).dr_region is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("False", False), ("", False), ("yes", True)],
)
def test_allow_destructive_may_come_from_a_template(value: bool | str, expected: bool) -> None:
    assert _flag(value) is expected


def test_a_flag_that_is_neither_true_nor_false_is_refused() -> None:
    with pytest.raises(ValueError, match="allow_destructive must be true or false"):
        _flag("maybe")


def test_bbws_does_not_import_promote() -> None:
    tree = ast.parse(Path(bbws.promote_steps.__file__).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.split(".")[0] == "promote"]
