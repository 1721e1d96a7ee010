"""Orders racing for the same stock, and cancels racing for the same order.

Threads share one boto3 client (clients are thread-safe) and call the service code the
routes call, as concurrent Lambda instances would. moto serialises each DynamoDB request
(see conftest), which is the atomicity DynamoDB itself guarantees per request.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from bbws.services.errors import ApiError, Conflict
from bbws.services.orders import transactions
from bbws.services.orders.model import LineIn, OrderIn, Status
from bbws.services.orders.pricing import InsufficientStock
from bbws.services.orders.store import ListFilter, OrderStore
from tests.bbws.services.orders.helpers import Catalog
from tests.bbws.services.support import TENANT

BUYERS = 50
IN_STOCK = 10


def _race(count: int, attempt: Callable[[int], str]) -> Counter[str]:
    start = threading.Barrier(count)  # release every thread at once

    def run(n: int) -> str:
        start.wait()
        return attempt(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(run, range(count)))


def test_fifty_buyers_for_ten_in_stock_make_exactly_ten_orders(
    store: OrderStore, catalog: Catalog
) -> None:
    mug = catalog.product(inventory=IN_STOCK)
    request = OrderIn(items=[LineIn(product_id=mug, quantity=1)])

    def buy(n: int) -> str:
        try:
            transactions.place(store, TENANT, f"customer-{n}", request)
        except InsufficientStock:
            return "sold out"
        return "ordered"

    outcomes = _race(BUYERS, buy)
    assert outcomes == Counter({"ordered": IN_STOCK, "sold out": BUYERS - IN_STOCK})
    assert catalog.stock(mug) == 0
    pending, _ = store.page(TENANT, ListFilter(status=Status.PENDING), limit=100, start=None)
    assert len(pending) == IN_STOCK
    assert len({o.customer_id for o in pending}) == IN_STOCK


def test_multi_line_orders_never_oversell_any_line(store: OrderStore, catalog: Catalog) -> None:
    mug, beans = catalog.product(inventory=7), catalog.product(inventory=5)
    both = OrderIn(items=[LineIn(product_id=mug, quantity=1), LineIn(product_id=beans, quantity=1)])
    mugs_only = OrderIn(items=[LineIn(product_id=mug, quantity=1)])

    def buy(n: int) -> str:
        try:
            transactions.place(store, TENANT, "c", both if n % 2 else mugs_only)
        except InsufficientStock:
            return "sold out"
        return "ordered"

    outcomes = _race(20, buy)
    assert outcomes["ordered"] == 7  # every order takes a mug; only 7 mugs
    assert catalog.stock(mug) == 0
    assert 0 <= catalog.stock(beans) <= 5


def test_concurrent_cancels_restock_exactly_once(store: OrderStore, catalog: Catalog) -> None:
    mug = catalog.product(inventory=IN_STOCK)
    order = transactions.place(
        store, TENANT, "c", OrderIn(items=[LineIn(product_id=mug, quantity=4)])
    )
    assert catalog.stock(mug) == IN_STOCK - 4

    def cancel(n: int) -> str:
        try:
            transactions.cancel(store, TENANT, order.id, reason="customer")
        except Conflict:
            return "refused"
        return "cancelled"

    outcomes = _race(20, cancel)
    assert outcomes == Counter({"cancelled": 1, "refused": 19})
    assert catalog.stock(mug) == IN_STOCK


def test_buying_and_cancelling_at_once_keeps_stock_exact(
    store: OrderStore, catalog: Catalog
) -> None:
    mug = catalog.product(inventory=IN_STOCK)
    request = OrderIn(items=[LineIn(product_id=mug, quantity=1)])
    placed = [transactions.place(store, TENANT, "c", request) for _ in range(5)]
    assert catalog.stock(mug) == 5

    def act(n: int) -> str:
        try:
            if n < len(placed):
                transactions.cancel(store, TENANT, placed[n].id, reason="customer")
                return "cancelled"
            transactions.place(store, TENANT, f"c{n}", request)
        except ApiError as err:
            return err.code
        return "ordered"

    outcomes = _race(len(placed) + 15, act)
    assert outcomes["cancelled"] == 5
    # 5 left plus 5 restocked: at most 10 new orders; stock = 10 - ordered, never below 0.
    assert outcomes["ordered"] <= IN_STOCK
    assert catalog.stock(mug) == IN_STOCK - outcomes["ordered"]


def test_a_price_edit_between_read_and_write_reprices_the_order(
    store: OrderStore, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    mug = catalog.product(price="100.00", inventory=5)
    real = transactions.active_discounts
    edits = iter(["120.00"])

    def edit_once(*args: Any) -> Any:
        # Runs after the products were read, before the transaction: a concurrent edit.
        price = next(edits, None)
        if price:
            catalog.set_price(mug, price)
        return real(*args)

    monkeypatch.setattr(transactions, "active_discounts", edit_once)
    order = transactions.place(
        store, TENANT, "c", OrderIn(items=[LineIn(product_id=mug, quantity=1)])
    )
    assert (order.total, catalog.stock(mug)) == (Decimal("120.00"), 4)

    prices = (f"{130 + n}.00" for n in itertools.count())
    edits = prices  # every attempt loses the race: give up with a 409, take nothing
    with pytest.raises(Conflict, match="kept changing"):
        transactions.place(store, TENANT, "c", OrderIn(items=[LineIn(product_id=mug, quantity=1)]))
    assert catalog.stock(mug) == 4
