"""Queue events on the retry queue or the dead-letter queue (SQS): the one word for it."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..limits import ATTRIBUTE_CHARS, SQS_BATCH_BYTES, SQS_BATCH_ENTRIES, reason
from ..richpanel.outcomes import Outcome
from ..settings import Settings
from .backoff import MAX_DELAY_SECONDS

T = TypeVar("T")
SQSClient = Any  # a boto3 SQS client (no stubs shipped)

ENVELOPE_VERSION = 1
QUEUE_CONCURRENCY = 16  # SendMessageBatch calls in flight at once (and boto3's pool size)
QUEUE_CALL_SECONDS = 0.05  # time reserved per SendMessageBatch call (10-20 ms typical on AWS)
QUEUE_FLOOR_SECONDS = 0.3  # reserved however little there is to queue


# What SQS refuses in a message body or a string attribute: anything outside #x9 | #xA | #xD
# | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF (moto does not check; local/ does).
NOT_FOR_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Body fields that never go to a queue: a writeKey sent in the body is a credential.
NOT_QUEUED = frozenset({"writeKey"})


def for_sqs(text: str) -> str:
    """Text SQS takes: each character it refuses becomes its JSON escape (\\uXXXX).

    In a JSON body that escape stands inside a string (json.dumps escapes control characters
    itself, and the refused characters are never structural), so the body stays valid JSON
    and decodes to the same value.
    """
    return NOT_FOR_SQS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class QueueError(RuntimeError):
    """SQS could not take the message; the event is neither delivered nor parked."""


def envelope(event: dict[str, Any], attempt: int, reason: str, time_ms: int | None = None) -> str:
    """The SQS body for a parked event: the Segment event (without credentials) plus
    delivery metadata, in characters SQS takes.

    ``eventTime`` is the event's time as ingest judged it (clamped to when it was received),
    so that every later attempt compares the same time against the freshness marks.
    """
    if not NOT_QUEUED.isdisjoint(event):
        event = {k: v for k, v in event.items() if k not in NOT_QUEUED}
    body = json.dumps(
        {
            "v": ENVELOPE_VERSION,
            "event": event,
            "attempt": attempt,
            "reason": reason[:ATTRIBUTE_CHARS],
            "parkedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        | ({} if time_ms is None else {"eventTime": time_ms}),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return for_sqs(body)


def _attributes(**values: str | int | float | None) -> dict[str, dict[str, str]]:
    """SQS message attributes (numbers as Number), leaving out what is None or empty.

    SQS allows 10 per message. A retry message has at most 6 (messageId, type, attempt, reason,
    retryAfter, richpanelStatus), a DLQ message 4 (messageId, attempt, reason, richpanelStatus);
    a redrive adds ``redriven``: 7 at most (tests/unit/delivery/test_queues.py counts them).
    """
    out: dict[str, dict[str, str]] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        kind = "Number" if isinstance(value, int | float) else "String"
        text = for_sqs(str(value)[:ATTRIBUTE_CHARS])
        out[name] = {"DataType": kind, "StringValue": text}
    return out


@dataclass(frozen=True)
class QueueMessage:
    """One message to queue: for the retry queue or the DLQ."""

    key: int  # the caller's handle (an event's index in its request)
    dead_letter: bool
    body: str
    attrs: dict[str, dict[str, str]]
    delay: int = 0


def retry_message(
    key: int, event: dict[str, Any], outcome: Outcome, attempt: int, time_ms: int | None = None
) -> QueueMessage:
    """An event for another attempt, delayed by Retry-After up to 900 s."""
    attrs = _attributes(
        messageId=event.get("messageId"),
        type=event.get("type"),
        attempt=attempt,
        reason=outcome.reason,
        retryAfter=outcome.retry_after,
        richpanelStatus=outcome.status,
    )
    delay = min(MAX_DELAY_SECONDS, math.ceil(outcome.retry_after or 0))
    body = envelope(event, attempt, outcome.reason, time_ms)
    return QueueMessage(key, False, body, attrs, delay)


def dead_letter_message(
    key: int,
    body: str,
    reason: str,
    *,
    message_id: str | None = None,
    attempt: int | None = None,
    status: int | None = None,
) -> QueueMessage:
    """A body for the DLQ, with the reason it cannot be delivered (any body: made SQS-safe).

    ``status`` is Richpanel's HTTP status, if it answered: the ``richpanelStatus`` attribute.
    """
    attrs = _attributes(
        messageId=message_id, attempt=attempt, reason=reason, richpanelStatus=status
    )
    return QueueMessage(key, True, for_sqs(body), attrs)


def queue_seconds(count: int, call_seconds: float = QUEUE_CALL_SECONDS) -> float:
    """Time to reserve for queues ``count`` events: their calls, QUEUE_CONCURRENCY at a time."""
    calls = math.ceil(max(0, count) / SQS_BATCH_ENTRIES)
    return QUEUE_FLOOR_SECONDS + math.ceil(calls / QUEUE_CONCURRENCY) * call_seconds


def message_size(message: QueueMessage) -> int:
    attrs = sum(
        len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in message.attrs.items()
    )
    return len(message.body.encode("utf-8")) + attrs


def chunks(items: list[T], size_of: Callable[[T], int]) -> Iterator[list[T]]:
    """Groups for SendMessageBatch: at most 10 entries and 256 KB each."""
    group: list[T] = []
    size = 0
    for item in items:
        item_size = size_of(item)
        if group and (len(group) == SQS_BATCH_ENTRIES or size + item_size > SQS_BATCH_BYTES):
            yield group
            group, size = [], 0
        group.append(item)
        size += item_size
    if group:
        yield group


class Queues:
    """Sends to the retry queue and the DLQ, and postpones retries; boto3 loads on first use."""

    def __init__(self, settings: Settings, sqs: SQSClient | None = None) -> None:
        self._settings = settings
        self._sqs = sqs
        self.call_seconds = QUEUE_CALL_SECONDS  # how long a round of calls took lately

    def reserve(self, count: int) -> float:
        """Seconds to keep back for queues ``count`` events, at the pace SQS has shown."""
        return queue_seconds(count, self.call_seconds)

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            import boto3  # deferred: ingest only needs it when it must queue
            from botocore.config import Config

            config = Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"mode": "standard"},
                max_pool_connections=QUEUE_CONCURRENCY,
            )
            self._sqs = boto3.client("sqs", config=config)
        return self._sqs

    def send_many(self, messages: list[QueueMessage]) -> dict[int, str]:
        """Send with SendMessageBatch; returns {key: why} for every message NOT parked."""
        calls: list[tuple[str, list[QueueMessage]]] = []
        for dead_letter in (False, True):
            url = (
                self._settings.dead_letter_queue_url
                if dead_letter
                else self._settings.retry_queue_url
            )
            mine = [p for p in messages if p.dead_letter is dead_letter]
            calls.extend((url, group) for group in chunks(mine, message_size))
        failed: dict[int, str] = {}
        if not calls:
            return failed
        started = time.monotonic()
        if len(calls) == 1:
            failed = self._send_batch(*calls[0])
        else:
            self.sqs  # noqa: B018 - create the client once, before the threads share it
            with ThreadPoolExecutor(min(QUEUE_CONCURRENCY, len(calls))) as pool:
                for answer in pool.map(lambda call: self._send_batch(*call), calls):
                    failed.update(answer)
        rounds = math.ceil(len(calls) / QUEUE_CONCURRENCY)
        pace = (time.monotonic() - started) / rounds
        # never below the default; a slow round counts at once, a fast one by halves
        self.call_seconds = max(QUEUE_CALL_SECONDS, pace, (self.call_seconds + pace) / 2)
        return failed

    def _send_batch(self, url: str, group: list[QueueMessage]) -> dict[int, str]:
        if not url:
            return {p.key: "no queue URL configured" for p in group}
        entries = [
            {
                "Id": str(p.key),
                "MessageBody": p.body,
                "DelaySeconds": p.delay,
                "MessageAttributes": p.attrs,
            }
            for p in group
        ]
        try:
            answer = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except Exception as exc:  # botocore raises many unrelated types; all mean "not parked"
            why = reason(f"SQS send failed: {type(exc).__name__}: {exc}")
            return {p.key: why for p in group}
        return {
            int(f["Id"]): reason(f"SQS refused: {f.get('Code')}: {f.get('Message', '')}")
            for f in answer.get("Failed", [])
        }

    def _send_one(self, message: QueueMessage) -> None:
        failed = self.send_many([message])
        if failed:
            raise QueueError(failed[message.key])

    def to_retry(self, event: dict[str, Any], outcome: Outcome, attempt: int) -> None:
        """Queue one event for another attempt (QueueError if SQS would not take it)."""
        self._send_one(retry_message(0, event, outcome, attempt))

    def to_dead_letter(
        self,
        body: str,
        reason: str,
        *,
        message_id: str | None = None,
        attempt: int | None = None,
        status: int | None = None,
    ) -> None:
        """Put one body on the DLQ with its reason (QueueError if SQS would not take it)."""
        message = dead_letter_message(
            0, body, reason, message_id=message_id, attempt=attempt, status=status
        )
        self._send_one(message)

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        """Hide a retry-queue message for ``seconds`` before its next attempt."""
        self.sqs.change_message_visibility(
            QueueUrl=self._settings.retry_queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )

    def postpone_many(self, postpones: list[tuple[str, int]]) -> int:
        """Hide several messages (receipt handle, seconds), ten per ChangeMessageVisibilityBatch
        call; how many SQS could not change (they reappear after the visibility timeout)."""
        failed = 0
        for start in range(0, len(postpones), SQS_BATCH_ENTRIES):
            chunk = postpones[start : start + SQS_BATCH_ENTRIES]
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for n, (handle, seconds) in enumerate(chunk)
            ]
            try:
                answer = self.sqs.change_message_visibility_batch(
                    QueueUrl=self._settings.retry_queue_url, Entries=entries
                )
            except Exception:
                failed += len(chunk)
                continue
            failed += len(answer.get("Failed") or [])
        return failed
