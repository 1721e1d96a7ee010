"""The dynamodb_schemas stack against moto: create, idempotency, destructive guard, drift.

moto ignores global-table replica updates, so every session here carries
``DynamoDBReplicaDouble`` (tests/bbws/aws_doubles.py), which keeps the replicas.
"""

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
from tests.bbws.aws_doubles import DynamoDBReplicaDouble

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
def replicas() -> DynamoDBReplicaDouble:
    """The global-table replicas of this test (moto ignores ReplicaUpdates)."""
    return DynamoDBReplicaDouble()


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, replicas: DynamoDBReplicaDouble
) -> Iterator[boto3.session.Session]:
    """moto in process; one session per test, so service models load once per test."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        session = boto3.session.Session()
        replicas.install(session)
        yield session


def use(monkeypatch: pytest.MonkeyPatch, target: Target) -> Target:
    """Make moto answer as the target's account, so the account guard passes."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", target.account_id)
    return target


def client(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def recording_session(
    region: str, replicas: DynamoDBReplicaDouble | None = None
) -> tuple[boto3.session.Session, list[tuple[str, Any]]]:
    """A session that records every DynamoDB call its clients make, in order.

    The parameters are recorded as the code under test passed them, before the replica
    double (when given) takes ReplicaUpdates out of UpdateTable.
    """
    session = boto3.session.Session(region_name=region)
    if replicas is not None:
        replicas.install(session)
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


def described_replicas(session: boto3.session.Session, region: str, name: str) -> Any:
    """Table.Replicas as the code under test reads it (through the session's double)."""
    desc = session.client("dynamodb", region_name=region).describe_table(TableName=name)
    return desc["Table"].get("Replicas")


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
        # Orders feeds its consumers; in prod every table replicates through its stream.
        if name.startswith("orders-") or env == "prod":
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
    aws: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
    replicas: DynamoDBReplicaDouble,
    env: str,
) -> None:
    target = use(monkeypatch, TARGETS[env])
    applied = dynamodb.apply_all(target, session=aws)
    then = ["create-replica"] * 5 if env == "prod" else []
    assert [c.action for c in applied] == ["create-table"] * 5 + then
    assert_stack(target.region, env)
    names = [f"{b}-{env}" for b in BASE_NAMES]
    if env == "prod":
        # DR: each table is a global table with an ACTIVE replica in eu-west-1...
        assert {c.resource for c in applied if c.action == "create-replica"} == {
            f"dynamodb:table/{n}/replica/eu-west-1" for n in names
        }
        for name in names:
            assert replicas.of("af-south-1", name) == ["eu-west-1"]
            assert described_replicas(aws, "af-south-1", name) == [
                {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"}
            ]
        # ...and no standby tables of its own making in the DR region.
        assert client("eu-west-1").list_tables()["TableNames"] == []
    else:
        assert replicas.calls == []
        assert all(described_replicas(aws, target.region, n) is None for n in names)


def test_pitr_is_enabled_on_a_new_table_before_anything_else(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, replicas: DynamoDBReplicaDouble
) -> None:
    target = use(monkeypatch, PROD)
    session, calls = recording_session(target.region, replicas)
    dynamodb.apply_all(target, session=session)
    # Per table: CreateTable, then PITR before anything else (orders then gets its TTL), and
    # only then, once the table is seen ACTIVE again, the replica in the DR region.
    for base in BASE_NAMES:
        name = f"{base}-prod"
        mine = [(op, p) for op, p in calls if p.get("TableName") == name]
        then = ["UpdateTimeToLive"] if base == "orders" else []
        ops = ["CreateTable", "UpdateContinuousBackups", *then, "UpdateTable"]
        assert [op for op, _ in writes(mine)] == ops
        update = writes(mine)[-1][1]
        assert update == {
            "TableName": name,
            "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}],
        }
        assert mine[mine.index(("UpdateTable", update)) - 1][0] == "DescribeTable"
    # Every table exists with PITR on before the first replica is requested.
    first_replica = next(i for i, (op, p) in enumerate(calls) if "ReplicaUpdates" in p)
    before = [p["TableName"] for op, p in calls[:first_replica] if op == "UpdateContinuousBackups"]
    assert sorted(before) == [f"{b}-prod" for b in BASE_NAMES]
    assert [(t, verb, r) for _, t, verb, r in replicas.calls] == [
        (f"{b}-prod", "Create", "eu-west-1") for b in BASE_NAMES
    ]


@pytest.mark.parametrize("env", ["sit", "prod"])
def test_second_plan_is_empty_and_second_apply_changes_nothing(
    aws: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
    replicas: DynamoDBReplicaDouble,
    env: str,
) -> None:
    target = use(monkeypatch, TARGETS[env])
    first = dynamodb.plan(target, session=aws)
    assert dynamodb.apply(target, first, session=aws) == first
    assert dynamodb.plan(target, session=aws) == []
    before = {r: snapshot(r) for r in ("af-south-1", "eu-west-1")}
    replica_calls = list(replicas.calls)
    assert len(replica_calls) == (5 if env == "prod" else 0)
    assert dynamodb.apply(target, first, session=aws) == []
    assert dynamodb.apply_all(target, session=aws) == []
    assert {r: snapshot(r) for r in ("af-south-1", "eu-west-1")} == before
    assert replicas.calls == replica_calls  # no replica was requested again
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


# --- DR for prod: global-table replicas (through DynamoDBReplicaDouble) -------------------


def test_only_prod_tables_are_global_tables_with_a_replica_in_the_dr_region() -> None:
    prod = dynamodb.definition_for(PROD)
    assert {t.replica_regions for t in prod.tables} == {("eu-west-1",)}
    # Replication runs on the stream: every replicated table declares NEW_AND_OLD_IMAGES.
    assert {t.stream for t in prod.tables} == {StreamView.NEW_AND_OLD_IMAGES}
    for env in ("dev", "sit"):
        tables = dynamodb.definition_for(TARGETS[env]).tables
        assert {t.replica_regions for t in tables} == {()}
        assert {t.base_name for t in tables if t.stream} == {"orders"}
    orders = prod.table("orders")
    with pytest.raises(ValueError, match="NEW_AND_OLD_IMAGES stream"):
        replace(orders, stream=StreamView.KEYS_ONLY)


def test_removing_the_replica_is_destructive_and_refused_without_permission(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, replicas: DynamoDBReplicaDouble
) -> None:
    target = use(monkeypatch, PROD)
    dynamodb.apply_all(target, session=aws)
    created = list(replicas.calls)
    no_replica = with_table(dynamodb.definition_for(PROD), "users", replica_regions=())

    changes = dynamodb.plan(target, definition=no_replica, session=aws)
    assert [(c.kind, c.action, c.resource) for c in changes] == [
        (ChangeKind.DESTRUCTIVE, "delete-replica", "dynamodb:table/users-prod/replica/eu-west-1")
    ]
    assert changes[0].reason.startswith(
        "deleting the eu-west-1 replica drops that region's copy of every item"
    )
    assert (changes[0].desired["exists"], changes[0].current) == (
        False,
        {"exists": True, "status": "ACTIVE"},
    )

    with pytest.raises(DestructiveChangeRefused):
        dynamodb.apply(target, changes, session=aws)
    assert replicas.calls == created  # refused before any call
    assert replicas.of("af-south-1", "users-prod") == ["eu-west-1"]

    assert dynamodb.apply(target, changes, allow_destructive=True, session=aws) == changes
    assert replicas.calls == [*created, ("af-south-1", "users-prod", "Delete", "eu-west-1")]
    assert described_replicas(aws, "af-south-1", "users-prod") is None
    assert "users-prod" in client("af-south-1").list_tables()["TableNames"]  # table stays
    assert dynamodb.plan(target, definition=no_replica, session=aws) == []
    assert dynamodb.apply(target, changes, allow_destructive=True, session=aws) == []

    # The standard definition puts it back, as an in-place creation.
    [back] = dynamodb.plan(target, session=aws)
    assert (back.kind, back.action) == (ChangeKind.CREATE, "create-replica")
    assert back.reason == "replicate users-prod to eu-west-1 for PROD DR (global table)"
    assert dynamodb.apply(target, [back], session=aws) == [back]
    assert replicas.of("af-south-1", "users-prod") == ["eu-west-1"]


def test_drift_reports_a_lost_replica_and_one_made_by_hand(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, replicas: DynamoDBReplicaDouble
) -> None:
    target = use(monkeypatch, PROD)
    dynamodb.apply_all(target, session=aws)
    c = aws.client("dynamodb", region_name="af-south-1")
    c.update_table(
        TableName="orders-prod", ReplicaUpdates=[{"Delete": {"RegionName": "eu-west-1"}}]
    )
    c.update_table(
        TableName="tenants-prod", ReplicaUpdates=[{"Create": {"RegionName": "us-east-1"}}]
    )
    found = {(d.resource, d.action): d for d in dynamodb.drift(target, session=aws)}
    assert set(found) == {
        ("dynamodb:table/orders-prod/replica/eu-west-1", "create-replica"),
        ("dynamodb:table/tenants-prod/replica/us-east-1", "delete-replica"),
    }
    lost = found[("dynamodb:table/orders-prod/replica/eu-west-1", "create-replica")]
    assert lost.kind is ChangeKind.CREATE
    assert lost.reason == "drift: replicate orders-prod to eu-west-1 for PROD DR (global table)"
    extra = found[("dynamodb:table/tenants-prod/replica/us-east-1", "delete-replica")]
    assert extra.kind is ChangeKind.DESTRUCTIVE
    assert extra.current == {"exists": True, "status": "ACTIVE"}

    changes = dynamodb.plan(target, session=aws)
    with pytest.raises(DestructiveChangeRefused):
        dynamodb.apply(target, changes, session=aws)
    assert len(dynamodb.apply(target, changes, allow_destructive=True, session=aws)) == 2
    assert replicas.of("af-south-1", "orders-prod") == ["eu-west-1"]
    assert replicas.of("af-south-1", "tenants-prod") == ["eu-west-1"]
    assert dynamodb.plan(target, session=aws) == [] and dynamodb.drift(target, session=aws) == []


def test_deleting_a_global_table_removes_its_replica_first(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, replicas: DynamoDBReplicaDouble
) -> None:
    target = use(monkeypatch, PROD)
    dynamodb.apply_all(target, session=aws)
    shrunk = without_table(dynamodb.definition_for(PROD), "campaigns")
    [change] = dynamodb.plan(target, definition=shrunk, session=aws)
    assert (change.kind, change.action) == (ChangeKind.DESTRUCTIVE, "delete-table")
    assert "deleting it and its replicas in eu-west-1 drops every item" in change.reason

    session, calls = recording_session(target.region, replicas)
    assert dynamodb.apply(target, [change], allow_destructive=True, session=session) == [change]
    assert [op for op, _ in writes(calls)] == [
        "CreateBackup",
        "UpdateTable",  # the replica goes first...
        "UpdateTable",  # ...then deletion protection, for this approved delete only
        "DeleteTable",
    ]
    assert replicas.calls[-1] == ("af-south-1", "campaigns-prod", "Delete", "eu-west-1")
    assert "campaigns-prod" not in client("af-south-1").list_tables()["TableNames"]


def test_a_replica_outside_the_dr_region_is_refused_before_any_call(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, replicas: DynamoDBReplicaDouble
) -> None:
    target = use(monkeypatch, PROD)
    dynamodb.apply_all(target, session=aws)
    elsewhere = with_table(dynamodb.definition_for(PROD), "users", replica_regions=("us-east-1",))
    changes = dynamodb.plan(target, definition=elsewhere, session=aws)
    assert {c.action for c in changes} == {"create-replica", "delete-replica"}
    calls = list(replicas.calls)
    with pytest.raises(TargetError, match="replicates to its DR region only"):
        dynamodb.apply(target, changes, allow_destructive=True, session=aws)
    assert replicas.calls == calls
    primary = with_table(dynamodb.definition_for(PROD), "users", replica_regions=("af-south-1",))
    with pytest.raises(TargetError, match="is the primary region"):
        dynamodb.plan(target, definition=primary, session=aws)
