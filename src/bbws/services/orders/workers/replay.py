"""DLQ replay (invoked by hand or on a schedule): moves dead letters back to the queue.

Once the cause of the failures is fixed, this puts the dead-lettered messages back on the
order-events queue, at most ``max_messages`` per invocation (event field, default
``ORDERS_REPLAY_MAX``, never more than 1000) so one run fits its timeout. A message is
deleted from the DLQ only after the queue accepted it, so a failed send leaves it in the
DLQ (visible again after the receive's visibility timeout) and nothing is lost; a crash
between send and delete can duplicate one, which the consumers tolerate (they are
idempotent).

Event: ``{"max_messages": 50}`` (optional). Returns ``{"moved", "failed"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools import Logger

from bbws.services.aws import AWS_CONFIG
from bbws.services.orders.workers.config import (
    REPLAY_HARD_MAX,
    WorkerSettings,
    lazy_handler,
    worker_settings,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef, SendMessageBatchRequestEntryTypeDef

SQS_BATCH: Final = 10  # ReceiveMessage and SendMessageBatch take at most 10
# Long enough to send and delete a batch; a message that failed to send reappears after.
VISIBILITY_SECONDS: Final = 60


class DlqReplay:
    def __init__(
        self,
        sqs: SQSClient,
        *,
        queue_url: str,
        dlq_url: str,
        max_messages: int = 100,
        logger: Logger | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.max_messages = max_messages
        self.logger = logger or Logger(service="orders-dlq-replay")

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> DlqReplay:
        return cls(
            boto3.client("sqs", config=AWS_CONFIG),
            queue_url=settings.require("queue_url"),
            dlq_url=settings.require("dlq_url"),
            max_messages=settings.replay_max,
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        limit = max(0, min(int(event.get("max_messages", self.max_messages)), REPLAY_HARD_MAX))
        moved = failed = 0
        while moved + failed < limit:
            batch = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=min(SQS_BATCH, limit - moved - failed),
                MessageAttributeNames=["All"],
                VisibilityTimeout=VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                break  # the DLQ is empty (or the rest is in flight)
            sent = self._move(batch)
            moved, failed = moved + sent, failed + len(batch) - sent
        result = {"moved": moved, "failed": failed}
        self.logger.info("dead letters replayed", extra=result)
        return result

    def _move(self, batch: list[MessageTypeDef]) -> int:
        entries: list[SendMessageBatchRequestEntryTypeDef] = []
        for index, message in enumerate(batch):
            entry: SendMessageBatchRequestEntryTypeDef = {
                "Id": str(index),
                "MessageBody": message["Body"],
            }
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        accepted = [batch[int(ok["Id"])] for ok in response.get("Successful", [])]
        if accepted:
            self.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(accepted)
                ],
            )
        for failure in response.get("Failed", []):
            self.logger.warning("replay send failed", extra={"code": failure.get("Code")})
        return len(accepted)


handler = lazy_handler(lambda: DlqReplay.from_settings(worker_settings()))
