import random

import pytest

from richpanel_destination.delivery.backoff import MAX_VISIBILITY_SECONDS, retry_delay


class Fixed(random.Random):
    """uniform() returns the upper bound: the ceiling of the jitter window."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(("attempt", "expected"), [(1, 10), (2, 20), (3, 40), (7, 640), (8, 900)])
def test_ceiling_doubles_up_to_cap(attempt: int, expected: int) -> None:
    assert retry_delay(attempt, base=10, cap=900, rng=Fixed()) == expected


def test_full_jitter_stays_in_window() -> None:
    rng = random.Random(1)
    delays = {retry_delay(4, base=10, cap=900, rng=rng) for _ in range(200)}
    assert min(delays) >= 0
    assert max(delays) <= 80
    assert len(delays) > 20


def test_retry_after_is_a_floor() -> None:
    assert retry_delay(1, base=1, cap=2, retry_after=120, rng=Fixed()) == 120


def test_never_beyond_sqs_visibility_limit() -> None:
    assert retry_delay(1, base=1, cap=1, retry_after=10**9) == MAX_VISIBILITY_SECONDS
