"""How an order is stored in the orders table, and the DynamoDB value conversions.

    pk               TENANT#<tenant>                       (tenant_partition)
    sk               ORDER#<ulid>                          (entity_key; ULIDs sort by time)
    id, tenant_id, customer_id, status, currency, email?, customer_name?, note?
    tenant_customer  TENANT#<tenant>#<customer_id>         OrdersByCustomer partition
    tenant_status    TENANT#<tenant>#<status>              OrdersByStatus partition
    created_at       2026-01-10T09:00:00.123Z              both GSIs' sort key (the ULID's time)
    updated_at, <status>_at (confirmed_at, cancelled_at...), cancel_reason?
    confirmation_sent_at?                                  set by the confirmation sender
    items            L of M {product_id, name, quantity, unit_price, discount_percent,
                             campaign_id?, subtotal, discount, total}
    subtotal, discount, total                              N (Decimal), currency units

The idempotency records share the table at ``pk = IDEMPOTENCY#orders``; they carry neither
``tenant_*`` attribute, so neither GSI sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from bbws.schemas.dynamodb_definition import (
    CREATED_AT,
    PK,
    SK,
    TENANT_CUSTOMER,
    TENANT_STATUS,
    entity_key,
    tenant_partition,
    tenant_scoped,
)
from bbws.services.orders.model import Order, Status

ORDER: Final = "ORDER"
ORDER_PREFIX: Final = f"{ORDER}#"
TENANT_PREFIX: Final = "TENANT#"
_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()

Item = dict[str, Any]  # DynamoDB's typed form: {"pk": {"S": ...}, ...}


def to_dynamo(values: Mapping[str, Any]) -> Item:
    """Typed attribute values; None values are left out (DynamoDB has no null we want)."""
    return {k: _SERIALIZER.serialize(v) for k, v in values.items() if v is not None}


def value(python_value: Any) -> Any:
    return _SERIALIZER.serialize(python_value)


def from_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z: fixed width, so lexical order is time order."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def order_key(tenant_id: str, order_id: str) -> Item:
    return to_dynamo({PK: tenant_partition(tenant_id), SK: entity_key(ORDER, order_id)})


def tenant_of(partition: str) -> str | None:
    return partition.removeprefix(TENANT_PREFIX) if partition.startswith(TENANT_PREFIX) else None


def order_item(tenant_id: str, order: Order) -> Item:
    """The full item of a new order."""
    body = order.model_dump(mode="python", exclude_none=True)
    body["status"] = order.status.value
    body["items"] = [line.model_dump(mode="python", exclude_none=True) for line in order.items]
    return to_dynamo(
        {
            **body,
            PK: tenant_partition(tenant_id),
            SK: entity_key(ORDER, order.id),
            "tenant_id": tenant_id,
            TENANT_CUSTOMER: tenant_scoped(tenant_id, order.customer_id),
            TENANT_STATUS: tenant_scoped(tenant_id, order.status.value),
            CREATED_AT: order.created_at,
        }
    )


def order_from_item(item: Mapping[str, Any]) -> Order:
    data = from_dynamo(item)
    data["items"] = [_line(line) for line in data.get("items", [])]
    return Order.model_validate(data)


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    # The deserializer gives Decimal for every N; quantities are whole numbers.
    quantity = line["quantity"]
    return {**line, "quantity": int(quantity) if isinstance(quantity, Decimal) else quantity}


def status_update(
    tenant_id: str, to: Status, now: str, *, extra: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, str], Item]:
    """UpdateExpression, names and values moving an order to ``to`` (and its GSI key)."""
    names = {"#status": "status", "#ts": TENANT_STATUS, "#updated": "updated_at"}
    values = {":to": to.value, ":ts": tenant_scoped(tenant_id, to.value), ":now": now}
    sets = ["#status = :to", "#ts = :ts", "#updated = :now", "#at = :now"]
    names["#at"] = f"{to.value}_at"
    for index, (name, extra_value) in enumerate((extra or {}).items()):
        names[f"#x{index}"] = name
        values[f":x{index}"] = extra_value
        sets.append(f"#x{index} = :x{index}")
    return "SET " + ", ".join(sets), names, to_dynamo(values)
