"""What arrives on the order queues, read into one shape.

Two bodies are accepted:

* ``{"tenant_id": "...", "order_id": "..."}``, a reference (tests, replays, manual sends);
* a DynamoDB stream record of the orders table, as EventBridge Pipes (or a stream-to-SQS
  forwarder) puts it on the queue: ``{"eventName": "INSERT", "dynamodb": {"Keys": ...,
  "NewImage": ..., "OldImage": ...}}``.

Records that are not about an order (the idempotency records at ``pk = IDEMPOTENCY#...``)
read as None: the worker acknowledges them and moves on. A body that is neither shape
raises ``ValueError``, which fails that record, so it is retried and then dead-lettered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from bbws.schemas.dynamodb_definition import PK, SK
from bbws.services.auth import is_valid_tenant_id
from bbws.services.ids import is_valid_id
from bbws.services.orders.items import ORDER_PREFIX, from_dynamo, tenant_of

Kind = Literal["reference", "created", "changed", "removed"]
_KINDS: Final[dict[str, Kind]] = {"INSERT": "created", "MODIFY": "changed", "REMOVE": "removed"}


@dataclass(frozen=True)
class OrderEvent:
    tenant_id: str
    order_id: str
    kind: Kind
    old_status: str | None = None
    new_status: str | None = None


def parse(body: str) -> OrderEvent | None:
    data = json.loads(body)  # a JSONDecodeError is a ValueError: the record fails
    if not isinstance(data, dict):
        raise ValueError("an order message is a JSON object")
    if "dynamodb" in data:
        return _stream_record(data)
    return _reference(data.get("tenant_id"), data.get("order_id"), "reference")


def _stream_record(data: dict[str, Any]) -> OrderEvent | None:
    kind = _KINDS.get(str(data.get("eventName")))
    change = data["dynamodb"]
    if kind is None or not isinstance(change, dict):
        raise ValueError("not a DynamoDB stream record")
    keys = from_dynamo(change.get("Keys") or {})
    tenant = tenant_of(str(keys.get(PK, "")))
    sk = str(keys.get(SK, ""))
    if tenant is None or not sk.startswith(ORDER_PREFIX):
        return None  # an idempotency record or another item: nothing to do
    old = from_dynamo(change.get("OldImage") or {}).get("status")
    new = from_dynamo(change.get("NewImage") or {}).get("status")
    event = _reference(tenant, sk.removeprefix(ORDER_PREFIX), kind)
    return OrderEvent(
        event.tenant_id,
        event.order_id,
        kind,
        old_status=str(old) if old is not None else None,
        new_status=str(new) if new is not None else None,
    )


def _reference(tenant_id: Any, order_id: Any, kind: Kind) -> OrderEvent:
    if not is_valid_tenant_id(tenant_id) or not isinstance(order_id, str):
        raise ValueError("an order message needs a valid tenant_id and order_id")
    if not is_valid_id(order_id):
        raise ValueError("order_id is not a ULID")
    return OrderEvent(str(tenant_id), order_id, kind)
