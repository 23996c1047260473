"""Conservation: every accepted event ends in one final fate, or is still in the retry queue.

The definition (docs/operations.md, "Find one event"), per Segment ``messageId``:

- **accepted**: ingest logged an "event outcome" line for it (``attempt`` 1) whose outcome is
  not ``failed`` (a failed event was answered 503: the sender still holds it);
- **final**: its latest "event outcome" line (ingest or retry) says delivered, duplicate,
  superseded, skipped, rejected or dead_lettered;
- **in flight**: its latest line is ``queued`` (ingest) or "retry later" (retry), and that
  line is younger than the retry window plus a margin: the retry queue still holds it;
- **unaccounted**: its latest line is queued or "retry later" and older than that. A
  message on the retry queue is delivered or dead-lettered within the retry window of its
  last (re)queueing, and every outcome is logged, so it was lost (deleted by hand, purged,
  moved by SQS after a crash loop without a line).

The audit looks at the events accepted in a closed window once that window is older than
the retry window plus the margin. Events without a messageId cannot be followed across
lines and are left out. The same summary comes from log lines (the local stack's file,
``summarise``) and from Logs Insights (``audit_query``: the aggregation runs in CloudWatch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINAL = frozenset({"delivered", "duplicate", "superseded", "skipped", "rejected", "dead_lettered"})
IN_FLIGHT = "queued"  # an ingest "queued" line and every retry "retry later" line
NOT_ACCEPTED = "failed"
OUTCOME = "event outcome"
RETRY_LATER = "retry later"
MESSAGES = (OUTCOME, RETRY_LATER)
DEFAULT_MARGIN_SECONDS = 3600  # the backoff cap (1 h) plus a visibility timeout, rounded up
INSIGHTS_LIMIT = 10_000  # Logs Insights returns at most this many rows
SUPERSEDED_BY = re.compile(r"\(messageId ([^)]+)\)")


@dataclass(frozen=True)
class Entry:
    """One log line: when (epoch ms), which function wrote it, and its JSON fields."""

    at_ms: int
    source: str
    fields: Mapping[str, Any]

    @property
    def message(self) -> str:
        return str(self.fields.get("message", ""))

    @property
    def state(self) -> str | None:
        """What the line says of the event: its outcome, "queued" for a retry later, or None."""
        if self.message == RETRY_LATER:
            return IN_FLIGHT
        if self.message == OUTCOME:
            outcome = self.fields.get("outcome")
            return outcome if isinstance(outcome, str) else None
        return None


@dataclass
class Account:
    """What the lines say of one messageId."""

    message_id: str
    first_ms: int
    last_ms: int
    last_state: str | None
    accepted_ms: int | None  # its first accepted ingest line, if any
    lines: int = 0

    def final(self) -> bool:
        return self.last_state in FINAL

    def unaccounted(self, now_ms: int, retry_window: float, margin: float) -> bool:
        """Accepted, not final, and silent for longer than a queued message can be."""
        if self.accepted_ms is None or self.final() or self.last_state == NOT_ACCEPTED:
            return False
        return now_ms - self.last_ms > (retry_window + margin) * 1000


@dataclass
class AuditResult:
    """The events accepted in [start, end) and those without a final fate."""

    start_ms: int
    end_ms: int
    accepted: int
    unaccounted: list[Account] = field(default_factory=list)
    in_flight: list[Account] = field(default_factory=list)


# --------------------------------------------------------------------------- log lines


def timestamp_ms(value: Any) -> int:
    """A line's time: Logs Insights' ``@timestamp`` ("2026-12-02 03:04:05.678", UTC) or ms."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return int(float(text))
    text = text.replace("T", " ").rstrip("Z")
    parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S")
    return int(parsed.replace(tzinfo=UTC).timestamp() * 1000)


def format_timestamp(at_ms: int) -> str:
    """Epoch ms as Logs Insights writes ``@timestamp``."""
    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{at_ms % 1000:03d}"


def source_of(log: Any) -> str:
    """The function a line came from: the last part of its ``@log`` (group or logical id)."""
    return str(log or "?").rsplit("/", 1)[-1]


def entry(record: Mapping[str, Any]) -> Entry | None:
    """A line from a local log record or a parsed Insights row (``@message`` is its JSON)."""
    fields: dict[str, Any] = {k: v for k, v in record.items() if not k.startswith("@")}
    raw = record.get("@message")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = {"message": raw}
        if isinstance(parsed, dict):
            fields = parsed | fields
    if "@timestamp" not in record:
        return None
    return Entry(timestamp_ms(record["@timestamp"]), source_of(record.get("@log")), fields)


def read_jsonl(lines: Iterable[str]) -> list[Entry]:
    """The local stack's log file (local/logfile.py): one JSON object a line."""
    found: list[Entry] = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            made = entry(record)
            if made is not None:
                found.append(made)
    return sorted(found, key=lambda e: e.at_ms)


def insights_rows(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GetQueryResults' ``results`` as dicts (field -> value), ``@ptr`` left out."""
    rows = []
    for row in response.get("results") or []:
        rows.append({c["field"]: c.get("value") for c in row if c.get("field") != "@ptr"})
    return rows


# --------------------------------------------------------------------------- accounting


def summarise(entries: Iterable[Entry]) -> dict[str, Account]:
    """messageId -> its Account, from lines in time order."""
    accounts: dict[str, Account] = {}
    for line in sorted(entries, key=lambda e: e.at_ms):
        state = line.state
        message_id = line.fields.get("messageId")
        if state is None or not isinstance(message_id, str):
            continue
        account = accounts.get(message_id)
        if account is None:
            account = accounts[message_id] = Account(message_id, line.at_ms, line.at_ms, None, None)
        account.last_ms, account.last_state = line.at_ms, state
        account.lines += 1
        ingest = line.message == OUTCOME and line.fields.get("attempt") == 1
        if ingest and state != NOT_ACCEPTED and account.accepted_ms is None:
            account.accepted_ms = line.at_ms
    return accounts


def audit(
    accounts: Mapping[str, Account],
    start_ms: int,
    end_ms: int,
    now_ms: int,
    retry_window: float,
    margin: float = DEFAULT_MARGIN_SECONDS,
) -> AuditResult:
    """The events accepted in [start_ms, end_ms): how many, which are unaccounted, in flight."""
    result = AuditResult(start_ms, end_ms, 0)
    for account in accounts.values():
        if account.accepted_ms is None or not start_ms <= account.accepted_ms < end_ms:
            continue
        result.accepted += 1
        if account.unaccounted(now_ms, retry_window, margin):
            result.unaccounted.append(account)
        elif not account.final() and account.last_state != NOT_ACCEPTED:
            result.in_flight.append(account)
    return result


def from_stats(rows: Iterable[Mapping[str, Any]]) -> dict[str, Account]:
    """Accounts from ``audit_query``'s rows (one per messageId, aggregated by CloudWatch)."""
    accounts = {}
    for row in rows:
        message_id = row.get("messageId")
        if not message_id:
            continue
        first = timestamp_ms(row.get("firstAt") or row["lastAt"])
        ingest = str(row.get("firstAttempt", "")).split(".")[0] == "1"
        accounts[message_id] = Account(
            message_id,
            first,
            timestamp_ms(row["lastAt"]),
            row.get("lastState"),
            first if ingest else None,
            int(float(row.get("lines") or 0)),
        )
    return accounts


# --------------------------------------------------------------------------- Logs Insights


def quote(value: str) -> str:
    """A Logs Insights string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def any_of(name: str, values: Sequence[str]) -> str:
    if len(values) == 1:
        return f"{name} = {quote(values[0])}"
    return f"{name} in [{', '.join(quote(v) for v in values)}]"


def trace_query(keys: Mapping[str, Sequence[str]], limit: int = INSIGHTS_LIMIT) -> str:
    """Every line whose field equals one of the values (messageId, userId, email, orderId)."""
    terms = [any_of(name, values) for name, values in keys.items() if values]
    if not terms:
        raise ValueError("nothing to look for")
    return (
        "fields @timestamp, @log, @message"
        f" | filter {' or '.join(terms)}"
        f" | sort @timestamp asc | limit {limit}"
    )


def audit_query(end_ms: int, limit: int = INSIGHTS_LIMIT) -> str:
    """Per messageId: its latest state and time, its first line and lowest attempt; only the
    events whose first line in the query's range (which starts at the window's start) is an
    ingest line (attempt 1) before ``end_ms`` and whose latest state is not final come back,
    so the answer stays small. ``from_stats`` reads the rows."""
    final = ", ".join(quote(f) for f in (*sorted(FINAL), NOT_ACCEPTED))
    return (
        "fields @timestamp, messageId, attempt"
        f" | filter ispresent(messageId) and message in [{quote(OUTCOME)}, {quote(RETRY_LATER)}]"
        f" | fields coalesce(outcome, {quote(IN_FLIGHT)}) as state"
        " | stats latest(state) as lastState, max(@timestamp) as lastAt,"
        " min(@timestamp) as firstAt, min(attempt) as firstAttempt, count(*) as lines"
        " by messageId"
        f" | filter firstAttempt = 1 and firstAt < {end_ms} and lastState not in [{final}]"
        f" | limit {limit}"
    )


def superseded_by(reason: Any) -> str | None:
    """The messageId a superseded event's reason names (delivery/freshness.py writes it)."""
    match = SUPERSEDED_BY.search(reason) if isinstance(reason, str) else None
    return match.group(1) if match else None
