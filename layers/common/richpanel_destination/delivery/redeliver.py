"""The retry path: one parked message, one more attempt."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from ..mapping.transform import MappingError, to_richpanel
from ..richpanel.client import RichpanelClient
from ..richpanel.outcomes import Kind
from ..settings import Settings
from .backoff import retry_delay
from .park import Parking, envelope
from .results import Fate


class RetryLater(Exception):
    """Retryable failure: the message stays on the retry queue (a batch item failure)."""

    def __init__(self, reason: str, delay: int) -> None:
        super().__init__(f"{reason}; next attempt in {delay}s")
        self.reason = reason
        self.delay = delay


@dataclass(frozen=True)
class Redelivery:
    """What one retry attempt did."""

    fate: Fate
    message_id: str | None
    attempt: int
    reason: str | None = None
    status: int | None = None


def read_envelope(body: str) -> dict[str, Any]:
    """The parked Segment event, or ValueError for a poison message."""
    try:
        parked = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    event = parked.get("event") if isinstance(parked, dict) else None
    if not isinstance(event, dict):
        raise ValueError('body has no "event" object')
    return event


def redeliver(
    body: str,
    receipt_handle: str,
    receive_count: int,
    *,
    client: RichpanelClient,
    parking: Parking,
    settings: Settings,
    rng: random.Random | None = None,
) -> Redelivery:
    """Re-send a parked event; raise RetryLater (after postponing it) if it should be retried."""
    attempt = receive_count + 1  # the ingest attempt was the first
    try:
        event = read_envelope(body)
    except ValueError as exc:
        reason = f"poison message: {exc}"
        parking.to_dead_letter(body, reason, attempt=attempt)
        return Redelivery(Fate.DEAD_LETTERED, None, attempt, reason)
    message_id = event.get("messageId") if isinstance(event.get("messageId"), str) else None
    try:
        call = to_richpanel(event)
    except MappingError as exc:  # e.g. a redriven event the mapping no longer accepts
        parking.to_dead_letter(envelope(event, attempt, str(exc)), str(exc), message_id=message_id)
        return Redelivery(Fate.DEAD_LETTERED, message_id, attempt, str(exc))

    outcome = client.send(call)
    if outcome.kind is Kind.DELIVERED:
        return Redelivery(Fate.DELIVERED, message_id, attempt, status=outcome.status)
    if outcome.kind is Kind.PERMANENT:
        parking.to_dead_letter(
            envelope(event, attempt, outcome.reason),
            outcome.reason,
            message_id=message_id,
            attempt=attempt,
        )
        return Redelivery(Fate.DEAD_LETTERED, message_id, attempt, outcome.reason, outcome.status)
    delay = retry_delay(
        receive_count,
        base=settings.backoff_base,
        cap=settings.backoff_cap,
        retry_after=outcome.retry_after,
        rng=rng,
    )
    parking.postpone(receipt_handle, delay)
    raise RetryLater(outcome.reason, delay)
