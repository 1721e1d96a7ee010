"""The confirmation sender on moto: templates from the templates bucket, SES."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from bbws.services.config import ConfigError, Settings
from bbws.services.orders.model import Status
from bbws.services.orders.store import OrderStore
from bbws.services.orders.workers.config import WorkerSettings
from bbws.services.orders.workers.confirmation import ConfirmationSender
from tests.bbws.services.orders.helpers import (
    SENDER,
    Catalog,
    place,
    ref,
    sqs_event,
    stream,
)
from tests.bbws.services.support import REGION, TENANT, FakeLambdaContext

# --- 8. confirmation sender -------------------------------------------------------------


@pytest.fixture
def sender(
    aws: boto3.session.Session, store: OrderStore, worker_settings: WorkerSettings
) -> ConfirmationSender:
    aws.client("ses").verify_email_identity(EmailAddress=SENDER)
    return ConfirmationSender(
        store, s3=aws.client("s3"), ses=aws.client("ses"), settings=worker_settings
    )


def sent_messages() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def test_the_sender_emails_the_rendered_confirmation_once(
    sender: ConfirmationSender, store: OrderStore, catalog: Catalog
) -> None:
    order = place(store, catalog, email="thandi@example.com", customer_name="Thandi")
    store.advance(TENANT, order.id, Status.CONFIRMED)
    event = sqs_event(stream("MODIFY", order.id, "pending", "confirmed"))
    assert sender(event, FakeLambdaContext()) == {"batchItemFailures": []}
    (message,) = sent_messages()
    assert (message.source, message.destinations) == (
        SENDER,
        {"ToAddresses": ["thandi@example.com"]},
    )
    assert message.subject == f"Order {order.id} confirmed"
    assert "Thanks for your order, Thandi!" in message.body
    assert "2 &times; Ceramic mug" in message.body
    assert "ZAR 298.00" in message.body
    assert f"https://dev.kimmyai.io/orders/{order.id}" in message.body
    assert sender(sqs_event(ref(order.id)), FakeLambdaContext()) == {"batchItemFailures": []}
    assert len(sent_messages()) == 1  # claimed: a redelivery does not send again


def test_the_template_comes_from_the_templates_bucket(
    sender: ConfirmationSender, store: OrderStore, catalog: Catalog, aws: boto3.session.Session
) -> None:
    s3, key = aws.client("s3"), "templates/order_confirmation.html.j2"
    source = s3.get_object(Bucket="bbws-templates-dev", Key=key)["Body"].read().decode()
    edited = source.replace("Thanks for your order", "Thank you kindly for your order")
    s3.put_object(Bucket="bbws-templates-dev", Key=key, Body=edited.encode())
    order = place(store, catalog, email="a@example.com")
    store.advance(TENANT, order.id, Status.CONFIRMED)
    sender(sqs_event(ref(order.id)), FakeLambdaContext())
    (message,) = sent_messages()
    assert "Thank you kindly for your order, customer!" in message.body


def test_the_sender_skips_what_it_should_not_send(
    sender: ConfirmationSender, store: OrderStore, catalog: Catalog
) -> None:
    pending = place(store, catalog, email="a@example.com")
    anonymous = place(store, catalog)
    store.advance(TENANT, anonymous.id, Status.CONFIRMED)
    event = sqs_event(
        ref(pending.id),
        ref(anonymous.id),
        stream("MODIFY", pending.id, "confirmed", "shipped"),
        stream("INSERT", pending.id, None, "pending"),
    )
    assert sender(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert sent_messages() == []


def test_a_failed_send_is_retried_and_then_sent(
    aws: boto3.session.Session, store: OrderStore, catalog: Catalog, worker_settings: WorkerSettings
) -> None:
    order = place(store, catalog, email="a@example.com")
    store.advance(TENANT, order.id, Status.CONFIRMED)
    ses = aws.client("ses")  # the sender's address is not verified yet: SES rejects it
    sender = ConfirmationSender(store, s3=aws.client("s3"), ses=ses, settings=worker_settings)
    response = sender(sqs_event(ref(order.id)), FakeLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    ses.verify_email_identity(EmailAddress=SENDER)
    assert sender(sqs_event(ref(order.id)), FakeLambdaContext()) == {"batchItemFailures": []}
    assert len(sent_messages()) == 1


def test_the_sender_needs_its_address(settings: Settings) -> None:
    bare = WorkerSettings(env="dev", domain="dev.kimmyai.io")
    with pytest.raises(ConfigError, match="ORDERS_SENDER_EMAIL"):
        ConfirmationSender(object(), s3=object(), ses=object(), settings=bare)  # type: ignore[arg-type]
