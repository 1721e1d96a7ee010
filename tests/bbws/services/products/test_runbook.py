"""The product_lambda runbook's smoke tests 1-9, with its exact payloads and queries.

(PROM-PROD-003, "Post-Deployment Validation": each test is the curl the runbook runs
against https://api.sit.kimmyai.io/v1.0/products..., here through the Lambda handler.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.bbws.services.products.conftest import RUNBOOK_PRODUCT, Api
from tests.bbws.services.products.images_data import JPEG, upload


@pytest.fixture
def product(api: Api) -> dict[str, Any]:
    status, _, body = api("POST", "/v1.0/products", body=RUNBOOK_PRODUCT)
    assert status == 201
    return body  # type: ignore[no-any-return]


def test_1_health_check(api: Api) -> None:
    # curl -X GET https://api.sit.kimmyai.io/v1.0/products/health  (no token)
    status, headers, body = api("GET", "/v1.0/products/health", role="anonymous")
    assert (status, body) == (200, {"status": "ok", "service": "products", "env": "dev"})
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_2_list_products(api: Api) -> None:
    # "should return empty or test data"
    status, _, body = api("GET", "/v1.0/products", role="member")
    assert (status, body) == (200, {"items": [], "next_cursor": None})


def test_3_create_product(api: Api) -> None:
    status, headers, body = api("POST", "/v1.0/products", body=RUNBOOK_PRODUCT)
    assert status == 201
    assert {k: body[k] for k in RUNBOOK_PRODUCT} == RUNBOOK_PRODUCT
    assert len(body["id"]) == 26 and body["version"] == 1 and body["available"] is True
    assert body["created_at"] == body["updated_at"] and body["created_at"].endswith("Z")
    assert headers["ETag"] == '"1"'
    assert headers["Location"] == f"/v1.0/products/{body['id']}"


def test_4_get_product_by_id(api: Api, product: dict[str, Any]) -> None:
    status, headers, body = api("GET", f"/v1.0/products/{product['id']}", role="member")
    assert (status, body) == (200, product)
    assert headers["ETag"] == '"1"'


def test_5_update_product(api: Api, product: dict[str, Any]) -> None:
    path = f"/v1.0/products/{product['id']}"
    status, headers, body = api("PUT", path, body={"price": 279.99, "inventory": 95})
    assert status == 200
    assert (body["price"], body["inventory"], body["version"]) == (279.99, 95, 2)
    assert body["name"] == RUNBOOK_PRODUCT["name"]  # PUT is partial, as the runbook uses it
    assert headers["ETag"] == '"2"'
    assert api("GET", path).body == body


def test_6_delete_product(api: Api, product: dict[str, Any]) -> None:
    path = f"/v1.0/products/{product['id']}"
    status, _, body = api("DELETE", path)
    assert (status, body) == (204, None)
    assert api("GET", path).status == 404


def test_7_get_products_by_category(api: Api, product: dict[str, Any]) -> None:
    api.create(name="Kettle", category="Kitchen", sku="K-1")
    query = {"category": "Electronics"}
    status, _, body = api("GET", "/v1.0/products", query=query, role="member")
    assert status == 200
    assert [p["id"] for p in body["items"]] == [product["id"]]


def test_8_get_products_by_price_range(api: Api, product: dict[str, Any]) -> None:
    api.create(name="Cable", price=9.99, sku="C-1")
    api.create(name="Camera", price=799.0, sku="C-2")
    query = {"min_price": "100", "max_price": "500"}
    status, _, body = api("GET", "/v1.0/products", query=query, role="member")
    assert status == 200
    assert [p["id"] for p in body["items"]] == [product["id"]]


def test_9_image_upload(
    api: Api, product: dict[str, Any], s3_client: Any, product_settings: Any
) -> None:
    # curl -F "image=@test-image.jpg": multipart/form-data, base64 through API Gateway
    body, content_type = upload(JPEG)
    path = f"/v1.0/products/{product['id']}/image"
    status, headers, reply = api("POST", path, body=body, headers={"Content-Type": content_type})
    assert status == 200, reply
    prefix = f"https://images.dev.kimmyai.io/products/{product['id']}/"
    assert reply["image_url"].startswith(prefix) and reply["image_url"].endswith(".jpg")
    key = reply["image_url"].removeprefix("https://images.dev.kimmyai.io/")
    stored = s3_client.get_object(Bucket=product_settings.product_images_bucket, Key=key)
    assert (stored["ContentType"], stored["Body"].read()) == ("image/jpeg", JPEG)
    assert api("GET", f"/v1.0/products/{product['id']}").body["image_url"] == reply["image_url"]
    assert headers["ETag"] == '"2"'
