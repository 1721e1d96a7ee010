"""Inventory changes, as entries of the orders service's TransactWriteItems.

Whoever writes ``inventory`` keeps the item whole: ``tenant_availability`` says IN_STOCK
exactly when inventory > 0 (the ProductsByAvailability index and ``?available=`` read
it), ``version`` goes up by one (it is the ETag: a client holding the old one must not
overwrite the new stock) and ``updated_at`` is set. These entries do all three.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from bbws.schemas.dynamodb_definition import PRICE, TENANT_AVAILABILITY
from bbws.services.errors import Conflict
from bbws.services.products.items import INVENTORY, VERSION, availability, product_key, timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef


class InsufficientStock(Conflict):
    default_message = "not enough inventory"


def reserve_stock(
    table: str,
    tenant_id: str,
    product_id: str,
    quantity: int,
    *,
    on_hand: int,
    price: Decimal | None = None,
) -> TransactWriteItemTypeDef:
    """The TransactItems entry taking ``quantity`` units, for the orders transaction.

    ``on_hand`` is the inventory the caller last read; it only picks the form, the
    conditions keep it correct under concurrency. Most orders leave stock behind: then the
    update is ``inventory - q`` on condition ``inventory > q`` (no read-modify-write race,
    still in stock). Selling the last units sets 0 and OUT_OF_STOCK on condition
    ``inventory = q``, so the availability index never lags. A cancelled transaction with
    ConditionalCheckFailed here means: re-read the product and retry (or refuse the order).
    ``price``, if given, must also still be the product's price (the one the order charged).
    """
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    if on_hand < quantity:
        raise InsufficientStock()
    sells_out = on_hand == quantity
    values: dict[str, AttributeValueTypeDef] = {":q": {"N": str(quantity)}, ":one": {"N": "1"}}
    values[":now"] = {"S": timestamp(datetime.now(UTC))}
    names = {"#inv": INVENTORY, "#v": VERSION}
    if sells_out:
        values |= {":zero": {"N": "0"}, ":out": {"S": availability(tenant_id, 0)}}
        names["#avail"] = TENANT_AVAILABILITY
        update = "SET #inv = :zero, #avail = :out"
    else:  # DynamoDB refuses names or values an expression does not use
        update = "SET #inv = #inv - :q"
    condition = "#inv = :q" if sells_out else "#inv > :q"
    if price is not None:
        names["#price"], values[":price"] = PRICE, {"N": str(price)}
        condition += " AND #price = :price"
    return {
        "Update": {
            "TableName": table,
            "Key": product_key(tenant_id, product_id),
            "UpdateExpression": update + ", #v = #v + :one, updated_at = :now",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def release_stock(
    table: str, tenant_id: str, product_id: str, quantity: int
) -> TransactWriteItemTypeDef:
    """The TransactItems entry giving ``quantity`` units back (order cancelled)."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    return {
        "Update": {
            "TableName": table,
            "Key": product_key(tenant_id, product_id),
            "UpdateExpression": "SET #inv = #inv + :q, #avail = :in, #v = #v + :one, "
            "updated_at = :now",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {
                "#inv": INVENTORY,
                "#avail": TENANT_AVAILABILITY,
                "#v": VERSION,
            },
            "ExpressionAttributeValues": {
                ":q": {"N": str(quantity)},
                ":in": {"S": availability(tenant_id, 1)},
                ":one": {"N": "1"},
                ":now": {"S": timestamp(datetime.now(UTC))},
            },
        }
    }
