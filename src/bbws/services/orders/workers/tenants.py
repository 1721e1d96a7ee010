"""The tenants a scheduled worker (export, sweeper) goes through.

Tenants are the ``sk = TENANT`` profile items of the tenants table (docs/bbws/dynamodb.md).
A scheduled event may name its tenants instead (``{"tenants": ["t1", "t2"]}``), which is
how one tenant is re-run by hand without touching the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from bbws.schemas.dynamodb_definition import PK, SK
from bbws.services.auth import is_valid_tenant_id
from bbws.services.orders.items import from_dynamo, tenant_of, to_dynamo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE_SK: Final = "TENANT"


def list_tenants(client: DynamoDBClient, table: str) -> list[str]:
    """Every tenant id, sorted. A scan, but of one small item per tenant, once a run."""
    request: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "#sk = :profile",
        "ProjectionExpression": "#pk, #sk",
        "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
        "ExpressionAttributeValues": to_dynamo({":profile": PROFILE_SK}),
    }
    tenants: set[str] = set()
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            tenant = tenant_of(str(from_dynamo(item)[PK]))
            if tenant is not None and is_valid_tenant_id(tenant):
                tenants.add(tenant)
        if not page.get("LastEvaluatedKey"):
            return sorted(tenants)
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def tenants_for(event: Mapping[str, Any], client: DynamoDBClient, table: str) -> list[str]:
    named = event.get("tenants")
    if named is None:
        return list_tenants(client, table)
    if not isinstance(named, list) or not all(is_valid_tenant_id(t) for t in named):
        raise ValueError("tenants must be a list of tenant ids")
    return [str(t) for t in named]
