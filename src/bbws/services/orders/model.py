"""The orders API's shapes: requests, the order itself, statuses and their transitions.

Amounts are ``Decimal`` inside and two-decimal strings on the wire (``"298.00"``): a float
would round a price, and a JSON number would be read back as a float by most clients.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from bbws.services.ids import ULID_PATTERN


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The only forward moves (PATCH and the events consumer); cancelling has its own route
# because it must restock in the same transaction.
NEXT_STATUS: Final = {
    Status.PENDING: Status.CONFIRMED,
    Status.CONFIRMED: Status.SHIPPED,
    Status.SHIPPED: Status.DELIVERED,
}
CANCELLABLE: Final = frozenset({Status.PENDING, Status.CONFIRMED})

MAX_LINES: Final = 50  # a transaction holds at most 100 writes: one per line plus the order
MAX_QUANTITY: Final = 1000
CENT: Final = Decimal("0.01")
# No '#', so a customer id cannot forge another composite GSI value within the tenant.
CUSTOMER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$"
EMAIL_PATTERN: Final = r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$"


def money(value: Decimal) -> Decimal:
    """Round half up to cents, as receipts do (banker's rounding surprises customers)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _money_text(value: Decimal) -> str:
    return f"{money(value):.2f}"


def _number_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


# Decimal in Python, "12.50" in JSON and in the OpenAPI schema.
Money = Annotated[Decimal, PlainSerializer(_money_text, return_type=str, when_used="json")]
Percent = Annotated[Decimal, PlainSerializer(_number_text, return_type=str, when_used="json")]


class LineIn(BaseModel):
    # Unknown fields (a client-sent "price") are ignored: prices only come from the catalogue.
    product_id: Annotated[str, Field(pattern=ULID_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class OrderIn(BaseModel):
    customer_id: Annotated[str | None, Field(pattern=CUSTOMER_ID_PATTERN)] = None
    items: Annotated[list[LineIn], Field(min_length=1, max_length=MAX_LINES)]
    email: Annotated[str | None, Field(pattern=EMAIL_PATTERN, max_length=254)] = None
    customer_name: Annotated[str | None, Field(min_length=1, max_length=120)] = None
    note: Annotated[str | None, Field(max_length=500)] = None

    @field_validator("items")
    @classmethod
    def _one_line_per_product(cls, items: list[LineIn]) -> list[LineIn]:
        # One transaction cannot touch an item twice; two lines of one product are one line.
        ids = [line.product_id for line in items]
        if len(set(ids)) != len(ids):
            raise ValueError("each product may appear in one line only")
        return items


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Forward moves only: cancelling is POST /orders/{order_id}/cancel, because it restocks.
    status: Literal["confirmed", "shipped", "delivered"]


class OrderLine(BaseModel):
    product_id: str
    name: str
    quantity: int
    unit_price: Money
    discount_percent: Percent = Decimal(0)
    campaign_id: str | None = None
    subtotal: Money  # unit_price * quantity
    discount: Money
    total: Money


class Order(BaseModel):
    id: str
    customer_id: str
    status: Status
    currency: str
    items: list[OrderLine]
    subtotal: Money
    discount: Money
    total: Money
    created_at: str  # ISO-8601 UTC with milliseconds, the ULID's own timestamp
    updated_at: str
    email: str | None = None
    customer_name: str | None = None
    note: str | None = None
    cancel_reason: str | None = None


class OrderPage(BaseModel):
    items: list[Order]
    next_cursor: str | None = None
