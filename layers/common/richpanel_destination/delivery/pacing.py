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
- **Rate**: concurrency alone overshoots a rate limit (every call in flight when the first
  429 comes back is refused too), so a 429 also sets a rate: ``RATE_MARGIN`` of the calls
  Richpanel accepted in the second before it, when there were at least ``RATE_SAMPLE`` (a
  quiet container learns nothing from one or two calls: the pause and the halving do).
  Calls then start at most that often; the rate grows by about one call a second while
  calls succeed (additive increase, like the limit) and is forgotten
  ``RATE_MEMORY_SECONDS`` after the last 429.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ..richpanel.outcomes import Kind, Outcome

HALVE_EVERY_SECONDS = 1.0
MIN_LIMIT = 1.0
RATE_MARGIN = 0.9  # of the accepted calls per second before a 429: the rate it sets
MIN_RATE = 1.0  # calls per second
RATE_SAMPLE = 5  # accepted calls in the second before a 429 needed to learn a rate from
RATE_MEMORY_SECONDS = 60.0  # a learned rate is forgotten this long after the last 429


def paused_outcome(seconds_left: float) -> Outcome:
    """The outcome of a send not made because Richpanel asked us to wait."""
    return Outcome(
        Kind.RETRYABLE,
        f"not sent: Richpanel asked to wait (429), {seconds_left:.1f}s left",
        retry_after=seconds_left,
        held=True,
    )


NO_SLOT = Outcome(
    Kind.RETRYABLE, "not sent: Richpanel is throttling and no call slot came free", held=True
)


class Pacing:
    """One container's pace toward Richpanel (thread-safe)."""

    def __init__(self, ceiling: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = float(max(1, ceiling))
        self.limit = self.ceiling
        self._clock = clock
        self._in_flight = 0
        self._paused_until = float("-inf")
        self._halved_at = float("-inf")
        self.rate: float | None = None  # calls per second; None until Richpanel sends a 429
        self._next_start = float("-inf")  # when the rate lets the next call start
        self._accepted: deque[float] = deque()  # when calls were accepted, the last second
        self._throttled_at = float("-inf")  # the last 429
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
                now = self._clock()
                if self._in_flight < self.limit and now >= self._next_start:
                    self._in_flight += 1
                    if self.rate is not None:
                        self._next_start = max(now, self._next_start) + 1 / self.rate
                    return None
                wait = None if deadline is None else deadline - now
                if wait is not None and wait <= 0:
                    return NO_SLOT
                until_start = self._next_start - now if self._next_start > now else None
                timeout = min(t for t in (wait, until_start, 1.0) if t is not None)
                self._changed.wait(timeout=timeout)

    def release(self, outcome: Outcome) -> None:
        """Give the slot back and adapt to Richpanel's answer."""
        now = self._clock()
        with self._changed:
            self._in_flight -= 1
            status = outcome.status
            while self._accepted and self._accepted[0] < now - 1.0:
                self._accepted.popleft()
            if status == 429:
                if outcome.retry_after:
                    self._paused_until = max(self._paused_until, now + outcome.retry_after)
                self._throttled_at = now
                if len(self._accepted) >= RATE_SAMPLE:
                    self.rate = max(MIN_RATE, RATE_MARGIN * len(self._accepted))
            if status == 429 or (status is not None and status >= 500):
                if now - self._halved_at >= HALVE_EVERY_SECONDS:
                    self.limit = max(MIN_LIMIT, self.limit / 2)
                    self._halved_at = now
            elif outcome.kind is Kind.DELIVERED:
                self.limit = min(self.ceiling, self.limit + 1 / self.limit)
                self._accepted.append(now)
                if self.rate is not None:
                    self.rate += 1 / self.rate
                    if now - self._throttled_at >= RATE_MEMORY_SECONDS:
                        self.rate, self._next_start = None, float("-inf")
            self._changed.notify_all()
