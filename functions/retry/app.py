"""Retry Lambda: drains the SQS retry queue, one more Richpanel attempt per record.

The records of a batch are retried concurrently, each send bounded by the invocation's
remaining time, so a slow Richpanel cannot make the batch outlive the function.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import runtime
from richpanel_destination.delivery.deliver import MIN_SEND_SECONDS
from richpanel_destination.delivery.redeliver import RetryLater, redeliver
from richpanel_destination.observability import tracing
from richpanel_destination.observability.metrics import record_retries
from richpanel_destination.richpanel.outcomes import Outcome

logger = Logger(json_serializer=runtime.redactor().serializer)
tracer = tracing.tracer()
metrics = Metrics()
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
tally: Counter[str] = Counter()  # this batch's retry outcomes, for metrics
calls: list[tuple[str, float]] = []  # this batch's Richpanel calls: (status class, ms)
counting = threading.Lock()
# Kept back from the invocation's remaining time for what follows a send: postponing or
# dead-lettering the message, logging, and the partial-batch report.
AFTER_SEND_SECONDS = 1.5
ends_at = 0.0  # this invocation's end, time.monotonic()


def time_left() -> float | None:
    """Seconds a send may take now, or None if one cannot end within the invocation."""
    left = ends_at - AFTER_SEND_SECONDS - time.monotonic()
    return left if left >= MIN_SEND_SECONDS else None


def _count(outcome: Outcome | None, result: str) -> None:
    with counting:
        tally[result] += 1
        if outcome is not None and outcome.record_failed:
            tally["record_failed"] += 1
        if outcome is not None and outcome.latency_ms is not None:
            calls.append((outcome.status_class, outcome.latency_ms))


async def record_handler(record: SQSRecord) -> None:
    """One record, on a thread of its own (the sends are blocking I/O)."""
    await asyncio.to_thread(retry_record, record)


@tracer.capture_method
def retry_record(record: SQSRecord) -> None:
    receive_count = int(record.attributes.approximate_receive_count)
    attribute = record.message_attributes["messageId"]
    message_id = attribute.string_value if attribute is not None else None
    keys = {
        "sqsMessageId": record.message_id,
        "messageId": message_id,
        "receiveCount": receive_count,
    }
    try:
        done = redeliver(
            record.body,
            record.receipt_handle,
            receive_count,
            client=runtime.richpanel(),
            parking=runtime.parking(),
            settings=runtime.settings(),
            dedupe=runtime.dedupe(),
            time_left=time_left,
        )
    except RetryLater as exc:
        _count(exc.outcome, "scheduled")
        latency = exc.outcome.latency_ms if exc.outcome else None
        logger.warning(
            "retry later",
            extra={
                **keys,
                "attempt": exc.attempt,
                "reason": exc.reason,
                "delaySeconds": exc.delay,
                "latencyMs": latency,
            },
        )
        raise
    _count(done.outcome, done.fate.value)
    logger.info(
        "event outcome",
        extra={
            **keys,
            "messageId": done.message_id,
            "userId": done.user_id,
            "attempt": done.attempt,
            "outcome": done.fate.value,
            "reason": done.reason,
            "richpanelStatus": done.status,
            "latencyMs": done.outcome.latency_ms if done.outcome else None,
            "recordFailed": done.outcome.record_failed if done.outcome else None,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global ends_at
    ends_at = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    dedupe = runtime.dedupe()
    if dedupe is not None:
        dedupe.register_lambda_context(context)
    tally.clear()
    calls.clear()
    response = async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    record_retries(tally, calls)
    return dict(response)
