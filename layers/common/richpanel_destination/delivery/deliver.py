"""The ingest path: validate, route, map, send; park what cannot be delivered now."""

from __future__ import annotations

from typing import Any

from ..inbound.validate import validate_event
from ..mapping.routing import skip_reason
from ..mapping.transform import MappingError, to_richpanel
from ..richpanel.client import RichpanelClient
from ..richpanel.outcomes import Kind
from .park import ParkError, Parking, envelope
from .results import EventResult, Fate


def _ident(event: Any) -> tuple[str | None, str | None]:
    if not isinstance(event, dict):
        return None, None
    message_id, call_type = event.get("messageId"), event.get("type")
    return (
        message_id if isinstance(message_id, str) else None,
        call_type if isinstance(call_type, str) else None,
    )


def deliver_one(
    index: int,
    event: Any,
    client: RichpanelClient,
    parking: Parking,
    *,
    screens_as_page_views: bool = False,
) -> EventResult:
    """Take one event to a final fate: delivered, queued, dead-lettered, rejected or skipped."""
    message_id, call_type = _ident(event)

    def result(fate: Fate, reason: str | None = None, **extra: Any) -> EventResult:
        return EventResult(index, message_id, call_type, fate, reason, **extra)

    problems = validate_event(event)
    if problems:
        errors = [p.as_dict() for p in problems]
        return result(Fate.REJECTED, "invalid Segment call", errors=errors)
    skip = skip_reason(event, screens_as_page_views=screens_as_page_views)
    if skip:
        return result(Fate.SKIPPED, skip)
    try:
        call = to_richpanel(event)
    except MappingError as exc:
        errors = [{"path": exc.path, "message": str(exc)}]
        return result(Fate.REJECTED, "not accepted by Richpanel", errors=errors)

    outcome = client.send(call)
    if outcome.kind is Kind.DELIVERED:
        return result(Fate.DELIVERED, status=outcome.status)
    try:
        if outcome.kind is Kind.RETRYABLE:
            parking.to_retry(event, outcome, attempt=1)
            return result(Fate.QUEUED, outcome.reason, status=outcome.status)
        parking.to_dead_letter(
            envelope(event, 1, outcome.reason), outcome.reason, message_id=message_id, attempt=1
        )
        return result(Fate.DEAD_LETTERED, outcome.reason, status=outcome.status)
    except ParkError as exc:
        return result(Fate.FAILED, f"{outcome.reason}; {exc}", status=outcome.status)


def deliver_events(
    events: list[Any],
    client: RichpanelClient,
    parking: Parking,
    *,
    screens_as_page_views: bool = False,
) -> list[EventResult]:
    """Deliver every event of a request, in order."""
    return [
        deliver_one(i, event, client, parking, screens_as_page_views=screens_as_page_views)
        for i, event in enumerate(events)
    ]
