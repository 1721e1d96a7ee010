"""The inventory entries the orders service puts into its transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bbws.services.errors import is_condition_failure
from bbws.services.products.repository import (
    InsufficientStock,
    ProductRepository,
    release_stock,
    reserve_stock,
)
from tests.bbws.services.products.conftest import Api


@pytest.fixture
def table(product_settings: Any) -> str:
    return str(product_settings.products_table)


def test_reserving_stock_keeps_inventory_availability_and_etag_in_step(
    api: Api, ddb: Any, table: str
) -> None:
    product = api.create(inventory=3)
    pid, tenant = product["id"], api.tenant
    ddb.transact_write_items(TransactItems=[reserve_stock(table, tenant, pid, 2, on_hand=3)])
    got = api("GET", f"/products/{pid}")
    assert (got.body["inventory"], got.body["available"], got.headers["ETag"]) == (1, True, '"2"')
    # the last unit: inventory 0 and out of the in-stock index in the same write
    ddb.transact_write_items(TransactItems=[reserve_stock(table, tenant, pid, 1, on_hand=1)])
    got = api("GET", f"/products/{pid}").body
    assert (got["inventory"], got["available"], got["version"]) == (0, False, 3)
    in_stock = api("GET", "/products", query={"available": "true"}).body["items"]
    out_of_stock = api("GET", "/products", query={"available": "false"}).body["items"]
    assert ([p["id"] for p in in_stock], [p["id"] for p in out_of_stock]) == ([], [pid])
    ddb.transact_write_items(TransactItems=[release_stock(table, tenant, pid, 2)])
    got = api("GET", f"/products/{pid}").body
    assert (got["inventory"], got["available"]) == (2, True)
    assert [
        p["id"] for p in api("GET", "/products", query={"available": "true"}).body["items"]
    ] == [pid]


def test_a_stale_on_hand_cancels_the_transaction_instead_of_overselling(
    api: Api, ddb: Any, table: str
) -> None:
    product = api.create(inventory=2)
    pid, tenant = product["id"], api.tenant
    api("PATCH", f"/products/{pid}", body={"inventory": 1})  # meanwhile: one left
    for entry in (
        reserve_stock(table, tenant, pid, 2, on_hand=2),  # sells out: needs exactly 2
        reserve_stock(table, tenant, pid, 1, on_hand=2),  # decrement: needs more than 1
    ):
        with pytest.raises(ClientError) as raised:
            ddb.transact_write_items(TransactItems=[entry])
        assert is_condition_failure(raised.value)
    assert api("GET", f"/products/{pid}").body["inventory"] == 1


def test_an_order_priced_before_a_price_change_is_refused(api: Api, ddb: Any, table: str) -> None:
    product = api.create(inventory=5, price=10)
    api("PATCH", f"/products/{product['id']}", body={"price": 12})
    entry = reserve_stock(table, api.tenant, product["id"], 1, on_hand=5, price=Decimal("10"))
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=[entry])
    assert is_condition_failure(raised.value)
    entry = reserve_stock(table, api.tenant, product["id"], 1, on_hand=5, price=Decimal("12.00"))
    ddb.transact_write_items(TransactItems=[entry])
    assert api("GET", f"/products/{product['id']}").body["inventory"] == 4


def test_reserve_refuses_what_the_caller_knows_is_not_there() -> None:
    with pytest.raises(InsufficientStock) as raised:
        reserve_stock("products-dev", "t1", "01J00000000000000000000000", 5, on_hand=4)
    assert raised.value.status == 409
    for quantity in (0, -1):
        with pytest.raises(ValueError):
            reserve_stock("products-dev", "t1", "01J00000000000000000000000", quantity, on_hand=4)
        with pytest.raises(ValueError):
            release_stock("products-dev", "t1", "01J00000000000000000000000", quantity)


def test_release_of_a_deleted_product_fails(api: Api, ddb: Any, table: str) -> None:
    product = api.create()
    api("DELETE", f"/products/{product['id']}")
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[release_stock(table, api.tenant, product["id"], 1)])


def test_the_repository_reads_a_product_for_the_orders_service(
    api: Api, ddb: Any, table: str
) -> None:
    created = api.create()
    repo = ProductRepository(ddb, table)
    product = repo.get(api.tenant, created["id"])
    assert product is not None and str(product.price) == "299.99"
    assert (product.inventory, product.currency, product.version) == (100, "USD", 1)
    assert repo.get(api.other, created["id"]) is None


def test_price_and_date_listings_read_inventory_itself(api: Api, ddb: Any, table: str) -> None:
    """A writer that decrements inventory but leaves tenant_availability behind (as a bare
    ``SET inventory = inventory - :q`` does) cannot make the price or date listings lie;
    only the availability index (sort=name) depends on tenant_availability."""
    from bbws.services.products.items import product_key

    product = api.create(inventory=1)
    ddb.update_item(
        TableName=table,
        Key=product_key(api.tenant, product["id"]),
        UpdateExpression="SET inventory = inventory - :q",
        ExpressionAttributeValues={":q": {"N": "1"}},
    )
    for sort in ("price", "created_at"):
        listed = {
            flag: [
                p["id"]
                for p in api("GET", "/products", query={"available": flag, "sort": sort}).body[
                    "items"
                ]
            ]
            for flag in ("true", "false")
        }
        assert listed == {"true": [], "false": [product["id"]]}
