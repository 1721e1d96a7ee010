"""Confirmation sender (SQS): emails the customer when an order is confirmed.

Triggered by the orders stream (a MODIFY from ``pending`` to ``confirmed``) or by a plain
``{"tenant_id", "order_id"}`` message. It renders ``order_confirmation`` from the templates
bucket (``s3://bbws-templates-{env}/templates/``, fetched once per cold start, so a
template fix is live on the next cold start without a deploy) and sends it through SES.

At most once per order: the sender first claims the order by setting
``confirmation_sent_at`` conditionally, then sends; if SES fails it releases the claim and
fails the record, so the retry sends. A crash between claim and send loses that email
rather than sending two (customers notice duplicates; a lost one shows in the logs).
An order without an e-mail address is acknowledged without sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools import Logger

from bbws.services.aws import AWS_CONFIG
from bbws.services.orders.items import order_key
from bbws.services.orders.model import Order, Status
from bbws.services.orders.store import OrderStore
from bbws.services.orders.workers import messages
from bbws.services.orders.workers.config import WorkerSettings, lazy_handler, worker_settings
from bbws.services.orders.workers.sqs import process_batch
from bbws.templates import RenderedEmail, render_from_source
from bbws.templates.store import fetch_sources

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient

TEMPLATE: Final = "order_confirmation"
SENT_AT: Final = "confirmation_sent_at"
_CONFIRMED: Final = frozenset({Status.CONFIRMED, Status.SHIPPED, Status.DELIVERED})


class ConfirmationSender:
    def __init__(
        self,
        store: OrderStore,
        *,
        s3: S3Client,
        ses: SESClient,
        settings: WorkerSettings,
        logger: Logger | None = None,
    ) -> None:
        self.store = store
        self.s3 = s3
        self.ses = ses
        self.settings = settings
        self.sender = settings.require("sender_email")
        self.logger = logger or Logger(service="orders-confirmation")
        self._sources: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> ConfirmationSender:
        store = OrderStore(boto3.client("dynamodb", config=AWS_CONFIG), settings.tables)
        return cls(
            store,
            s3=boto3.client("s3", config=AWS_CONFIG),
            ses=boto3.client("ses", config=AWS_CONFIG),
            settings=settings,
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return process_batch(event, context, self.record)

    def record(self, record: SQSRecord) -> str:
        event = messages.parse(record.body)
        if event is None or not _is_confirmation(event):
            return "ignored"
        order = self.store.require(event.tenant_id, event.order_id)
        if order.status not in _CONFIRMED:
            return "not confirmed"
        if not order.email:
            self.logger.warning("order has no e-mail address", extra={"order_id": order.id})
            return "no address"
        if not self.store.mark(event.tenant_id, order.id, SENT_AT):
            return "already sent"
        try:
            self.send(order)
        except Exception:
            self._release(event.tenant_id, order.id)
            raise
        return "sent"

    def send(self, order: Order) -> str:
        email = self.render(order)
        response = self.ses.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [str(order.email)]},
            Message={
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {
                    "Html": {"Data": email.html, "Charset": "UTF-8"},
                    "Text": {"Data": email.text, "Charset": "UTF-8"},
                },
            },
        )
        self.logger.info("confirmation sent", extra={"order_id": order.id})
        return response["MessageId"]

    def render(self, order: Order) -> RenderedEmail:
        return render_from_source(self.sources(), TEMPLATE, self.context(order))

    def sources(self) -> dict[str, str]:
        if self._sources is None:
            self._sources = fetch_sources(self.s3, self.settings.templates_bucket)
        return self._sources

    def context(self, order: Order) -> Mapping[str, Any]:
        # The template's variables (bbws.templates.catalog); Decimal keeps "%.2f" exact.
        return {
            "brand_name": self.settings.brand_name,
            "support_email": self.settings.support_address,
            "customer_name": order.customer_name or "customer",
            "order_number": order.id,
            "items": [
                {"name": line.name, "quantity": line.quantity, "price": line.unit_price}
                for line in order.items
            ],
            "total": order.total,
            "currency": order.currency,
            "order_url": f"https://{self.settings.domain}/orders/{order.id}",
        }

    def _release(self, tenant_id: str, order_id: str) -> None:
        self.store.client.update_item(
            TableName=self.store.tables.orders,
            Key=order_key(tenant_id, order_id),
            UpdateExpression="REMOVE #a",
            ExpressionAttributeNames={"#a": SENT_AT},
        )


def _is_confirmation(event: messages.OrderEvent) -> bool:
    if event.kind == "reference":
        return True
    return event.kind == "changed" and (event.old_status, event.new_status) == (
        Status.PENDING.value,
        Status.CONFIRMED.value,
    )


handler = lazy_handler(lambda: ConfirmationSender.from_settings(worker_settings()))
