"""Pricing and queue messages: the pure parts, without AWS.

Campaign windows, percent bounds and overlaps are the campaigns service's rules, tested
with ``active_discounts`` in ``tests/bbws/services/campaigns/test_active_discounts.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbws.services.campaigns.repository import Discount
from bbws.services.errors import ValidationFailed
from bbws.services.orders import pricing
from bbws.services.orders.items import timestamp
from bbws.services.orders.model import LineIn, Order
from bbws.services.orders.workers import messages
from bbws.services.products.items import ProductRecord
from bbws.services.products.stock import InsufficientStock

IDS = ["01JAAAAAAAAAAAAAAAAAAAAAA" + c for c in "ABCDEFGH"]


def product(pid: str, price: str, stock: int = 10, currency: str = "ZAR") -> ProductRecord:
    return ProductRecord(
        id=pid,
        name=f"p-{pid[-1]}",
        description="",
        category="kitchen",
        price=Decimal(price),
        currency=currency,
        inventory=stock,
        sku=f"SKU-{pid[-1]}",
        image_url=None,
        created_at="2026-01-10T09:00:00.000Z",
        updated_at="2026-01-10T09:00:00.000Z",
        version=1,
    )


prices = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
percents = st.one_of(st.none(), st.decimals(min_value="0.5", max_value=100, places=1))


@given(st.lists(st.tuples(prices, st.integers(1, 1000), percents), min_size=1, max_size=8))
def test_lines_always_add_up_and_never_go_below_zero(
    rows: list[tuple[Decimal, int, Decimal | None]],
) -> None:
    lines = [LineIn(product_id=IDS[i], quantity=q) for i, (_, q, _) in enumerate(rows)]
    products = {IDS[i]: product(IDS[i], str(p)) for i, (p, _, _) in enumerate(rows)}
    discounts = {
        IDS[i]: Discount(campaign_id="c", percent=d)
        for i, (_, _, d) in enumerate(rows)
        if d is not None
    }
    priced = pricing.price_lines(lines, products, discounts)
    subtotal, discount, total = pricing.totals(priced)
    for line in priced:
        assert line.subtotal == line.unit_price * line.quantity
        assert 0 <= line.discount <= line.subtotal
        assert line.total == line.subtotal - line.discount
        assert line.total.as_tuple().exponent >= -2  # whole cents only
    assert total == sum(line.total for line in priced) == subtotal - discount


def test_a_discount_rounds_half_up_to_the_cent() -> None:
    lines = [LineIn(product_id=IDS[0], quantity=1)]
    (line,) = pricing.price_lines(
        lines, {IDS[0]: product(IDS[0], "0.05")}, {IDS[0]: Discount("c", Decimal(50))}
    )
    assert (line.discount, line.total) == (Decimal("0.03"), Decimal("0.02"))


def test_amounts_are_strings_on_the_wire_and_decimals_inside() -> None:
    (line,) = pricing.price_lines(
        [LineIn(product_id=IDS[0], quantity=3)], {IDS[0]: product(IDS[0], "0.1")}, {}
    )
    assert line.model_dump(mode="json")["subtotal"] == "0.30"
    assert line.model_dump()["subtotal"] == Decimal("0.30")
    assert (
        Order.model_json_schema(mode="serialization")["$defs"]["OrderLine"]["properties"][
            "unit_price"
        ]["type"]
        == "string"
    )


def test_stock_and_currency_checks() -> None:
    lines = [LineIn(product_id=IDS[0], quantity=5), LineIn(product_id=IDS[1], quantity=1)]
    short = {IDS[0]: product(IDS[0], "1", stock=4), IDS[1]: product(IDS[1], "1")}
    with pytest.raises(pricing.InsufficientStock) as err:
        pricing.check_stock(lines, short)
    assert err.value.status == 409
    assert isinstance(err.value, InsufficientStock)  # the products service's kind
    assert err.value.details == [{"field": f"product.{IDS[0]}", "type": "insufficient_stock"}]
    mixed = {IDS[0]: product(IDS[0], "1"), IDS[1]: product(IDS[1], "1", currency="USD")}
    with pytest.raises(ValidationFailed):
        pricing.currency_of(lines, mixed)


def test_timestamps_are_fixed_width_utc() -> None:
    assert timestamp(datetime(2026, 1, 10, 9, 5, 7, 1500, tzinfo=UTC)) == "2026-01-10T09:05:07.001Z"


def test_messages_are_references_or_stream_records() -> None:
    ref = messages.parse(json.dumps({"tenant_id": "t1", "order_id": IDS[0]}))
    assert ref == messages.OrderEvent("t1", IDS[0], "reference")
    record = {
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": {"pk": {"S": "TENANT#t1"}, "sk": {"S": f"ORDER#{IDS[0]}"}},
            "OldImage": {"status": {"S": "pending"}},
            "NewImage": {"status": {"S": "confirmed"}},
        },
    }
    assert messages.parse(json.dumps(record)) == messages.OrderEvent(
        "t1", IDS[0], "changed", "pending", "confirmed"
    )
    record["dynamodb"]["Keys"] = {"pk": {"S": "IDEMPOTENCY#orders"}, "sk": {"S": "REQUEST#x"}}
    assert messages.parse(json.dumps(record)) is None
    for bad in [
        "[]",
        "{}",
        '{"tenant_id": "t1", "order_id": "lower-case"}',
        '{"eventName": "X", "dynamodb": {}}',
    ]:
        with pytest.raises(ValueError):
            messages.parse(bad)
