"""An order's lines and totals from the catalogue's prices: pure, so it is tested alone.

Products are the products service's ``ProductRecord``; discounts are what the campaigns
service's ``active_discounts`` answers (one per product: campaigns never stack).
Per line: ``subtotal = unit_price * quantity``, ``discount = subtotal * percent / 100``
rounded half up to cents, ``total = subtotal - discount``. The order's totals are the sums
of its lines, so the lines always add up to what the customer is charged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from bbws.services.campaigns.repository import Discount
from bbws.services.errors import ValidationFailed
from bbws.services.orders.model import LineIn, OrderLine, money
from bbws.services.products.items import ProductRecord
from bbws.services.products.stock import InsufficientStock as OutOfStock


class InsufficientStock(OutOfStock):
    """409 naming every product that cannot be supplied, so the client can fix the cart.
    A kind of the products service's own ``InsufficientStock``."""

    def __init__(self, products: Sequence[ProductRecord]) -> None:
        names = ", ".join(f"{p.name} ({p.id})" for p in products)
        super().__init__(
            f"insufficient stock for {names}",
            details=[{"field": f"product.{p.id}", "type": "insufficient_stock"} for p in products],
        )


def unknown_products(lines: Sequence[LineIn], products: Mapping[str, ProductRecord]) -> None:
    """400 naming each line whose product is not one of this tenant's (or no longer exists)."""
    details = [
        {"field": f"body.items.{index}.product_id", "type": "unknown_product"}
        for index, line in enumerate(lines)
        if line.product_id not in products
    ]
    if details:
        raise ValidationFailed("unknown product", details=details)


def check_stock(lines: Sequence[LineIn], products: Mapping[str, ProductRecord]) -> None:
    short = [
        products[line.product_id]
        for line in lines
        if products[line.product_id].inventory < line.quantity
    ]
    if short:
        raise InsufficientStock(short)


def currency_of(lines: Sequence[LineIn], products: Mapping[str, ProductRecord]) -> str:
    currencies = {products[line.product_id].currency for line in lines}
    if len(currencies) != 1:
        # One order is one charge; mixing currencies would need a conversion we do not own.
        raise ValidationFailed(
            "all products of an order must share one currency",
            details=[{"field": "body.items", "type": "mixed_currency"}],
        )
    return currencies.pop()


def price_lines(
    lines: Sequence[LineIn],
    products: Mapping[str, ProductRecord],
    discounts: Mapping[str, Discount],
) -> list[OrderLine]:
    priced = []
    for line in lines:
        product = products[line.product_id]
        discount = discounts.get(line.product_id)
        percent = discount.percent if discount else Decimal(0)
        unit_price = money(product.price)
        subtotal = unit_price * line.quantity
        off = money(subtotal * percent / 100)
        priced.append(
            OrderLine(
                product_id=product.id,
                name=product.name,
                quantity=line.quantity,
                unit_price=unit_price,
                discount_percent=percent,
                campaign_id=discount.campaign_id if discount else None,
                subtotal=subtotal,
                discount=off,
                total=subtotal - off,
            )
        )
    return priced


def totals(lines: Sequence[OrderLine]) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal, discount, total) of an order."""
    subtotal = sum((line.subtotal for line in lines), Decimal(0))
    discount = sum((line.discount for line in lines), Decimal(0))
    return subtotal, discount, subtotal - discount
