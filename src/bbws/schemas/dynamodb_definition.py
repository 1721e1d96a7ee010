"""The BBWS DynamoDB schema as immutable data: five multi-tenant tables and eight GSIs.

Services import key and index names from here instead of repeating strings::

    from bbws.schemas.dynamodb_definition import PRODUCTS_BY_CATEGORY as BY_CATEGORY
    from bbws.schemas.dynamodb_definition import table_name, tenant_scoped

    client.query(
        TableName=table_name("products", env),
        IndexName=BY_CATEGORY.name,
        KeyConditionExpression="#p = :p AND #s BETWEEN :lo AND :hi",
        ExpressionAttributeNames={"#p": BY_CATEGORY.key.partition.name,
                                  "#s": BY_CATEGORY.key.sort_name},
        ExpressionAttributeValues={":p": {"S": tenant_scoped(tenant_id, "shoes")},
                                   ":lo": {"N": "100"}, ":hi": {"N": "500"}},
    )

Tenancy: every item lives in the partition ``pk = "TENANT#<tenant id>"``. Every GSI
partition key is either ``pk`` itself or a ``tenant_*`` composite that starts with it
(``"TENANT#t1#Electronics"``), so a query built for one tenant cannot reach another
tenant's items. The one deliberate exception is ``TenantsByDomain``: it resolves a tenant
*from* a host name, before any tenant is known, so it projects keys only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        SSESpecificationTypeDef,
    )

MANAGED_BY: Final = "bbws-dynamodb-schemas"
ENVIRONMENTS: Final = ("dev", "sit", "prod")
# Deletion protection costs nothing and only dev is meant to be torn down freely.
PROTECTED_ENVIRONMENTS: Final = frozenset({"sit", "prod"})
# The only environment replicated to its DR region (runbook: "Cross-region replication for
# PROD DR"), as a global table (version 2019.11.21).
DR_ENVIRONMENTS: Final = frozenset({"prod"})

AttrType = Literal["S", "N", "B"]

# Attribute names. Composite ``tenant_*`` values are built with ``tenant_scoped``.
PK: Final = "pk"  # "TENANT#<tenant id>"
SK: Final = "sk"  # "<ENTITY>#<id>", e.g. "PRODUCT#01J...": ULIDs keep the table in date order
CREATED_AT: Final = "created_at"  # ISO-8601 UTC, sorts lexically
TENANT_STATUS: Final = "tenant_status"
TENANT_CUSTOMER: Final = "tenant_customer"
TENANT_CATEGORY: Final = "tenant_category"
TENANT_AVAILABILITY: Final = "tenant_availability"
TENANT_EMAIL: Final = "tenant_email"  # e-mail lower-cased before it is scoped
PRICE: Final = "price"  # a number, so BETWEEN works
NAME_SORT: Final = "name_sort"  # lower-cased product name
DOMAIN: Final = "domain"  # lower-cased host name, set only on a tenant's DOMAIN# items
# Epoch seconds after which DynamoDB may delete the item: the orders table's idempotency
# records (Powertools writes this attribute) expire through it.
EXPIRATION: Final = "expiration"


def tenant_partition(tenant_id: str) -> str:
    """The table partition of a tenant; also the prefix of every tenant-scoped GSI key."""
    # A "#" in a tenant id would let "a#b" + "c" collide with "a" + "b#c".
    if not tenant_id or "#" in tenant_id:
        raise ValueError(f"tenant id must be non-empty and free of '#': {tenant_id!r}")
    return f"TENANT#{tenant_id}"


def tenant_scoped(tenant_id: str, value: str) -> str:
    """A GSI partition value that only this tenant can produce, e.g. TENANT#t1#shoes."""
    return f"{tenant_partition(tenant_id)}#{value}"


def entity_key(entity: str, entity_id: str) -> str:
    return f"{entity}#{entity_id}"


def table_name(base_name: str, env: str) -> str:
    return f"{base_name}-{env}"


def sse_specification(kms: bool) -> SSESpecificationTypeDef:
    # Enabled=False means the AWS-owned key; SSEType may only be sent with Enabled=True.
    return {"Enabled": True, "SSEType": "KMS"} if kms else {"Enabled": False}


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: AttrType = "S"


@dataclass(frozen=True)
class KeySpec:
    partition: KeyAttribute
    sort: KeyAttribute | None = None

    @property
    def attributes(self) -> tuple[KeyAttribute, ...]:
        return (self.partition,) if self.sort is None else (self.partition, self.sort)

    @property
    def sort_name(self) -> str | None:
        return None if self.sort is None else self.sort.name

    def describe(self) -> str:
        return "/".join(f"{a.name}({a.type})" for a in self.attributes)

    def schema(self) -> list[KeySchemaElementTypeDef]:
        hash_key: KeySchemaElementTypeDef = {
            "AttributeName": self.partition.name,
            "KeyType": "HASH",
        }
        if self.sort is None:
            return [hash_key]
        return [hash_key, {"AttributeName": self.sort.name, "KeyType": "RANGE"}]


class Projection(StrEnum):
    ALL = "ALL"
    KEYS_ONLY = "KEYS_ONLY"


class StreamView(StrEnum):
    NEW_AND_OLD_IMAGES = "NEW_AND_OLD_IMAGES"
    NEW_IMAGE = "NEW_IMAGE"
    OLD_IMAGE = "OLD_IMAGE"
    KEYS_ONLY = "KEYS_ONLY"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    key: KeySpec
    purpose: str  # the access pattern that justifies paying for the index
    projection: Projection = Projection.ALL
    tenant_scoped: bool = True  # False only where the tenant is what the query finds out

    def request(self) -> GlobalSecondaryIndexTypeDef:
        return {
            "IndexName": self.name,
            "KeySchema": self.key.schema(),
            "Projection": {"ProjectionType": self.projection.value},
        }

    def describe(self) -> str:
        return f"{self.key.describe()} projecting {self.projection.value}"


@dataclass(frozen=True)
class TableSpec:
    base_name: str
    env: str
    key: KeySpec
    indexes: tuple[IndexSpec, ...] = ()
    stream: StreamView | None = None
    point_in_time_recovery: bool = True
    deletion_protection: bool = False
    sse_kms: bool = True
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    tags: tuple[tuple[str, str], ...] = ()
    ttl_attribute: str | None = None
    # Regions holding a global-table replica (version 2019.11.21) of this table.
    replica_regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Replication runs on the table's stream: DynamoDB turns one on (NEW_AND_OLD_IMAGES)
        # when the first replica is added and refuses to turn it off while replicas exist,
        # so a replicated table must declare that stream or every plan would disable it.
        if self.replica_regions and self.stream is not StreamView.NEW_AND_OLD_IMAGES:
            raise ValueError(
                f"{self.name} has replicas in {', '.join(self.replica_regions)}: "
                "global tables need a NEW_AND_OLD_IMAGES stream"
            )

    @property
    def name(self) -> str:
        return table_name(self.base_name, self.env)

    @property
    def tag_map(self) -> dict[str, str]:
        return dict(self.tags)

    def index(self, name: str) -> IndexSpec:
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(f"{self.name} has no index {name}")

    def attribute_definitions(self) -> list[AttributeDefinitionTypeDef]:
        seen: dict[str, AttrType] = {}
        for key in (self.key, *(i.key for i in self.indexes)):
            for attr in key.attributes:
                seen.setdefault(attr.name, attr.type)
        return [{"AttributeName": n, "AttributeType": t} for n, t in seen.items()]

    def create_request(self) -> CreateTableInputTypeDef:
        """The CreateTable call. PITR is not part of it: apply enables it once ACTIVE."""
        request: CreateTableInputTypeDef = {
            "TableName": self.name,
            "AttributeDefinitions": self.attribute_definitions(),
            "KeySchema": self.key.schema(),
            "BillingMode": self.billing_mode,
            "SSESpecification": sse_specification(self.sse_kms),
            "DeletionProtectionEnabled": self.deletion_protection,
            "Tags": [{"Key": k, "Value": v} for k, v in self.tags],
        }
        if self.indexes:
            request["GlobalSecondaryIndexes"] = [i.request() for i in self.indexes]
        if self.stream is not None:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": self.stream.value,
            }
        return request


@dataclass(frozen=True)
class SchemaDefinition:
    """Every table of one environment (replica regions are declared per table)."""

    env: str
    tables: tuple[TableSpec, ...]

    def table(self, base_name: str) -> TableSpec:
        for table in self.tables:
            if table.base_name == base_name:
                return table
        raise KeyError(f"no table {base_name} in the {self.env} definition")

    @property
    def indexes(self) -> tuple[IndexSpec, ...]:
        return tuple(i for t in self.tables for i in t.indexes)


_TABLE_KEY: Final = KeySpec(KeyAttribute(PK), KeyAttribute(SK))
_BY_DATE: Final = KeyAttribute(CREATED_AT)
_BY_PRICE: Final = KeyAttribute(PRICE, "N")

CAMPAIGNS_BY_STATUS: Final = IndexSpec(
    "CampaignsByStatus",
    KeySpec(KeyAttribute(TENANT_STATUS), _BY_DATE),
    "campaigns of one tenant in one status (draft/active/ended), newest or oldest first",
)
ORDERS_BY_CUSTOMER: Final = IndexSpec(
    "OrdersByCustomer",
    KeySpec(KeyAttribute(TENANT_CUSTOMER), _BY_DATE),
    "a customer's order history within a tenant, newest first",
)
ORDERS_BY_STATUS: Final = IndexSpec(
    "OrdersByStatus",
    KeySpec(KeyAttribute(TENANT_STATUS), _BY_DATE),
    "a tenant's orders in one status (pending, paid, shipped...), oldest first for fulfilment",
)
PRODUCTS_BY_CATEGORY: Final = IndexSpec(
    "ProductsByCategory",
    KeySpec(KeyAttribute(TENANT_CATEGORY), _BY_PRICE),
    "products of a category, optionally between min and max price, sorted by price",
)
PRODUCTS_BY_PRICE_RANGE: Final = IndexSpec(
    "ProductsByPriceRange",
    KeySpec(KeyAttribute(PK), _BY_PRICE),
    "a tenant's whole catalogue between min and max price (BETWEEN on a number), by price",
)
PRODUCTS_BY_AVAILABILITY: Final = IndexSpec(
    "ProductsByAvailability",
    KeySpec(KeyAttribute(TENANT_AVAILABILITY), KeyAttribute(NAME_SORT)),
    "in-stock (or out-of-stock) products of a tenant sorted by name; by price, use "
    "ProductsByPriceRange with a filter on availability",
)
USERS_BY_EMAIL: Final = IndexSpec(
    "UsersByEmail",
    KeySpec(KeyAttribute(TENANT_EMAIL)),
    "sign-in: find a tenant's user by e-mail address",
)
TENANTS_BY_DOMAIN: Final = IndexSpec(
    "TenantsByDomain",
    KeySpec(KeyAttribute(DOMAIN)),
    "routing: resolve the tenant that owns a host name, before any tenant is known",
    projection=Projection.KEYS_ONLY,  # returns the tenant's pk only, none of its settings
    tenant_scoped=False,
)

_LAYOUT: Final[tuple[tuple[str, tuple[IndexSpec, ...], StreamView | None], ...]] = (
    ("campaigns", (CAMPAIGNS_BY_STATUS,), None),
    # Order events (inventory, notifications) are read from the stream.
    ("orders", (ORDERS_BY_CUSTOMER, ORDERS_BY_STATUS), StreamView.NEW_AND_OLD_IMAGES),
    ("products", (PRODUCTS_BY_CATEGORY, PRODUCTS_BY_PRICE_RANGE, PRODUCTS_BY_AVAILABILITY), None),
    ("tenants", (TENANTS_BY_DOMAIN,), None),
    ("users", (USERS_BY_EMAIL,), None),
)


# Only orders carries short-lived items (idempotency records of order creation).
_TTL: Final = {"orders": EXPIRATION}


def standard_definition(env: str, dr_region: str | None = None) -> SchemaDefinition:
    """The definition for dev, sit or prod.

    In prod (given its ``dr_region``) every table is a global table with a replica there, and
    therefore carries the NEW_AND_OLD_IMAGES stream replication runs on; dev and sit have
    neither replicas nor streams beyond the one orders needs.
    """
    if env not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {env!r}; expected one of {ENVIRONMENTS}")
    tags = (("managed-by", MANAGED_BY), ("environment", env))
    replicas = (dr_region,) if env in DR_ENVIRONMENTS and dr_region else ()
    tables = tuple(
        TableSpec(
            base_name=base,
            env=env,
            key=_TABLE_KEY,
            indexes=indexes,
            stream=StreamView.NEW_AND_OLD_IMAGES if replicas else stream,
            deletion_protection=env in PROTECTED_ENVIRONMENTS,
            tags=tags,
            ttl_attribute=_TTL.get(base),
            replica_regions=replicas,
        )
        for base, indexes, stream in _LAYOUT
    )
    return SchemaDefinition(env, tables)
