"""A product as a ``products-{env}`` item: the layout, and conversions both ways.

One product, in its tenant's partition (every attribute name below that the schema knows is
imported from ``bbws.schemas.dynamodb_definition``)::

    pk                   S  TENANT#<tenant>                      table key
    sk                   S  PRODUCT#<ULID>                       table key, creation order
    id                   S  the ULID
    name, description    S
    name_sort            S  casefolded name                      ProductsByAvailability sort
    category             S
    tenant_category      S  TENANT#<tenant>#<category>           ProductsByCategory partition
    price                N  exact decimal, 2 places              ByCategory / ByPriceRange sort
    currency             S  ISO 4217
    inventory            N  units on hand, >= 0                  decremented by orders
    tenant_availability  S  TENANT#<tenant>#IN_STOCK|OUT_OF_STOCK  (inventory > 0 or not)
    sku                  S  as given
    image_url            S  absent when there is none
    created_at           S  ISO-8601 UTC, the ULID's time
    updated_at           S
    version              N  1, 2, ...: +1 on every write, orders' stock updates included; ETag

and one marker per SKU, ``pk, sk = SKU#<SKU upper-cased>, product_id``, written in the same
transaction as the product so that SKUs are unique per tenant (case-insensitively). Markers
carry no GSI attribute, so no listing ever sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from ulid import ULID

from bbws.schemas.dynamodb_definition import (
    NAME_SORT,
    PK,
    PRICE,
    SK,
    TENANT_AVAILABILITY,
    TENANT_CATEGORY,
    entity_key,
    tenant_partition,
    tenant_scoped,
)
from bbws.services.ids import new_id
from bbws.services.products.models import Product, ProductCreate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

Item = dict[str, "AttributeValueTypeDef"]

PRODUCT: Final = "PRODUCT"
SKU: Final = "SKU"
INVENTORY: Final = "inventory"
VERSION: Final = "version"
IN_STOCK: Final = "IN_STOCK"
OUT_OF_STOCK: Final = "OUT_OF_STOCK"


@dataclass(frozen=True)
class ProductRecord:
    id: str
    name: str
    description: str
    category: str
    price: Decimal
    currency: str
    inventory: int
    sku: str
    image_url: str | None
    created_at: str
    updated_at: str
    version: int

    def out(self) -> Product:
        fields = {**self.__dict__, "price": float(self.price), "available": self.inventory > 0}
        return Product.model_validate(fields)


def product_key(tenant_id: str, product_id: str) -> Item:
    return {PK: {"S": tenant_partition(tenant_id)}, SK: {"S": entity_key(PRODUCT, product_id)}}


def sku_key(tenant_id: str, sku: str) -> Item:
    return {PK: {"S": tenant_partition(tenant_id)}, SK: {"S": entity_key(SKU, sku.upper())}}


def availability(tenant_id: str, inventory: int) -> str:
    return tenant_scoped(tenant_id, IN_STOCK if inventory > 0 else OUT_OF_STOCK)


def attributes(tenant_id: str, fields: Mapping[str, Any]) -> Item:
    """Item attributes for product fields, with the index attributes derived from them."""
    item: Item = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in (PRICE, INVENTORY, VERSION):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": str(value)}
    if "name" in fields:
        item[NAME_SORT] = {"S": str(fields["name"]).casefold()}
    if "category" in fields:
        item[TENANT_CATEGORY] = {"S": tenant_scoped(tenant_id, str(fields["category"]))}
    if INVENTORY in fields:
        item[TENANT_AVAILABILITY] = {"S": availability(tenant_id, int(fields[INVENTORY]))}
    return item


def from_item(item: Mapping[str, AttributeValueTypeDef]) -> ProductRecord:
    def text(name: str) -> str:
        return item[name].get("S", "") if name in item else ""

    return ProductRecord(
        id=text("id"),
        name=text("name"),
        description=text("description"),
        category=text("category"),
        price=Decimal(item[PRICE]["N"]),
        currency=text("currency"),
        inventory=int(item[INVENTORY]["N"]),
        sku=text("sku"),
        image_url=text("image_url") or None,
        created_at=text("created_at"),
        updated_at=text("updated_at"),
        version=int(item[VERSION]["N"]),
    )


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_product(tenant_id: str, data: ProductCreate) -> tuple[Item, Item]:
    """A new product's item and its SKU marker; created_at is the ULID's own time, so the
    table's sk order and created_at order agree."""
    product_id = new_id()
    created = timestamp(ULID.from_str(product_id).datetime)
    fields = {**data.model_dump(), "id": product_id, "created_at": created}
    item = {**product_key(tenant_id, product_id), **attributes(tenant_id, fields)}
    item |= {"updated_at": {"S": created}, VERSION: {"N": "1"}}
    marker: Item = {**sku_key(tenant_id, data.sku), "product_id": {"S": product_id}}
    return item, marker


def put_new(table: str, item: Item) -> TransactWriteItemTypeDef:
    return {
        "Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
    }
