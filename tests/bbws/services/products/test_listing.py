"""GET /products: filters, index choice (never a Scan), sorting, pagination, cursors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbws.services.app import build_handler
from bbws.services.products import listing
from bbws.services.products.api import create_app
from tests.bbws.services.products.conftest import Api

CATEGORIES = ("Electronics", "Kitchen", "Garden")


def page_through(api: Api, query: dict[str, str], limit: int = 7) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        params = {**query, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, _, body = api("GET", "/products", query=params, role="member")
        assert status == 200, body
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor does not advance"


def listed(api: Api, query: dict[str, str], limit: int = 7) -> list[dict[str, Any]]:
    return [item for page in page_through(api, query, limit) for item in page]


@pytest.fixture(scope="module")
def shop(handler: Any, sign: Any, cloud: Any, product_settings: Any) -> Iterator[Api]:
    """One tenant's catalogue for the read-only tests of this module."""
    api = Api(handler, sign)
    yield api
    api.purge(cloud.client("dynamodb"), product_settings.products_table)


@pytest.fixture(scope="module")
def catalogue(shop: Api) -> list[dict[str, Any]]:
    """30 products: 3 categories, prices 10..150 (some equal), every 4th out of stock."""
    api, products = shop, []
    for n in range(30):
        products.append(
            api.create(
                name=f"{'abcdefghij'[n % 10]}-product {n:02d}",
                category=CATEGORIES[n % 3],
                price=float(10 * (n % 15 + 1)),
                inventory=0 if n % 4 == 0 else n,
                sku=f"CAT-{n:02d}",
            )
        )
    return products


def test_thirty_products_in_pages_of_seven_without_duplicates_or_misses(
    shop: Api, catalogue: list[dict[str, Any]]
) -> None:
    api = shop
    pages = page_through(api, {})
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    ids = [item["id"] for page in pages for item in page]
    assert ids == [p["id"] for p in catalogue]  # created_at order (ULIDs), oldest first
    assert [i["id"] for i in listed(api, {"order": "desc"})] == ids[::-1]


def sort_value(sort: str) -> Callable[[dict[str, Any]], Any]:
    return {
        "price": lambda p: p["price"],
        "name": lambda p: p["name"].casefold(),
        "created_at": lambda p: p["id"],
    }[sort]


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "price"},
        {"sort": "price", "order": "desc"},
        {"sort": "name", "available": "true"},
        {"sort": "name", "available": "false", "order": "desc"},
        {"sort": "created_at", "order": "desc"},
        {"category": "Kitchen"},
        {"category": "Kitchen", "order": "desc", "min_price": "50"},
        {"category": "Garden", "sort": "created_at"},
        {"category": "Garden", "sort": "name", "available": "true"},
        {"min_price": "100", "max_price": "200"},
        {"min_price": "100"},
        {"max_price": "40", "available": "true"},
        {"available": "true"},
        {"available": "false", "category": "Electronics"},
        {"sort": "created_at", "available": "false", "max_price": "100"},
        {"sort": "name"},
        {"sort": "name", "order": "desc"},
        {"sort": "name", "category": "Kitchen", "max_price": "120"},
    ],
)
def test_filters_and_sorts_across_pages(
    shop: Api, catalogue: list[dict[str, Any]], query: dict[str, str]
) -> None:
    api = shop
    expected = [p for p in catalogue if matches(p, query)]
    got = listed(api, query)
    assert sorted(i["id"] for i in got) == sorted(p["id"] for p in expected)
    sort = query.get("sort") or default_sort(query)
    values = [sort_value(sort)(i) for i in got]
    assert values == sorted(values, reverse=query.get("order") == "desc")


def default_sort(query: dict[str, str]) -> str:
    if {"category", "min_price", "max_price"} & set(query):
        return "price"
    return "name" if "available" in query else "created_at"


def matches(product: dict[str, Any], query: dict[str, str]) -> bool:
    price = Decimal(str(product["price"]))
    return (
        query.get("category", product["category"]) == product["category"]
        and price >= Decimal(query.get("min_price", "0"))
        and ("max_price" not in query or price <= Decimal(query["max_price"]))
        and query.get("available", str(product["available"]).lower())
        == str(product["available"]).lower()
    )


@pytest.mark.parametrize(
    ("query", "index", "filtered"),
    [
        ({}, None, False),
        ({"sort": "created_at", "category": "Kitchen"}, None, True),
        ({"category": "Kitchen"}, "ProductsByCategory", False),
        ({"category": "Kitchen", "min_price": "1", "max_price": "9"}, "ProductsByCategory", False),
        ({"category": "Kitchen", "available": "true"}, "ProductsByCategory", True),
        ({"min_price": "1", "max_price": "9"}, "ProductsByPriceRange", False),
        ({"sort": "price"}, "ProductsByPriceRange", False),
        ({"max_price": "9", "available": "false"}, "ProductsByPriceRange", True),
        ({"available": "true"}, "ProductsByAvailability", False),
        (
            {"available": "true", "sort": "name", "category": "Kitchen"},
            "ProductsByAvailability",
            True,
        ),
        ({"sort": "name"}, "ProductsByAvailability", False),
        ({"sort": "name", "category": "Kitchen"}, "ProductsByAvailability", True),
    ],
)
def test_each_filter_combination_is_one_query_on_the_right_index(
    cloud: boto3.session.Session,
    product_settings: Any,
    sign: Any,
    query: dict[str, str],
    index: str | None,
    filtered: bool,
) -> None:
    client = cloud.client("dynamodb")
    calls: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: calls.append((model.name, dict(params))),
    )
    api = Api(build_handler(create_app(product_settings, dynamodb=client)), sign)
    assert api("GET", "/products", query=query).status == 200
    merged = query.get("sort") == "name" and "available" not in query  # both partitions
    assert [name for name, _ in calls] == ["Query"] * (2 if merged else 1)
    for _, params in calls:
        assert params.get("IndexName") == index
        assert ("FilterExpression" in params) == filtered
        assert api.tenant in str(params["ExpressionAttributeValues"])  # the key names it
    if merged:
        states = {str(params["ExpressionAttributeValues"]) for _, params in calls}
        assert any("#IN_STOCK" in v for v in states) and any("#OUT_OF_STOCK" in v for v in states)


@pytest.mark.parametrize(
    ("query", "field", "kind"),
    [
        ({"min_price": "10", "max_price": "5"}, "query.min_price", "greater_than_max_price"),
        ({"min_price": "-1"}, "query.min_price", "greater_than_equal"),
        ({"max_price": "abc"}, "query.max_price", "decimal_parsing"),
        ({"sort": "colour"}, "query.sort", "literal_error"),
        ({"order": "up"}, "query.order", "literal_error"),
        ({"available": "yes"}, "query.available", "literal_error"),
        ({"limit": "0"}, "query.limit", "greater_than_equal"),
        ({"limit": "101"}, "query.limit", "less_than_equal"),
        ({"cursor": "forged.cursor"}, "query.cursor", "cursor"),
        ({"category": ""}, "query.category", "string_too_short"),
    ],
)
def test_invalid_list_queries_are_400(
    api: Api, query: dict[str, str], field: str, kind: str
) -> None:
    status, _, body = api("GET", "/products", query=query)
    assert status == 400
    assert [(d["field"], d["type"]) for d in body["error"]["details"]] == [(field, kind)]


def test_a_cursor_only_continues_its_own_query(api: Api) -> None:
    for n in range(3):
        api.create(sku=f"Q-{n}", category="Kitchen")
    first = api("GET", "/products", query={"category": "Kitchen", "limit": "1"}).body
    assert first["next_cursor"]
    for other in ({"category": "Garden"}, {"category": "Kitchen", "order": "desc"}, {}):
        status, _, _ = api(
            "GET", "/products", query={**other, "limit": "1", "cursor": first["next_cursor"]}
        )
        assert status == 400
    follow = {"category": "Kitchen", "limit": "5", "cursor": first["next_cursor"]}
    assert len(api("GET", "/products", query=follow).body["items"]) == 2  # limit may change


def test_a_selective_filter_returns_short_pages_but_misses_nothing(api: Api) -> None:
    # 3 Garden products among 25, listed by creation date: the table query filters on
    # category and may need several calls; pages can be short but the cursor goes on.
    garden = []
    for n in range(25):
        created = api.create(sku=f"S-{n}", category="Garden" if n % 9 == 4 else "Tools")
        if n % 9 == 4:
            garden.append(created["id"])
    got = listed(api, {"sort": "created_at", "category": "Garden"}, limit=2)
    assert [i["id"] for i in got] == garden


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    products=st.lists(
        st.tuples(
            st.sampled_from(CATEGORIES[:2]),
            st.sampled_from([5, 19.99, 20, 150]),
            st.sampled_from([0, 1, 7]),
            st.sampled_from(["alpha", "Beta", "beta", "gamma"]),
        ),
        max_size=9,
    ),
    query=st.fixed_dictionaries(
        {},
        optional={
            "category": st.sampled_from(CATEGORIES),
            "min_price": st.sampled_from(["0", "19.99", "20.5"]),
            "max_price": st.sampled_from(["20", "1000"]),
            "available": st.sampled_from(["true", "false"]),
            "sort": st.sampled_from(["price", "name", "created_at"]),
            "order": st.sampled_from(["asc", "desc"]),
        },
    ),
    limit=st.integers(1, 4),
)
def test_any_filter_combination_lists_exactly_the_matching_products(
    handler: Any,
    sign: Any,
    cloud: Any,
    product_settings: Any,
    products: list[Any],
    query: dict[str, str],
    limit: int,
) -> None:
    api = Api(handler, sign)  # a fresh tenant: an empty catalogue
    try:
        check_listing(api, products, query, limit)
    finally:
        api.purge(cloud.client("dynamodb"), product_settings.products_table)


def check_listing(api: Api, products: list[Any], query: dict[str, str], limit: int) -> None:
    created = [
        api.create(category=c, price=p, inventory=i, name=n, sku=f"H-{k}")
        for k, (c, p, i, n) in enumerate(products)
    ]
    low, high = Decimal(query.get("min_price", "0")), Decimal(query.get("max_price", "1e9"))
    if low > high:
        assert api("GET", "/products", query=query).status == 400
        return
    got = listed(api, query, limit)
    assert sorted(i["id"] for i in got) == sorted(p["id"] for p in created if matches(p, query))
    values = [sort_value(query.get("sort") or default_sort(query))(i) for i in got]
    assert values == sorted(values, reverse=query.get("order") == "desc")
    if query.get("sort") == "name":  # the index's full order: name_sort, then id
        keys = [(i["name"].casefold(), i["id"]) for i in got]
        assert keys == sorted(keys, reverse=query.get("order") == "desc")


# sort=name without available: both availability partitions, merged -----------------------

NAMES = ("Apple", "apple", "APPLE", "Banana", "banana split", "Cherry", "cherry", "Date")


def name_order(products: list[dict[str, Any]], desc: bool = False) -> list[str]:
    """The index's order: the casefolded name, then the id (ULID) for equal names."""
    ordered = sorted(products, key=lambda p: (p["name"].casefold(), p["id"]), reverse=desc)
    return [p["id"] for p in ordered]


@pytest.fixture(scope="module")
def names(handler: Any, sign: Any, cloud: Any, product_settings: Any) -> Iterator[Any]:
    """30 products of one tenant: colliding and case-differing names, in and out of stock."""
    api = Api(handler, sign)
    products = [
        api.create(
            name=NAMES[n % len(NAMES)],
            category=CATEGORIES[n % 3],
            price=float(10 * (n % 5 + 1)),
            inventory=0 if n % 3 == 1 or n % 7 == 0 else n,
            sku=f"N-{n:02d}",
        )
        for n in range(30)
    ]
    yield api, products
    api.purge(cloud.client("dynamodb"), product_settings.products_table)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_name_alone_merges_in_and_out_of_stock_across_pages(names: Any, order: str) -> None:
    api, products = names
    assert {p["available"] for p in products} == {True, False}
    pages = page_through(api, {"sort": "name", "order": order}, limit=7)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]  # unfiltered: full pages
    ids = [item["id"] for page in pages for item in page]
    assert ids == name_order(products, desc=order == "desc")


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_sort_by_name_alone_with_a_category_filter(names: Any, order: str, limit: int) -> None:
    api, products = names
    kitchen = [p for p in products if p["category"] == "Kitchen"]
    got = listed(api, {"sort": "name", "order": order, "category": "Kitchen"}, limit)
    assert [i["id"] for i in got] == name_order(kitchen, desc=order == "desc")
    priced = [p for p in products if 20 <= p["price"] <= 30]
    query = {"sort": "name", "order": order, "min_price": "20", "max_price": "30"}
    assert [i["id"] for i in listed(api, query, limit)] == name_order(priced, order == "desc")


def test_a_merged_name_cursor_only_continues_its_own_query(names: Any) -> None:
    api, _ = names
    first = api("GET", "/products", query={"sort": "name", "limit": "3"}, role="member").body
    cursor = first["next_cursor"]
    assert cursor
    for other in (
        {"sort": "name", "available": "true"},
        {"sort": "name", "order": "desc"},
        {"sort": "name", "category": "Kitchen"},
        {},
    ):
        query = {**other, "cursor": cursor}
        assert api("GET", "/products", query=query, role="member").status == 400
    body, signature = cursor.split(".")
    for tampered in (f"{body[:-2]}AA.{signature}", f"{body}.{signature[:-2]}AA"):
        query = {"sort": "name", "cursor": tampered}
        status, _, answer = api("GET", "/products", query=query, role="member")
        assert status == 400
        assert answer["error"]["details"] == [{"field": "query.cursor", "type": "cursor"}]
    query = {"sort": "name", "cursor": cursor}  # same query, another tenant
    assert api("GET", "/products", query=query, tenant=api.other).status == 400
    assert api("GET", "/products", query=query, role="member").status == 200


@pytest.mark.parametrize("read", [1, 2, 100])
def test_a_merged_listing_stays_within_five_calls_per_page(
    cloud: boto3.session.Session,
    product_settings: Any,
    sign: Any,
    monkeypatch: pytest.MonkeyPatch,
    read: int,
) -> None:
    # 12 Tools products between the few Garden ones: filtered pages may be short (with
    # tiny reads, even empty), but each request makes at most 5 Queries and the pages
    # together miss nothing and repeat nothing.
    monkeypatch.setattr(listing, "FILTERED_READ", read)
    client = cloud.client("dynamodb")
    calls: list[str] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    api = Api(build_handler(create_app(product_settings, dynamodb=client)), sign)
    try:
        made = [
            api.create(
                name=f"item {n % 4}",
                sku=f"B-{n}",
                category="Garden" if n % 5 == 2 else "Tools",
                inventory=n % 2,
            )
            for n in range(16)
        ]
        calls.clear()
        pages, cursor, counts = [], None, []
        while True:
            before = len(calls)
            query = {"sort": "name", "category": "Garden", "limit": "1"}
            query |= {"cursor": cursor} if cursor else {}
            status, _, body = api("GET", "/products", query=query)
            assert status == 200
            counts.append(len(calls) - before)
            pages.append(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert max(counts) <= 5
        if read == 1:
            assert [] in pages  # the budget did bind: a short page with a next_cursor
        garden = [p for p in made if p["category"] == "Garden"]
        assert [i["id"] for page in pages for i in page] == name_order(garden)
    finally:
        api.purge(client, product_settings.products_table)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    products=st.lists(
        st.tuples(
            st.sampled_from(["a", "A", "b", "B b", "c", "é", "É", "日本"]),
            st.sampled_from([0, 3]),
            st.sampled_from(CATEGORIES[:2]),
        ),
        max_size=12,
    ),
    order=st.sampled_from(["asc", "desc"]),
    category=st.sampled_from([None, CATEGORIES[0]]),
    limit=st.integers(1, 5),
    read=st.sampled_from([1, 2, 100]),
)
def test_merged_name_listing_of_any_catalogue_in_any_page_size(
    handler: Any,
    sign: Any,
    cloud: Any,
    product_settings: Any,
    products: list[Any],
    order: str,
    category: str | None,
    limit: int,
    read: int,
) -> None:
    api = Api(handler, sign)  # a fresh tenant: an empty catalogue
    try:
        made = [
            api.create(name=n, inventory=i, category=c, sku=f"M-{k}")
            for k, (n, i, c) in enumerate(products)
        ]
        query = {"sort": "name", "order": order, **({"category": category} if category else {})}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(listing, "FILTERED_READ", read)
            got = [i["id"] for i in listed(api, query, limit)]
        wanted = [p for p in made if category in (None, p["category"])]
        assert got == name_order(wanted, desc=order == "desc")
    finally:
        api.purge(cloud.client("dynamodb"), product_settings.products_table)


def test_merged_cursors_of_long_non_ascii_names_stay_short_enough(api: Api) -> None:
    # Both partitions' positions are in the cursor; non-ASCII names travel as UTF-8 base64
    # (JSON would spend 6 characters on each), so 200-character names still fit 2048.
    made = [
        api.create(name=f"{letter * 199}{n}", inventory=n % 2, sku=f"L-{n}")
        for n, letter in enumerate("éÉèÈçÇ")
    ]
    pages = page_through(api, {"sort": "name"}, limit=1)
    assert [i["id"] for page in pages for i in page] == name_order(made)
