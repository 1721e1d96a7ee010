"""Queue workers on moto: the order events consumer (and its DLQ), and the DLQ replay."""

from __future__ import annotations

import json
from typing import Any

from bbws.services.orders import transactions
from bbws.services.orders.model import Status
from bbws.services.orders.store import OrderStore
from bbws.services.orders.workers.events import OrderEventsConsumer
from bbws.services.orders.workers.replay import DlqReplay
from tests.bbws.services.orders.helpers import (
    MAX_RECEIVES,
    Catalog,
    deliver,
    place,
    ref,
    sqs_event,
    stream,
)
from tests.bbws.services.support import TENANT, FakeLambdaContext

# --- 7. order events consumer -----------------------------------------------------------


def test_the_consumer_confirms_new_orders_once(store: OrderStore, catalog: Catalog) -> None:
    consumer = OrderEventsConsumer(store)
    by_ref, by_stream = place(store, catalog), place(store, catalog)
    event = sqs_event(ref(by_ref.id), stream("INSERT", by_stream.id, None, "pending"))
    assert consumer(event, FakeLambdaContext()) == {"batchItemFailures": []}
    for order in (by_ref, by_stream):
        assert store.require(TENANT, order.id).status == Status.CONFIRMED
    # A duplicate delivery and the stream's own MODIFY are acknowledged without a write.
    again = sqs_event(ref(by_ref.id), stream("MODIFY", by_ref.id, "pending", "confirmed"))
    assert consumer(again, FakeLambdaContext()) == {"batchItemFailures": []}
    assert store.require(TENANT, by_ref.id).status == Status.CONFIRMED


def test_the_consumer_leaves_cancelled_orders_and_skips_idempotency_records(
    store: OrderStore, catalog: Catalog
) -> None:
    order = place(store, catalog)
    transactions.cancel(store, TENANT, order.id, reason="customer")
    idem = stream("INSERT", "01JAAAAAAAAAAAAAAAAAAAAAAA", None, None, pk="IDEMPOTENCY#orders")
    event = sqs_event(ref(order.id), idem)
    assert OrderEventsConsumer(store)(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert store.require(TENANT, order.id).status == Status.CANCELLED


def test_bad_records_fail_alone(store: OrderStore, catalog: Catalog) -> None:
    good = place(store, catalog)
    missing = ref("01JAAAAAAAAAAAAAAAAAAAAAAA")
    event = sqs_event("not json", ref(good.id), missing, json.dumps({"tenant_id": "a#b"}))
    response = OrderEventsConsumer(store)(event, FakeLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": m} for m in ("m0", "m2", "m3")]}
    assert store.require(TENANT, good.id).status == Status.CONFIRMED


def test_a_poison_message_ends_in_the_dlq_after_the_retries(
    store: OrderStore, catalog: Catalog, queues: tuple[Any, str, str]
) -> None:
    sqs, queue, dlq = queues
    order = place(store, catalog)
    sqs.send_message(QueueUrl=queue, MessageBody="{poison")
    sqs.send_message(QueueUrl=queue, MessageBody=ref(order.id))
    consumer = OrderEventsConsumer(store)
    failures = [deliver(sqs, queue, consumer) for _ in range(MAX_RECEIVES + 2)]
    assert [len(f) for f in failures] == [1] * MAX_RECEIVES + [0, 0]
    assert store.require(TENANT, order.id).status == Status.CONFIRMED
    assert sqs.receive_message(QueueUrl=queue).get("Messages") is None
    (dead,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert dead["Body"] == "{poison"


# --- 9. DLQ replay ----------------------------------------------------------------------


def test_replay_moves_dead_letters_back_in_bounded_batches(queues: tuple[Any, str, str]) -> None:
    sqs, queue, dlq = queues
    attributes = {"origin": {"DataType": "String", "StringValue": "stream"}}
    for n in range(12):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"m{n}", MessageAttributes=attributes)
    replay = DlqReplay(sqs, queue_url=queue, dlq_url=dlq, max_messages=100)
    assert replay({"max_messages": 5}, FakeLambdaContext()) == {"moved": 5, "failed": 0}
    assert replay({}, FakeLambdaContext()) == {"moved": 7, "failed": 0}
    assert replay({}, FakeLambdaContext()) == {"moved": 0, "failed": 0}
    moved = []
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        for message in batch:
            moved.append(message["Body"])
            assert message["MessageAttributes"]["origin"]["StringValue"] == "stream"
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(moved) == sorted(f"m{n}" for n in range(12))
