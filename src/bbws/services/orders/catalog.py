"""Read-only views of the products and campaigns tables, as the orders service needs them.

The products and campaigns services own those items; this module reads them directly
(one BatchGetItem, one GSI query) rather than over HTTP, so placing an order costs no extra
hop. What it assumes about their layout, to be kept in step with those services:

products  pk = TENANT#<tenant>, sk = PRODUCT#<id>; ``name`` (S), ``price`` (N, currency
          units, e.g. 149.00), ``inventory`` (N, whole units), ``currency`` (S, default
          ZAR when absent), optional ``status``: anything but "active" is not for sale.
campaigns pk = TENANT#<tenant>, sk = CAMPAIGN#<id>, ``tenant_status`` = TENANT#<tenant>#active
          (CampaignsByStatus), ``status`` "active", ``discount_percent`` (N, 0-100),
          ``product_ids`` (L of S or SS; a campaign without ids discounts nothing),
          ``start_date`` / ``end_date`` (ISO date = the whole day UTC, or ISO date-time;
          absent = unbounded).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from time import sleep
from typing import TYPE_CHECKING, Any, Final

from bbws.schemas.dynamodb_definition import (
    CAMPAIGNS_BY_STATUS,
    PK,
    SK,
    entity_key,
    tenant_partition,
    tenant_scoped,
)
from bbws.services.orders.items import from_dynamo, to_dynamo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PRODUCT: Final = "PRODUCT"
DEFAULT_CURRENCY: Final = "ZAR"
ACTIVE: Final = "active"
_BATCH: Final = 100  # BatchGetItem's limit
_MAX_CAMPAIGN_PAGES: Final = 20  # bounds the read if a tenant piles up active campaigns


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: Decimal
    inventory: int
    currency: str


@dataclass(frozen=True)
class Discount:
    percent: Decimal
    campaign_id: str


def product_key(tenant_id: str, product_id: str) -> dict[str, Any]:
    return to_dynamo({PK: tenant_partition(tenant_id), SK: entity_key(PRODUCT, product_id)})


def fetch_products(
    client: DynamoDBClient, table: str, tenant_id: str, product_ids: Iterable[str]
) -> dict[str, Product]:
    """The products for sale among ``product_ids`` (strongly consistent: stock is checked)."""
    found: dict[str, Product] = {}
    for raw in _batch_get(client, table, tenant_id, product_ids):
        product = _product(from_dynamo(raw))
        if product is not None:
            found[product.id] = product
    return found


def existing_products(
    client: DynamoDBClient, table: str, tenant_id: str, product_ids: Iterable[str]
) -> set[str]:
    """Which of ``product_ids`` still exist, for sale or not (a restock needs no more)."""
    items = _batch_get(client, table, tenant_id, product_ids, projection="#sk")
    return {str(from_dynamo(item)[SK]).removeprefix(f"{PRODUCT}#") for item in items}


def _batch_get(
    client: DynamoDBClient,
    table: str,
    tenant_id: str,
    product_ids: Iterable[str],
    *,
    projection: str | None = None,
) -> list[dict[str, Any]]:
    wanted = list(dict.fromkeys(product_ids))
    items: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _BATCH):
        keys = [product_key(tenant_id, pid) for pid in wanted[start : start + _BATCH]]
        request: dict[str, Any] = {"Keys": keys, "ConsistentRead": True}
        if projection:
            request |= {"ProjectionExpression": projection, "ExpressionAttributeNames": {"#sk": SK}}
        pending: dict[str, Any] = {table: request}
        for attempt in itertools.count():
            response = client.batch_get_item(RequestItems=pending)
            items.extend(response.get("Responses", {}).get(table, []))
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending:
                break
            # UnprocessedKeys is DynamoDB shedding load: back off, then ask for the rest.
            sleep(min(0.05 * 2**attempt, 1.0))
    return items


def _product(data: Mapping[str, Any]) -> Product | None:
    sk = str(data.get(SK, ""))
    price, inventory = data.get("price"), data.get("inventory")
    if data.get("status", ACTIVE) != ACTIVE:
        return None
    if not isinstance(price, Decimal) or not isinstance(inventory, Decimal) or price < 0:
        return None  # not sellable: no trustworthy price or stock
    product_id = sk.removeprefix(f"{PRODUCT}#")
    return Product(
        id=product_id,
        name=str(data.get("name") or product_id),
        price=price,
        inventory=int(inventory),
        currency=str(data.get("currency") or DEFAULT_CURRENCY),
    )


def active_discounts(
    client: DynamoDBClient,
    table: str,
    tenant_id: str,
    product_ids: Iterable[str],
    now: datetime,
) -> dict[str, Discount]:
    """The best running discount per product. Campaigns may overlap; the customer gets the
    largest one, never the sum (two 50 % campaigns must not make a product free)."""
    wanted = set(product_ids)
    best: dict[str, Discount] = {}
    for campaign in _active_campaigns(client, table, tenant_id):
        discount = _discount(campaign, now)
        if discount is None:
            continue
        for product_id in wanted & _product_ids(campaign.get("product_ids")):
            current = best.get(product_id)
            if current is None or discount.percent > current.percent:
                best[product_id] = discount
    return best


def _active_campaigns(
    client: DynamoDBClient, table: str, tenant_id: str
) -> Iterable[dict[str, Any]]:
    index = CAMPAIGNS_BY_STATUS
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": index.name,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": index.key.partition.name},
        "ExpressionAttributeValues": to_dynamo({":p": tenant_scoped(tenant_id, ACTIVE)}),
    }
    for _ in range(_MAX_CAMPAIGN_PAGES):
        page = client.query(**query)
        yield from (from_dynamo(item) for item in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _discount(campaign: Mapping[str, Any], now: datetime) -> Discount | None:
    # The GSI is eventually consistent: re-check the item's own status and its dates.
    if campaign.get("status") != ACTIVE or not _running(campaign, now):
        return None
    try:
        percent = Decimal(str(campaign.get("discount_percent")))
    except InvalidOperation:
        return None
    if not percent.is_finite() or not 0 < percent <= 100:
        return None
    campaign_id = str(campaign.get(SK, "")).partition("#")[2] or str(campaign.get(SK, ""))
    return Discount(percent=percent, campaign_id=campaign_id)


def _running(campaign: Mapping[str, Any], now: datetime) -> bool:
    try:
        start = _moment(campaign.get("start_date"), end=False)
        end = _moment(campaign.get("end_date"), end=True)
    except ValueError:
        return False  # unreadable dates: never guess a discount
    return (start is None or start <= now) and (end is None or now < end)


def _moment(raw: Any, *, end: bool) -> datetime | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if len(text) == 10:  # a date means the whole day (UTC), so an end date is inclusive
        day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
        return datetime.combine(day, time(), tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _product_ids(raw: Any) -> set[str]:
    if isinstance(raw, (list, set, tuple)):
        return {str(v) for v in raw}
    return set()
