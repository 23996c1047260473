"""The retry window (issue 17 part 3): the age limit and the receive-count backstop, wired.

RetryWindowSeconds reaches the retry function as RETRY_WINDOW_SECONDS; RetryMaxReceiveCount is
both the function's MAX_RECEIVE_COUNT and the queue's maxReceiveCount, and with the template's
own backoff it must stay far above the receives the window takes (docs/operations.md,
"How long the retry path tries").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

DAY = 86_400


def retry_environment(cfn: Any) -> dict[str, str]:
    variables: dict[str, str] = cfn.properties("RetryFunction")["Environment"]["Variables"]
    return variables


def test_the_defaults_are_a_day_with_a_high_backstop(cfn: Any, raw: dict[str, Any]) -> None:
    env = retry_environment(cfn)
    assert env["RETRY_WINDOW_SECONDS"] == str(DAY)
    assert env["MAX_RECEIVE_COUNT"] == "150"
    assert cfn.properties("RetryQueue")["RedrivePolicy"]["maxReceiveCount"] == "150"
    parameters = raw["Parameters"]
    assert parameters["RetryWindowSeconds"]["Default"] == DAY
    assert parameters["RetryMaxReceiveCount"]["Default"] == 150


def test_window_and_backstop_are_wired_from_their_parameters(
    cfn_for: Callable[..., Any],
) -> None:
    cfn = cfn_for(RetryWindowSeconds="7200", RetryMaxReceiveCount="300")
    env = retry_environment(cfn)
    assert (env["RETRY_WINDOW_SECONDS"], env["MAX_RECEIVE_COUNT"]) == ("7200", "300")
    assert cfn.properties("RetryQueue")["RedrivePolicy"]["maxReceiveCount"] == "300"
    assert "RETRY_WINDOW_SECONDS" not in cfn.properties("IngestFunction")["Environment"].get(
        "Variables", {}
    )


def expected_receives(window: float, base: float, cap: float) -> float:
    """Receives a message takes to age past the window, each wait averaging half its ceiling."""
    ramp = math.ceil(math.log2(cap / base))  # waits before the ceiling reaches the cap
    ramp_seconds = sum(min(cap, base * 2**n) / 2 for n in range(ramp))
    return ramp + (window - ramp_seconds) / (cap / 2) + 1


def test_the_backstop_cannot_bind_before_the_window_with_the_default_backoff(
    cfn: Any, raw: dict[str, Any]
) -> None:
    env = retry_environment(cfn)
    base = float(env["RETRY_BACKOFF_BASE_SECONDS"])
    cap = float(env["RETRY_BACKOFF_CAP_SECONDS"])
    window = float(env["RETRY_WINDOW_SECONDS"])
    backstop = int(env["MAX_RECEIVE_COUNT"])
    receives = expected_receives(window, base, cap)
    assert 50 < receives < 60  # about 57 with 10 s, 1 h and a day (the docs' arithmetic)
    # a day's receives vary by about 4 (full jitter): 150 is 20+ deviations away, and leaves
    # room for receives that are not attempts (an invocation that ran out of time)
    assert backstop >= 2.5 * receives
    # even the longest window allowed keeps within the queue's retention
    longest = raw["Parameters"]["RetryWindowSeconds"]["MaxValue"]
    assert longest + cap < int(cfn.properties("RetryQueue")["MessageRetentionPeriod"])
    assert cap <= 43_200  # SQS's visibility ceiling
