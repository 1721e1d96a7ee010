"""Opaque page cursors over DynamoDB's ``LastEvaluatedKey``.

A cursor is ``<payload>.<signature>``, both base64url without padding; the payload is JSON
holding the key, the tenant and a digest of the query it continues, and the signature is
HMAC-SHA256 with ``BBWS_CURSOR_KEY``. So a client cannot edit a cursor to read from another
key, and a cursor minted for one tenant or one query (index, filters, sort) is refused for
any other: each of these is a 400 on ``query.cursor``.

    cursors = Cursors(settings.cursor_secret)
    start = cursors.decode(cursor, tenant_id=t, query={"index": "ByCategory", "c": cat})
    page = client.query(..., **({"ExclusiveStartKey": start} if start else {}))
    next_cursor = cursors.encode(page.get("LastEvaluatedKey"), tenant_id=t, query=...)

Keys from the client API (``{"pk": {"S": ...}}``) and from the resource API (``{"pk": ...,
"price": Decimal(...)}``) are both accepted; ``decode`` returns the form ``encode`` got.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final, TypeGuard

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from bbws.schemas.dynamodb_definition import PK, tenant_partition
from bbws.services.errors import ValidationFailed

DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100
MAX_CURSOR_LENGTH: Final = 2048
_SCALAR_TYPES: Final = frozenset({"S", "N"})  # every key attribute of the definition is S or N
_VERSION: Final = 1
Query = Mapping[str, Any] | str


class InvalidCursor(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(
            "invalid pagination cursor", details=[{"field": "query.cursor", "type": "cursor"}]
        )


class Cursors:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the cursor key must be at least 32 bytes")
        self._secret = secret

    def encode(
        self, last_key: Mapping[str, Any] | None, *, tenant_id: str, query: Query
    ) -> str | None:
        """The cursor of the next page, or None when DynamoDB says there is none."""
        if not last_key:
            return None
        typed = _is_typed(last_key)
        payload = {
            "v": _VERSION,
            "t": tenant_id,
            "q": _digest(query),
            "r": not typed,  # came from the resource API: decode deserializes again
            "k": dict(last_key) if typed else _serialize(last_key),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._sign(body)}"

    def decode(self, cursor: str | None, *, tenant_id: str, query: Query) -> dict[str, Any] | None:
        """The ``ExclusiveStartKey`` of a cursor from ``encode``; None for the first page."""
        if not cursor:
            return None
        payload = self._verified_payload(cursor)
        key = payload.get("k")
        if payload.get("t") != tenant_id or payload.get("q") != _digest(query):
            raise InvalidCursor()
        if not _well_formed(key) or not _belongs_to(key, tenant_id):
            raise InvalidCursor()
        return _deserialize(key) if payload.get("r") else key

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def _verified_payload(self, cursor: str) -> dict[str, Any]:
        body, _, signature = cursor.partition(".")
        if len(cursor) > MAX_CURSOR_LENGTH or not hmac.compare_digest(
            signature.encode(), self._sign(body).encode()
        ):
            raise InvalidCursor()
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            raise InvalidCursor() from None
        if not isinstance(payload, dict) or payload.get("v") != _VERSION:
            raise InvalidCursor()
        return payload


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(query: Query) -> str:
    canonical = query if isinstance(query, str) else json.dumps(query, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _is_typed(key: Mapping[str, Any]) -> bool:
    return all(
        isinstance(v, Mapping) and len(v) == 1 and set(v) <= _SCALAR_TYPES for v in key.values()
    )


def _serialize(key: Mapping[str, Any]) -> dict[str, Any]:
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in key.items()}


def _deserialize(key: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in key.items()}


def _well_formed(key: object) -> TypeGuard[dict[str, Any]]:
    if not isinstance(key, dict) or not key:
        return False
    return all(
        isinstance(v, dict)
        and len(v) == 1
        and set(v) <= _SCALAR_TYPES
        and all(isinstance(x, str) for x in v.values())
        for v in key.values()
    )


def _belongs_to(key: Mapping[str, Any], tenant_id: str) -> bool:
    # Defence in depth: even a validly signed key must sit in the caller's partition.
    return PK not in key or key[PK] == {"S": tenant_partition(tenant_id)}
