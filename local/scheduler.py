"""Stand-in for EventBridge schedules: invoke a function with a Scheduled Event on an interval.

A function's ``Schedule`` events (``rate(N minute[s]|hour[s]|day[s])``) each get a thread that
invokes it every rate, first one rate after start; ``LOCAL_SCHEDULE_SECONDS`` replaces every
rate (e.g. 2 to watch the canary locally). cron() expressions are not emulated.
"""

from __future__ import annotations

import re
import sys
import threading
import traceback
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from local.lambda_runtime import Function
from local.template import ResolveContext, Template, TemplateError

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float:
    """Seconds between runs of a ``rate(...)`` schedule expression."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise TemplateError(f"schedule {expression!r}: only rate(N unit) is emulated locally")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def schedule_events(template: Template, function_id: str) -> dict[str, Any]:
    """Event id -> Schedule expression (unresolved) of the function's enabled Schedule events."""
    events = template.properties(function_id).get("Events") or {}
    schedules: dict[str, Any] = {}
    for event_id, event in events.items():
        if event.get("Type") != "Schedule":
            continue
        props = event.get("Properties") or {}
        if "Schedule" not in props:
            raise TemplateError(f"{function_id}.{event_id}: Schedule event without Schedule")
        if props.get("Enabled", True) is not False and props.get("State", "ENABLED") == "ENABLED":
            schedules[event_id] = props["Schedule"]
    return schedules


def scheduled_event(rule_arn: str, region: str, account_id: str) -> dict[str, Any]:
    """The event EventBridge sends a scheduled target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class Scheduler:
    """Invoke one function every interval seconds until stopped."""

    def __init__(
        self, function: Function, event_id: str, interval: float, context: ResolveContext
    ) -> None:
        """Configure; nothing runs before start()."""
        if interval <= 0:
            raise TemplateError(f"{function.spec.logical_id}.{event_id}: interval must be > 0")
        self.function = function
        self.event_id = event_id
        self.interval = interval
        self.rule_arn = (
            f"arn:{context.partition}:events:{context.region}:{context.account_id}:rule/"
            f"{context.stack_name}-{function.spec.logical_id}{event_id}"
        )
        self.region = context.region
        self.account_id = context.account_id
        self.invocations = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        """Start the timer thread."""
        self._thread = threading.Thread(
            target=self._loop, name=f"schedule-{self.function.spec.logical_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the invocation in progress, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.function.spec.timeout + 5)

    def fire(self) -> Any:
        """One invocation now, as the schedule would make it."""
        self.invocations += 1
        return self.function.invoke(scheduled_event(self.rule_arn, self.region, self.account_id))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fire()
            except Exception:  # a failed run is the function's error, not the scheduler's
                print(f"scheduler: {self.function.spec.logical_id} failed:", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)


def schedulers(
    template: Template,
    functions: Mapping[str, Function],
    context: ResolveContext,
    environ: Mapping[str, str],
) -> list[Scheduler]:
    """A Scheduler per Schedule event of the loaded functions (not started)."""
    override = environ.get("LOCAL_SCHEDULE_SECONDS")
    found: list[Scheduler] = []
    for function_id, function in functions.items():
        for event_id, expression in schedule_events(template, function_id).items():
            interval = rate_seconds(context.resolve_str(expression))
            if override:
                interval = float(override)
            found.append(Scheduler(function, event_id, interval, context))
    return found
