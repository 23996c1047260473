"""What happened to each event: its Fate, from the Outcome of its last attempt.

An Outcome (richpanel/outcomes.py) is what one attempt got; a Fate is where the event ended.
``fate_of`` is the one function from the first to the second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..richpanel.outcomes import Kind, Outcome


class Fate(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # already delivered: not sent again
    SUPERSEDED = "superseded"  # newer data already delivered for all it carries: not sent
    DEAD_LETTERED = "dead_lettered"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    FAILED = "failed"  # neither delivered nor parked: the sender must retry


def fate_of(outcome: Outcome, *, queued: bool = True) -> Fate:
    """An attempt's outcome as the event's fate; ``queued``: whether SQS took what it parked."""
    if outcome.kind is Kind.DELIVERED:
        return Fate.DELIVERED
    if outcome.kind is Kind.DUPLICATE:
        return Fate.DUPLICATE
    if outcome.kind is Kind.SUPERSEDED:
        return Fate.SUPERSEDED
    if not queued:
        return Fate.FAILED
    # in flight: another invocation holds it and may die; the retry path settles it
    return Fate.DEAD_LETTERED if outcome.kind is Kind.PERMANENT else Fate.QUEUED


def ident(event: Any) -> tuple[str | None, str | None, str | None]:
    """An event's messageId, type and userId, when they are strings."""
    if not isinstance(event, dict):
        return None, None, None
    values = (event.get("messageId"), event.get("type"), event.get("userId"))
    return tuple(v if isinstance(v, str) else None for v in values)  # type: ignore[return-value]


EMAIL_FIELDS = (("traits", "email"), ("context", "traits", "email"), ("properties", "email"))


def trace_keys(event: Any) -> dict[str, str]:
    """What finds an event's log lines later besides its IDs: ``email`` (hashed in the line
    unless LOG_PERSONAL_DATA: observability/redact.py) and ``orderId`` (properties.order_id)."""
    keys: dict[str, str] = {}
    if not isinstance(event, dict):
        return keys
    for path in EMAIL_FIELDS:
        found: Any = event
        for name in path:
            found = found.get(name) if isinstance(found, dict) else None
        if isinstance(found, str) and found:
            keys["email"] = found
            break
    properties = event.get("properties")
    order_id = properties.get("order_id") if isinstance(properties, dict) else None
    if isinstance(order_id, str | int) and not isinstance(order_id, bool):
        keys["orderId"] = str(order_id)
    return keys


def outcome_line(
    fate: Fate,
    *,
    message_id: str | None,
    user_id: str | None,
    call_type: str | None,
    keys: dict[str, str],
    attempt: int,
    status: int | None,
    latency_ms: float | None,
    record_failed: str | None,
) -> dict[str, Any]:
    """The fields of an "event outcome" line, ingest's and retry's alike (None: left out).

    Delivered, the line has the keys that trace the event (messageId, userId, email,
    orderId, type), its outcome, attempt, richpanelStatus and latencyMs (when Richpanel was
    called); the caller adds ``reason`` (and ingest ``index``) for every other fate.
    """
    line: dict[str, Any] = {"messageId": message_id, "userId": user_id, **keys}
    line |= {"type": call_type, "outcome": fate.value, "attempt": attempt}
    line |= {"richpanelStatus": status, "latencyMs": latency_ms}
    if record_failed:
        line["recordFailed"] = record_failed
    return {k: v for k, v in line.items() if v is not None}


@dataclass
class EventResult:
    """The fate of one event of a request."""

    index: int
    message_id: str | None
    type: str | None
    fate: Fate
    reason: str | None = None
    status: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    user_id: str | None = None  # for logs and metrics only, not in the answer
    latency_ms: float | None = None
    status_class: str | None = None  # of Richpanel's answer, when Richpanel was called
    record_failed: str | None = None  # delivered, but its idempotency record was not saved
    trace: dict[str, str] = field(default_factory=dict)  # trace_keys: for logs only
    delay_seconds: int | None = None  # queued with a DelaySeconds (Retry-After): for logs only

    @classmethod
    def of(
        cls,
        index: int,
        event: Any,
        fate: Fate,
        reason: str | None = None,
        outcome: Outcome | None = None,
        **extra: Any,
    ) -> EventResult:
        """The result for an event, with what Richpanel answered when it was called."""
        message_id, call_type, user_id = ident(event)
        if outcome is not None:
            extra |= {"status": outcome.status, "latency_ms": outcome.latency_ms}
            if outcome.latency_ms is not None:  # Richpanel was really called
                extra["status_class"] = outcome.status_class
            if outcome.record_failed:
                extra["record_failed"] = outcome.record_failed
        extra["trace"] = trace_keys(event)
        return cls(index, message_id, call_type, fate, reason, user_id=user_id, **extra)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "messageId": self.message_id,
            "type": self.type,
            "outcome": self.fate.value,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.status is not None:
            out["richpanelStatus"] = self.status
        if self.errors:
            out["errors"] = self.errors
        return out

    def log_line(self) -> dict[str, Any]:
        """The event's fate as one compact log line's fields (``outcome_line``); any fate but
        delivered adds its ``index`` and ``reason`` (errors stay in the answer)."""
        line = outcome_line(
            self.fate,
            message_id=self.message_id,
            user_id=self.user_id,
            call_type=self.type,
            keys=self.trace,
            attempt=1,
            status=self.status,
            latency_ms=self.latency_ms,
            record_failed=self.record_failed,
        )
        if self.fate is not Fate.DELIVERED:
            line |= {"index": self.index, "reason": self.reason}
        if self.delay_seconds:  # queued, not visible before then: ops/trace's next attempt
            line["delaySeconds"] = self.delay_seconds
        return line
