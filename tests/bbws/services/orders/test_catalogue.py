"""Orders as the products and campaigns services see them, through their own APIs.

An order's stock change is the products service's own write (``reserve_stock`` /
``release_stock``): the product's availability index entry, version (ETag) and
``updated_at`` move with its inventory. Discounts follow the campaigns service's rules
(``active_discounts``), not a reading of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bbws.services.app import build_handler
from bbws.services.config import Settings
from bbws.services.orders import transactions
from bbws.services.orders.model import LineIn, OrderIn
from bbws.services.orders.store import OrderStore
from bbws.services.products.api import create_app as products_app
from tests.bbws.services.orders.helpers import ADMIN, Catalog
from tests.bbws.services.support import TENANT, Invocation

Call = Callable[..., Any]


@pytest.fixture
def products(
    settings: Settings, store: OrderStore, make_event: Call, invoke: Call, auth_headers: Call
) -> Call:
    """The products API, as the tenant's admin: products("GET", "/products", query=...)."""
    handler = build_handler(products_app(settings, dynamodb=store.client))
    admin = auth_headers(groups=ADMIN)

    def request(method: str, path: str, **kwargs: Any) -> Invocation:
        headers = {**admin, **kwargs.pop("headers", {})}
        return invoke(handler, make_event(method, path, headers=headers, **kwargs))

    return request


def _listed(products: Call, *, available: bool) -> list[str]:
    """Ids in ?available=...&sort=name: the ProductsByAvailability index, nothing else."""
    query = {"available": str(available).lower(), "sort": "name"}
    page = products("GET", "/products", query=query)
    assert page.status == 200, page.body
    return [p["id"] for p in page.body["items"]]


def test_selling_the_last_units_takes_the_product_out_of_stock_and_a_cancel_puts_it_back(
    products: Call, call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug, spoon = catalog.product(inventory=3), catalog.product(inventory=5, name="Spoon")
    created = products("GET", f"/products/{mug}")
    assert (created.headers["ETag"], created.body["version"]) == ('"1"', 1)
    assert _listed(products, available=True) == [mug, spoon]  # by name: Ceramic mug, Spoon

    # Not the last units: still in stock, but a new version (and ETag).
    first = call("POST", "/orders", auth_headers(), body=order_body((mug, 2))).body
    got = products("GET", f"/products/{mug}")
    assert (got.body["inventory"], got.body["available"], got.body["version"]) == (1, True, 2)
    assert got.headers["ETag"] == '"2"'
    assert got.body["updated_at"] >= created.body["updated_at"]
    assert _listed(products, available=True) == [mug, spoon]

    # The last unit: inventory 0 and OUT_OF_STOCK in the same write.
    last = call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body
    sold_out = products("GET", f"/products/{mug}")
    assert (sold_out.body["inventory"], sold_out.body["available"]) == (0, False)
    assert (sold_out.body["version"], sold_out.headers["ETag"]) == (3, '"3"')
    assert sold_out.body["updated_at"] >= got.body["updated_at"]
    assert _listed(products, available=True) == [spoon]
    assert _listed(products, available=False) == [mug]

    # An admin holding an ETag from before the orders cannot overwrite the stock they took.
    stale = products(
        "PATCH", f"/products/{mug}", body={"inventory": 50}, headers={"If-Match": '"1"'}
    )
    assert stale.status == 412
    assert call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).status == 409

    # Cancelling gives the units back: in stock again, one more version each time.
    assert call("POST", f"/orders/{last['id']}/cancel", auth_headers()).status == 200
    back = products("GET", f"/products/{mug}").body
    assert (back["inventory"], back["available"], back["version"]) == (1, True, 4)
    assert _listed(products, available=True) == [mug, spoon]
    assert _listed(products, available=False) == []
    assert call("POST", f"/orders/{first['id']}/cancel", auth_headers()).status == 200
    assert products("GET", f"/products/{mug}").body["inventory"] == 3
    assert products("GET", f"/products/{mug}").headers["ETag"] == '"5"'
    assert products("GET", f"/products/{spoon}").body["version"] == 1  # untouched


def test_a_multi_line_order_moves_each_product_on_its_own(
    products: Call, call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug, spoon = catalog.product(inventory=2), catalog.product(inventory=5, name="Spoon")
    order = call("POST", "/orders", auth_headers(), body=order_body((mug, 2), (spoon, 2))).body
    assert (_listed(products, available=True), _listed(products, available=False)) == (
        [spoon],
        [mug],
    )
    assert [products("GET", f"/products/{p}").body["version"] for p in (mug, spoon)] == [2, 2]
    assert call("POST", f"/orders/{order['id']}/cancel", auth_headers()).status == 200
    assert _listed(products, available=True) == [mug, spoon]
    assert [products("GET", f"/products/{p}").body["inventory"] for p in (mug, spoon)] == [2, 5]


def test_a_campaign_ends_when_the_campaigns_service_says_it_does(
    store: OrderStore, catalog: Catalog
) -> None:
    """End dates are exclusive (``start_date <= t < end_date``), as ``active_discounts``
    has it: a campaign ending on 10 January discounts nothing on that day."""
    mug = catalog.product(price="100.00")
    campaign = catalog.campaign([mug], percent="20", start="2026-01-01", end="2026-01-10")
    request = OrderIn(items=[LineIn(product_id=mug, quantity=1)])

    def order_at(moment: datetime) -> tuple[Decimal, str | None]:
        at = OrderStore(store.client, store.tables, clock=lambda: moment)
        (line,) = transactions.place(at, TENANT, "c", request).items
        return line.total, line.campaign_id

    assert order_at(datetime(2026, 1, 9, 23, 59, 59, tzinfo=UTC)) == (Decimal("80.00"), campaign)
    assert order_at(datetime(2026, 1, 10, tzinfo=UTC)) == (Decimal("100.00"), None)
    assert order_at(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)) == (Decimal("100.00"), None)
