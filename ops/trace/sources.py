"""Where the log lines come from: the local stack's log file, or Logs Insights on AWS.

Locally, ``python -m local.run --log-file`` writes the functions' JSON lines, stamped, and names
the file in its ready file (``log_file``). On AWS, a stack's outputs name the functions' log
groups and Logs Insights searches them within a time range (``--since``). The retry queue and
the DLQ are never received from: whether an event is in one is read from its lines.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from richpanel_destination import accounting
from richpanel_destination.accounting import Entry
from richpanel_destination.observability.insights import run_query

DEFAULT_RETRY_WINDOW = 86_400  # the template's RetryWindowSeconds default
LOG_GROUP_OUTPUTS = ("IngestLogGroupName", "RetryLogGroupName")
_SINCE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$")
_UNIT = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class SourceError(Exception):
    """The lines cannot be read (no local stack, no such stack, a failed query)."""


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: an age (90s, 30m, 2h, 3d) or an ISO-8601 time; epoch seconds."""
    now = time.time() if now is None else now
    match = _SINCE.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"--since {text!r}: give an age (30m, 2h, 3d) or an ISO time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Source(Protocol):
    """Lines by field values, and every event line (for the audit)."""

    where: str
    retry_window: float

    def find(self, keys: Mapping[str, Sequence[str]]) -> list[Entry]: ...

    def accounts(self, start_ms: int, end_ms: int) -> dict[str, accounting.Account]: ...


def matches(line: Entry, keys: Mapping[str, Sequence[str]]) -> bool:
    return any(line.fields.get(name) in values for name, values in keys.items() if values)


@dataclass
class LocalSource:
    """The local stack's log file."""

    path: Path
    retry_window: float = DEFAULT_RETRY_WINDOW
    where: str = ""

    def __post_init__(self) -> None:
        self.where = self.where or f"the local stack's log {self.path}"

    def lines(self) -> list[Entry]:
        try:
            with self.path.open(encoding="utf-8") as handle:
                return accounting.read_jsonl(handle)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from exc

    def find(self, keys: Mapping[str, Sequence[str]]) -> list[Entry]:
        return [line for line in self.lines() if matches(line, keys)]

    def accounts(self, start_ms: int, end_ms: int) -> dict[str, accounting.Account]:
        return accounting.summarise(line for line in self.lines() if line.at_ms >= start_ms)


@dataclass
class InsightsSource:
    """Logs Insights over a deployed stack's log groups, from ``start_s`` until now."""

    client: Any
    log_groups: Sequence[str]
    start_s: float
    retry_window: float = DEFAULT_RETRY_WINDOW
    where: str = "Logs Insights"
    poll: float = 1.0
    queries: list[str] = field(default_factory=list)  # what was run, for --verbose and tests

    def _run(self, query: str, start_s: float) -> list[dict[str, Any]]:
        self.queries.append(query)
        try:
            return run_query(
                self.client, self.log_groups, query, int(start_s), int(time.time()) + 1,
                poll=self.poll,
            )  # fmt: skip
        except Exception as exc:  # botocore's errors, InsightsError
            raise SourceError(f"Logs Insights: {exc}") from exc

    def find(self, keys: Mapping[str, Sequence[str]]) -> list[Entry]:
        rows = self._run(accounting.trace_query(keys), self.start_s)
        found = [accounting.entry(row) for row in rows]
        return sorted((e for e in found if e is not None), key=lambda e: e.at_ms)

    def accounts(self, start_ms: int, end_ms: int) -> dict[str, accounting.Account]:
        rows = self._run(accounting.audit_query(end_ms), start_ms / 1000)
        return accounting.from_stats(rows)


def local_source(ready_file: Path, log_file: Path | None = None) -> LocalSource:
    """The log file named on the command line, else the one the ready file names."""
    if log_file is not None:
        return LocalSource(log_file)
    try:
        info = json.loads(ready_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(
            f"no local stack: {ready_file} does not exist (start one with `make run`, "
            "or give --log-file, or --stack NAME for a deployed stack)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceError(f"cannot read {ready_file}: {exc}") from exc
    path = info.get("log_file")
    if not path:
        raise SourceError(f"{ready_file} names no log_file: restart the stack with `make run`")
    return LocalSource(Path(path))


def stack_source(
    stack: str, start_s: float, cloudformation: Any, logs: Any, retry_window: float | None = None
) -> InsightsSource:
    """A deployed stack's log groups (its outputs) and retry window (its parameter)."""
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:  # botocore's ClientError: no such stack, no credentials
        raise SourceError(f"stack {stack}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    groups = [outputs[name] for name in LOG_GROUP_OUTPUTS if name in outputs]
    if not groups:
        raise SourceError(f"stack {stack} has no {' or '.join(LOG_GROUP_OUTPUTS)} output")
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in found.get("Parameters", [])}
    window = retry_window or float(parameters.get("RetryWindowSeconds") or DEFAULT_RETRY_WINDOW)
    return InsightsSource(logs, groups, start_s, window, where=f"stack {stack}'s log groups")
