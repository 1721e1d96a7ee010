"""Fixtures of the orders service's tests, on top of ``tests/bbws/services/conftest.py``.

catalog       Catalog(session, settings): products and campaigns made by their services' code
store         an OrderStore on moto's tables
orders_api    the Lambda handler of create_app(settings) on moto
order_body    a POST /orders body for some product ids
call          status, headers, body = call("GET", "/orders", headers, query=...)
other_member  the bearer headers of a second customer of the same tenant
worker_settings, queues   the workers' settings; the order-events queue and its DLQ

moto is not atomic under threads: two concurrent requests can interleave inside one
TransactWriteItems (measured: 13 orders and stock -1 for 10 in stock). DynamoDB guarantees
that each request (a conditional write, a transaction) is atomic, so ``_atomic_dynamodb``
serialises moto's DynamoDB requests: each call is atomic, as in DynamoDB, and calls still
interleave freely, so a read-then-write race in our code would still show.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.dynamodb.responses import DynamoHandler

from bbws.services.app import build_handler
from bbws.services.config import Settings
from bbws.services.orders.api import create_app
from bbws.services.orders.store import OrderStore, Tables
from bbws.services.orders.workers.config import WorkerSettings
from tests.bbws.services.orders.helpers import (
    MAX_RECEIVES,
    OTHER_CUSTOMER,
    SENDER,
    Catalog,
)
from tests.bbws.services.support import bearer

_MOTO_DYNAMODB_LOCK = threading.RLock()


@pytest.fixture(autouse=True)
def _atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = DynamoHandler.call_action

    def atomic(self: DynamoHandler) -> Any:
        with _MOTO_DYNAMODB_LOCK:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)
    yield


@pytest.fixture
def catalog(aws_tables: boto3.session.Session, settings: Settings) -> Catalog:
    return Catalog(aws_tables, settings)


@pytest.fixture
def store(aws_tables: boto3.session.Session, settings: Settings) -> OrderStore:
    return OrderStore(
        aws_tables.client("dynamodb"), Tables.for_env(settings.env), sleep=lambda _: None
    )


@pytest.fixture
def orders_api(
    aws_tables: boto3.session.Session, settings: Settings, store: OrderStore
) -> Callable[..., Any]:
    return build_handler(create_app(settings, store=store, dynamodb=store.client))


@pytest.fixture
def order_body() -> Callable[..., dict[str, Any]]:
    def body(*lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
        return {"items": [{"product_id": p, "quantity": q} for p, q in lines], **extra}

    return body


Call = Callable[..., Any]


@pytest.fixture
def call(orders_api: Call, make_event: Call, invoke: Call) -> Call:
    def request(method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        return invoke(orders_api, make_event(method, path, headers=headers, **kwargs))

    return request


@pytest.fixture
def other_member(make_token: Call) -> dict[str, str]:
    return bearer(make_token(sub=OTHER_CUSTOMER))


@pytest.fixture
def worker_settings() -> WorkerSettings:
    return WorkerSettings(env="dev", domain="dev.kimmyai.io", sender_email=SENDER)


@pytest.fixture
def queues(aws_tables: boto3.session.Session) -> tuple[Any, str, str]:
    """The order-events queue and its DLQ, with the redrive policy of the stack."""
    sqs = aws_tables.client("sqs")
    dlq = sqs.create_queue(QueueName="bbws-order-events-dlq-dev")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": str(MAX_RECEIVES)}
    # VisibilityTimeout 0: a failed message is visible again at once, as if it had timed out.
    attributes = {"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)}
    queue = sqs.create_queue(QueueName="bbws-order-events-dev", Attributes=attributes)
    return sqs, queue["QueueUrl"], dlq
