"""The dynamodb_schemas stack against moto: create, idempotency, destructive guard, drift."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bbws.schemas import dynamodb
from bbws.schemas.common import ChangeKind, DestructiveChangeRefused, Target, TargetError
from bbws.schemas.dynamodb_definition import (
    MANAGED_BY,
    PK,
    KeyAttribute,
    KeySpec,
    Projection,
    SchemaDefinition,
    StreamView,
    standard_definition,
)

DEV = Target("dev", "eu-west-1", "536580886816")
SIT = Target("sit", "eu-west-1", "815856636111")
PROD = Target("prod", "af-south-1", "093646564004", dr_region="eu-west-1")
TARGETS = {"dev": DEV, "sit": SIT, "prod": PROD}
BASE_NAMES = ["campaigns", "orders", "products", "tenants", "users"]
ALL_GSIS = {
    "CampaignsByStatus",
    "OrdersByCustomer",
    "OrdersByStatus",
    "ProductsByCategory",
    "ProductsByPriceRange",
    "ProductsByAvailability",
    "UsersByEmail",
    "TenantsByDomain",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    """moto in process; one session per test, so service models load once per test."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield boto3.session.Session()


def use(monkeypatch: pytest.MonkeyPatch, target: Target) -> Target:
    """Make moto answer as the target's account, so the account guard passes."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", target.account_id)
    return target


def client(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def recording_session(region: str) -> tuple[boto3.session.Session, list[tuple[str, Any]]]:
    """A session that records every DynamoDB call its clients make, in order."""
    session = boto3.session.Session(region_name=region)
    calls: list[tuple[str, Any]] = []

    def record(params: Any, model: Any, **_: Any) -> None:
        calls.append((model.name, params))

    session.events.register("before-parameter-build.dynamodb", record)
    return session, calls


def writes(calls: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(op, p) for op, p in calls if not op.startswith(("Describe", "List"))]


def snapshot(region: str) -> dict[str, Any]:
    """Everything apply could touch: descriptions, PITR, tags, items and backups."""
    c = client(region)
    state: dict[str, Any] = {"backups": c.list_backups()["BackupSummaries"]}
    for name in c.list_tables()["TableNames"]:
        desc = c.describe_table(TableName=name)["Table"]
        state[name] = {
            "table": desc,
            "pitr": c.describe_continuous_backups(TableName=name),
            "tags": c.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"],
            "items": c.scan(TableName=name)["Items"],
        }
    for entry in state.values():
        if isinstance(entry, dict):
            for part in entry.values():
                if isinstance(part, dict):
                    part.pop("ResponseMetadata", None)
    return state


def assert_stack(region: str, env: str) -> None:
    c = client(region)
    names = sorted(c.list_tables()["TableNames"])
    assert names == [f"{b}-{env}" for b in BASE_NAMES]
    gsis: list[str] = []
    for name in names:
        desc = c.describe_table(TableName=name)["Table"]
        gsis += [g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", [])]
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert desc["SSEDescription"]["Status"] == "ENABLED"
        assert desc["SSEDescription"]["SSEType"] == "KMS"
        assert desc["DeletionProtectionEnabled"] is (env in ("sit", "prod"))
        stream = desc.get("StreamSpecification")
        if name.startswith("orders-"):
            assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        else:
            assert not stream
        pitr = c.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        tags = {
            t["Key"]: t["Value"]
            for t in c.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]
        }
        assert tags["managed-by"] == MANAGED_BY
        assert tags["environment"] == env
    assert len(gsis) == 8
    assert set(gsis) == ALL_GSIS


@pytest.mark.parametrize("env", ["dev", "sit", "prod"])
def test_apply_creates_five_tables_and_eight_gsis(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    target = use(monkeypatch, TARGETS[env])
    applied = dynamodb.apply_all(target, session=aws)
    assert [c.action for c in applied] == ["create-table"] * (10 if env == "prod" else 5)
    assert_stack(target.region, env)
    if env == "prod":
        # The DR copy: the same five tables, same safety properties, in eu-west-1.
        assert_stack("eu-west-1", env)
        assert any(c.resource == "dynamodb:table/orders-prod@eu-west-1" for c in applied)


def test_pitr_is_enabled_on_a_new_table_before_anything_else(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, PROD)
    session, calls = recording_session(target.region)
    dynamodb.apply_all(target, session=session)
    # One run of writes per table (the DR copies share names, in another region): each run
    # opens with CreateTable, then PITR before anything else; orders then gets its TTL.
    runs: list[list[tuple[str, str]]] = []
    for op, params in writes(calls):
        if op == "CreateTable":
            runs.append([])
        runs[-1].append((op, params["TableName"]))
    assert len(runs) == 10  # five tables + five DR copies
    for run in runs:
        name = run[0][1]
        then = ["UpdateTimeToLive"] if name.startswith("orders-") else []
        assert run == [(op, name) for op in ("CreateTable", "UpdateContinuousBackups", *then)]


@pytest.mark.parametrize("env", ["sit", "prod"])
def test_second_plan_is_empty_and_second_apply_changes_nothing(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    target = use(monkeypatch, TARGETS[env])
    first = dynamodb.plan(target, session=aws)
    assert dynamodb.apply(target, first, session=aws) == first
    assert dynamodb.plan(target, session=aws) == []
    before = {r: snapshot(r) for r in ("af-south-1", "eu-west-1")}
    assert dynamodb.apply(target, first, session=aws) == []
    assert dynamodb.apply_all(target, session=aws) == []
    assert {r: snapshot(r) for r in ("af-south-1", "eu-west-1")} == before
    assert dynamodb.drift(target, session=aws) == []


def with_table(definition: SchemaDefinition, base: str, **changes: Any) -> SchemaDefinition:
    tables = tuple(replace(t, **changes) if t.base_name == base else t for t in definition.tables)
    return replace(definition, tables=tables)


def without_table(definition: SchemaDefinition, base: str) -> SchemaDefinition:
    return replace(definition, tables=tuple(t for t in definition.tables if t.base_name != base))


def test_key_schema_change_is_destructive_and_refused_without_permission(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, SIT)
    dynamodb.apply_all(target, session=aws)
    client("eu-west-1").put_item(
        TableName="products-sit", Item={"pk": {"S": "TENANT#a"}, "sk": {"S": "PRODUCT#1"}}
    )
    new_key = KeySpec(KeyAttribute(PK), KeyAttribute("product_id"))
    changed = with_table(standard_definition("sit"), "products", key=new_key)

    changes = dynamodb.plan(target, definition=changed, session=aws)
    assert [(c.kind, c.action, c.resource) for c in changes] == [
        (ChangeKind.DESTRUCTIVE, "replace-table", "dynamodb:table/products-sit")
    ]
    reason = changes[0].reason
    assert "replacing products-sit drops every item" in reason
    assert "pk(S)/sk(S)" in reason and "pk(S)/product_id(S)" in reason

    before = snapshot("eu-west-1")
    with pytest.raises(DestructiveChangeRefused) as refused:
        dynamodb.apply(target, changes, session=aws)
    assert refused.value.changes == tuple(changes)
    assert snapshot("eu-west-1") == before  # not a single call changed anything

    assert dynamodb.apply(target, changes, allow_destructive=True, session=aws) == changes
    desc = client("eu-west-1").describe_table(TableName="products-sit")["Table"]
    assert [k["AttributeName"] for k in desc["KeySchema"]] == ["pk", "product_id"]
    assert desc["DeletionProtectionEnabled"] is True  # the new table is protected again
    assert client("eu-west-1").scan(TableName="products-sit")["Items"] == []
    backups = client("eu-west-1").list_backups(TableName="products-sit")["BackupSummaries"]
    assert [b["BackupName"].startswith("products-sit-pre-delete-") for b in backups] == [True]
    assert dynamodb.plan(target, definition=changed, session=aws) == []
    assert dynamodb.apply(target, changes, allow_destructive=True, session=aws) == []


def test_dropping_a_managed_table_from_the_definition_is_destructive(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, SIT)
    dynamodb.apply_all(target, session=aws)
    shrunk = without_table(standard_definition("sit"), "users")
    changes = dynamodb.plan(target, definition=shrunk, session=aws)
    assert [(c.kind, c.action, c.resource) for c in changes] == [
        (ChangeKind.DESTRUCTIVE, "delete-table", "dynamodb:table/users-sit")
    ]
    assert "drops every item" in changes[0].reason
    with pytest.raises(DestructiveChangeRefused):
        dynamodb.apply(target, changes, session=aws)
    assert "users-sit" in client("eu-west-1").list_tables()["TableNames"]

    # Deletion protection is on in sit: apply lifts it only for this approved delete.
    assert dynamodb.apply(target, changes, allow_destructive=True, session=aws) == changes
    assert "users-sit" not in client("eu-west-1").list_tables()["TableNames"]
    assert dynamodb.plan(target, definition=shrunk, session=aws) == []


def test_tables_without_our_tag_are_never_planned_for_deletion(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, SIT)
    dynamodb.apply_all(target, session=aws)
    client("eu-west-1").create_table(
        TableName="terraform-state-lock-sit",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
    )
    assert dynamodb.plan(target, session=aws) == []
    [entry] = dynamodb.drift(target, session=aws)
    assert (entry.action, entry.resource) == (
        "unmanaged-table",
        "dynamodb:table/terraform-state-lock-sit",
    )
    with pytest.raises(Exception, match="cannot execute 'unmanaged-table'"):
        dynamodb.apply(target, [entry], session=aws)


def test_pitr_turned_off_by_hand_is_drift_and_plan_re_enables_it(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, PROD)
    dynamodb.apply_all(target, session=aws)
    client("af-south-1").update_continuous_backups(
        TableName="orders-prod",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    [entry] = dynamodb.drift(target, session=aws)
    assert entry.resource == "dynamodb:table/orders-prod"
    assert (entry.desired["pitr"], entry.current["pitr"]) == (True, False)
    assert entry.reason.startswith("drift: point-in-time recovery is off on orders-prod")

    [change] = dynamodb.plan(target, session=aws)
    assert (change.kind, change.action) == (ChangeKind.UPDATE, "enable-pitr")
    assert dynamodb.apply(target, [change], session=aws) == [change]
    assert dynamodb.plan(target, session=aws) == [] and dynamodb.drift(target, session=aws) == []


def test_drift_reports_hand_made_changes_with_defined_and_live_values(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, SIT)
    dynamodb.apply_all(target, session=aws)
    c = client("eu-west-1")
    throughput = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    c.update_table(
        TableName="campaigns-sit", BillingMode="PROVISIONED", ProvisionedThroughput=throughput
    )
    c.update_table(TableName="users-sit", DeletionProtectionEnabled=False)
    arn = c.describe_table(TableName="tenants-sit")["Table"]["TableArn"]
    c.untag_resource(ResourceArn=arn, TagKeys=["managed-by"])
    c.update_table(
        TableName="products-sit",
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "BySku",
                    "KeySchema": [{"AttributeName": "sku", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    found = {(d.resource, d.action): d for d in dynamodb.drift(target, session=aws)}
    assert set(found) == {
        ("dynamodb:table/campaigns-sit", "set-billing-mode"),
        ("dynamodb:table/users-sit", "enable-deletion-protection"),
        ("dynamodb:table/tenants-sit", "set-tags"),
        ("dynamodb:table/products-sit/index/BySku", "delete-gsi"),
    }
    billing = found[("dynamodb:table/campaigns-sit", "set-billing-mode")]
    assert (billing.desired["billing_mode"], billing.current["billing_mode"]) == (
        "PAY_PER_REQUEST",
        "PROVISIONED",
    )
    protection = found[("dynamodb:table/users-sit", "enable-deletion-protection")]
    assert (
        protection.desired["deletion_protection"],
        protection.current["deletion_protection"],
    ) == (True, False)
    tags = found[("dynamodb:table/tenants-sit", "set-tags")]
    assert tags.current["tags"] == {"managed-by": None}
    assert (
        found[("dynamodb:table/products-sit/index/BySku", "delete-gsi")].kind
        is ChangeKind.DESTRUCTIVE
    )

    changes = dynamodb.plan(target, session=aws)
    with pytest.raises(DestructiveChangeRefused):  # the hand-made GSI would be deleted
        dynamodb.apply(target, changes, session=aws)
    assert len(dynamodb.apply(target, changes, allow_destructive=True, session=aws)) == 4
    assert dynamodb.plan(target, session=aws) == [] and dynamodb.drift(target, session=aws) == []


def test_weakening_safety_properties_is_destructive(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, SIT)
    dynamodb.apply_all(target, session=aws)
    weaker = with_table(
        standard_definition("sit"),
        "orders",
        point_in_time_recovery=False,
        deletion_protection=False,
        stream=None,
    )
    changes = {c.action: c for c in dynamodb.plan(target, definition=weaker, session=aws)}
    assert set(changes) == {"disable-pitr", "disable-deletion-protection", "disable-stream"}
    assert all(c.kind is ChangeKind.DESTRUCTIVE for c in changes.values())
    assert "35-day restore window" in changes["disable-pitr"].reason
    with pytest.raises(DestructiveChangeRefused):
        dynamodb.apply(target, list(changes.values()), session=aws)
    dynamodb.apply(target, list(changes.values()), allow_destructive=True, session=aws)
    assert dynamodb.plan(target, definition=weaker, session=aws) == []
    # Restoring them is an in-place update again (a new stream counts as a creation).
    restore = {c.action: c.kind for c in dynamodb.plan(target, session=aws)}
    assert restore == {
        "enable-pitr": ChangeKind.UPDATE,
        "enable-deletion-protection": ChangeKind.UPDATE,
        "enable-stream": ChangeKind.CREATE,
    }


def test_sse_and_stream_type_changes_are_classified(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Plan only: moto ignores SSESpecification on UpdateTable and cannot re-enable a stream.
    target = use(monkeypatch, SIT)
    dynamodb.apply_all(target, session=aws)
    changed = with_table(
        standard_definition("sit"), "orders", sse_kms=False, stream=StreamView.NEW_IMAGE
    )
    changes = {c.action: c for c in dynamodb.plan(target, definition=changed, session=aws)}
    assert {a: c.kind for a, c in changes.items()} == {
        "disable-sse-kms": ChangeKind.DESTRUCTIVE,
        "replace-stream": ChangeKind.DESTRUCTIVE,
    }
    assert "consumers must be re-pointed" in changes["replace-stream"].reason


def test_gsis_are_added_and_removed_one_per_update(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, DEV)
    standard = standard_definition("dev")
    products = standard.table("products")
    fewer = with_table(standard, "products", indexes=products.indexes[:1])
    dynamodb.apply(target, dynamodb.plan(target, definition=fewer, session=aws), session=aws)

    added = dynamodb.plan(target, session=aws)
    assert [(c.kind, c.action) for c in added] == [(ChangeKind.CREATE, "create-gsi")] * 2
    assert {c.resource for c in added} == {
        "dynamodb:table/products-dev/index/ProductsByPriceRange",
        "dynamodb:table/products-dev/index/ProductsByAvailability",
    }
    session, calls = recording_session(target.region)
    assert dynamodb.apply(target, added, session=session) == added
    updates = [p for op, p in writes(calls) if op == "UpdateTable"]
    assert [len(p["GlobalSecondaryIndexUpdates"]) for p in updates] == [1, 1]
    assert dynamodb.plan(target, session=aws) == []

    removed = dynamodb.plan(target, definition=fewer, session=aws)
    assert {(c.kind, c.action) for c in removed} == {(ChangeKind.DESTRUCTIVE, "delete-gsi")}
    dynamodb.apply(target, removed, allow_destructive=True, session=aws)
    assert dynamodb.plan(target, definition=fewer, session=aws) == []


def test_changing_a_gsi_rebuilds_it_and_is_destructive(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, DEV)
    dynamodb.apply_all(target, session=aws)
    standard = standard_definition("dev")
    indexes = standard.table("products").indexes
    keys_only = replace(indexes[0], projection=Projection.KEYS_ONLY)
    rebuilt = with_table(standard, "products", indexes=(keys_only, *indexes[1:]))
    [change] = dynamodb.plan(target, definition=rebuilt, session=aws)
    assert (change.kind, change.action) == (ChangeKind.DESTRUCTIVE, "replace-gsi")
    assert "queries on it fail until the backfill finishes" in change.reason

    session, calls = recording_session(target.region)
    assert dynamodb.apply(target, [change], allow_destructive=True, session=session) == [change]
    updates = [p["GlobalSecondaryIndexUpdates"] for op, p in writes(calls) if op == "UpdateTable"]
    assert [list(u[0]) for u in updates] == [["Delete"], ["Create"]]
    assert dynamodb.plan(target, definition=rebuilt, session=aws) == []


def test_wrong_account_is_refused_before_anything_is_created(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, SIT)  # credentials reach the SIT account...
    with pytest.raises(TargetError, match="refusing to touch the wrong account"):
        dynamodb.apply_all(PROD)  # ...but the target is prod (default session path)
    assert client("af-south-1").list_tables()["TableNames"] == []


def test_changes_for_another_environment_are_refused(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, SIT)
    sit_plan = dynamodb.plan(SIT)
    use(monkeypatch, DEV)
    with pytest.raises(TargetError, match="does not belong to dev"):
        dynamodb.apply(DEV, sit_plan)
    assert client("eu-west-1").list_tables()["TableNames"] == []


def test_prod_needs_a_dr_region() -> None:
    with pytest.raises(TargetError, match="DR region"):
        dynamodb.plan(Target("prod", "af-south-1", "093646564004"))


def test_orders_expire_idempotency_records_through_ttl(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = use(monkeypatch, TARGETS["sit"])
    dynamodb.apply_all(target, session=aws)
    client = aws.client("dynamodb", region_name=target.region)
    ttl = client.describe_time_to_live(TableName="orders-sit")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")
    other = client.describe_time_to_live(TableName="products-sit")["TimeToLiveDescription"]
    assert other["TimeToLiveStatus"] == "DISABLED"

    client.update_time_to_live(
        TableName="orders-sit",
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiration"},
    )
    [found] = dynamodb.drift(target, session=aws)
    assert (found.action, found.kind.value) == ("set-ttl", "update")
    assert "defined: expiration, live: off" in found.reason
    assert [c.action for c in dynamodb.apply_all(target, session=aws)] == ["set-ttl"]
    assert dynamodb.plan(target, session=aws) == []
