"""Request and response bodies of the products API.

Input models forbid unknown fields, so a typo (``"prise"``) is a 400 instead of a silently
ignored change. Money is a ``Decimal`` with at most 2 decimals end to end (DynamoDB stores
the exact digits); it only becomes a JSON number in the response models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bbws.services.ids import ULID_PATTERN

MAX_BULK_ITEMS: Final = 100
MAX_PRICE: Final = Decimal("999999999.99")
MAX_INVENTORY: Final = 1_000_000_000
PATCH_FIELDS: Final = (
    "name",
    "description",
    "category",
    "price",
    "currency",
    "inventory",
    "sku",
    "image_url",
)

# Active ISO 4217 codes (2025), without the X-codes for metals, funds and testing (XAU,
# XDR, XTS, XXX, ...) which no catalogue prices in. Update when ISO adds or retires one.
_ISO_4217: Final = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL
BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK
DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS
INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR
PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW
UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL"""
CURRENCIES: Final = frozenset(_ISO_4217.split())


def _number_only(value: object) -> object:
    # JSON numbers only: "299.99" as a string is more likely a client bug than intent, and
    # pydantic's lax Decimal would accept it (and "1e3").
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise PydanticCustomError("decimal_type", "price must be a JSON number")
    return value


def _iso_currency(value: str) -> str:
    code = value.upper()
    if code not in CURRENCIES:
        raise PydanticCustomError("currency_code", "not an active ISO 4217 currency code")
    return code


# Control characters have no business in catalogue text (and would end up in HTML).
_LINE: Final = r"^[^\x00-\x1f\x7f]+$"
_TEXT: Final = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # newlines and tabs allowed

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=_LINE)]
Description = Annotated[str, Field(max_length=4000, pattern=_TEXT)]
Category = Annotated[str, Field(min_length=1, max_length=64, pattern=_LINE)]
Price = Annotated[
    Decimal,
    Field(gt=0, le=MAX_PRICE, max_digits=11, decimal_places=2, allow_inf_nan=False),
    BeforeValidator(_number_only),
    # Decimal's own schema (number or string, constraints as unknown keywords) says what
    # pydantic accepts, not what this API does.
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": float(MAX_PRICE),
            "description": "at most 2 decimal places",
        }
    ),
]
Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, description="ISO 4217 code"),
    AfterValidator(_iso_currency),
]
Inventory = Annotated[StrictInt, Field(ge=0, le=MAX_INVENTORY)]
Sku = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="unique within the tenant, ignoring case",
    ),
]
# Any https URL: catalogues migrated from elsewhere keep their image hosts; http:, data:
# and javascript: URLs never reach a storefront.
ImageUrl = Annotated[str, Field(max_length=2048, pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?/\S*$")]


class ProductCreate(BaseModel):
    """POST /products (the runbook's Test 3 body)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    description: Description = ""
    category: Category
    price: Price
    currency: Currency
    inventory: Inventory
    sku: Sku
    image_url: ImageUrl | None = None


def _nulls_only_for_image_url(schema: dict[str, Any]) -> None:
    # The fields are Optional so that absent means "keep", but null itself is refused.
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [])
        if name != "image_url" and {"type": "null"} in options and len(options) == 2:
            prop.update(next(o for o in options if o != {"type": "null"}))
            del prop["anyOf"]
            prop.pop("default", None)
    if "id" not in schema.get("properties", {}):
        schema["minProperties"] = 1  # an empty patch is a 400 (empty_patch)


class ProductUpdate(BaseModel):
    """PUT and PATCH /products/{id}: any subset of the fields; absent fields are kept.

    ``null`` is refused rather than read as "absent": a client sending ``"price": null``
    wants something, and no field can be cleared except ``image_url``.
    """

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_nulls_only_for_image_url
    )

    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    price: Price | None = None
    currency: Currency | None = None
    inventory: Inventory | None = None
    sku: Sku | None = None
    image_url: ImageUrl | None = None

    @field_validator(*(f for f in PATCH_FIELDS if f != "image_url"), mode="after")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent (defaults are not validated).
        if value is None:
            raise PydanticCustomError("null_forbidden", "this field cannot be null")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ProductUpdate:
        if not self.changes():
            raise PydanticCustomError("empty_patch", "send at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with their validated values."""
        return {name: getattr(self, name) for name in PATCH_FIELDS if name in self.model_fields_set}


class ProductBulkPatch(ProductUpdate):
    """One entry of PATCH /products/bulk."""

    id: Annotated[str, Field(pattern=ULID_PATTERN)]
    version: Annotated[StrictInt, Field(ge=1)] | None = None  # the item's If-Match


class Product(BaseModel):
    id: str
    name: str
    description: str
    category: str
    price: float  # JSON number; stored as the exact decimal
    currency: str
    inventory: int
    available: bool  # inventory > 0: what ?available=true|false filters on
    sku: str
    image_url: str | None
    created_at: str
    updated_at: str
    version: int  # also the ETag: "<version>"


class ProductPage(BaseModel):
    items: list[Product]
    next_cursor: str | None  # null: no further page; a page may be short and still have one


class ProductBulkImport(BaseModel):
    """POST /products/bulk. Items are validated one by one, so one bad item fails alone."""

    model_config = ConfigDict(extra="forbid")

    products: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


class ProductBulkUpdate(BaseModel):
    """PATCH /products/bulk: ``{"id": ..., "version"?: n, <fields of ProductUpdate>}`` each;
    ``version`` is the If-Match of that item (412 for that item when stale)."""

    model_config = ConfigDict(extra="forbid")

    updates: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


class ProductBulkError(BaseModel):
    code: str
    message: str
    details: list[dict[str, str]]


class ProductBulkResult(BaseModel):
    index: int
    status: int  # what the single-item route would have answered
    id: str | None = None
    version: int | None = None
    error: ProductBulkError | None = None


class ProductBulkResults(BaseModel):
    results: list[ProductBulkResult]


class ProductImage(BaseModel):
    image_url: str
