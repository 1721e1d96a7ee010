"""Lambda's SQS pollers, for the emulated accounts.

For each enabled SQS event source mapping, :class:`SqsEventSources` receives batches from the
queue, runs them through the :class:`~promote.sandbox.invocation.Invoker` as Lambda's SQS
event, and deletes what succeeded. What failed stays in flight until the queue's visibility
timeout passes, is received again, and once its receive count reaches the queue's
``maxReceiveCount`` moto's next receive moves it to the dead-letter queue, as SQS does.
``ReportBatchItemFailures`` keeps only the reported messages. A throttled batch is simply
left to come back, and its mapping rests a moment.

Two things about moto shape this module:

- Moto delivers SQS messages to Lambda itself, in ``SendMessage`` (``Queue.add_message`` walks
  ``queue.lambda_event_source_mappings`` and invokes the function in Docker). The sandbox has
  no Docker, so every send to a mapped queue failed with a 500.
  :func:`detach_moto_sqs_triggers` makes that attribute always empty, process-wide, so the
  mappings still exist for the Lambda API while our poller is the only consumer.
- Moto's ``ListEventSourceMappings`` answers the ARN of the version an alias pointed to at
  creation (``f:1`` for ``f:live``), which would bypass the alias and its weights. The mapping
  keeps the ``FunctionName`` it was created with, so the mappings are read from moto's Lambda
  backend in-process (the sandbox serves moto in this process).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from promote.sandbox.invocation import (
    FunctionRef,
    Invocation,
    InvocationStatus,
    Invoker,
    account_session,
)

log = logging.getLogger(__name__)

RECEIVE_LIMIT = 10  # ReceiveMessage and DeleteMessageBatch take at most 10 messages
BATCHES_PER_TURN = 10  # then the mapping yields its worker to the others
THROTTLE_REST = 1.0  # seconds a throttled mapping waits before polling again


@dataclass(frozen=True)
class SqsMapping:
    """An enabled event source mapping from an SQS queue, as the poller needs it."""

    uuid: str
    queue_arn: str
    function: FunctionRef
    batch_size: int = 10
    report_failures: bool = False  # FunctionResponseTypes has ReportBatchItemFailures

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]


def detach_moto_sqs_triggers() -> None:
    """Stop moto from invoking functions when messages are sent to mapped queues.

    ``moto.sqs.models.Queue.lambda_event_source_mappings`` becomes a property that is always
    a fresh empty dict and ignores assignment, so ``Queue.add_message`` finds no mapping and
    ``CreateEventSourceMapping``'s registration on the queue goes nowhere. Idempotent, and
    covers queues and mappings that already exist."""
    from moto.sqs.models import Queue

    if isinstance(Queue.__dict__.get("lambda_event_source_mappings"), property):
        return
    # A class attribute replacing an instance one: moto's annotation cannot say so.
    Queue.lambda_event_source_mappings = property(_no_mappings, _ignore)  # type: ignore[assignment]


def _no_mappings(_queue: object) -> dict[str, Any]:
    return {}


def _ignore(_queue: object, _value: object) -> None:
    return None


def moto_sqs_mappings(account_id: str, region: str) -> list[SqsMapping]:
    """The enabled SQS mappings of one account and region, read from moto's Lambda backend."""
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[account_id][region]
    mappings = []
    for esm in list(backend.list_event_source_mappings("", "")):
        if not esm.enabled or esm.event_source_arn.split(":")[2] != "sqs":
            continue
        mappings.append(
            SqsMapping(
                uuid=esm.uuid,
                queue_arn=esm.event_source_arn,
                function=_target(account_id, region, esm.function_name, esm.function_arn),
                batch_size=int(esm.batch_size),
                report_failures="ReportBatchItemFailures" in (esm.function_response_types or []),
            )
        )
    return mappings


def _target(account_id: str, region: str, requested: str, resolved: str) -> FunctionRef:
    """The function as the mapping names it. Moto resolves an alias to its version in the
    ARN; the name the mapping was created with keeps the alias, unless an update has since
    pointed the mapping at another function. (Moto does not record an update to another
    qualifier of the same function, ``f:live`` to ``f:2``: that mapping still calls ``live``.)"""
    name, qualifier = _split_function(requested)
    resolved_name, resolved_qualifier = _split_function(resolved)
    if name != resolved_name:
        name, qualifier = resolved_name, resolved_qualifier
    return FunctionRef(account_id, region, name, qualifier)


def _split_function(name_or_arn: str) -> tuple[str, str | None]:
    """``name``, ``name:q``, ``123456789012:function:name[:q]`` or a full ARN, as (name, q)."""
    parts = name_or_arn.split(":")
    if parts[0] == "arn":
        parts = parts[6:]
    elif len(parts) > 2 and parts[1] == "function":
        parts = parts[2:]
    return parts[0], parts[1] if len(parts) > 1 else None


def sqs_event(mapping: SqsMapping, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Lambda's SQS event for messages as ReceiveMessage returns them."""
    return {"Records": [_record(mapping, message) for message in messages]}


def _record(mapping: SqsMapping, message: dict[str, Any]) -> dict[str, Any]:
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": mapping.queue_arn,
        "awsRegion": mapping.function.region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def failed_messages(invocation: Invocation, message_ids: Sequence[str], report: bool) -> set[str]:
    """The ids that must not be deleted. With ``report`` (ReportBatchItemFailures) an OK
    invocation names its failures; an answer Lambda cannot read fails the whole batch."""
    everything = set(message_ids)
    if invocation.status is not InvocationStatus.OK:
        return everything
    if not report:
        return set()
    reported = _reported_failures(invocation.payload)
    if reported is None or not reported <= everything:
        return everything
    return reported


def _reported_failures(payload: Any) -> set[str] | None:
    """The ``itemIdentifier``s of a batch response; None when it is not one. No response, or
    no list, is a complete success, as Lambda reads it."""
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return None
    items = payload.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    identifiers: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier:
            return None
        identifiers.add(identifier)
    return identifiers


class SqsEventSources:
    """Polls the SQS event source mappings of ``accounts`` (``(account id, region)`` pairs)
    on the emulator at ``endpoint`` and invokes their functions through ``invoker``."""

    def __init__(
        self,
        invoker: Invoker,
        endpoint: str,
        accounts: Sequence[tuple[str, str]],
        *,
        poll_interval: float = 0.2,
        max_workers: int = 4,
    ) -> None:
        self._invoker = invoker
        self._endpoint = endpoint
        self._accounts = list(dict.fromkeys(accounts))
        self._poll_interval = poll_interval
        self._max_workers = max_workers
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # mappings with a worker draining them
        self._resting: dict[str, float] = {}  # mapping -> monotonic time it may poll again
        self._clients: dict[tuple[str, str], Any] = {}
        self._queue_urls: dict[str, str] = {}

    def start(self) -> None:
        if self._thread is not None:
            return
        detach_moto_sqs_triggers()
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="promote-sqs")
        self._thread = threading.Thread(target=self._run, name="promote-sqs-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; batches being invoked finish (and are settled) first."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            for mapping in self._mappings():
                self._dispatch(mapping)
            self._stopping.wait(self._poll_interval)

    def _mappings(self) -> list[SqsMapping]:
        found: list[SqsMapping] = []
        for account_id, region in self._accounts:
            try:
                found.extend(moto_sqs_mappings(account_id, region))
            except Exception:  # moto's state changing under us: look again next tick
                log.warning("could not list the mappings of %s", account_id, exc_info=True)
        return found

    def _dispatch(self, mapping: SqsMapping) -> None:
        with self._lock:
            if mapping.uuid in self._busy or self._resting.get(mapping.uuid, 0) > time.monotonic():
                return
            self._busy.add(mapping.uuid)
        assert self._pool is not None
        self._pool.submit(self._drain, mapping)

    def _drain(self, mapping: SqsMapping) -> None:
        try:
            for _ in range(BATCHES_PER_TURN):
                if self._stopping.is_set() or not self._poll_once(mapping):
                    break
        except Exception:
            log.warning("polling %s failed", mapping.queue_arn, exc_info=True)
        finally:
            with self._lock:
                self._busy.discard(mapping.uuid)

    def _poll_once(self, mapping: SqsMapping) -> bool:
        """Receive, invoke and settle one batch; False when there is no reason to go on."""
        messages = self._receive(mapping)
        if not messages:
            return False
        try:
            invocation = self._invoker.invoke(mapping.function, sqs_event(mapping, messages))
        except Exception:
            log.exception("invoking %s failed; its batch will come back", mapping.function.arn)
            return False
        if invocation.status is InvocationStatus.THROTTLED:
            with self._lock:
                self._resting[mapping.uuid] = time.monotonic() + THROTTLE_REST
            return False
        ids = [message["MessageId"] for message in messages]
        failed = failed_messages(invocation, ids, mapping.report_failures)
        self._delete(mapping, [m for m in messages if m["MessageId"] not in failed])
        return True

    def _receive(self, mapping: SqsMapping) -> list[dict[str, Any]]:
        """Up to the mapping's batch size, in receives of at most ten."""
        sqs = self._sqs(mapping)
        url = self._queue_url(mapping)
        messages: list[dict[str, Any]] = []
        while len(messages) < mapping.batch_size:
            wanted = min(RECEIVE_LIMIT, mapping.batch_size - len(messages))
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=wanted,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            messages.extend(received)
            if len(received) < wanted:
                break
        return messages

    def _delete(self, mapping: SqsMapping, messages: list[dict[str, Any]]) -> None:
        sqs = self._sqs(mapping)
        for start in range(0, len(messages), RECEIVE_LIMIT):
            entries = [
                {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]}
                for i, message in enumerate(messages[start : start + RECEIVE_LIMIT])
            ]
            answer = sqs.delete_message_batch(QueueUrl=self._queue_url(mapping), Entries=entries)
            for failure in answer.get("Failed", []):
                log.warning("could not delete from %s: %s", mapping.queue_arn, failure)

    def _sqs(self, mapping: SqsMapping) -> Any:
        place = (mapping.function.account_id, mapping.function.region)
        # One worker creates it: a boto3 Session must not create clients on two threads.
        with self._lock:
            if place not in self._clients:
                session = account_session(self._endpoint, *place)
                self._clients[place] = session.client("sqs", endpoint_url=self._endpoint)
            return self._clients[place]

    def _queue_url(self, mapping: SqsMapping) -> str:
        if mapping.queue_arn not in self._queue_urls:
            answer = self._sqs(mapping).get_queue_url(
                QueueName=mapping.queue_name,
                QueueOwnerAWSAccountId=mapping.queue_arn.split(":")[4],
            )
            self._queue_urls[mapping.queue_arn] = answer["QueueUrl"]
        return self._queue_urls[mapping.queue_arn]
