"""GET /products: which query serves which filters and sort, and the page loop. Never a Scan.

    sort        filters                         query
    price       category (+ price range)        ProductsByCategory: key on category + price
    price       no category                     ProductsByPriceRange: key on tenant + price
    name        available (+ anything else)     ProductsByAvailability: key on tenant + state
    name        no available                    ProductsByAvailability, both states, merged
    created_at  anything                        the table: pk + begins_with(sk, PRODUCT#)

Filters the key cannot express (``available`` on the price indexes, as ``inventory > 0``;
category or price on the availability index; everything on the table) become a
FilterExpression of that same Query. Without ``sort``, the index made for the filters
decides: price when a category or a price bound is given, else name when ``available`` is,
else created_at. ``order`` (default asc) is the direction of that key.

``sort=name`` without ``available`` queries both partitions (IN_STOCK and OUT_OF_STOCK) in
name order and merges them by the index's own order, ``(name_sort, sk)``: ``name_sort``,
then the product id. The cursor holds each partition's own position (the key right after
the last item taken from it, or its LastEvaluatedKey once its read page is used up, or
"ended"), so items read ahead and not returned are read again, never skipped, and an
ended partition is never queried again.

A filtered query may read items it then drops, so one request makes at most
``MAX_CALLS`` calls and can return a short (even empty) page with a ``next_cursor``: only
``next_cursor: null`` means the end. Cursors are signed and bound to the tenant and to the
whole query (index, filters, sort, order), so one minted for other filters is a 400.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, TypeGuard

from bbws.schemas.dynamodb_definition import (
    NAME_SORT,
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
from bbws.services.pagination import Cursors, InvalidCursor
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
    if query.available is None:  # served by name_plans: one Plan per partition
        raise ValueError("sort=name without available needs name_plans()")
    return _availability_plan(tenant_id, query, int(query.available), expr)


def _availability_plan(tenant_id: str, query: ListQuery, stock: int, expr: _Expression) -> Plan:
    key = expr.equals(TENANT_AVAILABILITY, availability(tenant_id, stock))
    filters = _category(tenant_id, query, expr)
    filters += expr.price_between(query.min_price, query.max_price)
    forward = query.order == "asc"
    return Plan(PRODUCTS_BY_AVAILABILITY, key, tuple(filters), expr, forward)


def merges_partitions(query: ListQuery) -> bool:
    """sort=name without ``available``: both availability partitions, merged by name."""
    return query.effective_sort == "name" and query.available is None


def name_plans(tenant_id: str, query: ListQuery) -> tuple[Plan, Plan]:
    """The IN_STOCK and the OUT_OF_STOCK queries of a merged sort=name listing."""
    _check_price_range(query)
    return (
        _availability_plan(tenant_id, query, 1, _Expression()),
        _availability_plan(tenant_id, query, 0, _Expression()),
    )


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
    if merges_partitions(query):
        return _list_merged(client, table, cursors, tenant_id, query, limit=limit, cursor=cursor)
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


# The merged sort=name listing ------------------------------------------------------------

_PARTITIONS: Final = ("in", "out")  # cursor prefixes: IN_STOCK (1), OUT_OF_STOCK (0)
_ENDED: Final = "end"
_START: Final = "start"
_AT: Final = "at"
_UTF8: Final = "name_sort_utf8"  # a non-ASCII name_sort, as base64url of its UTF-8


def _order_key(item: Mapping[str, AttributeValueTypeDef]) -> tuple[str, str]:
    """ProductsByAvailability's order within a partition: name_sort, then the table key
    (pk is the tenant's, so sk: the product id). Python compares str by code point, which
    is DynamoDB's order (UTF-8 bytes)."""
    return item[NAME_SORT]["S"], item[SK]["S"]


@dataclass
class _Run:
    """One partition's query, read page by page; ``start`` resumes right after what has
    been taken (or dropped by its filter), ``ended`` once nothing is after ``start``."""

    plan: Plan
    start: Item | None
    ended: bool = False
    buffer: deque[Item] = field(default_factory=deque)
    after: Item | None = None  # LastEvaluatedKey of the page in ``buffer``

    @property
    def hungry(self) -> bool:
        return not self.ended and not self.buffer

    def read(self, client: DynamoDBClient, table: str, limit: int) -> None:
        page = client.query(**self.plan.request(table, limit, self.start))
        self.buffer, self.after = deque(page["Items"]), page.get("LastEvaluatedKey")
        self._settle()

    def take(self) -> Item:
        item = self.buffer.popleft()
        self.start = self.plan.key_of(item)
        self._settle()
        return item

    def _settle(self) -> None:
        if not self.buffer:  # the page is used up: resume after it (past what it dropped)
            if self.after is None:
                self.ended = True
            else:
                self.start = self.after


def _list_merged(
    client: DynamoDBClient,
    table: str,
    cursors: Cursors,
    tenant_id: str,
    query: ListQuery,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[ProductRecord], str | None]:
    plans = name_plans(tenant_id, query)
    scope = query.scope(f"{PRODUCTS_BY_AVAILABILITY.name}:merged")
    state = cursors.decode(cursor, tenant_id=tenant_id, query=scope)
    runs = _runs(tenant_id, plans, state)
    items = _merge(client, table, runs, limit, forward=query.order == "asc")
    last = None if all(run.ended for run in runs) else _state(runs)
    return [from_item(item) for item in items], cursors.encode(
        last, tenant_id=tenant_id, query=scope
    )


def _merge(
    client: DynamoDBClient, table: str, runs: list[_Run], limit: int, *, forward: bool
) -> list[Item]:
    """Up to ``limit`` items in index order from both runs, in at most MAX_CALLS queries.

    An item is returned only once the other run cannot hold anything before it: that run
    ended, or its next item (or, its page used up, its resume position) comes later."""
    items: list[Item] = []
    calls = 0
    filtered = any(run.plan.filters for run in runs)
    while len(items) < limit:
        heads = [run for run in runs if run.buffer]
        ready = [run for run in heads if _can_take(run, runs, forward)]
        if ready:
            pick = min if forward else max
            items.append(pick(ready, key=lambda r: _order_key(r.buffer[0])).take())
            continue
        hungry = [run for run in runs if run.hungry]
        if not hungry or calls == MAX_CALLS:
            break
        need = limit - len(items)
        hungry[0].read(client, table, max(need, FILTERED_READ) if filtered else need)
        calls += 1
    return items


def _can_take(run: _Run, runs: list[_Run], forward: bool) -> bool:
    head = _order_key(run.buffer[0])
    for other in runs:
        if other is run or other.ended:
            continue
        if other.buffer:  # its next item
            mark = _order_key(other.buffer[0])
        elif other.start is not None:  # page used up: unseen is only what follows start
            mark = _order_key(other.start)
        else:  # never read
            return False
        if (mark < head) if forward else (mark > head):
            return False
    return True


def _state(runs: list[_Run]) -> dict[str, AttributeValueTypeDef]:
    """Each partition's position, flat, for ``Cursors``: ``in``/``out`` is start, at or
    end; ``at`` adds the resume key's name_sort and sk (pk and the partition are implied)."""
    state: dict[str, AttributeValueTypeDef] = {}
    for prefix, run in zip(_PARTITIONS, runs, strict=True):
        if run.ended:
            state[prefix] = {"S": _ENDED}
        elif run.start is None:
            state[prefix] = {"S": _START}
        else:
            state[prefix] = {"S": _AT}
            name = run.start[NAME_SORT]["S"]
            if name.isascii():
                state[f"{prefix}.{NAME_SORT}"] = {"S": name}
            else:  # JSON would escape each character as \uXXXX: UTF-8 in base64 is shorter
                state[f"{prefix}.{_UTF8}"] = {"S": _b64(name.encode())}
            state[f"{prefix}.{SK}"] = run.start[SK]
    return state


def _runs(tenant_id: str, plans: tuple[Plan, Plan], state: Mapping[str, Any] | None) -> list[_Run]:
    if state is None:
        return [_Run(p, None) for p in plans]
    runs = []
    for prefix, stock, chosen in zip(_PARTITIONS, (1, 0), plans, strict=True):
        mode = state.get(prefix)
        if mode == {"S": _ENDED}:
            runs.append(_Run(chosen, None, ended=True))
        elif mode == {"S": _START}:
            runs.append(_Run(chosen, None))
        elif mode == {"S": _AT}:
            name, sk = _name_sort(state, prefix), state.get(f"{prefix}.{SK}")
            if not _is_string(sk) or not sk["S"].startswith(PRODUCT + "#"):
                raise InvalidCursor()
            start: Item = {
                PK: {"S": tenant_partition(tenant_id)},
                SK: {"S": sk["S"]},
                TENANT_AVAILABILITY: {"S": availability(tenant_id, stock)},
                NAME_SORT: {"S": name},
            }
            runs.append(_Run(chosen, start))
        else:
            raise InvalidCursor()
    if all(run.ended for run in runs):
        raise InvalidCursor()
    return runs


def _name_sort(state: Mapping[str, Any], prefix: str) -> str:
    plain, utf8 = state.get(f"{prefix}.{NAME_SORT}"), state.get(f"{prefix}.{_UTF8}")
    if _is_string(plain) and utf8 is None:
        return plain["S"]
    if _is_string(utf8) and plain is None:
        try:
            return base64.urlsafe_b64decode(utf8["S"] + "=" * (-len(utf8["S"]) % 4)).decode()
        except (ValueError, binascii.Error):
            pass
    raise InvalidCursor()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _is_string(value: object) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)
