"""Richpanel behind the circuit breaker and the pacing: what ingest and retry send through.

``held()`` is checked before an event's idempotency claim and freshness lease, so an open
breaker or a 429 pause costs no DynamoDB writes; ``send`` checks again (and, half-open,
takes the probe), waits for a call slot, calls Richpanel, and tells both what came back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..richpanel.client import RichpanelClient
from ..richpanel.outcomes import Outcome
from ..secrets import RichpanelCredentials
from .breaker import Breaker
from .pacing import NO_SLOT, Pacing, paused_outcome

MIN_CALL_SECONDS = 0.1  # a slot that came free with less time left than this is not used


class Gate:
    """A RichpanelClient's sends, refused while the breaker is open or Richpanel said wait."""

    def __init__(
        self, client: RichpanelClient, pacing: Pacing, breaker: Breaker | None = None
    ) -> None:
        self.client = client
        self.pacing = pacing
        self.breaker = breaker

    def held(self) -> Outcome | None:
        """Why no call can go out now (a 429 pause, an open breaker), or None. No probe."""
        left = self.pacing.paused_for()
        if left > 0:
            return paused_outcome(left)
        return self.breaker.held() if self.breaker is not None else None

    def send(
        self,
        call: Mapping[str, Any],
        credentials: RichpanelCredentials,
        within: float | None = None,
    ) -> Outcome:
        """One call through the breaker and the pacing; never raises."""
        return self._through(lambda left: self.client.send(call, credentials, left), within)

    def send_batch(
        self,
        calls: Sequence[Mapping[str, Any]],
        credentials: RichpanelCredentials,
        within: float | None = None,
    ) -> Outcome:
        """One /bt request through the breaker and the pacing; never raises."""
        return self._through(lambda left: self.client.send_batch(calls, credentials, left), within)

    def _through(self, post: Any, within: float | None) -> Outcome:
        refused = self.breaker.refusal() if self.breaker is not None else None
        if refused is not None:
            return refused
        started = time.monotonic()
        waited = self.pacing.acquire(within)
        if waited is not None:
            if self.breaker is not None:
                self.breaker.record(waited)  # not called: a probe we took is given up
            return waited
        left = None if within is None else within - (time.monotonic() - started)
        if left is not None and left < MIN_CALL_SECONDS:
            outcome: Outcome = NO_SLOT
        else:
            outcome = post(left)
        self.pacing.release(outcome)
        if self.breaker is not None:
            self.breaker.record(outcome)
        return outcome
