"""The orders API on moto's real tables: reading, listing, moving and cancelling orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bbws.services.config import Settings
from bbws.services.openapi import openapi_document
from bbws.services.orders.api import create_app
from tests.bbws.services.orders.helpers import ADMIN, OTHER_CUSTOMER, UNKNOWN_ID, Catalog
from tests.bbws.services.support import OTHER_TENANT

Call = Callable[..., Any]


def test_members_see_only_their_own_orders(
    call: Call,
    catalog: Catalog,
    auth_headers: Call,
    order_body: Call,
    other_member: dict[str, str],
) -> None:
    mug = catalog.product()
    mine = call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body
    theirs = call("POST", "/orders", other_member, body=order_body((mug, 1))).body
    assert call("GET", f"/orders/{theirs['id']}", auth_headers()).status == 404
    assert call("GET", f"/orders/{mine['id']}", other_member).status == 404
    listed = call("GET", "/orders", auth_headers()).body["items"]
    assert [o["id"] for o in listed] == [mine["id"]]
    query = {"customer_id": OTHER_CUSTOMER}
    status, _, body = call("GET", "/orders", auth_headers(), query=query)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    admin = auth_headers(groups=ADMIN)
    assert call("GET", f"/orders/{theirs['id']}", admin).status == 200
    everything = call("GET", "/orders", admin).body["items"]
    assert [o["id"] for o in everything] == [theirs["id"], mine["id"]]  # newest first
    by_customer = call("GET", "/orders", admin, query=query).body["items"]
    assert [o["id"] for o in by_customer] == [theirs["id"]]


def test_tenants_never_see_each_others_orders(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug = catalog.product()
    order = call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body
    outsider = auth_headers(OTHER_TENANT, groups=ADMIN)
    assert call("GET", f"/orders/{order['id']}", outsider).status == 404
    assert call("GET", "/orders", outsider).body["items"] == []
    assert call("GET", "/orders", outsider, query={"status": "pending"}).body["items"] == []
    assert call("PATCH", f"/orders/{order['id']}", outsider, body={"status": "confirmed"})[0] == 404
    assert call("POST", f"/orders/{order['id']}/cancel", outsider).status == 404
    assert catalog.stock(mug) == 9


def test_listing_pages_by_status_with_signed_cursors(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug = catalog.product(inventory=20)
    ids = [
        call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body["id"]
        for _ in range(5)
    ]
    admin = auth_headers(groups=ADMIN)
    call("PATCH", f"/orders/{ids[0]}", admin, body={"status": "confirmed"})
    query = {"status": "pending", "limit": "2"}
    seen, cursor = [], None
    while True:
        page = call(
            "GET", "/orders", admin, query={**query, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status == 200
        seen += [o["id"] for o in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[1:]  # the fulfilment queue: oldest first
    first = call("GET", "/orders", admin, query=query).body
    other_filter = {"status": "confirmed", "cursor": first["next_cursor"]}
    status, _, body = call("GET", "/orders", admin, query=other_filter)
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "query.cursor", "type": "cursor"}],
    )
    mine = call("GET", "/orders", auth_headers(), query={"status": "confirmed"}).body["items"]
    assert [o["id"] for o in mine] == [ids[0]]
    assert call("GET", "/orders", admin, query={"status": "lost"}).status == 400
    assert call("GET", "/orders", admin, query={"limit": "101"}).status == 400


def test_admins_move_orders_forward_one_step_at_a_time(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug = catalog.product()
    order = call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body
    path, admin = f"/orders/{order['id']}", auth_headers(groups=ADMIN)
    status, _, body = call("PATCH", path, auth_headers(), body={"status": "confirmed"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, _, body = call("PATCH", path, admin, body={"status": "shipped"})
    assert (status, body["error"]["message"]) == (409, "an order cannot go from pending to shipped")
    for step in ("confirmed", "shipped", "delivered"):
        status, _, body = call("PATCH", path, admin, body={"status": step})
        assert (status, body["status"]) == (200, step)
        assert body["updated_at"] >= body["created_at"]
    assert call("PATCH", path, admin, body={"status": "confirmed"}).status == 409
    status, _, body = call("PATCH", path, admin, body={"status": "cancelled"})
    assert (status, body["error"]["details"][0]["field"]) == (400, "body.status")
    assert call("PATCH", f"/orders/{UNKNOWN_ID}", admin, body={"status": "confirmed"})[0] == 404
    assert call("PATCH", "/orders/not-an-id", admin, body={"status": "confirmed"})[0] == 400


def test_cancelling_restocks_exactly_once(
    call: Call,
    catalog: Catalog,
    auth_headers: Call,
    order_body: Call,
    other_member: dict[str, str],
) -> None:
    mug, beans = catalog.product(inventory=5), catalog.product(inventory=5)
    order = call("POST", "/orders", auth_headers(), body=order_body((mug, 2), (beans, 3))).body
    path = f"/orders/{order['id']}/cancel"
    assert call("POST", path, other_member).status == 404
    status, _, body = call("POST", path, auth_headers())
    assert (status, body["status"], body["cancel_reason"]) == (200, "cancelled", "customer")
    assert (catalog.stock(mug), catalog.stock(beans)) == (5, 5)
    status, _, body = call("POST", path, auth_headers())
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert (catalog.stock(mug), catalog.stock(beans)) == (5, 5)
    assert call("GET", f"/orders/{order['id']}", auth_headers()).body["status"] == "cancelled"
    assert (
        call(
            "PATCH",
            f"/orders/{order['id']}",
            auth_headers(groups=ADMIN),
            body={"status": "confirmed"},
        )[0]
        == 409
    )


def test_confirmed_orders_cancel_shipped_ones_do_not(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    mug = catalog.product(inventory=5)
    admin = auth_headers(groups=ADMIN)
    first = call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body["id"]
    second = call("POST", "/orders", auth_headers(), body=order_body((mug, 1))).body["id"]
    for order_id, steps in ((first, ["confirmed"]), (second, ["confirmed", "shipped"])):
        for step in steps:
            call("PATCH", f"/orders/{order_id}", admin, body={"status": step})
    status, _, body = call("POST", f"/orders/{first}/cancel", admin)
    assert (status, body["cancel_reason"]) == (200, "admin")
    status, _, body = call("POST", f"/orders/{second}/cancel", auth_headers())
    assert (status, body["error"]["message"]) == (
        409,
        "an order that is shipped cannot be cancelled",
    )
    assert catalog.stock(mug) == 4


def test_a_deleted_product_is_not_resurrected_by_a_cancel(
    call: Call, catalog: Catalog, auth_headers: Call, order_body: Call
) -> None:
    kept, gone = catalog.product(inventory=5), catalog.product(inventory=5)
    order = call("POST", "/orders", auth_headers(), body=order_body((kept, 1), (gone, 1))).body
    catalog.delete(gone)
    assert call("POST", f"/orders/{order['id']}/cancel", auth_headers()).status == 200
    assert catalog.stock(kept) == 5
    assert catalog.record(gone) is None


def test_the_openapi_document_describes_the_routes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Building the app creates no AWS client: the document needs no region or credentials.
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    document = openapi_document(create_app(settings))
    paths = document["paths"]
    assert set(paths) == {
        "/orders/health",
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/cancel",
    }
    assert set(paths["/orders"]) == {"get", "post"}
    assert set(paths["/orders/{order_id}"]) == {"get", "patch"}
    post = paths["/orders"]["post"]
    assert {"201", "400", "401", "403", "413", "415", "500"} <= set(post["responses"])
    assert [(p["name"], p["in"]) for p in post["parameters"]] == [("idempotency-key", "header")]
    assert paths["/orders/health"]["get"]["security"] == []
    schemas = document["components"]["schemas"]
    assert {"Order", "OrderIn", "OrderPage", "StatusChange", "Error"} <= set(schemas)
    assert schemas["Order"]["properties"]["total"]["type"] == "string"
    parameters = {p["name"] for p in paths["/orders"]["get"]["parameters"]}
    assert parameters == {"customer_id", "status", "cursor", "limit"}
