"""Which DLQ messages to move, and the report of what a redrive did to each (by reason)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The numeric attribute delivery/queues.py gives a queued message (retry/dead_letter_message).
STATUS_ATTRIBUTE = "richpanelStatus"
# Messages parked before that attribute existed (a DLQ keeps them 14 days) name it only here.
STATUS = re.compile(r"Richpanel answered (\d{3})(?!\d)")
NO_REASON = "(no reason)"

# What happened to each message, by reason.
MOVED, WOULD_MOVE, FAILED, LEFT = "moved", "would move", "failed", "left"


def status_of(reason: str) -> int | None:
    """The Richpanel status a DLQ reason names ("Richpanel answered 400: ..."), if any."""
    match = STATUS.search(reason)
    return int(match.group(1)) if match else None


def status_attribute(message: Mapping[str, Any]) -> int | None:
    """The message's ``richpanelStatus`` attribute, if it has a numeric one."""
    attribute = (message.get("MessageAttributes") or {}).get(STATUS_ATTRIBUTE) or {}
    value = str(attribute.get("StringValue", "")).strip()
    return int(value) if value.isdigit() else None


def reason_of(message: Mapping[str, Any]) -> str:
    """A DLQ message's reason: its ``reason`` attribute, else the envelope's, else NO_REASON."""
    attribute = (message.get("MessageAttributes") or {}).get("reason") or {}
    if attribute.get("StringValue"):
        return str(attribute["StringValue"])
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        return NO_REASON
    if isinstance(body, dict) and isinstance(body.get("reason"), str) and body["reason"]:
        return str(body["reason"])
    return NO_REASON


@dataclass(frozen=True)
class Selector:
    """Which DLQ messages to move: reason matching a regex and/or naming a Richpanel status."""

    pattern: re.Pattern[str] | None = None
    status: int | None = None

    @property
    def everything(self) -> bool:
        return self.pattern is None and self.status is None

    def wants(self, reason: str, status: int | None = None) -> bool:
        """Whether to move a message; ``status`` is its attribute (None: read the reason)."""
        if self.pattern is not None and not self.pattern.search(reason):
            return False
        if self.status is None:
            return True
        return (status if status is not None else status_of(reason)) == self.status

    def __str__(self) -> str:
        parts = []
        if self.pattern is not None:
            parts.append(f"reason matching /{self.pattern.pattern}/")
        if self.status is not None:
            parts.append(f"Richpanel status {self.status}")
        return " and ".join(parts) or "every message"


@dataclass
class Report:
    """What a redrive did (or, dry, would do), message by message."""

    dry_run: bool = False
    by_reason: dict[str, Counter[str]] = field(default_factory=dict)
    arrived: int = 0  # reached the DLQ after the run started: left for the next run
    undeleted: int = 0  # on the retry queue, but their DLQ copy could not be deleted
    unreleased: int = 0  # could not be made visible at the end: they reappear after the hold
    interrupted: bool = False
    aborted: bool = False  # an SQS error ended the run early
    errors: list[str] = field(default_factory=list)

    def count(self, reason: str, fate: str, n: int = 1) -> None:
        self.by_reason.setdefault(reason, Counter())[fate] += n

    def total(self, fate: str) -> int:
        return sum(counts[fate] for counts in self.by_reason.values())

    @property
    def moved(self) -> int:
        return self.total(MOVED)

    @property
    def failed(self) -> int:
        return self.total(FAILED)

    @property
    def left(self) -> int:
        return self.total(LEFT)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.undeleted and not self.aborted

    def error(self, text: str) -> None:
        if len(self.errors) < 5 and text not in self.errors:
            self.errors.append(text)

    def table(self, width: int = 120) -> str:
        """One line per reason, most frequent first."""
        columns = [WOULD_MOVE, LEFT] if self.dry_run else [MOVED, FAILED, LEFT]
        lines = ["  ".join(f"{c:>10}" for c in columns) + "  reason"]
        rows = sorted(self.by_reason.items(), key=lambda item: (-item[1].total(), item[0]))
        for reason, counts in rows:
            text = " ".join(reason.split())
            text = text if len(text) <= width else text[: width - 3] + "..."
            lines.append("  ".join(f"{counts[c]:>10}" for c in columns) + f"  {text}")
        return "\n".join(lines)

    def summary(self) -> str:
        if self.dry_run:
            line = f"dry run: would move {self.total(WOULD_MOVE)}, leave {self.left}; moved none"
        else:
            line = f"moved {self.moved}, failed {self.failed}, left {self.left}"
        if self.arrived:
            line += f"; {self.arrived} arrived during the run (left for the next one)"
        return line
