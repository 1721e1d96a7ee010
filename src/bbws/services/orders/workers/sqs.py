"""SQS batches with per-record failures, so the queue's redrive policy does the retrying."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def process_batch(
    event: dict[str, Any], context: Any, record_handler: Callable[[SQSRecord], Any]
) -> dict[str, Any]:
    # raise_on_entire_batch_failure=False: a batch whose records all failed is still a
    # per-record answer, so SQS counts each receive and the redrive policy applies.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
