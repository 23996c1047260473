"""Classify what Richpanel answered (or failed to answer) as delivered, retryable or permanent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from time import time

RETRYABLE_STATUSES = frozenset({408, 429})


class Kind(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    DUPLICATE = "duplicate"  # already delivered once: acknowledged, not sent again
    IN_FLIGHT = "in_flight"  # another invocation is delivering this messageId right now


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt to deliver a call to Richpanel."""

    kind: Kind
    reason: str
    status: int | None = None
    retry_after: float | None = None
    latency_ms: float | None = None  # how long Richpanel took to answer (or to fail)

    @property
    def status_class(self) -> str:
        """2xx, 4xx, 5xx, or error when there was no HTTP answer."""
        return f"{self.status // 100}xx" if self.status else "error"

    @property
    def delivered(self) -> bool:
        return self.kind is Kind.DELIVERED


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # rare: an HTTP-date Retry-After

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time() if now is None else now))


def from_response(status: int, headers: Mapping[str, str], body: str = "") -> Outcome:
    """Outcome of an HTTP answer."""
    if 200 <= status < 300:
        return Outcome(Kind.DELIVERED, f"Richpanel answered {status}", status)
    detail = f"Richpanel answered {status}" + (f": {body[:200]}" if body else "")
    if status in RETRYABLE_STATUSES or status >= 500:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return Outcome(Kind.RETRYABLE, detail, status, retry_after)
    return Outcome(Kind.PERMANENT, detail, status)


def from_exception(exc: BaseException) -> Outcome:
    """Outcome of a transport failure (timeouts and connection errors are retryable)."""
    return Outcome(Kind.RETRYABLE, f"{type(exc).__name__}: {exc}"[:300])
