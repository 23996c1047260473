"""Test doubles for the Richpanel client and SQS parking (unit tests only)."""

from __future__ import annotations

from typing import Any

from richpanel_destination.delivery.park import ParkError
from richpanel_destination.richpanel.outcomes import Outcome


class FakeClient:
    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, Any]] = []

    def send(self, call: dict[str, Any]) -> Outcome:
        self.calls.append(call)
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


class FakeParking:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.retried: list[tuple[dict[str, Any], Outcome, int]] = []
        self.dead: list[tuple[str, str, str | None]] = []
        self.postponed: list[tuple[str, int]] = []

    def to_retry(self, event: dict[str, Any], outcome: Outcome, attempt: int) -> None:
        if self.fail:
            raise ParkError("SQS send failed: EndpointConnectionError")
        self.retried.append((event, outcome, attempt))

    def to_dead_letter(
        self, body: str, reason: str, *, message_id: str | None = None, attempt: int | None = None
    ) -> None:
        if self.fail:
            raise ParkError("SQS send failed: EndpointConnectionError")
        self.dead.append((body, reason, message_id))

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.postponed.append((receipt_handle, seconds))
