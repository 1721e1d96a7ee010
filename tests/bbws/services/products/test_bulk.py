"""POST /products/bulk (import) and PATCH /products/bulk (update): per-item results."""

from __future__ import annotations

from typing import Any

from bbws.services.ids import new_id
from tests.bbws.services.products.conftest import RUNBOOK_PRODUCT, Api


def product(n: int, **fields: Any) -> dict[str, Any]:
    return {**RUNBOOK_PRODUCT, "name": f"Bulk {n}", "sku": f"BULK-{n:03d}", **fields}


def test_import_100_products_in_one_request(api: Api) -> None:
    status, _, body = api(
        "POST", "/products/bulk", body={"products": [product(n) for n in range(100)]}
    )
    assert status == 200
    assert [r["status"] for r in body["results"]] == [201] * 100
    assert [r["index"] for r in body["results"]] == list(range(100))
    listed = api("GET", "/products", query={"limit": "100"}).body["items"]
    assert sorted(p["id"] for p in listed) == sorted(r["id"] for r in body["results"])
    first = body["results"][0]
    got = api("GET", f"/products/{first['id']}")
    assert (got.body["name"], got.headers["ETag"]) == ("Bulk 0", f'"{first["version"]}"')


def test_import_reports_each_item_on_its_own(api: Api) -> None:
    api.create(sku="TAKEN-1")
    items = [
        product(0),
        product(1, price=-1),  # invalid
        product(2, sku="taken-1"),  # exists already (case-insensitive)
        product(3, sku="BULK-000"),  # repeats item 0
        product(4, colour="red"),
        product(5),
    ]
    status, _, body = api("POST", "/products/bulk", body={"products": items})
    assert status == 200
    results = body["results"]
    assert [r["status"] for r in results] == [201, 400, 409, 409, 400, 201]
    assert results[1]["error"]["details"] == [{"field": "price", "type": "greater_than"}]
    assert results[2]["error"]["code"] == results[3]["error"]["code"] == "conflict"
    assert results[4]["error"]["details"] == [{"field": "colour", "type": "extra_forbidden"}]
    assert results[0]["id"] and results[5]["id"] and results[1]["id"] is None
    skus = {p["sku"] for p in api("GET", "/products").body["items"]}
    assert skus == {"TAKEN-1", "BULK-000", "BULK-005"}


def test_import_limits(api: Api) -> None:
    too_many = {"products": [product(n) for n in range(101)]}
    status, _, body = api("POST", "/products/bulk", body=too_many)
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "body.products", "type": "too_long"}],
    )
    assert api("POST", "/products/bulk", body={"products": []}).status == 400
    assert api("POST", "/products/bulk", body=[product(0)]).status == 400
    # bodies up to 1 MiB are accepted here (the default limit is 64 KiB)
    big = {"products": [product(n, description="x" * 4000) for n in range(20)]}
    assert api("POST", "/products/bulk", body=big).status == 200


def test_bulk_update_by_id(api: Api) -> None:
    a, b, c = (api.create(sku=f"U-{n}") for n in range(3))
    api("PATCH", f"/products/{c['id']}", body={"price": 1})  # c is now version 2
    updates = [
        {"id": a["id"], "price": 9.5, "inventory": 0},
        {"id": b["id"], "name": "Renamed", "version": 1},
        {"id": c["id"], "price": 3, "version": 1},  # stale
        {"id": new_id(), "price": 3},  # unknown
        {"id": "nope", "price": 3},
        {"id": a["id"]},  # nothing to change
        {"id": b["id"], "sku": "U-0"},  # taken by a
    ]
    status, _, body = api("PATCH", "/products/bulk", body={"updates": updates})
    assert status == 200
    assert [r["status"] for r in body["results"]] == [200, 200, 412, 404, 400, 400, 409]
    assert body["results"][4]["error"]["details"] == [
        {"field": "id", "type": "string_pattern_mismatch"}
    ]
    assert body["results"][0]["version"] == 2
    got = api("GET", f"/products/{a['id']}").body
    assert (got["price"], got["inventory"], got["available"]) == (9.5, 0, False)
    assert api("GET", f"/products/{b['id']}").body["name"] == "Renamed"
    assert api("GET", f"/products/{c['id']}").body["price"] == 1
