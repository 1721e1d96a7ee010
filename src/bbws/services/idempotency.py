"""Idempotent writes (``Idempotency-Key`` header), stored in the orders table itself.

Powertools' ``DynamoDBPersistenceLayer`` supports a composite key: with ``sort_key_attr``
set, every record is written at ``pk = static_pk_value`` and ``sk = <prefix>#<hash>``. So
the records live in the orders table as

    pk = "IDEMPOTENCY#orders"   sk = "REQUEST#<md5 of [tenant, key]>"
    status, expiration, in_progress_expiration, data, validation

No tenant can produce that ``pk`` (tenant partitions start with ``TENANT#``), the records
carry none of the ``tenant_*`` GSI keys so no index sees them, and the tenant is part of the
hashed key, so two tenants sending the same ``Idempotency-Key`` never meet. Two things the
owners of the table must know: the records appear on the orders stream (consumers must skip
``pk = IDEMPOTENCY#...``), and without a TTL on ``expiration`` expired records stay in the
table (Powertools ignores them after 24 h, but nothing deletes them).

    idem = Idempotency(settings)                       # once per cold start
    @app.post("/orders")
    def create_order(body: OrderIn):
        principal = current_principal()
        key = idempotency_key(app.current_event.headers)
        result = idem.run(lambda: save(principal, body), tenant_id=principal.tenant_id,
                          key=key, payload=body.model_dump(mode="json"),
                          lambda_context=app.lambda_context)
        return result, 201

A retry with the same key and payload gets the stored result; the same key with another
payload is a 422 ``idempotency_key_reused``; a retry while the first is still running is a
409 ``request_in_progress``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from bbws.schemas.dynamodb_definition import PK, SK
from bbws.services.errors import Conflict, Unprocessable, ValidationFailed

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

    from bbws.services.config import Settings

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
STATIC_PK: Final = "IDEMPOTENCY#orders"
KEY_PREFIX: Final = "REQUEST"
EXPIRES_AFTER_SECONDS: Final = 24 * 60 * 60
# Printable ASCII without spaces: the key is logged and stored, never interpreted.
_KEY: Final = re.compile(r"^[!-~]{1,255}$")

Result = dict[str, Any]


class IdempotencyInProgress(Conflict):
    code, default_message = "request_in_progress", "a request with this key is still running"


class IdempotencyKeyReused(Unprocessable):
    code, default_message = (
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request",
    )


def idempotency_key(headers: Mapping[str, str], *, required: bool = True) -> str | None:
    """The request's key (headers must be case-insensitive, as Powertools' are)."""
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is None and not required:
        return None
    if key is None or not _KEY.fullmatch(key):
        field = f"header.{IDEMPOTENCY_HEADER}"
        raise ValidationFailed(
            details=[{"field": field, "type": "missing" if key is None else "invalid"}]
        )
    return key


def persistence_layer(
    settings: Settings, *, client: DynamoDBClient | None = None
) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=settings.orders_table,
        key_attr=PK,
        sort_key_attr=SK,
        static_pk_value=STATIC_PK,
        boto3_client=client,
    )


class Idempotency:
    """Runs an action at most once per (tenant, Idempotency-Key) for 24 hours."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: DynamoDBClient | None = None,
        expires_after_seconds: int = EXPIRES_AFTER_SECONDS,
    ) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="[tenant, key]",
            payload_validation_jmespath="payload",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )
        self._call = idempotent_function(
            _invoke,
            data_keyword_argument="request",
            persistence_store=persistence_layer(settings, client=client),
            config=self.config,
            key_prefix=KEY_PREFIX,
        )

    def run(
        self,
        action: Callable[[], Result],
        *,
        tenant_id: str,
        key: str,
        payload: Any,
        lambda_context: LambdaContext,
    ) -> Result:
        """``action()``'s result, or the stored one if this key already succeeded.

        ``payload`` (JSON-serialisable) is what a retry must repeat; a failed action stores
        nothing, so it can be retried with the same key. ``lambda_context`` (the route's
        ``app.lambda_context``) lets an in-progress record expire with its invocation, so a
        timed-out attempt does not block retries for 24 hours.
        """
        self.config.register_lambda_context(lambda_context)
        request = {"tenant": tenant_id, "key": key, "payload": payload}
        try:
            result: Result = self._call(request=request, action=action)
        except IdempotencyAlreadyInProgressError:
            raise IdempotencyInProgress() from None
        except IdempotencyValidationError:
            raise IdempotencyKeyReused() from None
        return result


def _invoke(request: Mapping[str, Any], action: Callable[[], Result]) -> Result:
    # ``request`` only feeds the key and the payload check; the work is the action.
    del request
    return action()
