"""How fast this container calls Richpanel: a pause on 429, and adaptive concurrency.

- **Pause**: a 429 with ``Retry-After`` pauses every send of the container for that long,
  not only the one event's. A send asked for during the pause is not made: its outcome
  says how long is left (``retry_after``), so ingest queues the event with that delay and
  the retry function reschedules it.
- **Concurrency** (AIMD, as TCP does): the number of calls in flight may grow by one per
  ``limit`` successes (slowly) and halves on a 429 or 5xx (at most once per
  ``HALVE_EVERY_SECONDS``, so one burst of failures halves it once). It starts at, and
  never exceeds, DELIVERY_CONCURRENCY; the retry function's MaximumConcurrency stays the
  global cap on its side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..richpanel.outcomes import Kind, Outcome

HALVE_EVERY_SECONDS = 1.0
MIN_LIMIT = 1.0


def paused_outcome(seconds_left: float) -> Outcome:
    """The outcome of a send not made because Richpanel asked us to wait."""
    return Outcome(
        Kind.RETRYABLE,
        f"not sent: Richpanel asked to wait (429), {seconds_left:.1f}s left",
        retry_after=seconds_left,
    )


NO_SLOT = Outcome(Kind.RETRYABLE, "not sent: Richpanel is throttling and no call slot came free")


class Pacing:
    """One container's pace toward Richpanel (thread-safe)."""

    def __init__(self, ceiling: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = float(max(1, ceiling))
        self.limit = self.ceiling
        self._clock = clock
        self._in_flight = 0
        self._paused_until = float("-inf")
        self._halved_at = float("-inf")
        self._changed = threading.Condition()

    def paused_for(self) -> float:
        """Seconds left of a 429 pause (0: not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def acquire(self, within: float | None) -> Outcome | None:
        """Take a call slot (None), or say why no call may start: paused, or no slot in time."""
        deadline = None if within is None else self._clock() + within
        with self._changed:
            while True:
                left = self.paused_for()
                if left > 0:
                    return paused_outcome(left)
                if self._in_flight < self.limit:
                    self._in_flight += 1
                    return None
                wait = None if deadline is None else deadline - self._clock()
                if wait is not None and wait <= 0:
                    return NO_SLOT
                self._changed.wait(timeout=wait if wait is not None else 1.0)

    def release(self, outcome: Outcome) -> None:
        """Give the slot back and adapt to Richpanel's answer."""
        now = self._clock()
        with self._changed:
            self._in_flight -= 1
            status = outcome.status
            if status == 429 and outcome.retry_after:
                self._paused_until = max(self._paused_until, now + outcome.retry_after)
            if status == 429 or (status is not None and status >= 500):
                if now - self._halved_at >= HALVE_EVERY_SECONDS:
                    self.limit = max(MIN_LIMIT, self.limit / 2)
                    self._halved_at = now
            elif outcome.kind is Kind.DELIVERED:
                self.limit = min(self.ceiling, self.limit + 1 / self.limit)
            self._changed.notify_all()
