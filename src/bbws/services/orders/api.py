"""The orders API: six routes on the shared resolver. Importing this module builds nothing.

    GET   /orders/health              public liveness
    POST  /orders                     any member (Idempotency-Key makes retries safe)   201
    GET   /orders                     a member's own orders; admins: any customer, status
    GET   /orders/{order_id}          a member's own order; admins: any of the tenant's
    PATCH /orders/{order_id}          admin: pending → confirmed → shipped → delivered
    POST  /orders/{order_id}/cancel   the owner or an admin, from pending or confirmed

Members are the tenant's customers: their customer id is their token's subject, and
another customer's order is a 404 to them (not a 403, which would confirm it exists).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Final

from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from bbws.services.app import RoutePolicy, ServiceApp, current_principal, make_app
from bbws.services.auth import Principal
from bbws.services.config import Settings, get_settings
from bbws.services.errors import Forbidden
from bbws.services.idempotency import IDEMPOTENCY_HEADER, Idempotency, idempotency_key
from bbws.services.ids import IdPath
from bbws.services.orders import transactions
from bbws.services.orders.model import (
    CUSTOMER_ID_PATTERN,
    Order,
    OrderIn,
    OrderPage,
    Status,
    StatusChange,
)
from bbws.services.orders.store import ListFilter, OrderStore, Tables
from bbws.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SERVICE: Final = "orders"
# Customers place and cancel their own orders; every other write needs the admin group.
POLICY: Final = RoutePolicy(
    member_writes=frozenset({"POST /orders", "POST /orders/<order_id>/cancel"})
)
CustomerQuery = Annotated[str | None, Query(pattern=CUSTOMER_ID_PATTERN)]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
# Declared for the OpenAPI document; checked by the shared idempotency_key (400 on
# header.Idempotency-Key), so every service reports a bad key the same way.
KeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Makes retries safe: the same key and body return the first result",
    ),
]


def create_app(
    settings: Settings | None = None,
    *,
    store: OrderStore | None = None,
    idempotency: Idempotency | None = None,
    dynamodb: DynamoDBClient | None = None,
    **overrides: Any,
) -> ServiceApp:
    """The orders resolver; tests inject ``store`` / ``dynamodb`` and ``make_app``'s
    ``overrides`` (verifier, rng, sleep, logger, metrics, cors)."""
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, policy=POLICY, **overrides)
    store = store or OrderStore(dynamodb, Tables.for_env(settings.env))
    cursors = Cursors(settings.cursor_secret)

    @functools.cache
    def idem() -> Idempotency:
        # Built on the first keyed request: its persistence layer creates a client.
        return idempotency or Idempotency(settings, client=store.client)

    @app.post("/orders", status_code=201, summary="Place an order (prices from the catalogue)")
    def create_order(order: OrderIn, key_header: KeyHeader = None) -> Order:
        principal = current_principal()
        customer = _customer_for(principal, order.customer_id)
        sent = {} if key_header is None else {IDEMPOTENCY_HEADER: key_header}
        key = idempotency_key(sent, required=False)

        def place() -> dict[str, Any]:
            placed = transactions.place(store, principal.tenant_id, customer, order)
            return placed.model_dump(mode="json")

        if key is None:
            return transactions.place(store, principal.tenant_id, customer, order)
        # The effective customer is part of the payload: an admin reusing a key for another
        # customer is a different request (422), not a replay.
        payload = {"customer_id": customer, "order": order.model_dump(mode="json")}
        result = idem().run(
            place,
            tenant_id=principal.tenant_id,
            key=key,
            payload=payload,
            lambda_context=app.lambda_context,
        )
        return Order.model_validate(result)

    @app.get("/orders", summary="List orders by customer or status, paginated")
    def list_orders(
        customer_id: CustomerQuery = None,
        status: Status | None = None,
        cursor: str | None = None,
        limit: LimitQuery = DEFAULT_PAGE_SIZE,
    ) -> OrderPage:
        principal = current_principal()
        if not principal.is_admin:
            customer_id = _customer_for(principal, customer_id)
        scope = ListFilter(customer_id=customer_id, status=status)
        tenant = principal.tenant_id
        start = cursors.decode(cursor, tenant_id=tenant, query=scope.scope())
        orders, last = store.page(tenant, scope, limit=limit, start=start)
        next_cursor = cursors.encode(last, tenant_id=tenant, query=scope.scope())
        return OrderPage(items=orders, next_cursor=next_cursor)

    @app.get("/orders/<order_id>", summary="One order")
    def get_order(order_id: IdPath) -> Order:
        principal = current_principal()
        return store.require(principal.tenant_id, order_id, owner=_owner(principal))

    @app.patch("/orders/<order_id>", summary="Advance an order's status (admin)")
    def change_status(order_id: IdPath, change: StatusChange) -> Order:
        principal = current_principal()
        return store.advance(principal.tenant_id, order_id, Status(change.status))

    @app.post("/orders/<order_id>/cancel", summary="Cancel an order and restock it")
    def cancel_order(order_id: IdPath) -> Order:
        principal = current_principal()
        reason = "admin" if principal.is_admin else "customer"
        return transactions.cancel(
            store, principal.tenant_id, order_id, reason=reason, owner=_owner(principal)
        )

    return app


def _owner(principal: Principal) -> str | None:
    """The customer a caller is limited to: members see their own orders only."""
    return None if principal.is_admin else principal.subject


def _customer_for(principal: Principal, requested: str | None) -> str:
    if requested is None or requested == principal.subject:
        return principal.subject
    if not principal.is_admin:
        raise Forbidden("members may only use their own customer id")
    return requested
