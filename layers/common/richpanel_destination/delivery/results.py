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
        """The event's fate as one log line's fields (errors stay in the answer)."""
        line = {k: v for k, v in self.as_dict().items() if k != "errors"}
        line["userId"] = self.user_id
        if self.latency_ms is not None:
            line["latencyMs"] = self.latency_ms
        if self.record_failed:
            line["recordFailed"] = self.record_failed
        return line
