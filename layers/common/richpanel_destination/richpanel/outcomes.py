"""Classify what Richpanel answered (or failed to answer) as delivered, retryable or permanent."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from time import time
from typing import Any

from ..limits import reason
from ..observability.redact import digest

RETRYABLE_STATUSES = frozenset({408, 429})
# Richpanel's error bodies echo what it was sent (names, emails, phone numbers), and a
# reason is logged and stored with a dead letter. So a reason keeps the status and, of a
# JSON object body, only these fields when their value is a number or a short plain text
# (a first word, then lowercase words, field names and numbers of up to 4 digits: a rule or
# a code like "uid is required", never a capitalised name, an email or a phone number).
# Anything else is only counted and hashed: enough to tell bodies apart, nothing to read.
ERROR_FIELDS = frozenset({"error", "code", "message"})
PLAIN_TEXT = re.compile(
    r"(?:[A-Z][a-z0-9_]*|[a-z_$][A-Za-z0-9_$]*)"
    r"(?:[ ,.:;/()-]+(?:[a-z_$][A-Za-z0-9_$]*|\d{1,4}))*[.!]?"
)
PLAIN_CHARS = 100


class Kind(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    DUPLICATE = "duplicate"  # already delivered once: acknowledged, not sent again
    IN_FLIGHT = "in_flight"  # another invocation is delivering this messageId (or customer)
    SUPERSEDED = "superseded"  # Richpanel already has newer data for everything it carries


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt to deliver a call to Richpanel."""

    kind: Kind
    reason: str
    status: int | None = None
    retry_after: float | None = None
    latency_ms: float | None = None  # how long Richpanel took to answer (or to fail)
    record_failed: str | None = None  # delivered, but the idempotency record was not saved
    held: bool = False  # not sent: the breaker is open or Richpanel asked to wait (gate.py)

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


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= PLAIN_CHARS and PLAIN_TEXT.fullmatch(value) is not None
    return type(value) is int


def shown_body(body: str) -> str:
    """What a reason says of an error body: its plain ERROR_FIELDS, else its length and hash."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    items = parsed.items() if isinstance(parsed, dict) else ()
    kept = {k: v for k, v in items if k in ERROR_FIELDS and _plain(v)}
    if kept and kept == parsed:
        return json.dumps(kept)
    hidden = f"body of {len(body)} characters not shown ({digest(body)})"
    return f"{json.dumps(kept)}, {hidden}" if kept else hidden


def from_response(status: int, headers: Mapping[str, str], body: str = "") -> Outcome:
    """Outcome of an HTTP answer."""
    if 200 <= status < 300:
        return Outcome(Kind.DELIVERED, f"Richpanel answered {status}", status)
    detail = f"Richpanel answered {status}" + (f": {shown_body(body)}" if body else "")
    if status in RETRYABLE_STATUSES or status >= 500:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return Outcome(Kind.RETRYABLE, detail, status, retry_after)
    return Outcome(Kind.PERMANENT, detail, status)


def from_exception(exc: BaseException) -> Outcome:
    """Outcome of a transport failure (timeouts and connection errors are retryable)."""
    return Outcome(Kind.RETRYABLE, reason(f"{type(exc).__name__}: {exc}"))
