"""Stale-order sweeper (scheduled): cancels unpaid ``pending`` orders older than the TTL.

``ORDERS_STALE_AFTER_MINUTES`` (default 60). For each tenant it reads the pending orders
placed before the cut-off from OrdersByStatus (oldest first), and cancels each with the
same transaction as ``POST /orders/{id}/cancel``: status → cancelled and every line back
in stock, exactly once. The index is eventually consistent, so the cancel re-reads the
order and only proceeds if it is still pending and still older than the cut-off; an order
confirmed or cancelled meanwhile is skipped.

Event (all optional): ``{"tenants": [...], "max_orders": 500}``. Returns the counts.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools import Logger

from bbws.schemas.dynamodb_definition import CREATED_AT, ORDERS_BY_STATUS, tenant_scoped
from bbws.services.aws import AWS_CONFIG
from bbws.services.errors import Conflict, NotFound
from bbws.services.orders import transactions
from bbws.services.orders.items import from_dynamo, timestamp, to_dynamo
from bbws.services.orders.model import Status
from bbws.services.orders.store import OrderStore
from bbws.services.orders.workers.config import WorkerSettings, lazy_handler, worker_settings
from bbws.services.orders.workers.tenants import tenants_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_MAX_ORDERS: Final = 500  # one run's work must fit the function's timeout
EXPIRED: Final = "expired"


class StaleOrderSweeper:
    def __init__(
        self,
        store: OrderStore,
        *,
        stale_after: timedelta,
        tenants_table: str,
        tenants_client: DynamoDBClient | None = None,
        logger: Logger | None = None,
    ) -> None:
        self.store = store
        self.stale_after = stale_after
        self.tenants_table = tenants_table
        self.tenants_client = tenants_client or store.client
        self.logger = logger or Logger(service="orders-sweeper")

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> StaleOrderSweeper:
        return cls(
            OrderStore(boto3.client("dynamodb", config=AWS_CONFIG), settings.tables),
            stale_after=timedelta(minutes=settings.stale_after_minutes),
            tenants_table=settings.tenants_table,
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        budget = max(0, int(event.get("max_orders", DEFAULT_MAX_ORDERS)))
        cutoff = timestamp(self.store.clock() - self.stale_after)
        cancelled, skipped = 0, 0
        for tenant in tenants_for(event, self.tenants_client, self.tenants_table):
            # Bounded: the rest waits for the next run, so one run fits the timeout.
            for order_id in islice(self._stale(tenant, cutoff), budget - cancelled - skipped):
                done = self._cancel(tenant, order_id, cutoff)
                cancelled, skipped = cancelled + done, skipped + (not done)
        result = {"cancelled": cancelled, "skipped": skipped, "cutoff": cutoff}
        self.logger.info("stale orders swept", extra=result)
        return result

    def _stale(self, tenant_id: str, cutoff: str) -> Iterator[str]:
        index = ORDERS_BY_STATUS
        request: dict[str, Any] = {
            "TableName": self.store.tables.orders,
            "IndexName": index.name,
            "KeyConditionExpression": "#p = :p AND #created < :cutoff",
            "ExpressionAttributeNames": {
                "#p": index.key.partition.name,
                "#created": CREATED_AT,
                "#id": "id",
            },
            "ExpressionAttributeValues": to_dynamo(
                {":p": tenant_scoped(tenant_id, Status.PENDING.value), ":cutoff": cutoff}
            ),
            "ProjectionExpression": "#id",
            "ScanIndexForward": True,
        }
        while True:
            page = self.store.client.query(**request)
            for item in page.get("Items", []):
                yield str(from_dynamo(item)["id"])
            if not page.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _cancel(self, tenant_id: str, order_id: str, cutoff: str) -> bool:
        try:
            transactions.cancel(
                self.store,
                tenant_id,
                order_id,
                reason=EXPIRED,
                allowed={Status.PENDING},
                placed_before=cutoff,
            )
        except (Conflict, NotFound):
            return False  # confirmed, cancelled or gone since the index was read
        return True


handler = lazy_handler(lambda: StaleOrderSweeper.from_settings(worker_settings()))
