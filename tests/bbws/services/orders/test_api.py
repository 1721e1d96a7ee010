"""The orders API through its Lambda handler, on moto's real tables: placing orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bbws.services.config import Settings
from tests.bbws.services.orders.helpers import ADMIN, OTHER_CUSTOMER, UNKNOWN_ID, Catalog
from tests.bbws.services.support import OTHER_TENANT, SUBJECT

Call = Callable[..., Any]


def test_health_is_public(call: Call) -> None:
    status, headers, body = call("GET", "/orders/health", {})
    assert (status, body) == (200, {"status": "ok", "service": "orders", "env": "dev"})
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_every_other_route_needs_a_token(call: Call, order_body: Call) -> None:
    for method, path in [
        ("POST", "/orders"),
        ("GET", "/orders"),
        ("GET", f"/orders/{UNKNOWN_ID}"),
        ("PATCH", f"/orders/{UNKNOWN_ID}"),
        ("POST", f"/orders/{UNKNOWN_ID}/cancel"),
    ]:
        assert call(method, path, {}).status == 401, (method, path)


def test_a_member_places_an_order_priced_by_the_catalogue(
    call: Call, catalog: Catalog, auth_headers: Call
) -> None:
    mug = catalog.product(price="149.00", inventory=5)
    beans = catalog.product(price="329.50", inventory=3, name="Coffee beans 1kg")
    body = {
        "items": [
            {"product_id": mug, "quantity": 2, "price": "0.01"},  # a client price is ignored
            {"product_id": beans, "quantity": 1, "unit_price": 1},
        ],
        "total": "0.01",
        "email": "thandi@example.com",
        "customer_name": "Thandi",
    }
    status, _, order = call("POST", "/orders", auth_headers(), body=body)
    assert status == 201, order
    assert (order["status"], order["customer_id"], order["currency"]) == ("pending", SUBJECT, "ZAR")
    assert [(i["unit_price"], i["subtotal"], i["total"]) for i in order["items"]] == [
        ("149.00", "298.00", "298.00"),
        ("329.50", "329.50", "329.50"),
    ]
    assert (order["subtotal"], order["discount"], order["total"]) == ("627.50", "0.00", "627.50")
    assert order["created_at"] == order["updated_at"]
    assert (catalog.stock(mug), catalog.stock(beans)) == (3, 2)
    status, _, again = call("GET", f"/orders/{order['id']}", auth_headers())
    assert (status, again) == (200, order)


def test_the_running_campaign_discounts_its_products(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug = catalog.product(price="149.99")
    plain = catalog.product(price="10.00", name="Spoon")
    catalog.campaign([mug], percent="10")
    best = catalog.campaign([mug], percent="15")  # overlapping: the larger one, not the sum
    catalog.campaign([plain], percent="50", status="draft")
    catalog.campaign([plain], percent="50", start="2020-01-01", end="2020-12-31")
    status, _, order = call(
        "POST", "/orders", auth_headers(), body=order_body((mug, 3), (plain, 1))
    )
    assert status == 201
    discounted, full = order["items"]
    # 3 x 149.99 = 449.97; 15 % = 67.4955 → 67.50 (half up)
    assert (discounted["discount_percent"], discounted["campaign_id"]) == ("15", best)
    assert (discounted["subtotal"], discounted["discount"], discounted["total"]) == (
        "449.97",
        "67.50",
        "382.47",
    )
    assert (full["discount"], full["campaign_id"]) == ("0.00", None)
    assert (order["subtotal"], order["discount"], order["total"]) == ("459.97", "67.50", "392.47")


def test_insufficient_stock_is_a_409_naming_the_products_and_takes_nothing(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    plenty = catalog.product(inventory=10)
    few = catalog.product(inventory=1, name="Rare teapot")
    none = catalog.product(inventory=0, name="Sold-out kettle")
    status, _, body = call(
        "POST", "/orders", auth_headers(), body=order_body((plenty, 2), (few, 2), (none, 1))
    )
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert "Rare teapot" in body["error"]["message"]
    assert "Sold-out kettle" in body["error"]["message"]
    assert body["error"]["details"] == [
        {"field": f"product.{few}", "type": "insufficient_stock"},
        {"field": f"product.{none}", "type": "insufficient_stock"},
    ]
    assert [catalog.stock(p) for p in (plenty, few, none)] == [10, 1, 0]


def test_unknown_products_are_a_400_per_line(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    known = catalog.product()
    elsewhere = catalog.product(tenant=OTHER_TENANT)  # another tenant's product is unknown
    deleted = catalog.product()
    catalog.delete(deleted)
    status, _, body = call(
        "POST",
        "/orders",
        auth_headers(),
        body=order_body((known, 1), (UNKNOWN_ID, 1), (elsewhere, 1), (deleted, 1)),
    )
    assert (status, body["error"]["code"]) == (400, "validation_error")
    assert body["error"]["details"] == [
        {"field": f"body.items.{i}.product_id", "type": "unknown_product"} for i in (1, 2, 3)
    ]
    assert catalog.stock(known) == 10


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"items": []}, "body.items", "too_short"),
        ({"items": [{"product_id": UNKNOWN_ID, "quantity": 0}]}, "body.items.0.quantity", None),
        ({"items": [{"product_id": "nope", "quantity": 1}]}, "body.items.0.product_id", None),
        ({"items": [{"product_id": UNKNOWN_ID, "quantity": 1}] * 2}, "body.items", "value_error"),
        ({"items": [{"product_id": UNKNOWN_ID, "quantity": 1}], "email": "x"}, "body.email", None),
    ],
)
def test_bad_bodies_are_400s(
    call: Call, auth_headers: Call, body: dict[str, Any], field: str, kind: str | None
) -> None:
    status, _, answer = call("POST", "/orders", auth_headers(), body=body)
    assert status == 400
    details = answer["error"]["details"]
    assert field in [d["field"] for d in details], details
    if kind:
        assert {"field": field, "type": kind} in details


def test_mixed_currencies_are_refused(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    rand, euro = catalog.product(), catalog.product(currency="EUR")
    status, _, body = call("POST", "/orders", auth_headers(), body=order_body((rand, 1), (euro, 1)))
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "body.items", "type": "mixed_currency"}],
    )


def test_a_retry_with_the_same_key_returns_the_same_order_and_takes_stock_once(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call, settings: Settings
) -> None:
    mug = catalog.product(inventory=5)
    headers = {**auth_headers(), "Idempotency-Key": "cart-42"}
    first = call("POST", "/orders", headers, body=order_body((mug, 2)))
    again = call("POST", "/orders", headers, body=order_body((mug, 2)))
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert catalog.stock(mug) == 3
    listed = call("GET", "/orders", auth_headers()).body["items"]
    assert [o["id"] for o in listed] == [first.body["id"]]
    status, _, body = call("POST", "/orders", headers, body=order_body((mug, 1)))
    assert (status, body["error"]["code"]) == (422, "idempotency_key_reused")
    bad = {**auth_headers(), "Idempotency-Key": "has space"}
    status, _, body = call("POST", "/orders", bad, body=order_body((mug, 1)))
    assert (status, body["error"]["details"][0]["field"]) == (400, "header.Idempotency-Key")
    assert catalog.stock(mug) == 3


def test_customers_order_for_themselves_admins_for_anyone(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug = catalog.product()
    body = order_body((mug, 1), customer_id=OTHER_CUSTOMER)
    status, _, answer = call("POST", "/orders", auth_headers(), body=body)
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    own = order_body((mug, 1), customer_id=SUBJECT)
    assert call("POST", "/orders", auth_headers(), body=own).body["customer_id"] == SUBJECT
    status, _, order = call("POST", "/orders", auth_headers(groups=ADMIN), body=body)
    assert (status, order["customer_id"]) == (201, OTHER_CUSTOMER)
