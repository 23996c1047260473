"""Exponential backoff with full jitter, never shorter than Retry-After, never past the window.

The defaults and what they cost over a day-long outage: docs/operations.md, "How long the retry
path tries".
"""

from __future__ import annotations

import math
import random

MAX_VISIBILITY_SECONDS = 43_200  # SQS's 12-hour ceiling
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds ceiling


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
    window_left: float | None = None,
) -> int:
    """Whole seconds to wait before attempt ``attempt + 1`` (attempt counts from 1).

    ``window_left``: seconds until the retry window ends (None: no window). The wait never
    reaches past it (rounded up to the whole second, so the next attempt is the last one, at
    the window's end), whatever the backoff or Retry-After asked for.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    jittered = (rng or random).uniform(0, ceiling)
    delay = max(jittered, retry_after or 0.0)
    if window_left is not None:
        delay = min(delay, max(window_left, 0.0))
    return min(MAX_VISIBILITY_SECONDS, math.ceil(delay))
