"""DynamoDB global-table replicas in the sandbox (promote.sandbox.moto_replicas), through boto3
with the sandbox's profiles, as bbws.schemas.dynamodb adds PROD's DR replicas."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bbws.schemas import dynamodb
from bbws.schemas.common import Target
from promote.cli import check_estate
from promote.sandbox import Sandbox

from .conftest import BBWS, data_plane

PROD = "093646564004"
PRIMARY, DR = "af-south-1", "eu-west-1"
GSI = {
    "IndexName": "by-sku",
    "KeySchema": [{"AttributeName": "sku", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "ALL"},
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Overrides conftest's: the estate's sandbox with its data plane, whose start installs
    the replicas (keep_edge_config), as `promote sandbox up` runs it."""
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    with data_plane(estate, tmp_path_factory.mktemp("replicas") / "state") as running:
        yield running


def dynamodb_in(region: str, profile: str = "Tebogo-prod") -> Any:
    return boto3.Session(profile_name=profile).client("dynamodb", region_name=region)


def describe(client: Any, name: str) -> dict[str, Any]:
    table: dict[str, Any] = client.describe_table(TableName=name)["Table"]
    return table


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    answer: Any = error.value.response
    return str(answer["Error"]["Code"])


def new_table(client: Any, stream: str | None = "NEW_AND_OLD_IMAGES") -> str:
    name = f"replica-{uuid.uuid4().hex[:8]}"
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sku", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[GSI],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def replicate(client: Any, name: str, verb: str = "Create", region: str = DR) -> Any:
    return client.update_table(TableName=name, ReplicaUpdates=[{verb: {"RegionName": region}}])


def item(client: Any, name: str, pk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(TableName=name, Key={"pk": {"S": pk}}).get(
        "Item"
    )
    return found


def test_a_replica_is_a_table_of_the_same_shape_listed_by_both_regions(aws_env: Sandbox) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary)

    answered = replicate(primary, name)["TableDescription"]
    assert answered["Replicas"] == [{"RegionName": DR, "ReplicaStatus": "ACTIVE"}]

    source, replica = describe(primary, name), describe(dr, name)
    assert source["Replicas"] == [{"RegionName": DR, "ReplicaStatus": "ACTIVE"}]
    assert replica["Replicas"] == [{"RegionName": PRIMARY, "ReplicaStatus": "ACTIVE"}]
    assert source["GlobalTableVersion"] == replica["GlobalTableVersion"] == "2019.11.21"
    assert replica["TableArn"] == f"arn:aws:dynamodb:{DR}:{PROD}:table/{name}"
    assert replica["TableStatus"] == "ACTIVE"
    for same in ("KeySchema", "AttributeDefinitions", "BillingModeSummary", "StreamSpecification"):
        assert replica[same] == source[same], same
    indexes = [
        {k: i[k] for k in ("IndexName", "KeySchema", "Projection", "IndexStatus")}
        for i in replica["GlobalSecondaryIndexes"]
    ]
    assert indexes == [{**GSI, "IndexStatus": "ACTIVE"}]
    assert name in dr.list_tables()["TableNames"]


def test_items_written_in_either_region_reach_the_other(aws_env: Sandbox) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary)
    primary.put_item(TableName=name, Item={"pk": {"S": "before"}, "sku": {"S": "b"}})
    replicate(primary, name)
    assert item(dr, name, "before") == {"pk": {"S": "before"}, "sku": {"S": "b"}}  # backfilled

    primary.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sku": {"S": "s1"}})
    assert item(dr, name, "p1") == {"pk": {"S": "p1"}, "sku": {"S": "s1"}}
    primary.update_item(
        TableName=name,
        Key={"pk": {"S": "p1"}},
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "42"}},
    )
    assert (item(dr, name, "p1") or {}).get("price") == {"N": "42"}
    found = dr.query(
        TableName=name,
        IndexName="by-sku",
        KeyConditionExpression="sku = :s",
        ExpressionAttributeValues={":s": {"S": "s1"}},
    )["Items"]
    assert [i["pk"] for i in found] == [{"S": "p1"}]

    dr.delete_item(TableName=name, Key={"pk": {"S": "p1"}})  # the other way round
    assert item(primary, name, "p1") is None
    dr.batch_write_item(
        RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"b{n}"}}}} for n in range(3)]}
    )
    assert [item(primary, name, f"b{n}") is not None for n in range(3)] == [True] * 3


def test_a_transaction_reaches_the_replica_only_when_it_succeeds(aws_env: Sandbox) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary)
    replicate(primary, name)
    put = {"Put": {"TableName": name, "Item": {"pk": {"S": "t1"}}}}

    primary.transact_write_items(TransactItems=[put])
    assert item(dr, name, "t1") == {"pk": {"S": "t1"}}
    failing = {
        "ConditionCheck": {
            "TableName": name,
            "Key": {"pk": {"S": "t1"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    again = {"Put": {"TableName": name, "Item": {"pk": {"S": "t2"}}}}
    with pytest.raises(ClientError) as cancelled:
        primary.transact_write_items(TransactItems=[again, failing])
    assert code(cancelled) == "TransactionCanceledException"
    assert item(primary, name, "t2") is None and item(dr, name, "t2") is None


def test_removing_the_replica_deletes_its_table(aws_env: Sandbox) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary)
    replicate(primary, name)

    answered = replicate(primary, name, "Delete")["TableDescription"]
    assert "Replicas" not in answered and "GlobalTableVersion" not in answered
    with pytest.raises(ClientError) as gone:
        describe(dr, name)
    assert code(gone) == "ResourceNotFoundException"
    assert "Replicas" not in describe(primary, name)
    with pytest.raises(ClientError) as not_a_replica:
        replicate(primary, name, "Delete")
    assert code(not_a_replica) == "ValidationException"


def test_delete_table_in_a_replica_region_deletes_that_replica_only(aws_env: Sandbox) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary)
    replicate(primary, name)

    dr.delete_table(TableName=name)
    assert "Replicas" not in describe(primary, name)
    primary.put_item(TableName=name, Item={"pk": {"S": "after"}})  # replicates to nothing
    assert name not in dr.list_tables()["TableNames"]


def test_what_dynamodb_refuses(aws_env: Sandbox) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary)
    for region in (PRIMARY, "mars-east-1"):
        with pytest.raises(ClientError) as refused:
            replicate(primary, name, region=region)
        assert code(refused) == "ValidationException", region
    replicate(primary, name)
    with pytest.raises(ClientError) as twice:
        replicate(primary, name)
    assert code(twice) == "ValidationException"
    with pytest.raises(ClientError) as stream_off:
        primary.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    assert code(stream_off) == "ValidationException"
    assert describe(primary, name)["StreamSpecification"]["StreamEnabled"] is True

    taken = new_table(primary)
    dr.create_table(
        TableName=taken,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ClientError) as exists:
        replicate(primary, taken)
    assert code(exists) == "ValidationException"
    assert "Replicas" not in describe(primary, taken) and "Replicas" not in describe(dr, taken)


def test_a_table_without_a_stream_gets_one_and_index_changes_reach_the_replica(
    aws_env: Sandbox,
) -> None:
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    name = new_table(primary, stream=None)
    replicate(primary, name)
    wanted = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert describe(primary, name)["StreamSpecification"] == wanted
    assert describe(dr, name)["StreamSpecification"] == wanted

    primary.update_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sku", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-at",
                    "KeySchema": [{"AttributeName": "at", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
    names = sorted(i["IndexName"] for i in describe(dr, name)["GlobalSecondaryIndexes"])
    assert names == ["by-at", "by-sku"]


def test_other_accounts_are_unaffected(aws_env: Sandbox) -> None:
    primary = dynamodb_in(PRIMARY)
    name = new_table(primary)
    replicate(primary, name)
    primary.put_item(TableName=name, Item={"pk": {"S": "prod-only"}})

    for profile in ("Tebogo-sit", "Tebogo-dev"):
        for region in (PRIMARY, DR):
            assert name not in dynamodb_in(region, profile).list_tables()["TableNames"]


def test_bbws_applies_prods_dr_replicas_once(aws_env: Sandbox) -> None:
    session = boto3.Session(profile_name="Tebogo-prod")
    target = Target("prod", PRIMARY, PROD, dr_region=DR)
    started = time.monotonic()

    applied = dynamodb.apply_all(target, session=session)

    assert time.monotonic() - started < 30
    replicas = [c for c in applied if c.action == "create-replica"]
    assert replicas, [c.action for c in applied]
    primary, dr = dynamodb_in(PRIMARY), dynamodb_in(DR)
    for change in replicas:
        table = change.desired["table"]
        assert describe(primary, table)["Replicas"] == [
            {"RegionName": DR, "ReplicaStatus": "ACTIVE"}
        ]
        assert describe(dr, table)["TableStatus"] == "ACTIVE"  # the DR-copy precondition
    assert dynamodb.plan(target, session) == []
    assert dynamodb.apply_all(target, session=session) == []
