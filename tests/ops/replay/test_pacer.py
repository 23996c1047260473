"""ops/replay/sender.py's Pacer: the rate limit, pauses, and batch sizing to the budget;
run.py's lanes: one customer, one sender."""

from __future__ import annotations

from ops.replay.run import lane_of
from ops.replay.sender import MIN_BATCH, Pacer
from ops.replay.sources import Record


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_the_rate_spaces_events_and_a_pause_holds_everyone() -> None:
    clock = Clock()
    pacer = Pacer(10, 100, 4.0, clock=clock, sleep=clock.sleep)
    pacer.take(5)  # the first goes at once
    pacer.take(5)  # 5 events at 10/s: half a second later
    assert clock.slept == [0.5]
    pacer.pause(3)
    pacer.take(1)
    assert clock.slept == [0.5, 3.0]


def test_queued_halves_rate_and_size_late_halves_size_clean_grows_back() -> None:
    pacer = Pacer(100, 100, 4.0)
    pacer.observe(100, 0.5, queued=3)
    assert (pacer.rate, pacer.size, pacer.slowdowns) == (50, 50, 1)
    pacer.observe(50, 2.5, queued=0)  # over half the 4 s budget
    assert (pacer.rate, pacer.size) == (50, 25)
    for _ in range(20):
        pacer.observe(25, 0.2, queued=0)
    assert (pacer.rate, pacer.size) == (100, 100)  # never above what was asked
    for _ in range(10):
        pacer.observe(100, 3.0, queued=0)
    assert pacer.size == MIN_BATCH


def test_no_limit_until_queued_then_half_what_was_achieved() -> None:
    pacer = Pacer(None, 100, 4.0)
    assert pacer.rate is None
    pacer.observe(100, 0.5, queued=1)  # 200 ev/s achieved
    assert pacer.rate == 100


def test_one_customer_one_lane() -> None:
    def record(user: str, n: int) -> Record:
        return Record("f", n, {"userId": user, "messageId": f"m{n}"})

    lanes = {lane_of(record("u1", n), 4) for n in range(20)}
    assert len(lanes) == 1
    assert len({lane_of(record(f"u{n}", n), 4) for n in range(40)}) == 4
