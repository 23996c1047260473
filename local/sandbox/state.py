"""The sandbox's recorded state: ingest requests, accepted counts, customers and behaviour."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from local.sandbox.contract import IngestOutcome, SandboxConfig
from local.sandbox.customers import CustomerStore
from local.sandbox.faults import Behaviour, Injection, RateLimit


@dataclass
class SandboxState:
    """Thread-safe record of ingest requests and the current behaviour."""

    config: SandboxConfig
    calls: list[dict[str, Any]] = field(default_factory=list)
    behaviour: Behaviour | None = None
    _seq: int = 0
    _requests: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _accepted: Counter[str] = field(default_factory=Counter)
    _accepted_total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _window_opened: float = float("-inf")  # the rate limit's current window (monotonic s)
    _window_count: int = 0  # requests let through in it
    customers: CustomerStore = field(init=False)

    def __post_init__(self) -> None:
        """A customer store with the configured visibility delay."""
        self.customers = CustomerStore(self.config.visible_after_ms)

    def take_injection(self) -> Injection | None:
        """What the behaviour does to one ingest request (consumes one of its `times`).

        The rate-limit count and the failure draw happen under the lock, so a seeded
        behaviour gives the same sequence of outcomes in request-arrival order. A request
        refused by the rate limit makes no failure draw.
        """
        with self._lock:
            current = self.behaviour
            if current is None:
                return None
            if current.times is not None:
                current.times -= 1
                if current.times <= 0:
                    self.behaviour = None
            if current.rate_limit is not None and self._over_rate(current.rate_limit):
                limit = current.rate_limit
                body = {"error": f"sandbox rate limit: {limit.per_second} requests per second"}
                return Injection(current.delay_ms, 429, limit.retry_after, body, None, True)
            failure = None
            chaos = bool(current.fail_rate and current.failures)
            if chaos and self._rng.random() < (current.fail_rate or 0):
                failure = self._rng.choice(current.failures)
            return Injection(
                current.delay_ms, current.status, current.retry_after, current.body, failure
            )

    def _over_rate(self, limit: RateLimit) -> bool:
        """Whether one more request now is beyond the limit (counts it if not; lock held)."""
        now = time.monotonic()
        if now - self._window_opened >= 1.0:
            self._window_opened, self._window_count = now, 0
        if self._window_count >= limit.per_second:
            return True
        self._window_count += 1
        return False

    def set_behaviour(self, behaviour: Behaviour | None) -> None:
        """Replace (or with None reset) the behaviour; a seed restarts the failure draws, and
        the rate limit starts a new window."""
        with self._lock:
            self.behaviour = behaviour
            self._rng = random.Random(behaviour.seed if behaviour else None)
            self._window_opened, self._window_count = float("-inf"), 0

    def behaviour_json(self) -> dict[str, Any] | None:
        """The current behaviour as JSON (None when normal)."""
        with self._lock:
            return self.behaviour.to_json() if self.behaviour else None

    def record(
        self,
        path: str,
        received_at: str,
        headers: dict[str, str],
        outcome: IngestOutcome,
        status: int | None,
        error: str | None,
    ) -> None:
        """Record one ingest request: one entry per call it carried (batch events apart).

        status None means no HTTP answer (connection reset); a call is accepted only when
        answered 2xx and not dropped (unknown appClientId, bad signature). Accepted calls
        update the customer store.
        """
        answered = status is not None and 200 <= status < 300
        dropped = outcome.dropped if answered else None
        accepted = answered and dropped is None
        arrived = time.monotonic()
        with self._lock:
            self._requests += 1
            for index, call in enumerate(outcome.calls):
                self._seq += 1
                self.calls.append(
                    {
                        "seq": self._seq,
                        "request_seq": self._requests,
                        "batch_index": index if outcome.batch_events else None,
                        "path": path,
                        "received_at": received_at,
                        "status": status,
                        "accepted": accepted,
                        "dropped": dropped,
                        "signature_valid": outcome.signature_valid,
                        "call": call,
                        "error": error,
                        "headers": headers,
                    }
                )
                if accepted:
                    self.customers.add(call, arrived)
                    self._accepted_total += 1
                    event_id = call.get("eventId") if isinstance(call, dict) else None
                    if event_id is not None:
                        self._accepted[str(event_id)] += 1

    def list_calls(self, status: int | None = None) -> list[dict[str, Any]]:
        """Recorded entries, optionally only those answered with status."""
        with self._lock:
            return [c for c in self.calls if status is None or c["status"] == status]

    def accepted_json(self) -> dict[str, Any]:
        """Accepted calls per eventId and in total (calls without an eventId: total only)."""
        with self._lock:
            return {"accepted": dict(self._accepted), "total": self._accepted_total}

    def clear(self) -> None:
        """Forget recorded entries, the accepted counts and the customer store."""
        with self._lock:
            self.customers.clear()
            self.calls.clear()
            self._accepted.clear()
            self._accepted_total = 0
