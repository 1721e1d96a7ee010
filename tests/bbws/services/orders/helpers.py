"""Test data for the orders service.

Catalog makes products and campaigns through their own services' code (the products'
``ProductRepository``, the campaigns' ``new_campaign`` + ``CampaignRepository``), so the
items the orders service reads are laid out exactly as those services write them: no
layout is spelled out here that could drift from theirs. The rest builds queue messages
(references, stream records, SQS events) and plays Lambda's SQS event source mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID

from bbws.schemas.dynamodb_definition import tenant_partition
from bbws.services.campaigns.models import CampaignCreate
from bbws.services.campaigns.repository import CampaignRepository
from bbws.services.campaigns.rules import new_campaign
from bbws.services.config import Settings
from bbws.services.ids import new_id
from bbws.services.orders import transactions
from bbws.services.orders.items import to_dynamo
from bbws.services.orders.model import LineIn, Order, OrderIn
from bbws.services.orders.store import OrderStore
from bbws.services.products.items import ProductRecord
from bbws.services.products.models import ProductCreate
from bbws.services.products.repository import ProductRepository
from tests.bbws.services.support import REGION, TENANT, FakeLambdaContext

ADMIN = ("admin",)
OTHER_CUSTOMER = "0a0b0c0d-1111-2222-3333-444455556666"
UNKNOWN_ID = "01JAAAAAAAAAAAAAAAAAAAAAAA"
SENDER = "orders@dev.kimmyai.io"
MAX_RECEIVES = 3


class Catalog:
    def __init__(self, session: boto3.session.Session, settings: Settings) -> None:
        self.products = ProductRepository(session.client("dynamodb"), settings.products_table)
        self.campaigns = CampaignRepository(
            lambda: session.resource("dynamodb"),
            settings.campaigns_table,
            settings.products_table,
        )

    def product(
        self,
        *,
        price: str = "149.00",
        inventory: int = 10,
        name: str = "Ceramic mug",
        tenant: str = TENANT,
        currency: str = "ZAR",
    ) -> str:
        body = ProductCreate(
            name=name,
            category="kitchen",
            price=Decimal(price),
            currency=currency,
            inventory=inventory,
            sku=f"SKU-{new_id()}",
        )
        return self.products.create(tenant, body).id

    def record(self, product_id: str, tenant: str = TENANT) -> ProductRecord | None:
        return self.products.get(tenant, product_id)

    def stock(self, product_id: str, tenant: str = TENANT) -> int:
        record = self.record(product_id, tenant)
        assert record is not None, f"no product {product_id}"
        return record.inventory

    def set_price(self, product_id: str, price: str, tenant: str = TENANT) -> None:
        self.products.update(tenant, product_id, {"price": Decimal(price)})

    def delete(self, product_id: str, tenant: str = TENANT) -> None:
        self.products.delete(tenant, product_id)

    def campaign(
        self,
        product_ids: list[str],
        *,
        percent: str = "10",
        status: str = "active",
        start: str | None = None,
        end: str | None = None,
        tenant: str = TENANT,
    ) -> str:
        """A campaign running from yesterday to tomorrow unless ``start``/``end`` say."""
        now = datetime.now(UTC)
        body = CampaignCreate.model_validate(
            {
                "name": "Winter Sale",
                "status": status,
                "discount_percent": Decimal(percent),
                "product_ids": product_ids,
                "start_date": start or (now.date() - timedelta(days=1)).isoformat(),
                "end_date": end or (now.date() + timedelta(days=1)).isoformat(),
                "allow_past_start": True,
            }
        )
        campaign = new_campaign(body, now)
        self.campaigns.create(tenant, campaign)
        return campaign.id


def place(store: OrderStore, catalog: Catalog, **fields: Any) -> Order:
    product = catalog.product(inventory=10)
    request = OrderIn(items=[LineIn(product_id=product, quantity=2)], **fields)
    return transactions.place(store, TENANT, "customer-1", request)


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [_record(f"m{i}", body, f"r{i}") for i, body in enumerate(bodies)]}


def _record(message_id: str, body: str, receipt: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": receipt,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:bbws-order-events-dev",
        "awsRegion": REGION,
    }


def ref(order_id: str, tenant: str = TENANT) -> str:
    return json.dumps({"tenant_id": tenant, "order_id": order_id})


def stream(name: str, order_id: str, old: str | None, new: str | None, pk: str = "") -> str:
    keys = {"pk": pk or tenant_partition(TENANT), "sk": f"ORDER#{order_id}"}
    change: dict[str, Any] = {"Keys": to_dynamo(keys)}
    if old:
        change["OldImage"] = to_dynamo({**keys, "status": old})
    if new:
        change["NewImage"] = to_dynamo({**keys, "status": new})
    return json.dumps({"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": change})


def deliver(sqs: Any, queue_url: str, handler: Callable[..., dict[str, Any]]) -> set[str]:
    """One poll of Lambda's SQS event source mapping with ReportBatchItemFailures: receive,
    invoke, delete what succeeded. Returns the failed message ids."""
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    if not received:
        return set()
    event = {"Records": [_record(m["MessageId"], m["Body"], m["ReceiptHandle"]) for m in received]}
    failed = {f["itemIdentifier"] for f in handler(event, FakeLambdaContext())["batchItemFailures"]}
    for message in received:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return failed
