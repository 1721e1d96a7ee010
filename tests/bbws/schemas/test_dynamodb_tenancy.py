"""Tenant isolation of the schema: no GSI query built for tenant A can return B's items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bbws.schemas import dynamodb
from bbws.schemas.common import Target
from bbws.schemas.dynamodb_definition import (
    CREATED_AT,
    DOMAIN,
    NAME_SORT,
    PK,
    PRICE,
    PRODUCTS_BY_PRICE_RANGE,
    SK,
    TENANT_AVAILABILITY,
    TENANT_CATEGORY,
    TENANT_CUSTOMER,
    TENANT_EMAIL,
    TENANT_STATUS,
    TableSpec,
    entity_key,
    standard_definition,
    tenant_partition,
    tenant_scoped,
)

SIT = Target("sit", "eu-west-1", "815856636111")
TENANTS = ("acme", "globex")


@pytest.fixture
def sit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SIT.account_id)
    with mock_aws():
        dynamodb.apply_all(SIT)
        yield boto3.client("dynamodb", region_name=SIT.region)


def attribute(name: str, tenant: str, n: int) -> dict[str, str]:
    """The value a service would write; both tenants use the same business values."""
    values = {
        PK: tenant_partition(tenant),
        SK: entity_key("ITEM", str(n)),
        TENANT_STATUS: tenant_scoped(tenant, "active"),
        TENANT_CUSTOMER: tenant_scoped(tenant, "customer-1"),
        TENANT_CATEGORY: tenant_scoped(tenant, "shoes"),
        TENANT_AVAILABILITY: tenant_scoped(tenant, "IN_STOCK"),
        TENANT_EMAIL: tenant_scoped(tenant, "same@example.com"),
        DOMAIN: f"{tenant}.example.com",
        CREATED_AT: f"2026-01-0{n}T00:00:00Z",
        NAME_SORT: f"boot {n}",
    }
    if name == PRICE:
        return {"N": str(10 * n)}
    return {"S": values[name]}


def item(table: TableSpec, tenant: str, n: int) -> dict[str, Any]:
    names = {a["AttributeName"] for a in table.attribute_definitions()}
    return {name: attribute(name, tenant, n) for name in names}


def test_every_tenant_scoped_gsi_is_partitioned_by_the_tenant() -> None:
    definition = standard_definition("sit")
    assert len(definition.tables) == 5 and len(definition.indexes) == 8
    for index in definition.indexes:
        partition = index.key.partition.name
        if index.tenant_scoped:
            assert partition == PK or partition.startswith("tenant_"), index.name
        else:  # the routing lookup: the tenant is the answer, so it cannot be the question
            assert index.name == "TenantsByDomain" and index.projection == "KEYS_ONLY"


def test_gsi_queries_for_one_tenant_never_return_another_tenants_items(sit: Any) -> None:
    definition = standard_definition("sit")
    for table in definition.tables:
        for tenant in TENANTS:
            for n in (1, 2, 3):
                sit.put_item(TableName=table.name, Item=item(table, tenant, n))
    checked = 0
    for table in definition.tables:
        for index in table.indexes:
            partition = index.key.partition.name
            for tenant in TENANTS:
                result = sit.query(
                    TableName=table.name,
                    IndexName=index.name,
                    KeyConditionExpression="#p = :p",
                    ExpressionAttributeNames={"#p": partition},
                    ExpressionAttributeValues={":p": attribute(partition, tenant, 1)},
                )
                owners = {i[PK]["S"] for i in result["Items"]}
                assert owners == {tenant_partition(tenant)}, (index.name, tenant, owners)
                checked += 1
    assert checked == 16  # eight GSIs, two tenants


def test_price_range_is_a_numeric_between_within_the_tenant(sit: Any) -> None:
    products = standard_definition("sit").table("products")
    for tenant in TENANTS:
        for n in (1, 2, 3, 4):
            sit.put_item(TableName=products.name, Item=item(products, tenant, n))
    key = PRODUCTS_BY_PRICE_RANGE.key
    result = sit.query(
        TableName=products.name,
        IndexName=PRODUCTS_BY_PRICE_RANGE.name,
        KeyConditionExpression="#t = :t AND #p BETWEEN :lo AND :hi",
        ExpressionAttributeNames={"#t": key.partition.name, "#p": str(key.sort_name)},
        ExpressionAttributeValues={
            ":t": {"S": tenant_partition("acme")},
            ":lo": {"N": "15"},
            ":hi": {"N": "35"},
        },
        ScanIndexForward=False,
    )
    assert [(i[PK]["S"], i[PRICE]["N"]) for i in result["Items"]] == [
        ("TENANT#acme", "30"),
        ("TENANT#acme", "20"),
    ]


@pytest.mark.parametrize("bad", ["", "a#b"])
def test_tenant_ids_that_could_forge_another_partition_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="tenant id"):
        tenant_scoped(bad, "shoes")
