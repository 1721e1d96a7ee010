"""repository.active_discounts: what the orders service asks of campaigns."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from bbws.schemas.dynamodb_definition import PK, SK, entity_key, tenant_partition
from bbws.services.campaigns.repository import Discount, active_discounts
from tests.bbws.services.campaigns.conftest import Client
from tests.bbws.services.support import OTHER_TENANT, TENANT


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def offers(client: Client, products, dynamodb, settings) -> dict[str, Any]:
    p1, p2, p3 = products(3)
    # The other tenant has a product with the same id (ids are per tenant) and a big offer.
    dynamodb.Table(settings.products_table).put_item(
        Item={PK: tenant_partition(OTHER_TENANT), SK: entity_key("PRODUCT", p1)}
    )

    def make(status: str, tenant: str = TENANT, **fields: Any) -> str:
        body = {"name": status, "start_date": "2026-02-01", **fields}
        code, _, created = client.post("/campaigns", body, tenant=tenant)
        assert code == 201, created
        path = f"/campaigns/{created['id']}"
        for step in {"draft": [], "active": ["active"], "paused": ["active", "paused"]}[status]:
            assert client.patch(path, {"status": step}, tenant=tenant).status == 200
        return str(created["id"])

    return {
        "p": (p1, p2, p3),
        "a": make("active", discount_percent=10, product_ids=[p1, p2], end_date="2026-03-01"),
        "b": make("active", discount_percent=25, product_ids=[p2], start_date="2026-02-15"),
        "paused": make("paused", discount_percent=50, product_ids=[p1]),
        "draft": make("draft", discount_percent=60, product_ids=[p1]),
        "no_discount": make("active", product_ids=[p3]),
        "f": make("active", discount_percent=25, product_ids=[p2], start_date="2026-02-15"),
        "other": make("active", discount_percent=80, product_ids=[p1], tenant=OTHER_TENANT),
    }


def discounts(dynamodb, settings, offers, when: datetime) -> dict[str, tuple[str, Decimal]]:
    table = dynamodb.Table(settings.campaigns_table)
    found = active_discounts(table, TENANT, offers["p"], when)
    names = {v: k for k, v in offers.items() if k != "p"}
    p1, p2, p3 = offers["p"]
    label = {p1: "p1", p2: "p2", p3: "p3"}
    return {label[p]: (names[d.campaign_id], d.percent) for p, d in found.items()}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-01-31T23:59:59Z", {}),
        ("2026-02-01T00:00:00Z", {"p1": ("a", 10), "p2": ("a", 10)}),
        # b and f tie at 25 %: the newer campaign, f, wins; campaigns never stack.
        ("2026-02-20T12:00:00Z", {"p1": ("a", 10), "p2": ("f", 25)}),
        ("2026-02-28T23:59:59.999+00:00", {"p1": ("a", 10), "p2": ("f", 25)}),
        ("2026-03-01T00:00:00Z", {"p2": ("f", 25)}),  # the end is exclusive
        ("2026-03-01T01:30:00+02:00", {"p1": ("a", 10), "p2": ("f", 25)}),  # 23:30 UTC
        ("2030-01-01T00:00:00Z", {"p2": ("f", 25)}),  # open-ended
    ],
)
def test_the_best_active_discount_in_its_window(
    dynamodb, settings, offers, when: str, expected
) -> None:
    assert discounts(dynamodb, settings, offers, at(when)) == expected


def test_one_index_query_per_call_and_none_without_products(
    client: Client, dynamodb, settings, offers
) -> None:
    table = dynamodb.Table(settings.campaigns_table)
    client.calls.clear()
    assert active_discounts(table, TENANT, [], at("2026-02-20T00:00:00Z")) == {}
    assert client.calls == []
    found = active_discounts(
        table, TENANT, ["01J0000000000000000000000X"], at("2026-02-20T00:00:00Z")
    )
    assert found == {}
    assert [(c["operation"], c["IndexName"]) for c in client.calls] == [
        ("Query", "CampaignsByStatus")
    ]


def test_the_other_tenant_gets_only_its_own_campaign(dynamodb, settings, offers) -> None:
    table = dynamodb.Table(settings.campaigns_table)
    p1 = offers["p"][0]
    found = active_discounts(table, OTHER_TENANT, [p1], at("2026-02-20T00:00:00Z"))
    assert found == {p1: Discount(offers["other"], Decimal(80))}


def test_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        active_discounts(None, TENANT, [], datetime(2026, 2, 1))  # type: ignore[arg-type]


class PagedTable:
    """A table whose query answers one item per page, as DynamoDB does at its size limit."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items, self.calls = items, []

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = kwargs.get("ExclusiveStartKey", {}).get("i", 0)
        page: dict[str, Any] = {"Items": self.items[index : index + 1]}
        if index + 1 < len(self.items):
            page["LastEvaluatedKey"] = {"i": index + 1}
        return page


def test_every_page_of_the_index_is_read() -> None:
    items = [
        {"id": f"0{i}", "discount_percent": Decimal(5 * i), "product_ids": ["p"]}
        for i in range(1, 4)
    ]
    table = PagedTable(items)
    assert active_discounts(table, TENANT, ["p"], datetime(2026, 2, 1, tzinfo=UTC)) == {  # type: ignore[arg-type]
        "p": Discount("03", Decimal(15))
    }
    assert len(table.calls) == 3


def test_importing_the_repository_does_not_import_the_app() -> None:
    code = (
        "import sys, bbws.services.campaigns.repository as r; "
        "assert callable(r.active_discounts); "
        "app = ('bbws.services.campaigns.api', 'bbws.services.app'); "
        "loaded = [m for m in app if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_discount_times_in_any_offset_mean_the_same_instant(dynamodb, settings, offers) -> None:
    utc = at("2026-02-20T12:00:00Z")
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    assert discounts(dynamodb, settings, offers, utc) == discounts(
        dynamodb, settings, offers, plus_two
    )
