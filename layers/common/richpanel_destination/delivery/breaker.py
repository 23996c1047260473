"""A circuit breaker around Richpanel, shared by every container through one DynamoDB item.

- **closed**: calls go out. Each container counts its consecutive failures (timeouts,
  connection errors, 408 and 5xx: a 429 is throttling, handled by pacing.py); at
  ``failures`` in a row it **opens** the breaker for everyone by writing the shared item
  (``openUntil``), so a new container does not learn the outage again at threshold x
  timeout, and Richpanel does not see containers x connections.
- **open**: no call goes out until ``openUntil``: ingest queues at once, the retry function
  reschedules (the refusal carries ``retry_after``). Containers read the item at most once
  per ``cache_seconds`` (an eventually consistent GetItem, half a read unit).
- **half-open**: after ``openUntil``, one container wins a conditional probe lease and
  sends one call; the others keep queueing. A success closes the breaker (the item is
  deleted); a failure opens it again for ``cooldown`` more seconds.

Each change of state is logged and counted (``RichpanelBreaker`` metrics with a ``Change``
dimension). The item lives in the idempotency table under its own key (Powertools only
reads its own keys), with a TTL so a forgotten item cannot hold the breaker open.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..richpanel.outcomes import Kind, Outcome

ITEM_KEY = "richpanel-destination#breaker"
FAILURE_STATUSES = frozenset({408}) | frozenset(range(500, 600))
Notify = Callable[[str, dict[str, Any]], None]  # (change, details): logged and counted


@dataclass(frozen=True)
class State:
    """The shared item as last read: when the breaker may be probed, and who probes it."""

    open_until: float | None = None  # epoch seconds; None: closed
    probe_until: float | None = None


CLOSED = State()


def counts_as_failure(outcome: Outcome) -> bool:
    """Richpanel was called and failed in a way that says it is down (not throttling us)."""
    if outcome.latency_ms is None or outcome.kind is not Kind.RETRYABLE:
        return False
    return outcome.status is None or outcome.status in FAILURE_STATUSES


class Breaker:
    """The breaker's state in this container, kept in step with the shared item."""

    def __init__(
        self,
        table_name: str,
        *,
        failures: int = 5,
        cooldown: float = 30.0,
        cache_seconds: float = 2.0,
        dynamodb: Any | None = None,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if dynamodb is None:
            from .dedupe import store_client  # one bounded DynamoDB client configuration

            dynamodb = store_client()
        self.table = table_name
        self.failures = failures
        self.cooldown = cooldown
        self.cache_seconds = cache_seconds
        self._dynamodb = dynamodb
        self._notify = notify or (lambda change, details: None)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._read_at = float("-inf")
        self._consecutive = 0
        self._probe: str | None = None  # our probe lease's token, while we probe
        self._probe_until = 0.0  # when our probe lease lapses (a probe never answered)

    def held(self) -> Outcome | None:
        """The refusal while the breaker is open and not yet due a probe, else None.

        What ingest and retry check before claiming an event (a probe is taken at the send).
        """
        now = self._clock()
        state = self._current(now)
        if state.open_until is not None and now < state.open_until:
            return self._open_outcome(state.open_until - now)
        return None

    def refusal(self) -> Outcome | None:
        """Why no call may go out now (open, or half-open and probed elsewhere), else None.

        Cheap: the shared item is read at most once per ``cache_seconds``.
        """
        now = self._clock()
        state = self._current(now)
        if state.open_until is None:
            return None
        if now < state.open_until:
            return self._open_outcome(state.open_until - now)
        with self._lock:
            if self._probe is not None and now < self._probe_until:
                return self._open_outcome(1.0)  # our own probe is out: one at a time
            self._probe = None
        if self._take_probe(now):
            return None
        return self._open_outcome(self.cooldown)

    def record(self, outcome: Outcome) -> None:
        """Count an answer from Richpanel: open, reopen or close the breaker as it says."""
        if outcome.latency_ms is None:  # Richpanel was not called: a probe we took lapses
            with self._lock:
                self._probe = None
            return
        failed = counts_as_failure(outcome)
        with self._lock:
            probing, self._probe = self._probe, None
            self._consecutive = self._consecutive + 1 if failed else 0
            opening = failed and (probing is not None or self._consecutive >= self.failures)
        if probing is not None and not failed:
            self._close(probing, outcome)
        elif opening:
            self._open(outcome, reopened=probing is not None)

    # ------------------------------------------------------------------ the shared item

    def _open_outcome(self, seconds_left: float) -> Outcome:
        wait = max(1.0, seconds_left)
        return Outcome(
            Kind.RETRYABLE,
            f"not sent: Richpanel circuit open (failing), next probe in {wait:.0f}s",
            retry_after=wait,
            held=True,
        )

    def _current(self, now: float) -> State:
        if now - self._read_at < self.cache_seconds:
            return self._state
        try:
            item = self._dynamodb.get_item(
                TableName=self.table, Key={"id": {"S": ITEM_KEY}}, ConsistentRead=False
            ).get("Item")
        except Exception:
            return self._state  # the store is down: keep what we knew (the calls will tell)
        state = CLOSED
        if item and "openUntil" in item:
            probe = float(item["probeUntil"]["N"]) if "probeUntil" in item else None
            state = State(float(item["openUntil"]["N"]), probe)
        self._state, self._read_at = state, now
        return state

    def _take_probe(self, now: float) -> bool:
        token = uuid.uuid4().hex
        try:
            self._dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": ITEM_KEY}},
                UpdateExpression="SET probe = :token, probeUntil = :until",
                ConditionExpression=(
                    "openUntil <= :now AND (attribute_not_exists(probeUntil) OR probeUntil < :now)"
                ),
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":until": {"N": str(now + self.cooldown)},
                    ":now": {"N": str(now)},
                },
            )
        except Exception:
            self._read_at = float("-inf")  # someone else probes (or closed it): read again
            return False
        with self._lock:
            self._probe, self._probe_until = token, now + self.cooldown
        self._notify("probe", {})
        return True

    def _open(self, outcome: Outcome, *, reopened: bool) -> None:
        now = self._clock()
        until = now + self.cooldown
        # if this fails, this container still holds it open; others learn on their own
        with contextlib.suppress(Exception):
            self._dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": ITEM_KEY},
                    "openUntil": {"N": str(until)},
                    "openedAt": {"N": str(now)},
                    "reason": {"S": outcome.reason[:200]},
                    "expiration": {"N": str(int(until + 3600))},
                },
            )
        self._state, self._read_at = State(until), now
        with self._lock:
            self._consecutive = 0
        change = "reopened" if reopened else "opened"
        self._notify(change, {"reason": outcome.reason, "cooldownSeconds": self.cooldown})

    def _close(self, token: str, outcome: Outcome) -> None:
        with contextlib.suppress(Exception):  # reopened meanwhile by another: theirs stands
            self._dynamodb.delete_item(
                TableName=self.table,
                Key={"id": {"S": ITEM_KEY}},
                ConditionExpression="probe = :token",
                ExpressionAttributeValues={":token": {"S": token}},
            )
        self._state, self._read_at = CLOSED, self._clock()
        self._notify("closed", {"status": outcome.status})
