"""One event's lines in time order, and its fate in one sentence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from richpanel_destination import accounting
from richpanel_destination.accounting import Entry

SOURCES = {
    "IngestFunction": "ingest",
    "RetryFunction": "retry",
    "CanaryFunction": "canary",
    "AuditFunction": "audit",
}


def ago(seconds: float) -> str:
    """A duration as people say it: 0.4 s, 40 s, 2 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s" if seconds < 1 else f"{seconds:.0f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    days, rest = divmod(int(seconds), 86_400)
    return f"{days} d {rest // 3600} h" if rest >= 3600 else f"{days} d"


def source(line: Entry) -> str:
    return SOURCES.get(line.source, line.source)


def describe(line: Entry) -> str:
    """One line, compact: time, function, what it says, attempt, Richpanel status, latency."""
    f = line.fields
    what = line.state or line.message
    if line.message == accounting.RETRY_LATER:
        what = "retry later"
    parts = [accounting.format_timestamp(line.at_ms), f"{source(line):<7}", f"{what:<13}"]
    if "attempt" in f:
        parts.append(f"attempt {f['attempt']}")
    if "richpanelStatus" in f:
        parts.append(f"Richpanel {f['richpanelStatus']}")
    if isinstance(f.get("latencyMs"), int | float):
        parts.append(f"{f['latencyMs']:.0f} ms")
    if f.get("delaySeconds"):
        parts.append(f"next in {f['delaySeconds']} s")
    if "receiveCount" in f:
        parts.append(f"receive {f['receiveCount']}")
    if f.get("reason"):
        parts.append(f"- {f['reason']}")
    return "  ".join(str(p) for p in parts)


def fate(
    lines: Sequence[Entry], now_ms: int, retry_window: float, margin: float
) -> tuple[str, bool]:
    """The event's fate in one sentence, and whether it is final (or still in flight)."""
    states = [line for line in lines if line.state is not None]
    if not states:
        return "no outcome logged for it (only other lines mention it)", False
    first, last = lines[0], states[-1]
    state, f = last.state, last.fields
    reason = f.get("reason") or "no reason logged"
    if state == "delivered":
        took = ago((last.at_ms - first.at_ms) / 1000)
        return f"delivered on attempt {f.get('attempt', '?')}, {took} after it arrived", True
    if state == "dead_lettered":
        return f"in the DLQ: {reason}", True
    if state == "superseded":
        newer = accounting.superseded_by(reason)
        return (f"superseded by {newer}" if newer else f"superseded: {reason}"), True
    if state == "duplicate":
        return f"a duplicate, not sent again: {reason}", True
    if state in ("skipped", "rejected"):
        return f"{state}: {reason}", True
    if state == "failed":
        return f"not accepted (answered 503, the sender sends it again): {reason}", True
    silent = (now_ms - last.at_ms) / 1000
    if silent > retry_window + margin:
        return (
            f"UNACCOUNTED: queued, last seen {ago(silent)} ago, longer than the retry window: "
            "no longer in the retry queue, no final fate logged"
        ), False
    due = (last.at_ms + int(f.get("delaySeconds") or 0) * 1000 - now_ms) / 1000
    when = f"in about {ago(due)}" if due >= 1 else "due now"
    return f"still queued (in the retry queue), next attempt {when}: {reason}", False


def header(message_id: str, lines: Iterable[Entry]) -> str:
    keys: dict[str, Any] = {}
    for line in lines:
        for name in ("userId", "email", "orderId", "type"):
            if name in line.fields and name not in keys:
                keys[name] = line.fields[name]
    shown = ", ".join(f"{k} {v}" for k, v in keys.items())
    return f"messageId {message_id}" + (f" ({shown})" if shown else "")


def by_message(lines: Iterable[Entry]) -> dict[str, list[Entry]]:
    grouped: dict[str, list[Entry]] = {}
    for line in sorted(lines, key=lambda e: e.at_ms):
        grouped.setdefault(str(line.fields.get("messageId", "?")), []).append(line)
    return grouped
