"""Lenient ISO-8601 timestamps, as Segment senders write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse(value: Any) -> datetime | None:
    """A timezone-aware datetime (UTC when no zone is given), or None if unreadable."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T", 1).replace(",", ".")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
        text = f"{text[:-2]}:{text[-2:]}"  # +0100 -> +01:00 (3.11's fromisoformat needs it)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_ms(value: Any) -> int | None:
    """ISO-8601 (lenient) to epoch milliseconds; None if unreadable."""
    parsed = parse(value)
    return None if parsed is None else int(parsed.timestamp() * 1000)


def event_time(event: Any, received_ms: int) -> int:
    """When the event happened, as epoch ms, never later than when we received it.

    Segment's ``timestamp`` (already corrected for the device's clock), else Segment's own
    correction applied here for a sender that sends to us directly (``originalTimestamp``
    shifted by how far its ``sentAt`` is from our clock), else ``originalTimestamp``,
    ``sentAt`` or ``receivedAt``. Clamped to ``received_ms``: a clock in the future must
    not make one event win over every later one.
    """
    if not isinstance(event, dict):
        return received_ms
    stamp = epoch_ms(event.get("timestamp"))
    if stamp is None:
        original, sent = epoch_ms(event.get("originalTimestamp")), epoch_ms(event.get("sentAt"))
        if original is not None and sent is not None:
            stamp = received_ms - (sent - original)
        else:
            stamp = original if original is not None else sent
    if stamp is None:
        stamp = epoch_ms(event.get("receivedAt"))
    return received_ms if stamp is None else min(stamp, received_ms)
