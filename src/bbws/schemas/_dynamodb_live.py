"""The live state of the BBWS tables, read through boto3 and normalized for comparison.

Both halves of the dynamodb stack read through here: ``dynamodb`` diffs a ``LiveTable``
against the definition, and ``_dynamodb_apply`` re-reads it before every call so that
applying twice is a no-op. Nothing in this module writes to the account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bbws.schemas.dynamodb_definition import MANAGED_BY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

# Attribute names with their types; a type is None when DescribeTable no longer lists it.
LiveKey = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class LiveIndex:
    key: LiveKey
    projection: str


@dataclass(frozen=True)
class LiveTable:
    name: str
    arn: str
    key: LiveKey
    indexes: Mapping[str, LiveIndex]
    billing_mode: str
    pitr: bool
    deletion_protection: bool
    sse_kms: bool
    stream: str | None
    tags: Mapping[str, str]
    ttl_attribute: str | None = None
    # Global-table replicas in other regions: region -> ReplicaStatus (ACTIVE, CREATING...).
    replicas: Mapping[str, str] = field(default_factory=dict)


# --- keys -------------------------------------------------------------------------------------


def key_of(schema: Sequence[Mapping[str, Any]], defs: Sequence[Mapping[str, Any]]) -> LiveKey:
    types = {d["AttributeName"]: d["AttributeType"] for d in defs}
    ordered = sorted(schema, key=lambda e: e["KeyType"] != "HASH")
    return tuple((e["AttributeName"], types.get(e["AttributeName"])) for e in ordered)


def same_key(desired: LiveKey, live: LiveKey) -> bool:
    # moto forgets AttributeDefinitions on UpdateTable: an unknown type is no evidence of change.
    return len(desired) == len(live) and all(
        d[0] == v[0] and v[1] in (None, d[1]) for d, v in zip(desired, live, strict=True)
    )


def show_key(key: LiveKey) -> str:
    return "/".join(f"{n}({t or '?'})" for n, t in key)


# --- reading the account ------------------------------------------------------------------


def describe_table(client: DynamoDBClient, name: str) -> TableDescriptionTypeDef | None:
    try:
        return client.describe_table(TableName=name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        return None


def _tags(client: DynamoDBClient, arn: str) -> dict[str, str]:
    page = client.list_tags_of_resource(ResourceArn=arn)
    tags = {t["Key"]: t["Value"] for t in page.get("Tags", [])}
    while token := page.get("NextToken"):
        page = client.list_tags_of_resource(ResourceArn=arn, NextToken=token)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return tags


def read_pitr(client: DynamoDBClient, name: str) -> bool:
    desc = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    status = desc.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    return status == "ENABLED"


def read_ttl(client: DynamoDBClient, name: str) -> str | None:
    """The TTL attribute while TTL is on (or being turned on), else None."""
    desc = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return desc.get("AttributeName")
    return None


def replicas_of(desc: TableDescriptionTypeDef) -> dict[str, str]:
    """The table's global-table replicas (version 2019.11.21), region -> ReplicaStatus."""
    return {r["RegionName"]: r.get("ReplicaStatus", "") for r in desc.get("Replicas", [])}


def read_table(client: DynamoDBClient, name: str) -> LiveTable | None:
    desc = describe_table(client, name)
    if desc is None:
        return None
    defs = desc.get("AttributeDefinitions", [])
    sse, stream = desc.get("SSEDescription", {}), desc.get("StreamSpecification", {})
    indexes = {
        i["IndexName"]: LiveIndex(key_of(i["KeySchema"], defs), i["Projection"]["ProjectionType"])
        for i in desc.get("GlobalSecondaryIndexes", [])
    }
    return LiveTable(
        name=name,
        arn=desc["TableArn"],
        key=key_of(desc["KeySchema"], defs),
        indexes=indexes,
        # A table created PROVISIONED may carry no BillingModeSummary at all.
        billing_mode=desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        pitr=read_pitr(client, name),
        deletion_protection=desc.get("DeletionProtectionEnabled", False),
        sse_kms=sse.get("SSEType") == "KMS" and sse.get("Status") != "DISABLED",
        stream=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        tags=_tags(client, desc["TableArn"]),
        ttl_attribute=read_ttl(client, name),
        replicas=replicas_of(desc),
    )


def read_env_tables(client: DynamoDBClient, env: str) -> dict[str, LiveTable]:
    pages = client.get_paginator("list_tables").paginate()
    names = [n for page in pages for n in page.get("TableNames", []) if n.endswith(f"-{env}")]
    found = {n: read_table(client, n) for n in names}
    return {n: t for n, t in found.items() if t is not None}


def is_managed(table: LiveTable, env: str) -> bool:
    return table.tags.get("managed-by") == MANAGED_BY and table.tags.get("environment") == env
