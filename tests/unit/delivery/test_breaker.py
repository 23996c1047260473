"""The circuit breaker: opened by consecutive failures, shared through one DynamoDB item."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from richpanel_destination.delivery.breaker import ITEM_KEY, Breaker, counts_as_failure
from richpanel_destination.richpanel.outcomes import Kind, Outcome

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200, latency_ms=80.0)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503, latency_ms=40.0)
TIMEOUT = Outcome(Kind.RETRYABLE, "ReadTimeout: timed out", latency_ms=3000.0)
THROTTLED = Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429, 2.0, latency_ms=30.0)
REFUSED = Outcome(Kind.PERMANENT, "Richpanel answered 400", 400, latency_ms=30.0)
NOT_CALLED = Outcome(Kind.RETRYABLE, "no answer from Richpanel within the delivery budget")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A DynamoDB client that counts GetItem calls (and can be made to fail)."""

    def __init__(self) -> None:
        self.client = boto3.client("dynamodb")
        self.gets = 0
        self.down = False

    def __getattr__(self, name: str) -> Any:
        if self.down:
            raise RuntimeError("store down")
        if name == "get_item":
            self.gets += 1
        return getattr(self.client, name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(table: str, clock: Clock, changes: list[str] | None = None, **kw: Any) -> Breaker:
    def notify(change: str, details: dict[str, Any]) -> None:
        if changes is not None:
            changes.append(change)

    return Breaker(table, failures=3, cooldown=30, cache_seconds=2, clock=clock,
                   notify=notify, dynamodb=kw.pop("dynamodb", None) or boto3.client("dynamodb"),
                   **kw)  # fmt: skip


def test_what_counts_as_a_failure() -> None:
    assert [counts_as_failure(o) for o in (DOWN, TIMEOUT, THROTTLED, REFUSED, OK, NOT_CALLED)] == [
        True, True, False, False, False, False
    ]  # fmt: skip


def test_consecutive_failures_open_it_for_every_container(table: str, clock: Clock) -> None:
    changes: list[str] = []
    one, other = breaker(table, clock, changes), breaker(table, clock)
    for _ in range(2):
        one.record(DOWN)
    assert one.held() is None and other.held() is None  # two failures: still closed
    one.record(TIMEOUT)
    assert changes == ["opened"]
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"id": {"S": ITEM_KEY}})
    assert float(item["Item"]["openUntil"]["N"]) == clock.now + 30
    assert other.held() is None  # its read of the item is cached for 2 s
    clock.now += 2.1
    held = other.held()  # another container, which saw no failure itself
    assert held is not None and held.kind is Kind.RETRYABLE
    assert round(held.retry_after or 0, 3) == 27.9 and "circuit open" in held.reason


def test_a_success_resets_the_count_and_throttling_does_not_count(table: str, clock: Clock) -> None:
    one = breaker(table, clock)
    for outcome in (DOWN, DOWN, OK, DOWN, DOWN, THROTTLED, REFUSED, NOT_CALLED, THROTTLED):
        one.record(outcome)
    assert one.held() is None and one.refusal() is None


def test_half_open_lets_one_probe_through_and_a_success_closes_it(table: str, clock: Clock) -> None:
    changes: list[str] = []
    one, other = breaker(table, clock, changes), breaker(table, clock)
    for _ in range(3):
        one.record(DOWN)
    clock.now += 31  # the cooldown is over: half-open
    assert one.held() is None and other.held() is None  # due a probe: not held before claims
    assert other.refusal() is None  # the probe: exactly one call goes out
    second, third = one.refusal(), other.refusal()
    assert second is not None and third is not None  # everyone else still waits
    other.record(OK)
    assert changes == ["opened"] and other.refusal() is None
    clock.now += 2.1  # one's cached state expires: it reads the item again
    assert one.refusal() is None and one.held() is None


def test_a_failed_probe_opens_it_again(table: str, clock: Clock) -> None:
    changes: list[str] = []
    one = breaker(table, clock, changes)
    for _ in range(3):
        one.record(DOWN)
    clock.now += 31
    assert one.refusal() is None
    one.record(TIMEOUT)
    assert changes == ["opened", "probe", "reopened"]
    held = one.held()
    assert held is not None and held.retry_after == 30


def test_a_probe_never_answered_lapses(table: str, clock: Clock) -> None:
    one = breaker(table, clock)
    for _ in range(3):
        one.record(DOWN)
    clock.now += 31
    assert one.refusal() is None  # probe taken, then the send was not made
    one.record(NOT_CALLED)
    assert one.refusal() is not None  # the shared probe lease still stands
    clock.now += 31
    assert one.refusal() is None  # lapsed: probed again


def test_the_shared_item_is_read_at_most_once_per_cache_period(
    mocked_aws: None, table: str, clock: Clock
) -> None:
    counting = Counting()
    one = breaker(table, clock, dynamodb=counting)
    for _ in range(50):
        one.held()
    assert counting.gets == 1
    clock.now += 2.5
    one.held()
    assert counting.gets == 2


def test_a_store_that_fails_keeps_what_was_known_and_never_raises(table: str, clock: Clock) -> None:
    counting = Counting()
    one = breaker(table, clock, dynamodb=counting)
    assert one.held() is None
    counting.down = True
    clock.now += 5
    for _ in range(3):
        one.record(DOWN)  # the item cannot be written: this container holds it open anyway
    assert one.held() is not None
