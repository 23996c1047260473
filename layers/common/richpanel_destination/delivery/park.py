"""Park events on the retry queue or the dead-letter queue (SQS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..richpanel.outcomes import Outcome
from ..settings import Settings
from .backoff import MAX_DELAY_SECONDS

SQSClient = Any  # a boto3 SQS client (no stubs shipped)

ENVELOPE_VERSION = 1
REASON_LIMIT = 256


class ParkError(RuntimeError):
    """SQS could not take the message; the event is neither delivered nor parked."""


def envelope(event: dict[str, Any], attempt: int, reason: str) -> str:
    """The SQS body for a parked event: the Segment event plus delivery metadata."""
    return json.dumps(
        {
            "v": ENVELOPE_VERSION,
            "event": event,
            "attempt": attempt,
            "reason": reason[:REASON_LIMIT],
            "parkedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _attributes(**values: str | int | float | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        kind = "Number" if isinstance(value, int | float) else "String"
        text = str(value)[:REASON_LIMIT]
        out[name] = {"DataType": kind, "StringValue": text}
    return out


class Parking:
    """Sends to the retry queue and the DLQ, and postpones retries; boto3 loads on first use."""

    def __init__(self, settings: Settings, sqs: SQSClient | None = None) -> None:
        self._settings = settings
        self._sqs = sqs

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            import boto3  # deferred: ingest only needs it when it must park
            from botocore.config import Config

            config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
            self._sqs = boto3.client("sqs", config=config)
        return self._sqs

    def _send(self, queue_url: str, body: str, delay: int, attrs: dict[str, Any]) -> None:
        if not queue_url:
            raise ParkError("no queue URL configured")
        try:
            self.sqs.send_message(
                QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay, MessageAttributes=attrs
            )
        except Exception as exc:  # botocore raises many unrelated types; all mean "not parked"
            raise ParkError(f"SQS send failed: {type(exc).__name__}: {exc}"[:300]) from exc

    def to_retry(self, event: dict[str, Any], outcome: Outcome, attempt: int) -> None:
        """Queue an event for another attempt, honouring Retry-After up to 900 s."""
        delay = min(MAX_DELAY_SECONDS, int(outcome.retry_after or 0))
        attrs = _attributes(
            messageId=event.get("messageId"),
            type=event.get("type"),
            attempt=attempt,
            reason=outcome.reason,
            retryAfter=outcome.retry_after,
        )
        self._send(
            self._settings.retry_queue_url, envelope(event, attempt, outcome.reason), delay, attrs
        )

    def to_dead_letter(
        self, body: str, reason: str, *, message_id: str | None = None, attempt: int | None = None
    ) -> None:
        """Put a body on the DLQ with the reason it cannot be delivered."""
        attrs = _attributes(messageId=message_id, attempt=attempt, reason=reason)
        self._send(self._settings.dead_letter_queue_url, body, 0, attrs)

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        """Hide a retry-queue message for ``seconds`` before its next attempt."""
        self.sqs.change_message_visibility(
            QueueUrl=self._settings.retry_queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )
