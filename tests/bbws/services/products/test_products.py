"""Single products: create, read, update, delete; validation, ETags, SKUs, auth, tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from bbws.services.app import build_handler
from bbws.services.ids import new_id
from bbws.services.products.api import create_app
from tests.bbws.services.products.conftest import RUNBOOK_PRODUCT, Api
from tests.bbws.services.products.images_data import JPEG, upload


def details(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["field"], d["type"]) for d in body["error"]["details"]]


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"price": 0}, "body.price", "greater_than"),
        ({"price": -5}, "body.price", "greater_than"),
        ({"price": 1.999}, "body.price", "decimal_max_places"),
        ({"price": "299.99"}, "body.price", "decimal_type"),
        ({"price": True}, "body.price", "decimal_type"),
        ({"currency": "XYZ"}, "body.currency", "currency_code"),
        ({"currency": "US"}, "body.currency", "string_too_short"),
        ({"inventory": -1}, "body.inventory", "greater_than_equal"),
        ({"inventory": 1.5}, "body.inventory", "int_type"),
        ({"inventory": "100"}, "body.inventory", "int_type"),
        ({"sku": "bad sku!"}, "body.sku", "string_pattern_mismatch"),
        ({"name": ""}, "body.name", "string_too_short"),
        ({"name": "a\x00b"}, "body.name", "string_pattern_mismatch"),
        ({"image_url": "javascript:alert(1)"}, "body.image_url", "string_pattern_mismatch"),
        (
            {"image_url": "http://images.example.com/a.jpg"},
            "body.image_url",
            "string_pattern_mismatch",
        ),
        ({"colour": "red"}, "body.colour", "extra_forbidden"),
        ({"id": "01J00000000000000000000000"}, "body.id", "extra_forbidden"),
    ],
)
def test_create_validates_every_field(
    api: Api, change: dict[str, Any], field: str, kind: str
) -> None:
    status, _, body = api("POST", "/products", body={**RUNBOOK_PRODUCT, **change})
    assert status == 400
    assert details(body) == [(field, kind)]


def test_create_requires_the_fields_and_names_each_missing_one(api: Api) -> None:
    status, _, body = api("POST", "/products", body={"name": "x"})
    assert status == 400
    assert set(details(body)) == {
        (f"body.{f}", "missing") for f in ("category", "price", "currency", "inventory", "sku")
    }


def test_create_accepts_lower_case_currency_and_integral_prices(api: Api) -> None:
    created = api.create(currency="zar", price=10, description=None)
    assert (created["currency"], created["price"], created["description"]) == ("ZAR", 10.0, "")
    assert created["image_url"] is None


def test_a_duplicate_sku_is_a_409_case_insensitively(api: Api) -> None:
    api.create(sku="SKU-1")
    status, _, body = api("POST", "/products", body={**RUNBOOK_PRODUCT, "sku": "sku-1"})
    assert (status, body["error"]["code"]) == (409, "conflict")
    # another tenant may use the same SKU
    assert api.create(tenant=api.other, sku="SKU-1")["sku"] == "SKU-1"


def test_a_deleted_products_sku_can_be_used_again(api: Api) -> None:
    first = api.create(sku="REUSE-1")
    assert api("DELETE", f"/products/{first['id']}").status == 204
    assert api.create(sku="REUSE-1")["id"] != first["id"]


# --- read ----------------------------------------------------------------------------------


def test_get_unknown_and_malformed_ids(api: Api) -> None:
    status, _, body = api("GET", f"/products/{new_id()}")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, _, body = api("GET", "/products/not-a-ulid")
    assert (status, details(body)) == (400, [("path.product_id", "string_too_short")])


# --- update --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_partial_updates_keep_the_other_fields(api: Api, method: str) -> None:
    created = api.create()
    path = f"/products/{created['id']}"
    status, headers, body = api(method, path, body={"name": "Renamed", "inventory": 0})
    assert status == 200
    assert (body["name"], body["inventory"], body["available"]) == ("Renamed", 0, False)
    unchanged = {k: v for k, v in created.items() if k not in {"name", "inventory", "available"}}
    assert {k: body[k] for k in unchanged if k not in {"version", "updated_at"}} == {
        k: v for k, v in unchanged.items() if k not in {"version", "updated_at"}
    }
    assert (body["version"], headers["ETag"]) == (2, '"2"')
    assert body["updated_at"] >= created["updated_at"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({}, [("body", "empty_patch")]),
        ({"price": None}, [("body.price", "null_forbidden")]),
        ({"price": 0}, [("body.price", "greater_than")]),
        ({"version": 3}, [("body.version", "extra_forbidden")]),
    ],
)
def test_update_validation(api: Api, patch: dict[str, Any], expected: list[Any]) -> None:
    created = api.create()
    status, _, body = api("PATCH", f"/products/{created['id']}", body=patch)
    assert (status, details(body)) == (400, expected)


def test_image_url_can_be_cleared_with_null(api: Api) -> None:
    created = api.create(image_url="https://images.dev.kimmyai.io/x.jpg")
    body = api("PATCH", f"/products/{created['id']}", body={"image_url": None}).body
    assert body["image_url"] is None


def test_if_match_with_a_stale_etag_is_a_412_and_changes_nothing(api: Api) -> None:
    created = api.create()
    path = f"/products/{created['id']}"
    fresh = api("PATCH", path, body={"price": 10}, headers={"If-Match": '"1"'})
    assert (fresh.status, fresh.headers["ETag"]) == (200, '"2"')
    status, _, body = api("PATCH", path, body={"price": 20}, headers={"If-Match": '"1"'})
    assert (status, body["error"]["code"]) == (412, "precondition_failed")
    for tag in ('W/"2"', "2", '"garbage"'):  # weak and malformed tags never match
        assert api("PUT", path, body={"price": 20}, headers={"If-Match": tag}).status == 412
    assert api("GET", path).body["price"] == 10
    assert api("PUT", path, body={"price": 30}, headers={"If-Match": '"9", "2"'}).status == 200
    assert api("PUT", path, body={"price": 40}, headers={"If-Match": "*"}).status == 200
    assert api("DELETE", path, headers={"If-Match": '"3"'}).status == 412
    assert api("DELETE", path, headers={"If-Match": '"4"'}).status == 204


def test_changing_the_sku_moves_its_uniqueness(api: Api) -> None:
    first, second = api.create(sku="A-1"), api.create(sku="B-1")
    status, _, body = api("PATCH", f"/products/{second['id']}", body={"sku": "a-1"})
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert api("PATCH", f"/products/{first['id']}", body={"sku": "A-2"}).status == 200
    assert api("PATCH", f"/products/{second['id']}", body={"sku": "A-1"}).status == 200
    assert api("POST", "/products", body={**RUNBOOK_PRODUCT, "sku": "A-2"}).status == 409
    assert api("POST", "/products", body={**RUNBOOK_PRODUCT, "sku": "B-1"}).status == 201
    # a change of case only keeps the same marker
    assert api("PATCH", f"/products/{first['id']}", body={"sku": "a-2"}).body["sku"] == "a-2"


def test_update_and_delete_of_an_unknown_product_are_404(api: Api) -> None:
    path = f"/products/{new_id()}"
    assert api("PATCH", path, body={"price": 1}).status == 404
    assert api("PUT", path, body={"price": 1}).status == 404
    assert api("DELETE", path).status == 404


# --- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/products", None),
        ("GET", "/products/{id}", None),
        ("POST", "/products", RUNBOOK_PRODUCT),
        ("PUT", "/products/{id}", {"price": 1}),
        ("PATCH", "/products/{id}", {"price": 1}),
        ("DELETE", "/products/{id}", None),
        ("POST", "/products/bulk", {"products": [RUNBOOK_PRODUCT]}),
        ("PATCH", "/products/bulk", {"updates": [{"id": "{id}", "price": 1}]}),
    ],
)
def test_no_token_is_401_and_members_cannot_write(
    api: Api, method: str, path: str, body: Any
) -> None:
    product_id = api.create()["id"]
    path = path.replace("{id}", product_id)
    if isinstance(body, dict) and "updates" in body:
        body = {"updates": [{"id": product_id, "price": 1}]}
    status, headers, _ = api(method, path, body=body, role="anonymous")
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="bbws"')
    expected = 200 if method == "GET" else 403
    assert api(method, path, body=body, role="member").status == expected


def test_members_cannot_upload_images(api: Api) -> None:
    product_id = api.create()["id"]
    body, content_type = upload(JPEG)
    headers = {"Content-Type": content_type}
    path = f"/products/{product_id}/image"
    assert api("POST", path, body=body, headers=headers, role="anonymous").status == 401
    assert api("POST", path, body=body, headers=headers, role="member").status == 403


# --- tenancy -------------------------------------------------------------------------------


def test_another_tenant_can_never_see_or_touch_a_product(api: Api) -> None:
    product = api.create(sku="MINE-1")
    path, other = f"/products/{product['id']}", api.other
    body, content_type = upload(JPEG)
    attempts = [
        api("GET", path, tenant=other, role="member"),
        api("GET", path, tenant=other),
        api("PUT", path, body={"price": 1}, tenant=other),
        api("PATCH", path, body={"price": 1}, tenant=other),
        api("PATCH", path, body={"price": 1}, headers={"If-Match": '"1"'}, tenant=other),
        api("DELETE", path, tenant=other),
        api(
            "POST", f"{path}/image", body=body, headers={"Content-Type": content_type}, tenant=other
        ),
    ]
    assert [a.status for a in attempts] == [404] * len(attempts)
    assert {a.body["error"]["message"] for a in attempts} == {"product not found"}
    bulk = api(
        "PATCH",
        "/products/bulk",
        body={"updates": [{"id": product["id"], "price": 1}]},
        tenant=other,
    )
    assert [r["status"] for r in bulk.body["results"]] == [404]
    for query in ({}, {"category": "Electronics"}, {"min_price": "0"}, {"available": "true"}):
        assert api("GET", "/products", query=query, tenant=other).body["items"] == []
    assert api("GET", path).body == product  # untouched


def test_a_cursor_of_one_tenant_is_refused_for_another(api: Api) -> None:
    for sku in ("P-1", "P-2"):
        api.create(sku=sku)
    page = api("GET", "/products", query={"limit": "1"}).body
    status, _, body = api(
        "GET", "/products", query={"limit": "1", "cursor": page["next_cursor"]}, tenant=api.other
    )
    assert (status, details(body)) == (400, [("query.cursor", "cursor")])


# --- the shared layer, once -----------------------------------------------------------------


def test_faults_are_injected_but_health_is_spared(
    cloud: Any, product_settings: Any, sign: Any
) -> None:
    faulty = product_settings.model_copy(update={"fault_error_rate": 1.0})
    handler = build_handler(create_app(faulty, rng=lambda: 0.0))
    api = Api(handler, sign)
    status, headers, body = api("GET", "/products")
    assert (status, body["error"]["code"]) == (500, "fault_injected")
    assert "Content-Security-Policy" in headers
    assert api("GET", "/products/health", role="anonymous").status == 200


def test_unknown_routes_and_methods(api: Api) -> None:
    assert api("GET", "/products/x/y/z", role="anonymous").status == 401
    assert api("GET", "/products/x/y/z").status == 404
    assert api("POST", f"/products/{new_id()}").status == 404


# --- concurrency ---------------------------------------------------------------------------


def test_an_order_between_read_and_write_is_never_undone(
    api: Api, cloud: Any, product_settings: Any, sign: Any
) -> None:
    """An order takes stock just before an admin's write lands: the write applies on top
    of it (only changed attributes are written); with If-Match the write is a 412."""
    from bbws.services.products.repository import reserve_stock

    table = product_settings.products_table
    client, other = cloud.client("dynamodb"), cloud.client("dynamodb")
    racing = Api(build_handler(create_app(product_settings, dynamodb=client)), sign)
    racing.tenant = api.tenant
    product = api.create(inventory=10)
    path = f"/products/{product['id']}"
    pending: list[tuple[int, int]] = []  # (quantity, on hand) of the order that slips in

    def order_meanwhile(**_: Any) -> None:
        if pending:
            quantity, on_hand = pending.pop()
            entry = reserve_stock(table, api.tenant, product["id"], quantity, on_hand=on_hand)
            other.transact_write_items(TransactItems=[entry])

    for operation in ("UpdateItem", "TransactWriteItems"):
        client.meta.events.register(f"before-call.dynamodb.{operation}", order_meanwhile)
    pending.append((2, 10))
    status, _, body = racing("PATCH", path, body={"price": 5})
    assert status == 200
    assert (body["price"], body["inventory"], body["version"]) == (5, 8, 3)
    pending.append((3, 8))  # the If-Match was right when sent, not when written
    stale = racing("PATCH", path, body={"price": 6}, headers={"If-Match": '"3"'})
    assert (stale.status, stale.body["error"]["code"]) == (412, "precondition_failed")
    pending.append((1, 5))  # a SKU change reads first, then writes in a transaction
    status, _, body = racing("PATCH", path, body={"sku": "MOVED-1"})
    assert status == 200
    assert (body["sku"], body["inventory"], body["price"], body["version"]) == ("MOVED-1", 4, 5, 6)
    assert api("GET", path).body == body


def test_the_handler_module_builds_the_app_from_the_environment(
    cloud: Any, service_env: Any, make_token: Any
) -> None:
    import importlib
    import sys

    sys.modules.pop("bbws.services.products.handler", None)
    module = importlib.import_module("bbws.services.products.handler")
    status, _, body = Api(module.handler, make_token)("GET", "/products/health", role="anonymous")
    assert (status, body["service"]) == (200, "products")
