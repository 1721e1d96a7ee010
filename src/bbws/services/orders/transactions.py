"""Placing and cancelling orders: each one TransactWriteItems over the order and its stock.

The stock entries are the products service's own (``products.stock``), so every stock
change also sets ``tenant_availability`` (the ProductsByAvailability index), adds 1 to
``version`` (the product's ETag) and sets ``updated_at``, exactly as a products write does.

Placing: each line is ``reserve_stock(..., on_hand=<inventory read>, price=<price read>)``:
``inventory - q`` on condition ``inventory > q``, or, for the last units, ``inventory = 0``
and OUT_OF_STOCK on condition ``inventory = q``. Together they are ``inventory >= q``, so
stock can never go negative however many orders race for it; both also require the price
the order was priced at (no order is charged a price the catalogue no longer holds) and,
through those comparisons, that the product exists. The order is put in the same
transaction, all or nothing.

Cancelling: the order moves to ``cancelled`` on the condition that its status is still the
one read, and every line whose product still exists gets ``release_stock`` (``inventory +
q``, IN_STOCK; on ``attribute_exists``, so a deleted product is never recreated), all or
nothing. The condition makes the restock happen exactly once: a second cancel, concurrent
or later, fails it (409).

A cancelled transaction is re-read and retried (with jitter) a few times: the re-read tells
a real refusal (out of stock: 409 naming the products; already cancelled: 409) from a race
that a retry resolves (stock moved under the form ``on_hand`` picked, a price edit,
DynamoDB's ``TransactionConflict``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError
from ulid import ULID

from bbws.services.campaigns.repository import Discount, active_discounts
from bbws.services.errors import Conflict
from bbws.services.orders import pricing
from bbws.services.orders.catalog import read_products
from bbws.services.orders.items import order_item, order_key, status_update, timestamp, to_dynamo
from bbws.services.orders.model import CANCELLABLE, Order, OrderIn, Status
from bbws.services.orders.store import OrderStore
from bbws.services.products.items import ProductRecord
from bbws.services.products.stock import release_stock, reserve_stock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_ATTEMPTS: Final = 4
_RETRYABLE: Final = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def place(store: OrderStore, tenant_id: str, customer_id: str, request: OrderIn) -> Order:
    """A new ``pending`` order, its stock taken; 400 unknown product, 409 out of stock."""
    product_ids = [line.product_id for line in request.items]
    for attempt in range(MAX_ATTEMPTS):
        products = _read_products(store, tenant_id, product_ids)
        pricing.unknown_products(request.items, products)
        pricing.check_stock(request.items, products)
        currency = pricing.currency_of(request.items, products)
        moment = store.clock()
        discounts = active_discounts(store.campaigns, tenant_id, product_ids, moment)
        order = _new_order(request, customer_id, currency, moment, products, discounts)
        writes = [
            reserve_stock(
                store.tables.products,
                tenant_id,
                line.product_id,
                line.quantity,
                on_hand=products[line.product_id].inventory,
                price=products[line.product_id].price,
            )
            for line in request.items
        ]
        writes.append(
            {
                "Put": {
                    "TableName": store.tables.orders,
                    "Item": order_item(tenant_id, order),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        if _transact(store, writes):
            return order
        store.backoff(attempt)
    raise Conflict("the catalogue kept changing while the order was placed; retry")


def cancel(
    store: OrderStore,
    tenant_id: str,
    order_id: str,
    *,
    reason: str,
    owner: str | None = None,
    allowed: Collection[Status] = CANCELLABLE,
    placed_before: str | None = None,
) -> Order:
    """Cancel and restock, exactly once. ``owner``: a member's own orders only (404
    otherwise); ``allowed``/``placed_before``: the sweeper's stricter preconditions."""
    for attempt in range(MAX_ATTEMPTS):
        order = store.require(tenant_id, order_id, owner=owner)
        if order.status not in allowed:
            raise Conflict(f"an order that is {order.status.value} cannot be cancelled")
        if placed_before is not None and order.created_at >= placed_before:
            raise Conflict("the order is not stale")
        now = store.now()
        writes = [_cancel_write(store, tenant_id, order, reason, now)]
        # A product deleted since the order was placed has no stock to give back to (and
        # release_stock's attribute_exists would cancel the whole transaction).
        still_there = _read_products(store, tenant_id, [line.product_id for line in order.items])
        writes += [
            release_stock(store.tables.products, tenant_id, line.product_id, line.quantity)
            for line in order.items
            if line.product_id in still_there
        ]
        if _transact(store, writes):
            update = {"status": Status.CANCELLED, "updated_at": now, "cancel_reason": reason}
            return order.model_copy(update=update)
        store.backoff(attempt)
    raise Conflict("the order kept changing while it was cancelled; retry")


def _new_order(
    request: OrderIn,
    customer_id: str,
    currency: str,
    moment: datetime,
    products: Mapping[str, ProductRecord],
    discounts: Mapping[str, Discount],
) -> Order:
    lines = pricing.price_lines(request.items, products, discounts)
    subtotal, discount, total = pricing.totals(lines)
    created = timestamp(moment)
    return Order(
        id=str(ULID.from_datetime(moment)),  # id and created_at tell the same time
        customer_id=customer_id,
        status=Status.PENDING,
        currency=currency,
        items=lines,
        subtotal=subtotal,
        discount=discount,
        total=total,
        created_at=created,
        updated_at=created,
        email=request.email,
        customer_name=request.customer_name,
        note=request.note,
    )


def _read_products(
    store: OrderStore, tenant_id: str, product_ids: Sequence[str]
) -> dict[str, ProductRecord]:
    return read_products(
        store.client, store.tables.products, tenant_id, product_ids, sleep=store.sleep
    )


def _cancel_write(
    store: OrderStore, tenant_id: str, order: Order, reason: str, now: str
) -> TransactWriteItemTypeDef:
    expression, names, values = status_update(
        tenant_id, Status.CANCELLED, now, extra={"cancel_reason": reason}
    )
    return {
        "Update": {
            "TableName": store.tables.orders,
            "Key": order_key(tenant_id, order.id),
            "UpdateExpression": expression,
            "ConditionExpression": "#status = :from",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values | to_dynamo({":from": order.status.value}),
        }
    }


def _transact(store: OrderStore, writes: Sequence[TransactWriteItemTypeDef]) -> bool:
    """True if committed; False if DynamoDB cancelled it for a condition or a conflict."""
    try:
        store.client.transact_write_items(TransactItems=writes)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
        if error.get("Code") == "TransactionCanceledException" and reasons & _RETRYABLE:
            return False
        raise
    return True
