"""Campaign items in the campaigns table, and the discount query the orders service uses.

Item (``campaigns-<env>``, resource API types; absent attributes mean "none"):

    pk                S   TENANT#<tenant id>
    sk                S   CAMPAIGN#<ULID>
    id                S   the ULID (also in sk), for stream readers and ad-hoc queries
    name              S
    description       S   absent when none
    status            S   draft | active | paused | ended
    tenant_status     S   TENANT#<tenant id>#<status>: CampaignsByStatus partition
    created_at        S   2026-01-10T10:00:00.000Z: CampaignsByStatus sort key
    updated_at        S   same shape
    start_date        S   2026-02-01T00:00:00Z (UTC, to the second: string order is time order)
    end_date          S   same shape, exclusive; absent: open-ended
    discount_percent  N   0 < x <= 90, two decimals; absent: no discount
    product_ids       L   of S: product ULIDs (products table: sk PRODUCT#<ULID>), maybe empty
    version           N   1 on create, +1 per write: the ETag and the optimistic lock

Importing this module builds nothing and does not import the app.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from pydantic import ValidationError

from bbws.schemas.dynamodb_definition import (
    CAMPAIGNS_BY_STATUS,
    CREATED_AT,
    PK,
    SK,
    TENANT_STATUS,
    entity_key,
    tenant_partition,
    tenant_scoped,
)
from bbws.services.campaigns.models import (
    Campaign,
    CampaignStatus,
    format_instant,
    format_timestamp,
)
from bbws.services.errors import ApiError, Conflict, TooManyRequests, on_condition_failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

CAMPAIGN: Final = "CAMPAIGN"
PRODUCT: Final = "PRODUCT"  # the products service's sk prefix (docs/bbws/services.md, Ids)
VERSION: Final = "version"
START_DATE: Final = "start_date"
END_DATE: Final = "end_date"
DISCOUNT: Final = "discount_percent"
PRODUCT_IDS: Final = "product_ids"
DESCRIPTION: Final = "description"
_OPTIONAL: Final = (DESCRIPTION, END_DATE, DISCOUNT)
_BATCH_ATTEMPTS: Final = 4
Key_ = dict[str, Any]  # a DynamoDB key in resource form


def campaign_key(tenant_id: str, campaign_id: str) -> Key_:
    return {PK: tenant_partition(tenant_id), SK: entity_key(CAMPAIGN, campaign_id)}


def to_item(tenant_id: str, campaign: Campaign) -> dict[str, Any]:
    item: dict[str, Any] = {
        **campaign_key(tenant_id, campaign.id),
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status.value,
        TENANT_STATUS: tenant_scoped(tenant_id, campaign.status.value),
        CREATED_AT: format_timestamp(campaign.created_at),
        "updated_at": format_timestamp(campaign.updated_at),
        START_DATE: format_instant(campaign.start_date),
        PRODUCT_IDS: list(campaign.product_ids),
        VERSION: campaign.version,
    }
    # DynamoDB has no use for nulls: an absent attribute means none.
    if campaign.description is not None:
        item[DESCRIPTION] = campaign.description
    if campaign.end_date is not None:
        item[END_DATE] = format_instant(campaign.end_date)
    if campaign.discount_percent is not None:
        item[DISCOUNT] = campaign.discount_percent  # a Decimal: resource API numbers
    return item


class CorruptItem(Exception):
    """A stored item that is not a campaign: our data's fault, so a 500, never a 400."""


def from_item(item: Mapping[str, Any]) -> Campaign:
    try:
        return _campaign(item)
    except (KeyError, ValidationError) as exc:
        # A pydantic error escaping a route would be mapped to the client's 400.
        raise CorruptItem(f"item {item.get(SK)!r} is not a campaign") from exc


def _campaign(item: Mapping[str, Any]) -> Campaign:
    return Campaign.model_validate(
        {
            "id": item["id"],
            "name": item["name"],
            "status": item["status"],
            "start_date": item[START_DATE],
            "product_ids": list(item.get(PRODUCT_IDS, [])),
            "version": int(item[VERSION]),
            "created_at": item[CREATED_AT],
            "updated_at": item["updated_at"],
            **{name: item.get(name) for name in _OPTIONAL},
        }
    )


class CampaignRepository:
    """One tenant-scoped operation per method; every key is built from the tenant id."""

    def __init__(
        self, connect: Callable[[], DynamoDBServiceResource], campaigns: str, products: str
    ) -> None:
        # Connected at first use: building the app (for its OpenAPI document, say) needs no
        # AWS region or credentials.
        self._connect = connect
        self._campaigns = campaigns
        self._products = products

    @functools.cached_property
    def _dynamodb(self) -> DynamoDBServiceResource:
        return self._connect()

    @functools.cached_property
    def table(self) -> Table:
        return self._dynamodb.Table(self._campaigns)

    def get(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        item = self.table.get_item(Key=campaign_key(tenant_id, campaign_id)).get("Item")
        return from_item(item) if item else None

    def create(self, tenant_id: str, campaign: Campaign) -> None:
        # ULIDs do not collide in practice; the condition makes sure one never overwrites.
        with on_condition_failure(Conflict("campaign id already taken; retry")):
            self.table.put_item(
                Item=to_item(tenant_id, campaign), ConditionExpression=Attr(PK).not_exists()
            )

    def replace(
        self, tenant_id: str, campaign: Campaign, read_version: int, stale: ApiError
    ) -> None:
        """Write ``campaign`` if the stored version is still the one read, else ``stale``."""
        with on_condition_failure(stale):
            self.table.put_item(
                Item=to_item(tenant_id, campaign),
                ConditionExpression=Attr(VERSION).eq(read_version),
            )

    def delete(
        self, tenant_id: str, campaign_id: str, read_version: int | None, stale: ApiError
    ) -> None:
        """Delete if it still exists (``read_version`` None) or is still at that version."""
        condition = Attr(PK).exists() if read_version is None else Attr(VERSION).eq(read_version)
        with on_condition_failure(stale):
            self.table.delete_item(
                Key=campaign_key(tenant_id, campaign_id), ConditionExpression=condition
            )

    def page(
        self, tenant_id: str, status: CampaignStatus | None, limit: int, start: Key_ | None
    ) -> tuple[list[Campaign], Key_ | None]:
        """Newest first: the base table by sk (ULID) or CampaignsByStatus by created_at."""
        if status is None:
            query: dict[str, Any] = {
                "KeyConditionExpression": Key(PK).eq(tenant_partition(tenant_id))
                & Key(SK).begins_with(f"{CAMPAIGN}#")
            }
            key_names: tuple[str, ...] = (PK, SK)
        else:
            index = CAMPAIGNS_BY_STATUS.key
            query = {
                "IndexName": CAMPAIGNS_BY_STATUS.name,
                "KeyConditionExpression": Key(index.partition.name).eq(
                    tenant_scoped(tenant_id, status.value)
                ),
            }
            key_names = (PK, SK, index.partition.name, str(index.sort_name))
        if start:
            query["ExclusiveStartKey"] = start
        # One item more than asked: if it comes back there is a next page, and the cursor is
        # built from the last item shown, so the last page is never an empty one.
        result = self.table.query(ScanIndexForward=False, Limit=limit + 1, **query)
        items = result.get("Items", [])
        if len(items) > limit:
            items = items[:limit]
            next_key: Key_ | None = {name: items[-1][name] for name in key_names}
        else:  # fewer came back: the end, unless DynamoDB stopped at its 1 MB page size
            next_key = result.get("LastEvaluatedKey")
        return [from_item(item) for item in items], next_key

    def missing_products(self, tenant_id: str, product_ids: list[str]) -> list[str]:
        """Those of ``product_ids`` that are not products of this tenant."""
        if not product_ids:
            return []
        partition = tenant_partition(tenant_id)
        keys = [{PK: partition, SK: entity_key(PRODUCT, pid)} for pid in product_ids]
        found: set[str] = set()
        request: dict[str, Any] = {
            self._products: {
                "Keys": keys,
                "ProjectionExpression": "#sk",
                "ExpressionAttributeNames": {"#sk": SK},
            }
        }
        for attempt in range(_BATCH_ATTEMPTS):
            response = self._dynamodb.batch_get_item(RequestItems=request)
            found.update(str(item[SK]) for item in response["Responses"].get(self._products, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return [pid for pid in product_ids if entity_key(PRODUCT, pid) not in found]
            time.sleep(0.05 * 2**attempt)  # throttled: back off as AWS asks for batch calls
        raise TooManyRequests("the products table is busy; retry", retry_after_s=1)


# --- for the orders service ---------------------------------------------------------------


@dataclass(frozen=True)
class Discount:
    campaign_id: str
    percent: Decimal  # 0 < percent <= 90, two decimals at most


def active_discounts(
    table: Table, tenant_id: str, product_ids: Iterable[str], at: datetime
) -> dict[str, Discount]:
    """The discount each product gets at ``at``: {product_id: Discount}, products without
    one left out.

    A campaign discounts a product when its status is ``active``, it lists the product, it
    has a ``discount_percent`` and ``start_date <= at < end_date`` (no end: open-ended). A
    paused campaign discounts nothing. Campaigns do not stack: a product in several gets the
    highest percent; on a tie the newest campaign (largest id) wins, so the answer is
    deterministic. ``table`` is ``boto3.resource("dynamodb").Table(settings.campaigns_table)``;
    one query of CampaignsByStatus (``tenant_status = TENANT#<t>#active``), all pages.
    """
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    wanted = set(product_ids)
    if not wanted:
        return {}
    best: dict[str, Discount] = {}
    for item in _active_in_window(table, tenant_id, format_instant(at)):
        offer = Discount(str(item["id"]), Decimal(item[DISCOUNT]))
        for product_id in wanted.intersection(item.get(PRODUCT_IDS, [])):
            current = best.get(product_id)
            if current is None or _rank(offer) > _rank(current):
                best[product_id] = offer
    return best


def _rank(discount: Discount) -> tuple[Decimal, str]:
    return discount.percent, discount.campaign_id


def _active_in_window(table: Table, tenant_id: str, moment: str) -> Iterable[Mapping[str, Any]]:
    # ``moment`` is truncated to the second like the stored dates, so these string
    # comparisons are exact time comparisons.
    window: ConditionBase = (
        Attr(START_DATE).lte(moment)
        & (Attr(END_DATE).not_exists() | Attr(END_DATE).gt(moment))
        & Attr(DISCOUNT).exists()
    )
    status_key = CAMPAIGNS_BY_STATUS.key.partition.name
    query: dict[str, Any] = {
        "IndexName": CAMPAIGNS_BY_STATUS.name,
        "KeyConditionExpression": Key(status_key).eq(
            tenant_scoped(tenant_id, CampaignStatus.ACTIVE.value)
        ),
        "FilterExpression": window,
    }
    while True:
        result = table.query(**query)
        yield from result.get("Items", [])
        if "LastEvaluatedKey" not in result:
            return
        query["ExclusiveStartKey"] = result["LastEvaluatedKey"]
