"""SQS event source mappings, polled against the emulator, invoking a fake of our Invoker port."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from promote.sandbox import Sandbox
from promote.sandbox.event_sources import (
    SqsEventSources,
    SqsMapping,
    detach_moto_sqs_triggers,
    failed_messages,
    moto_sqs_mappings,
)
from promote.sandbox.invocation import FunctionRef, Invocation, InvocationStatus
from promote.sandbox.telemetry import Telemetry

from .functions import deploy, point_alias, session_for

ACCOUNT, REGION = "815856636111", "eu-west-1"  # Tebogo-sit
OK = InvocationStatus.OK
Answer = Callable[[dict[str, Any]], tuple[InvocationStatus, Any]]


@dataclass
class FakeInvoker:
    """Answers each event with ``answer(event)`` and remembers what it was asked."""

    answer: Answer
    calls: list[tuple[FunctionRef, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function: FunctionRef, event: Any) -> Invocation:
        status, payload = self.answer(event)
        with self.lock:
            self.calls.append((function, event))
        return Invocation(function, "1", status, payload, str(uuid.uuid4()), time.time(), 1.0)

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [record for _, event in self.calls for record in event["Records"]]

    def bodies(self) -> list[str]:
        return [record["body"] for record in self.records()]


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@dataclass
class Queues:
    session: boto3.Session
    sqs: Any
    name: str
    url: str
    arn: str
    dlq_url: str | None = None

    def send(self, *bodies: str, **extra: Any) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body, **extra)

    def count(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def dead_letters(self) -> list[str]:
        assert self.dlq_url is not None
        received = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return sorted(message["Body"] for message in received.get("Messages", []))


@pytest.fixture
def function(aws_env: Sandbox) -> Iterator[str]:
    """A deployed function with a ``live`` alias (our fake invoker stands in for the code).
    Its mappings go with the test, so later tests' pollers do not drain its queues."""
    name = f"worker-{uuid.uuid4().hex[:8]}"
    session = session_for(aws_env)
    version = deploy(session, name, "def handler(event, context):\n    return None\n")
    point_alias(session, name, version)
    yield name
    client = session.client("lambda")
    for mapping in client.list_event_source_mappings()["EventSourceMappings"]:
        if f":function:{name}:" in mapping["FunctionArn"] + ":":
            client.delete_event_source_mapping(UUID=mapping["UUID"])


def make_queues(sandbox: Sandbox, *, dlq: bool, visibility: int = 1) -> Queues:
    detach_moto_sqs_triggers()  # as SqsEventSources.start() does, before anything is sent
    session = session_for(sandbox)
    sqs = session.client("sqs")
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    attributes = {"VisibilityTimeout": str(visibility)}
    dlq_url = None
    if dlq:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 2}
        attributes["RedrivePolicy"] = json.dumps(policy)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return Queues(session, sqs, name, url, arn["Attributes"]["QueueArn"], dlq_url)


def map_queue(queues: Queues, function_name: str, **settings: Any) -> str:
    mapping = queues.session.client("lambda").create_event_source_mapping(
        EventSourceArn=queues.arn, FunctionName=function_name, **settings
    )
    uuid_: str = mapping["UUID"]
    return uuid_


@pytest.fixture
def running(sandbox: Sandbox) -> Iterator[Callable[[FakeInvoker], SqsEventSources]]:
    started: list[SqsEventSources] = []

    def run(invoker: FakeInvoker) -> SqsEventSources:
        sources = SqsEventSources(
            invoker, sandbox.endpoint, [(ACCOUNT, REGION)], poll_interval=0.05
        )
        sources.start()
        started.append(sources)
        return sources

    yield run
    for sources in started:
        sources.stop()


def always(status: InvocationStatus, payload: Any = None) -> Answer:
    return lambda event: (status, payload)


def test_sending_to_a_mapped_queue_leaves_the_message_to_us(
    aws_env: Sandbox, function: str
) -> None:
    """Without the detach, moto invokes the function in SendMessage (in Docker) and the send
    fails with a 500."""
    queues = make_queues(aws_env, dlq=False)
    map_queue(queues, f"{function}:live")
    queues.send("hello")
    assert queues.count() == 1


def test_a_succeeding_function_gets_sqs_events_and_its_messages_are_deleted(
    aws_env: Sandbox, function: str, running: Callable[[FakeInvoker], SqsEventSources]
) -> None:
    queues = make_queues(aws_env, dlq=False)
    map_queue(queues, f"{function}:live", BatchSize=3)
    attribute = {"kind": {"DataType": "String", "StringValue": "order"}}
    queues.send(*[f"m{i}" for i in range(7)], MessageAttributes=attribute)
    invoker = FakeInvoker(always(OK))
    running(invoker)

    # count() includes messages in flight: zero means deleted, not merely received.
    eventually(lambda: len(invoker.records()) == 7 and queues.count() == 0)
    assert sorted(invoker.bodies()) == [f"m{i}" for i in range(7)]
    assert all(len(event["Records"]) <= 3 for _, event in invoker.calls)
    target = invoker.calls[0][0]
    assert target == FunctionRef(ACCOUNT, REGION, function, "live")  # the alias, not "1"
    record = invoker.records()[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues.arn
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert int(record["attributes"]["SentTimestamp"]) > 0
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "order",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]


def test_a_failing_function_sends_its_messages_to_the_dead_letter_queue(
    aws_env: Sandbox, function: str, running: Callable[[FakeInvoker], SqsEventSources]
) -> None:
    queues = make_queues(aws_env, dlq=True)  # maxReceiveCount 2, VisibilityTimeout 1
    map_queue(queues, function)
    queues.send("a", "b", "c")
    invoker = FakeInvoker(always(InvocationStatus.FUNCTION_ERROR))
    running(invoker)

    eventually(lambda: queues.count(queues.dlq_url) == 3)
    assert queues.count() == 0
    assert sorted(invoker.bodies()) == ["a", "a", "b", "b", "c", "c"]  # tried twice each
    counts = sorted(r["attributes"]["ApproximateReceiveCount"] for r in invoker.records())
    assert counts == ["1", "1", "1", "2", "2", "2"]
    assert invoker.calls[0][0].qualifier is None  # mapped unqualified, invoked unqualified
    assert queues.dead_letters() == ["a", "b", "c"]


def fail_the_bad_ones(event: dict[str, Any]) -> tuple[InvocationStatus, Any]:
    failures = [
        {"itemIdentifier": record["messageId"]}
        for record in event["Records"]
        if record["body"].startswith("bad")
    ]
    return OK, {"batchItemFailures": failures}


def test_reported_batch_item_failures_are_the_only_ones_kept(
    aws_env: Sandbox, function: str, running: Callable[[FakeInvoker], SqsEventSources]
) -> None:
    queues = make_queues(aws_env, dlq=True)
    map_queue(queues, function, FunctionResponseTypes=["ReportBatchItemFailures"])
    queues.send("good-1", "bad", "good-2")
    invoker = FakeInvoker(fail_the_bad_ones)
    running(invoker)

    eventually(lambda: queues.count(queues.dlq_url) == 1)
    assert queues.dead_letters() == ["bad"]
    assert sorted(invoker.bodies()) == ["bad", "bad", "good-1", "good-2"]
    assert queues.count() == 0


def test_a_throttled_batch_comes_back_later(
    aws_env: Sandbox, function: str, running: Callable[[FakeInvoker], SqsEventSources]
) -> None:
    queues = make_queues(aws_env, dlq=True)
    map_queue(queues, f"{function}:live")
    queues.send("once")
    answers = iter([InvocationStatus.THROTTLED])
    invoker = FakeInvoker(lambda event: (next(answers, OK), None))
    running(invoker)

    eventually(lambda: len(invoker.records()) == 2 and queues.count() == 0)
    counts = [r["attributes"]["ApproximateReceiveCount"] for r in invoker.records()]
    assert counts == ["1", "2"]
    assert queues.count(queues.dlq_url) == 0


def test_disabled_mappings_are_not_polled(
    aws_env: Sandbox, function: str, running: Callable[[FakeInvoker], SqsEventSources]
) -> None:
    queues = make_queues(aws_env, dlq=False)
    mapping = map_queue(queues, function)
    queues.session.client("lambda").update_event_source_mapping(UUID=mapping, Enabled=False)
    queues.send("waiting")
    invoker = FakeInvoker(always(OK))
    running(invoker)
    time.sleep(0.3)
    assert invoker.calls == []
    assert queues.count() == 1


@pytest.mark.parametrize(
    ("given", "qualifier"),
    [
        ("{name}", None),
        ("{name}:live", "live"),
        ("arn:aws:lambda:eu-west-1:815856636111:function:{name}:live", "live"),
        ("arn:aws:lambda:eu-west-1:815856636111:function:{name}", None),
        ("{name}:1", "1"),  # moto refuses partial ARNs (123456789012:function:name)
    ],
)
def test_mappings_keep_the_qualifier_they_were_created_with(
    aws_env: Sandbox, function: str, given: str, qualifier: str | None
) -> None:
    queues = make_queues(aws_env, dlq=False)
    created = map_queue(queues, given.format(name=function), BatchSize=7)
    [mapping] = [m for m in moto_sqs_mappings(ACCOUNT, REGION) if m.uuid == created]
    assert mapping.function == FunctionRef(ACCOUNT, REGION, function, qualifier)
    assert mapping.queue_arn == queues.arn
    assert mapping.batch_size == 7


IDS = ["m1", "m2", "m3"]


def finished(status: InvocationStatus, payload: Any) -> Invocation:
    ref = FunctionRef(ACCOUNT, REGION, "f")
    return Invocation(ref, "1", status, payload, "r", 0.0, 1.0)


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, set(IDS)),
        ({"batchItemFailures": [{"itemId": "m2"}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, set(IDS)),
        ({"batchItemFailures": "m2"}, set(IDS)),
        ("done", set(IDS)),
    ],
)
def test_what_a_batch_response_keeps(payload: Any, kept: set[str]) -> None:
    assert failed_messages(finished(OK, payload), IDS, report=True) == kept


def test_without_reporting_ok_deletes_all_and_errors_keep_all() -> None:
    partial = {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert failed_messages(finished(OK, partial), IDS, report=False) == set()
    for status in InvocationStatus:
        if status is not OK:
            assert failed_messages(finished(status, None), IDS, report=True) == set(IDS)


def test_a_mapping_names_its_queue() -> None:
    mapping = SqsMapping("u", "arn:aws:sqs:eu-west-1:1:jobs", FunctionRef("1", "eu-west-1", "f"))
    assert mapping.queue_name == "jobs"


PARTIAL_FAILURES = """
def handler(event, context):
    failures = []
    for record in event["Records"]:
        print("got", record["body"])
        if record["body"].startswith("bad"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""


def test_the_real_runtime_behind_a_mapping(aws_env: Sandbox, tmp_path: Path) -> None:
    """The sandbox's wiring: the runtime as invoker, telemetry listening, an alias mapped
    with ReportBatchItemFailures and a dead-letter queue."""
    from promote.sandbox.runtime import LambdaRuntime

    name = f"consumer-{uuid.uuid4().hex[:8]}"
    session = session_for(aws_env)
    point_alias(session, name, deploy(session, name, PARTIAL_FAILURES))
    queues = make_queues(aws_env, dlq=True)
    map_queue(queues, f"{name}:live", FunctionResponseTypes=["ReportBatchItemFailures"])
    queues.send("good-1", "bad", "good-2")
    telemetry = Telemetry(aws_env.endpoint)
    runtime = LambdaRuntime(aws_env.endpoint, tmp_path, listeners=[telemetry])
    sources = SqsEventSources(runtime, aws_env.endpoint, [(ACCOUNT, REGION)], poll_interval=0.05)
    telemetry.start()
    sources.start()
    try:
        eventually(lambda: queues.count(queues.dlq_url) == 1)
    finally:
        sources.stop()  # first the pollers, then what they call, then what listens
        runtime.close()
        telemetry.stop()
        session.client("lambda").delete_event_source_mapping(UUID=_mapping_of(queues))

    assert queues.dead_letters() == ["bad"]
    assert queues.count() == 0
    logs = session.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    got = sorted(e["message"] for e in events if e["message"].startswith("got"))
    assert got == ["got bad", "got bad", "got good-1", "got good-2"]


def _mapping_of(queues: Queues) -> str:
    client = queues.session.client("lambda")
    [mapping] = client.list_event_source_mappings(EventSourceArn=queues.arn)["EventSourceMappings"]
    uuid_: str = mapping["UUID"]
    return uuid_
