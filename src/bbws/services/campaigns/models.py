"""Campaign statuses, their transitions, and the request and response bodies.

Times are UTC. A request may send a plain date (``2026-02-01``, the start of that day in
UTC) or a date-time with an offset (``2026-02-01T09:00:00+02:00``); both are stored and
answered in one shape, ``2026-02-01T07:00:00Z``, truncated to the second. One fixed-width
shape makes string order time order, which ``repository.active_discounts`` relies on when
it compares dates inside DynamoDB.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from bbws.services.ids import ULID_PATTERN


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


# Status -> the statuses it may move to. Ended is terminal: its discounts were applied to
# orders, so reopening it would make old and new orders disagree about the same campaign.
TRANSITIONS: Final[dict[CampaignStatus, frozenset[CampaignStatus]]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.ACTIVE, CampaignStatus.ENDED}),
    CampaignStatus.ACTIVE: frozenset({CampaignStatus.PAUSED, CampaignStatus.ENDED}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.ACTIVE, CampaignStatus.ENDED}),
    CampaignStatus.ENDED: frozenset(),
}

# A typo must not give products away: 100 % would make them free, and 90 % still leaves
# room for clearance sales. Two decimals at most, like the prices they apply to.
MAX_DISCOUNT_PERCENT: Final = Decimal(90)
MAX_PRODUCTS: Final = 100  # one BatchGetItem checks them all
FIRST_YEAR: Final = 2000
LAST_YEAR: Final = 2999


def format_instant(value: datetime) -> str:
    """``2026-02-01T00:00:00Z``: how start and end dates are stored and answered."""
    # isoformat, not strftime: strftime("%Y") does not pad years before 1000.
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def format_timestamp(value: datetime) -> str:
    """``2026-01-10T10:00:00.000Z``: created_at / updated_at, fixed width so they sort."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: object) -> datetime:
    """A plain date or an offset-aware ISO 8601 date-time, as an aware UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = _parse_text(value.strip())
    else:
        raise PydanticCustomError("datetime_type", "must be an ISO 8601 date or date-time")
    if parsed.tzinfo is None:
        # "2026-02-01T10:00:00" is 10:00 where? Refuse rather than guess a time zone.
        raise PydanticCustomError("timezone_aware", "a date-time needs an offset, e.g. Z")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC datetime
        utc = datetime.min.replace(tzinfo=UTC)
    if not FIRST_YEAR <= utc.year <= LAST_YEAR:
        # Year 17 is a typo, not a campaign; and four-digit years keep string order.
        raise PydanticCustomError("date_out_of_range", "must be between 2000 and 2999")
    return utc.replace(microsecond=0)


def _parse_text(text: str) -> datetime:
    try:
        if len(text) <= len("2026-02-01"):
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        return datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError("datetime_parsing", "not an ISO 8601 date or date-time") from None


_INSTANT_SCHEMA: Final = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
    "description": "ISO 8601 date (2026-02-01, midnight UTC) or date-time with an offset",
    "examples": ["2026-02-01", "2026-02-01T09:00:00+02:00"],
}
# In requests: a date or a date-time; in responses: always 2026-02-01T00:00:00Z.
Instant = Annotated[
    datetime,
    PlainValidator(parse_instant),
    PlainSerializer(format_instant, return_type=str),
    WithJsonSchema(_INSTANT_SCHEMA, mode="validation"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
DiscountPercent = Annotated[
    Decimal,
    Field(gt=0, le=MAX_DISCOUNT_PERCENT, decimal_places=2, allow_inf_nan=False),
    # A JSON number, not Decimal's default string (numeric strings are accepted, not offered).
    PlainSerializer(float, return_type=float),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": float(MAX_DISCOUNT_PERCENT),
            "description": "percent off, at most two decimals",
        },
        mode="validation",
    ),
]
ProductId = Annotated[str, Field(pattern=ULID_PATTERN, min_length=26, max_length=26)]
ProductIds = Annotated[list[ProductId], Field(max_length=MAX_PRODUCTS)]


class _Body(BaseModel):
    # A misspelt field ("discount") must be a 400, not a campaign silently without it.
    model_config = ConfigDict(extra="forbid")


class CampaignCreate(_Body):
    name: Name
    description: Description | None = None
    # Paused and ended campaigns come from transitions, never from nothing.
    status: Literal[CampaignStatus.DRAFT, CampaignStatus.ACTIVE] = CampaignStatus.DRAFT
    start_date: Instant
    end_date: Instant | None = None
    discount_percent: DiscountPercent | None = None
    product_ids: ProductIds = Field(default_factory=list)
    allow_past_start: bool = Field(
        default=False, description="required to create a campaign whose start date has passed"
    )


# Fields a campaign always has: null cannot clear them (send [] to unlink every product).
_NOT_NULLABLE: Final = ("name", "status", "start_date", "product_ids")


class CampaignUpdate(_Body):
    """A partial update (PUT and PATCH alike): only the fields sent change; ``null`` clears
    ``description``, ``end_date`` and ``discount_percent``."""

    # SkipJsonSchema: None is only the "not sent" default, so the schema does not offer null.
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    status: CampaignStatus | SkipJsonSchema[None] = None
    start_date: Instant | SkipJsonSchema[None] = None
    end_date: Instant | None = None
    discount_percent: DiscountPercent | None = None
    product_ids: ProductIds | SkipJsonSchema[None] = None
    allow_past_start: bool = Field(
        default=False, description="required to move the start date into the past"
    )

    @field_validator(*_NOT_NULLABLE)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Defaults are not validated, so this only sees an explicit null.
        if value is None:
            raise PydanticCustomError("not_nullable", "this field cannot be cleared")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, without the request-only flag."""
        return {f: getattr(self, f) for f in self.model_fields_set if f != "allow_past_start"}


class Campaign(BaseModel):
    """A stored campaign, and the body of every single-campaign response."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None
    status: CampaignStatus
    start_date: Instant
    end_date: Instant | None
    discount_percent: DiscountPercent | None
    product_ids: list[str]
    version: int = Field(description="bumped by every write; the ETag is its quoted value")
    created_at: Timestamp
    updated_at: Timestamp


class CampaignPage(BaseModel):
    items: list[Campaign]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")
