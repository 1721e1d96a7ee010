"""GET /products: which query serves which filters and sort, and the page loop. Never a Scan.

    sort        filters                         query
    price       category (+ price range)        ProductsByCategory: key on category + price
    price       no category                     ProductsByPriceRange: key on tenant + price
    name        available (+ anything else)     ProductsByAvailability: key on tenant + state
    name        no available                    400: no index holds a tenant's catalogue by name
    created_at  anything                        the table: pk + begins_with(sk, PRODUCT#)

Filters the key cannot express (``available`` on the price indexes, as ``inventory > 0``;
category or price on the availability index; everything on the table) become a
FilterExpression of that same Query. Without ``sort``, the index made for the filters
decides: price when a category or a price bound is given, else name when ``available`` is,
else created_at. ``order`` (default asc) is the direction of that key.

A filtered query may read items it then drops, so one request makes at most
``MAX_CALLS`` calls and can return a short (even empty) page with a ``next_cursor``: only
``next_cursor: null`` means the end. Cursors are signed and bound to the tenant and to the
whole query (index, filters, sort, order), so one minted for other filters is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from bbws.schemas.dynamodb_definition import (
    PK,
    PRICE,
    PRODUCTS_BY_AVAILABILITY,
    PRODUCTS_BY_CATEGORY,
    PRODUCTS_BY_PRICE_RANGE,
    SK,
    TENANT_AVAILABILITY,
    TENANT_CATEGORY,
    IndexSpec,
    tenant_partition,
    tenant_scoped,
)
from bbws.services.errors import ValidationFailed
from bbws.services.pagination import Cursors
from bbws.services.products.items import (
    INVENTORY,
    PRODUCT,
    Item,
    ProductRecord,
    availability,
    from_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef

Sort = Literal["price", "name", "created_at"]
Order = Literal["asc", "desc"]
MAX_CALLS: Final = 5
FILTERED_READ: Final = 100  # items evaluated per call when a filter may drop some


@dataclass(frozen=True)
class ListQuery:
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    available: bool | None = None
    sort: Sort | None = None
    order: Order = "asc"

    @property
    def effective_sort(self) -> Sort:
        if self.sort is not None:
            return self.sort
        if self.category is not None or self.min_price is not None or self.max_price is not None:
            return "price"
        return "name" if self.available is not None else "created_at"

    def scope(self, index: str) -> dict[str, Any]:
        """What a cursor is bound to, besides the tenant."""
        return {
            "index": index,
            "category": self.category,
            "min": None if self.min_price is None else str(self.min_price),
            "max": None if self.max_price is None else str(self.max_price),
            "available": self.available,
            "sort": self.effective_sort,
            "order": self.order,
        }


@dataclass
class _Expression:
    """Placeholders for names and values, so user input never becomes expression text."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, AttributeValueTypeDef] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: AttributeValueTypeDef) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def equals(self, attribute: str, text: str) -> str:
        return f"{self.name(attribute)} = {self.value({'S': text})}"

    def price_between(self, low: Decimal | None, high: Decimal | None) -> list[str]:
        if low is None and high is None:
            return []
        price = self.name(PRICE)
        if low is not None and high is not None:
            lo, hi = self.value({"N": str(low)}), self.value({"N": str(high)})
            return [f"{price} BETWEEN {lo} AND {hi}"]
        if low is not None:
            return [f"{price} >= {self.value({'N': str(low)})}"]
        return [f"{price} <= {self.value({'N': str(high)})}"]


@dataclass(frozen=True)
class Plan:
    index: IndexSpec | None  # None: the table itself
    key_condition: str
    filters: tuple[str, ...]
    expression: _Expression
    forward: bool

    @property
    def label(self) -> str:
        return self.index.name if self.index else "table"

    def key_of(self, item: Mapping[str, AttributeValueTypeDef]) -> Item:
        """The ExclusiveStartKey that resumes right after ``item``."""
        names = [PK, SK]
        if self.index is not None:
            names += [a.name for a in self.index.key.attributes if a.name not in names]
        return {name: item[name] for name in names}

    def request(self, table: str, limit: int, start: Item | None) -> QueryInputTypeDef:
        request: QueryInputTypeDef = {
            "TableName": table,
            "KeyConditionExpression": self.key_condition,
            "ExpressionAttributeNames": self.expression.names,
            "ExpressionAttributeValues": self.expression.values,
            "ScanIndexForward": self.forward,
            "Limit": limit,
        }
        if self.index is not None:
            request["IndexName"] = self.index.name
        if self.filters:
            request["FilterExpression"] = " AND ".join(self.filters)
        if start:
            request["ExclusiveStartKey"] = start
        return request


def plan(tenant_id: str, query: ListQuery) -> Plan:
    _check_price_range(query)
    sort, expr = query.effective_sort, _Expression()
    if sort == "price":
        return _price_plan(tenant_id, query, expr)
    if sort == "name":
        return _name_plan(tenant_id, query, expr)
    # created_at: ULIDs make sk the creation order, and created_at is the ULID's time.
    key = f"{expr.equals(PK, tenant_partition(tenant_id))} AND begins_with("
    key += f"{expr.name(SK)}, {expr.value({'S': PRODUCT + '#'})})"
    filters = _category(tenant_id, query, expr)
    filters += expr.price_between(query.min_price, query.max_price)
    filters += _in_stock(query, expr)
    return Plan(None, key, tuple(filters), expr, query.order == "asc")


def _price_plan(tenant_id: str, query: ListQuery, expr: _Expression) -> Plan:
    if query.category is not None:
        index = PRODUCTS_BY_CATEGORY
        key = [expr.equals(TENANT_CATEGORY, tenant_scoped(tenant_id, query.category))]
    else:
        index = PRODUCTS_BY_PRICE_RANGE
        key = [expr.equals(PK, tenant_partition(tenant_id))]
    key += expr.price_between(query.min_price, query.max_price)
    filters = _in_stock(query, expr)
    return Plan(index, " AND ".join(key), tuple(filters), expr, query.order == "asc")


def _name_plan(tenant_id: str, query: ListQuery, expr: _Expression) -> Plan:
    if query.available is None:
        raise ValidationFailed(
            "sort=name is served by the availability index only: add available=true or "
            "available=false (or sort by price or created_at)",
            details=[{"field": "query.sort", "type": "unsupported_combination"}],
        )
    key = expr.equals(TENANT_AVAILABILITY, availability(tenant_id, int(query.available)))
    filters = _category(tenant_id, query, expr)
    filters += expr.price_between(query.min_price, query.max_price)
    forward = query.order == "asc"
    return Plan(PRODUCTS_BY_AVAILABILITY, key, tuple(filters), expr, forward)


def _category(tenant_id: str, query: ListQuery, expr: _Expression) -> list[str]:
    if query.category is None:
        return []
    return [expr.equals(TENANT_CATEGORY, tenant_scoped(tenant_id, query.category))]


def _in_stock(query: ListQuery, expr: _Expression) -> list[str]:
    # A filter reads the inventory itself: exact even if some writer of inventory left
    # tenant_availability (which only the availability index needs) behind.
    if query.available is None:
        return []
    inventory, zero = expr.name(INVENTORY), expr.value({"N": "0"})
    return [f"{inventory} > {zero}" if query.available else f"{inventory} <= {zero}"]


def _check_price_range(query: ListQuery) -> None:
    low, high = query.min_price, query.max_price
    if low is not None and high is not None and low > high:
        raise ValidationFailed(
            "min_price is above max_price",
            details=[{"field": "query.min_price", "type": "greater_than_max_price"}],
        )


def list_products(
    client: DynamoDBClient,
    table: str,
    cursors: Cursors,
    tenant_id: str,
    query: ListQuery,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[ProductRecord], str | None]:
    chosen = plan(tenant_id, query)
    scope = query.scope(chosen.label)
    start = cursors.decode(cursor, tenant_id=tenant_id, query=scope)
    items, last = _pages(client, table, chosen, limit, start)
    next_cursor = cursors.encode(last, tenant_id=tenant_id, query=scope)
    return [from_item(item) for item in items], next_cursor


def _pages(
    client: DynamoDBClient, table: str, chosen: Plan, limit: int, start: Item | None
) -> tuple[list[Item], Item | None]:
    """Up to ``limit`` items from at most MAX_CALLS queries, and where to resume."""
    items: list[Item] = []
    for _ in range(MAX_CALLS):
        need = limit - len(items)
        read = max(need, FILTERED_READ) if chosen.filters else need
        page = client.query(**chosen.request(table, read, start))
        got, start = page["Items"], page.get("LastEvaluatedKey")
        if len(got) > need:  # read ahead past a filter: resume after the last one we keep
            items += got[:need]
            return items, chosen.key_of(items[-1])
        items += got
        if start is None or len(items) == limit:
            return items, start
    return items, start
