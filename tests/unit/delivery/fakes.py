"""Test doubles for the Richpanel client and SQS queues (unit tests only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from richpanel_destination.delivery.queues import QueueError, QueueMessage
from richpanel_destination.richpanel.outcomes import Kind, Outcome
from richpanel_destination.secrets import RichpanelCredentials

TIMED_OUT = Outcome(Kind.RETRYABLE, "ReadTimeout: the request's total timeout passed")


class FakeClient:
    """Answers with the given outcomes in turn (the last one repeats); can be slow."""

    def __init__(self, *outcomes: Outcome, delay: float = 0.0) -> None:
        self.outcomes = list(outcomes)
        self.delay = delay
        self.calls: list[Mapping[str, Any]] = []
        self.batches: list[list[Mapping[str, Any]]] = []  # /bt requests, each with its calls
        self.sends_within: list[float | None] = []  # the time each send was given
        self.finished: list[float] = []  # when each send ended (time.monotonic())
        self._lock = threading.Lock()

    def held(self) -> Outcome | None:
        """A plain client never holds calls back (delivery/gate.py does)."""
        return None

    def send(
        self, call: Mapping[str, Any], credentials: Any = None, within: float | None = None
    ) -> Outcome:
        with self._lock:
            self.calls.append(call)
            outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return self._answer(outcome, within)

    def send_batch(
        self,
        calls: Sequence[Mapping[str, Any]],
        credentials: Any = None,
        within: float | None = None,
    ) -> Outcome:
        """One /bt request: one outcome (taken like send's) for all its calls."""
        with self._lock:
            self.batches.append(list(calls))
            outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return self._answer(outcome, within)

    def _answer(self, outcome: Outcome, within: float | None) -> Outcome:
        """The outcome after the delay, or a timeout once ``within`` seconds are up."""
        self.sends_within.append(within)
        if within is not None and self.delay > within:
            time.sleep(within)
            outcome = TIMED_OUT
        else:
            time.sleep(self.delay)
        self.finished.append(time.monotonic())
        return outcome


class FakeQueues:
    def reserve(self, count: int) -> float:
        """As Queues reserves time to queue ``count`` events, at the default pace."""
        from richpanel_destination.delivery.queues import queue_seconds

        return queue_seconds(count)

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.messages: list[QueueMessage] = []
        self.dead: list[tuple[str, str, str | None]] = []
        self.postponed: list[tuple[str, int]] = []

    def send_many(self, messages: list[QueueMessage]) -> dict[int, str]:
        if self.fail:
            return {p.key: "SQS send failed: EndpointConnectionError" for p in messages}
        self.messages.extend(messages)
        return {}

    def to_dead_letter(
        self,
        body: str,
        reason: str,
        *,
        message_id: str | None = None,
        attempt: int | None = None,
        status: int | None = None,
    ) -> None:
        if self.fail:
            raise QueueError("SQS send failed: EndpointConnectionError")
        self.dead.append((body, reason, message_id))

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.postponed.append((receipt_handle, seconds))

    def postpone_many(self, postpones: list[tuple[str, int]]) -> int:
        self.postponed.extend(postpones)
        return 0


CREDENTIALS = RichpanelCredentials("key-1", "secret-1")


def deliver(delivery: Any, events: list[Any], started: float | None = None) -> list[Any]:
    """What ingest does with a request's events: prepare each, deliver the rest, in order."""
    from richpanel_destination import ingest

    with patch_credentials():
        return ingest.deliver_events(events, delivery, started)


def patch_credentials() -> Any:
    """The runtime's Richpanel credentials as fixed values (no Secrets Manager)."""
    from unittest import mock

    from richpanel_destination import runtime

    return mock.patch.object(runtime, "richpanel_credentials", lambda: CREDENTIALS)
