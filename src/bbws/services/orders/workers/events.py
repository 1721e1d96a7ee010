"""Order events consumer (SQS): confirms new orders, pending → confirmed.

Subscribed to the order-events queue (fed by the orders table's stream). Each record is
processed on its own and reported with Lambda's partial batch response
(``batchItemFailures``): only failed records return to the queue, and after the queue's
``maxReceiveCount`` receives SQS moves them to the dead-letter queue. So one poison message
never blocks or repeats the rest of its batch. The event source mapping must enable
``ReportBatchItemFailures``.

Confirming is idempotent: an order already past ``pending`` (confirmed by an earlier
delivery, or cancelled) is acknowledged without a write. An order that does not exist, or
a body that is not an order message, fails the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger

from bbws.services.aws import AWS_CONFIG
from bbws.services.errors import Conflict
from bbws.services.orders.model import Status
from bbws.services.orders.store import OrderStore
from bbws.services.orders.workers import messages
from bbws.services.orders.workers.config import WorkerSettings, lazy_handler, worker_settings
from bbws.services.orders.workers.sqs import process_batch

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class OrderEventsConsumer:
    def __init__(self, store: OrderStore, *, logger: Logger | None = None) -> None:
        self.store = store
        self.logger = logger or Logger(service="orders-events")

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> OrderEventsConsumer:
        return cls(OrderStore(boto3.client("dynamodb", config=AWS_CONFIG), settings.tables))

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return process_batch(event, context, self.record)

    def record(self, record: SQSRecord) -> str:
        event = messages.parse(record.body)
        if event is None or event.kind not in ("reference", "created"):
            return "ignored"
        return "confirmed" if self.confirm(event.tenant_id, event.order_id) else "unchanged"

    def confirm(self, tenant_id: str, order_id: str) -> bool:
        """True if this call confirmed the order; False if it was already past pending."""
        order = self.store.require(tenant_id, order_id)  # NotFound fails the record
        if order.status != Status.PENDING:
            return False
        try:
            self.store.advance(tenant_id, order_id, Status.CONFIRMED)
        except Conflict:
            # Someone moved it between our read and write (a duplicate delivery confirmed
            # it, or the customer cancelled): only a still-pending order is worth a retry.
            if self.store.require(tenant_id, order_id).status == Status.PENDING:
                raise
            return False
        self.logger.info("order confirmed", extra={"tenant_id": tenant_id, "order_id": order_id})
        return True


handler = lazy_handler(lambda: OrderEventsConsumer.from_settings(worker_settings()))
