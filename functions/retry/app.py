"""Retry Lambda: SQS in and out; the path itself is richpanel_destination.retry.

The records of a batch are retried concurrently (AsyncBatchProcessor, a thread each), each
send bounded by the invocation's remaining time, so a slow Richpanel cannot make the batch
outlive the function.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import retry, runtime
from richpanel_destination.observability import logs, tracing

logger = retry.logger
tracer = tracing.tracer()
metrics = Metrics()
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_keys(record: SQSRecord) -> dict[str, Any]:
    """The SQS facts each log line about a record carries."""
    attribute = record.message_attributes["messageId"]
    return {
        "sqsMessageId": record.message_id,
        "messageId": attribute.string_value if attribute is not None else None,
        "receiveCount": int(record.attributes.approximate_receive_count),
    }


def sent_timestamp(record: SQSRecord) -> int | None:
    """When SQS took the message (epoch ms): where its retry window starts; None if absent."""
    raw = record.attributes.get("SentTimestamp")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


@logs.inject_invocation(logger)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.register_lambda_context(context)
    batch = retry.RetryBatch(context.get_remaining_time_in_millis())

    async def record_handler(record: SQSRecord) -> None:
        keys = record_keys(record)
        await asyncio.to_thread(
            batch.retry,
            record.body,
            record.receipt_handle,
            keys["receiveCount"],
            keys,
            sent_timestamp(record),
        )

    response = async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    batch.publish()
    return dict(response)
