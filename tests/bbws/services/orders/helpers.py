"""Test data for the orders service.

Catalog puts products and campaigns as their services store them: the layout here is what
``bbws.services.orders.catalog`` assumes, so if the products or campaigns service stores
items differently, this is the one place the tests say so. The rest builds queue messages
(references, stream records, SQS events) and plays Lambda's SQS event source mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from bbws.schemas.dynamodb_definition import entity_key, tenant_partition, tenant_scoped
from bbws.services.config import Settings
from bbws.services.ids import new_id
from bbws.services.orders import transactions
from bbws.services.orders.items import from_dynamo, to_dynamo
from bbws.services.orders.model import LineIn, Order, OrderIn
from bbws.services.orders.store import OrderStore
from tests.bbws.services.support import REGION, TENANT, FakeLambdaContext

ADMIN = ("admin",)
OTHER_CUSTOMER = "0a0b0c0d-1111-2222-3333-444455556666"
UNKNOWN_ID = "01JAAAAAAAAAAAAAAAAAAAAAAA"
SENDER = "orders@dev.kimmyai.io"
MAX_RECEIVES = 3


class Catalog:
    def __init__(self, client: Any, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def product(
        self,
        *,
        price: str = "149.00",
        inventory: int = 10,
        name: str = "Ceramic mug",
        tenant: str = TENANT,
        currency: str | None = "ZAR",
        status: str | None = "active",
    ) -> str:
        product_id = new_id()
        item = {
            "pk": tenant_partition(tenant),
            "sk": entity_key("PRODUCT", product_id),
            "name": name,
            "name_sort": name.lower(),
            "price": Decimal(price),
            "inventory": inventory,
            "currency": currency,
            "status": status,
            "tenant_category": tenant_scoped(tenant, "kitchen"),
        }
        self.client.put_item(TableName=self.settings.products_table, Item=to_dynamo(item))
        return product_id

    def stock(self, product_id: str, tenant: str = TENANT) -> int:
        item = self._product(product_id, tenant)
        return int(item["inventory"])

    def set_price(self, product_id: str, price: str, tenant: str = TENANT) -> None:
        self.client.update_item(
            TableName=self.settings.products_table,
            Key=to_dynamo(
                {"pk": tenant_partition(tenant), "sk": entity_key("PRODUCT", product_id)}
            ),
            UpdateExpression="SET price = :p",
            ExpressionAttributeValues=to_dynamo({":p": Decimal(price)}),
        )

    def delete(self, product_id: str, tenant: str = TENANT) -> None:
        self.client.delete_item(
            TableName=self.settings.products_table,
            Key=to_dynamo(
                {"pk": tenant_partition(tenant), "sk": entity_key("PRODUCT", product_id)}
            ),
        )

    def _product(self, product_id: str, tenant: str) -> dict[str, Any]:
        key = {"pk": tenant_partition(tenant), "sk": entity_key("PRODUCT", product_id)}
        item = self.client.get_item(
            TableName=self.settings.products_table, Key=to_dynamo(key), ConsistentRead=True
        )["Item"]
        return from_dynamo(item)

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
        today = datetime.now(UTC).date()
        campaign_id = new_id()
        item = {
            "pk": tenant_partition(tenant),
            "sk": entity_key("CAMPAIGN", campaign_id),
            "name": "Winter Sale",
            "status": status,
            "tenant_status": tenant_scoped(tenant, status),
            "created_at": datetime.now(UTC).isoformat(),
            "discount_percent": Decimal(percent),
            "product_ids": product_ids,
            "start_date": start or (today - timedelta(days=1)).isoformat(),
            "end_date": end or (today + timedelta(days=1)).isoformat(),
        }
        self.client.put_item(TableName=self.settings.campaigns_table, Item=to_dynamo(item))
        return campaign_id


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
