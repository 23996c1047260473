"""What happened to each event, and what the HTTP answer to the sender should be."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Fate(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # already delivered: not sent again
    DEAD_LETTERED = "dead_lettered"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    FAILED = "failed"  # neither delivered nor parked: the sender must retry


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


def summary(results: list[EventResult]) -> dict[str, int]:
    counts = {"received": len(results)} | {fate.value: 0 for fate in Fate}
    for result in results:
        counts[result.fate.value] += 1
    return counts


def http_status(results: list[EventResult], *, single: bool) -> int:
    """503 if anything was neither delivered nor parked; 400 for a lone invalid call; else 200."""
    if any(r.fate is Fate.FAILED for r in results):
        return 503
    if single and results and results[0].fate is Fate.REJECTED:
        return 400
    return 200


RETRY_AFTER_SECONDS = 30


def response(
    results: list[EventResult], *, single: bool, kind: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers answering the sender."""
    status = http_status(results, single=single)
    body: dict[str, Any] = {"summary": summary(results), "results": [r.as_dict() for r in results]}
    headers: dict[str, str] = {}
    if status == 400:
        first = results[0]
        details = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in first.errors)
        body["message"] = f"Invalid {kind} call: {details or first.reason}"
    elif status == 503:
        failed = [r.index for r in results if r.fate is Fate.FAILED]
        body["message"] = f"Events {failed} were neither delivered nor queued; retry the request"
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return status, body, headers
