"""Pacing: a 429 pauses the container; concurrency grows slowly and halves on trouble."""

from __future__ import annotations

import threading
import time

from richpanel_destination.delivery.pacing import NO_SLOT, Pacing
from richpanel_destination.richpanel.outcomes import Kind, Outcome

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)
THROTTLED = Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429, retry_after=2.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_429_pauses_every_send_of_the_container_for_its_retry_after() -> None:
    clock = Clock()
    pacing = Pacing(16, clock)
    assert pacing.acquire(1.0) is None
    pacing.release(THROTTLED)
    clock.now += 0.5
    refused = pacing.acquire(1.0)
    assert refused is not None and refused.kind is Kind.RETRYABLE
    assert refused.retry_after == 1.5 and "429" in refused.reason
    clock.now += 1.6
    assert pacing.paused_for() == 0 and pacing.acquire(1.0) is None


def test_concurrency_halves_on_trouble_once_per_second_and_grows_back_slowly() -> None:
    clock = Clock()
    pacing = Pacing(16, clock)
    for outcome in (DOWN, DOWN, DOWN):  # one burst: halved once
        pacing.acquire(None)
        pacing.release(outcome)
    assert pacing.limit == 8
    clock.now += 1.0
    pacing.acquire(None)
    pacing.release(Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429))
    assert pacing.limit == 4
    for _ in range(4):  # additive increase: about one more per `limit` successes
        pacing.acquire(None)
        pacing.release(OK)
    assert 4.9 < pacing.limit < 5.0
    for _ in range(1000):
        pacing.acquire(None)
        pacing.release(OK)
    assert pacing.limit == 16  # never above DELIVERY_CONCURRENCY
    for _ in range(10):
        clock.now += 1.0
        pacing.acquire(None)
        pacing.release(DOWN)
    assert pacing.limit == 1  # never below one call


def test_a_send_waits_for_a_slot_and_gives_up_when_its_time_is_over() -> None:
    pacing = Pacing(1)
    assert pacing.acquire(1.0) is None  # the only slot
    started = time.monotonic()
    assert pacing.acquire(0.05) is NO_SLOT
    assert time.monotonic() - started >= 0.05
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pacing.acquire(2.0)))
    waiter.start()
    time.sleep(0.05)
    pacing.release(OK)  # frees the slot: the waiter takes it
    waiter.join(2.0)
    assert got == [None]


def test_a_429_after_accepted_calls_sets_a_rate_a_little_under_them() -> None:
    clock = Clock()
    pacing = Pacing(16, clock)
    for _ in range(20):  # 20 calls accepted within the last second
        assert pacing.acquire(0) is None
        pacing.release(OK)
        clock.now += 0.04
    pacing.acquire(0)
    pacing.release(Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429))  # no Retry-After
    assert pacing.rate == 0.9 * 20
    assert pacing.acquire(0) is None  # the first call at once ...
    pacing.release(OK)
    assert pacing.acquire(0) is NO_SLOT  # ... the next only 1/18 s later
    clock.now += 1 / 18
    assert pacing.acquire(0) is None
    pacing.release(OK)
    assert pacing.rate is not None and 18 < pacing.rate < 18.2  # grows ~1/s while calls succeed


def test_a_quiet_container_learns_no_rate_and_a_learned_rate_is_forgotten() -> None:
    clock = Clock()
    pacing = Pacing(16, clock)
    for _ in range(2):  # two calls accepted, then a 429: too little to learn a rate from
        pacing.acquire(0)
        pacing.release(OK)
    pacing.acquire(0)
    pacing.release(Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429))
    assert pacing.rate is None
    for _ in range(10):
        pacing.acquire(0)
        pacing.release(OK)
        clock.now += 0.05
    pacing.acquire(0)
    pacing.release(Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429))
    assert round(pacing.rate or 0, 6) == 0.9 * 12  # 12 accepted within the second before it
    clock.now += 61  # a minute without a 429
    assert pacing.acquire(0) is None
    pacing.release(OK)
    assert pacing.rate is None
