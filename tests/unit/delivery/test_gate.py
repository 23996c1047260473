"""The gate: Richpanel's client behind the breaker and the pacing."""

from __future__ import annotations

from typing import Any

import boto3

from richpanel_destination.delivery.breaker import Breaker
from richpanel_destination.delivery.gate import Gate
from richpanel_destination.delivery.pacing import Pacing
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import CREDENTIALS, FakeClient

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200, latency_ms=50.0)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503, latency_ms=50.0)
THROTTLED = Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429, 30.0, latency_ms=50.0)
CALL: dict[str, Any] = {"event": "E"}


def test_an_open_breaker_refuses_without_calling_richpanel(table: str) -> None:
    client = FakeClient(DOWN)
    breaker = Breaker(table, failures=2, cooldown=30, dynamodb=boto3.client("dynamodb"))
    gate = Gate(client, Pacing(4), breaker)  # type: ignore[arg-type]
    assert [gate.send(CALL, CREDENTIALS, 1.0).status for _ in range(2)] == [503, 503]
    refused = gate.send(CALL, CREDENTIALS, 1.0)
    assert len(client.calls) == 2 and refused.status is None
    assert 29 < (refused.retry_after or 0) <= 30
    held = gate.held()
    assert held is not None and held.reason.startswith("not sent: Richpanel circuit open")


def test_a_429_holds_every_later_send_for_its_retry_after() -> None:
    client = FakeClient(THROTTLED, OK)
    gate = Gate(client, Pacing(4))  # type: ignore[arg-type]
    assert gate.send(CALL, CREDENTIALS, 1.0).status == 429
    held = gate.held()
    assert held is not None and 29 < (held.retry_after or 0) <= 30
    again = gate.send_batch([CALL, CALL], CREDENTIALS, 1.0)
    assert 0 < (again.retry_after or 0) <= (held.retry_after or 0)
    assert len(client.calls) == 1 and client.batches == []


def test_a_call_goes_through_and_gives_its_slot_back() -> None:
    client = FakeClient(OK)
    pacing = Pacing(1)
    gate = Gate(client, pacing)  # type: ignore[arg-type]
    assert [gate.send(CALL, CREDENTIALS, 1.0).kind for _ in range(3)] == [Kind.DELIVERED] * 3
    assert gate.held() is None and pacing.acquire(0.01) is None  # the slot is free again
