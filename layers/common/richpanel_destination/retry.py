"""The retry path, top to bottom: a queued message -> read it -> send -> settle or back off.

The handler (functions/retry/app.py) only translates SQS in and out; a ``RetryBatch`` holds
one invocation's state (its end, its tallies), so nothing is kept between invocations.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import runtime, timestamps
from .delivery.backoff import retry_delay
from .delivery.dedupe import Deduplicator, event_key
from .delivery.deliver import MIN_SEND_SECONDS, Pending, send_once
from .delivery.freshness import Freshness
from .delivery.gate import Gate
from .delivery.queues import Queues, envelope
from .delivery.results import Fate, ident, outcome_line, trace_keys
from .inbound.validate import validate_event
from .mapping.transform import MappingError, to_richpanel
from .observability import logs
from .observability.metrics import record_retries
from .richpanel.outcomes import Kind, Outcome
from .secrets import RichpanelCredentials, SecretError
from .settings import Settings

TimeLeft = Callable[[], float | None]  # seconds a send may take now, None: too little to start
NOT_REACHED = Outcome(Kind.RETRYABLE, "not sent: too little time left in this invocation")
NO_CREDENTIALS = Outcome(Kind.RETRYABLE, "Richpanel credentials unavailable")
# Kept back from the invocation's remaining time for what follows a send: postponing or
# dead-lettering the message, logging, and the partial-batch report.
AFTER_SEND_SECONDS = 1.5
logger = logs.new_logger(runtime.redactor())


class RetryLater(Exception):
    """Retryable failure: the message stays on the retry queue (a batch item failure)."""

    def __init__(
        self, reason: str, delay: int, attempt: int, outcome: Outcome | None = None
    ) -> None:
        super().__init__(f"{reason}; attempt {attempt} failed, next in {delay}s")
        self.reason = reason
        self.delay = delay
        self.attempt = attempt
        self.outcome = outcome


@dataclass(frozen=True)
class RetryResult:
    """What one retry attempt did (the event's fate is final unless RetryLater was raised)."""

    fate: Fate
    message_id: str | None
    attempt: int
    reason: str | None = None
    outcome: Outcome | None = None  # Richpanel's answer, when it was called
    user_id: str | None = None
    type: str | None = None
    trace: dict[str, str] = field(default_factory=dict)  # trace_keys: for logs only

    @property
    def status(self) -> int | None:
        return self.outcome.status if self.outcome else None


def read_envelope(body: str) -> tuple[dict[str, Any], int]:
    """The parked Segment event, checked as ingest checks it, and its time (epoch ms).

    ValueError for a poison message. An envelope from before ``eventTime`` existed is judged
    by the event's own times, clamped to when it was parked.
    """
    try:
        parked = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    event = parked.get("event") if isinstance(parked, dict) else None
    if not isinstance(event, dict):
        raise ValueError('body has no "event" object')
    try:
        json.dumps(event, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"event cannot be encoded as UTF-8 (a lone surrogate at {exc.start})"
        ) from None
    problems = validate_event(event)
    if problems:
        detail = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems)
        raise ValueError(f"invalid Segment call: {detail}")
    stamp = parked.get("eventTime")
    if type(stamp) is not int:
        parked_ms = timestamps.epoch_ms(parked.get("parkedAt"))
        stamp = timestamps.event_time(event, parked_ms or int(time.time() * 1000))
    return event, stamp


def queued_for(body: str, sent_ms: int | None, now_ms: int | None = None) -> float | None:
    """Seconds this message has been on the retry queue: its age in the retry window.

    Counted from SQS's SentTimestamp (a redrive sends a new message, so it starts again),
    else from the envelope's ``parkedAt``; None when neither is known (no window then).
    """
    if sent_ms is None:
        parked = json.loads(body)  # read_envelope has read it already
        sent_ms = timestamps.epoch_ms(parked.get("parkedAt"))
        if sent_ms is None:
            return None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return (now - sent_ms) / 1000


def duration(seconds: int) -> str:
    """A window for a reason: 24 h, 90 min, 45 s."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def retry_once(
    body: str,
    receipt_handle: str,
    receive_count: int,
    *,
    client: Gate,
    queues: Queues | Postpones,
    settings: Settings,
    credentials: RichpanelCredentials | None,
    dedupe: Deduplicator | None = None,
    freshness: Freshness | None = None,
    time_left: TimeLeft | None = None,
    rng: random.Random | None = None,
    sent_ms: int | None = None,
    now_ms: int | None = None,
) -> RetryResult:
    """Re-send a queued event; raise RetryLater (after postponing it) if it should be retried.

    ``time_left`` bounds the send to the invocation's remaining time (None: no bound);
    ``credentials`` None means Richpanel's could not be read (retried later). ``sent_ms``:
    when SQS took the message (its SentTimestamp, epoch ms; None: the envelope's parkedAt),
    the start of its retry window; ``now_ms``: the clock (None: time.time()).
    """
    attempt = receive_count + 1  # the ingest attempt was the first
    try:
        event, time_ms = read_envelope(body)
    except ValueError as exc:
        reason = f"poison message: {exc}"
        queues.to_dead_letter(body, reason, attempt=attempt)
        return RetryResult(Fate.DEAD_LETTERED, None, attempt, reason)
    message_id, call_type, user_id = ident(event)
    trace = trace_keys(event)

    def result(fate: Fate, reason: str | None, outcome: Outcome | None) -> RetryResult:
        return RetryResult(fate, message_id, attempt, reason, outcome, user_id, call_type, trace)

    def dead_letter(reason: str, outcome: Outcome | None = None) -> RetryResult:
        queues.to_dead_letter(
            envelope(event, attempt, reason, time_ms),
            reason,
            message_id=message_id,
            attempt=attempt,
            status=outcome.status if outcome else None,
        )
        return result(Fate.DEAD_LETTERED, reason, outcome)

    try:
        call = to_richpanel(event, settings.order_fields)
    except MappingError as exc:  # e.g. a redriven event the mapping no longer accepts
        return dead_letter(f"{exc.path}: {exc}")

    def post(payload: Mapping[str, Any]) -> Outcome:
        if credentials is None:
            return NO_CREDENTIALS
        within = time_left() if time_left is not None else None
        if time_left is not None and within is None:
            return NOT_REACHED  # it could not end within the invocation
        return client.send(payload, credentials, within)

    pending = Pending(0, event, call, message_id, event_key(event), time_ms)
    held = client.held()  # breaker open, or Richpanel said wait: reschedule, claim nothing
    outcome = held if held is not None else send_once(dedupe, freshness, pending, post)
    if outcome.kind is Kind.DELIVERED:
        return result(Fate.DELIVERED, None, outcome)
    if outcome.kind is Kind.DUPLICATE:
        return result(Fate.DUPLICATE, outcome.reason, outcome)
    if outcome.kind is Kind.SUPERSEDED:
        return result(Fate.SUPERSEDED, outcome.reason, outcome)
    if outcome.kind is Kind.PERMANENT:
        return dead_letter(outcome.reason, outcome)
    # The receive-count backstop does not count receives that held the event back (breaker
    # open, 429 pause) or lost a claim or lease race: not the event failing, and bounded by
    # the age window anyway.
    waited = outcome.held or outcome.kind is Kind.IN_FLIGHT
    if settings.max_receive_count and receive_count >= settings.max_receive_count and not waited:
        return dead_letter(f"gave up after {attempt} attempts: {outcome.reason}", outcome)
    window_left = None  # seconds until the retry window ends; None: no window
    if settings.retry_window:
        age = queued_for(body, sent_ms, now_ms)
        window_left = None if age is None else settings.retry_window - age
    if outcome is NOT_REACHED:  # not a Richpanel failure (not an attempt): back at once
        delay = 0
    elif window_left is not None and window_left <= 0:
        window = duration(settings.retry_window)
        reason = f"gave up after {window} ({attempt} attempts): {outcome.reason}"
        return dead_letter(reason, outcome)
    else:
        delay = retry_delay(
            receive_count,
            base=settings.backoff_base,
            cap=settings.backoff_cap,
            retry_after=outcome.retry_after,
            rng=rng,
            window_left=window_left,
        )
    queues.postpone(receipt_handle, delay)
    raise RetryLater(outcome.reason, delay, attempt, outcome)


class Postpones:
    """The retry queue, with postpones collected and sent ten to a call when the batch ends
    (a message whose postpone is lost reappears after the queue's visibility timeout)."""

    def __init__(self, queues: Queues) -> None:
        self._queues = queues
        self._pending: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        with self._lock:
            self._pending.append((receipt_handle, seconds))

    def to_dead_letter(self, *args: Any, **kwargs: Any) -> None:
        self._queues.to_dead_letter(*args, **kwargs)

    def flush(self) -> int:
        """Send the postpones; how many SQS did not take."""
        with self._lock:
            pending, self._pending = self._pending, []
        return self._queues.postpone_many(pending) if pending else 0


def retry_line(done: RetryResult, keys: Mapping[str, Any]) -> dict[str, Any]:
    """A retry's "event outcome" fields: compact (outcome_line) when delivered; any other
    fate keeps the record's SQS keys (sqsMessageId, receiveCount) and its ``reason``."""
    outcome = done.outcome
    line = outcome_line(
        done.fate,
        message_id=done.message_id or keys.get("messageId"),
        user_id=done.user_id,
        call_type=done.type,
        keys=done.trace,
        attempt=done.attempt,
        status=done.status,
        latency_ms=outcome.latency_ms if outcome else None,
        record_failed=outcome.record_failed if outcome else None,
    )
    if done.fate is Fate.DELIVERED:
        return line
    extra = {k: v for k, v in keys.items() if k != "messageId" and v is not None}
    return line | extra | ({"reason": done.reason} if done.reason else {})


class RetryBatch:
    """One invocation of the retry function: its end, its credentials and its tallies."""

    def __init__(self, remaining_ms: int) -> None:
        self.ends_at = time.monotonic() + remaining_ms / 1000
        self.tally: Counter[str] = Counter()  # fates, for metrics
        self.calls: list[tuple[str, float]] = []  # Richpanel calls: (status class, ms)
        self.postpones = Postpones(runtime.queues())
        self._lock = threading.Lock()
        try:
            self.credentials: RichpanelCredentials | None = runtime.richpanel_credentials()
        except SecretError as exc:
            logger.error("Richpanel credentials unavailable", extra={"reason": str(exc)})
            self.credentials = None

    def time_left(self) -> float | None:
        """Seconds a send may take now, or None if one cannot end within the invocation."""
        left = self.ends_at - AFTER_SEND_SECONDS - time.monotonic()
        return left if left >= MIN_SEND_SECONDS else None

    def retry(
        self,
        body: str,
        receipt_handle: str,
        receive_count: int,
        keys: dict[str, Any],
        sent_ms: int | None = None,
    ) -> None:
        """One queued message; raises RetryLater (a batch item failure) to keep it queued.

        ``sent_ms``: the record's SentTimestamp, where its retry window starts.
        """
        try:
            done = retry_once(
                body,
                receipt_handle,
                receive_count,
                client=runtime.richpanel(),
                queues=self.postpones,
                settings=runtime.settings(),
                credentials=self.credentials,
                dedupe=runtime.dedupe(),
                freshness=runtime.freshness(),
                time_left=self.time_left,
                sent_ms=sent_ms,
            )
        except RetryLater as exc:
            self._count(exc.outcome, Fate.QUEUED)
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
        self._count(done.outcome, done.fate)
        logger.info("event outcome", extra=retry_line(done, keys))

    def _count(self, outcome: Outcome | None, fate: Fate) -> None:
        with self._lock:
            self.tally[fate.value] += 1
            if outcome is not None and outcome.record_failed:
                self.tally["record_failed"] += 1
            if outcome is not None and outcome.latency_ms is not None:
                self.calls.append((outcome.status_class, outcome.latency_ms))

    def publish(self) -> None:
        """Send the batch's postpones (ten to a call), then its metrics."""
        lost = self.postpones.flush()
        if lost:
            logger.warning("postpones not taken", extra={"count": lost})
        record_retries(self.tally, self.calls)
