"""The retry path: one parked message, one more attempt, within the invocation's time."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..inbound.validate import validate_event
from ..mapping.transform import MappingError, to_richpanel
from ..richpanel.client import RichpanelClient
from ..richpanel.outcomes import Kind, Outcome
from ..settings import Settings
from .backoff import retry_delay
from .dedupe import Deduplicator, event_key
from .deliver import send_once
from .park import Parking, envelope
from .results import Fate

TimeLeft = Callable[[], float | None]  # seconds a send may take now, None: too little to start
NOT_REACHED = Outcome(Kind.RETRYABLE, "not sent: too little time left in this invocation")


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
class Redelivery:
    """What one retry attempt did."""

    fate: Fate
    message_id: str | None
    attempt: int
    reason: str | None = None
    outcome: Outcome | None = None  # Richpanel's answer, when it was called
    user_id: str | None = None

    @property
    def status(self) -> int | None:
        return self.outcome.status if self.outcome else None


def read_envelope(body: str) -> dict[str, Any]:
    """The parked Segment event, checked as ingest checks it; ValueError for a poison message."""
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
    return event


def _string(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    return value if isinstance(value, str) else None


def redeliver(
    body: str,
    receipt_handle: str,
    receive_count: int,
    *,
    client: RichpanelClient,
    parking: Parking,
    settings: Settings,
    dedupe: Deduplicator | None = None,
    time_left: TimeLeft | None = None,
    rng: random.Random | None = None,
) -> Redelivery:
    """Re-send a parked event; raise RetryLater (after postponing it) if it should be retried.

    ``time_left`` bounds the send to the invocation's remaining time (None: no bound).
    """
    attempt = receive_count + 1  # the ingest attempt was the first
    try:
        event = read_envelope(body)
    except ValueError as exc:
        reason = f"poison message: {exc}"
        parking.to_dead_letter(body, reason, attempt=attempt)
        return Redelivery(Fate.DEAD_LETTERED, None, attempt, reason)
    message_id, user_id = _string(event, "messageId"), _string(event, "userId")

    def dead_letter(reason: str, outcome: Outcome | None = None) -> Redelivery:
        parking.to_dead_letter(
            envelope(event, attempt, reason), reason, message_id=message_id, attempt=attempt
        )
        return Redelivery(Fate.DEAD_LETTERED, message_id, attempt, reason, outcome, user_id)

    try:
        call = to_richpanel(event)
    except MappingError as exc:  # e.g. a redriven event the mapping no longer accepts
        return dead_letter(f"{exc.path}: {exc}")

    def post(payload: Mapping[str, Any]) -> Outcome:
        within = time_left() if time_left is not None else None
        if time_left is not None and within is None:
            return NOT_REACHED  # it could not end within the invocation
        return client.send(payload, within)

    outcome = send_once(client, dedupe, event_key(event), call, post)
    if outcome.kind is Kind.DELIVERED:
        return Redelivery(Fate.DELIVERED, message_id, attempt, None, outcome, user_id)
    if outcome.kind is Kind.DUPLICATE:
        return Redelivery(Fate.DUPLICATE, message_id, attempt, outcome.reason, outcome, user_id)
    if outcome.kind is Kind.PERMANENT:
        return dead_letter(outcome.reason, outcome)
    if settings.max_receive_count and receive_count >= settings.max_receive_count:
        return dead_letter(f"gave up after {attempt} attempts: {outcome.reason}", outcome)
    if outcome is NOT_REACHED:  # not a Richpanel failure: back at once
        delay = 0
    else:
        delay = retry_delay(
            receive_count,
            base=settings.backoff_base,
            cap=settings.backoff_cap,
            retry_after=outcome.retry_after,
            rng=rng,
        )
    parking.postpone(receipt_handle, delay)
    raise RetryLater(outcome.reason, delay, attempt, outcome)
