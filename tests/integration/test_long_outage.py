"""A day-long Richpanel outage, compressed in time (issue 17 part 3, "a retry window in time").

The retry path gives up by age, not by receive count. Scaled down, the deployment's day becomes
a 60 s window (RETRY_WINDOW_SECONDS), its 10 s .. 1 h backoff 0.5 .. 8 s, and the outage lasts
40 s: two thirds of the window, as a 16 h outage is of the day. Then Richpanel recovers: every
event must be delivered exactly once, none dead-lettered, none lost, although each was tried
far more often than the old 8 receives allowed. An outage longer than the window (a faster,
smaller case) dead-letters its events with the window's reason.

Each test starts a stack of its own (these settings are the retry function's environment).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack, running_stack, wait_for
from .test_chaos import dead_lettered, make_event, requests_for, send_like_segment

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 60
OUTAGE_SECONDS = 40
EVENTS = 100
SCALED = {
    "RETRY_WINDOW_SECONDS": str(WINDOW_SECONDS),
    "RETRY_BACKOFF_BASE_SECONDS": "0.5",
    "RETRY_BACKOFF_CAP_SECONDS": "8",
    # the function's backstop; the queue's maxReceiveCount is the template's (150)
    "MAX_RECEIVE_COUNT": "150",
}
OLD_GIVE_UP_ATTEMPT = 9  # the ingest attempt + RetryMaxReceiveCount 8, before the window

SHORT_WINDOW_SECONDS = 8
SHORT_EVENTS = 10
SHORT = SCALED | {
    "RETRY_WINDOW_SECONDS": str(SHORT_WINDOW_SECONDS),
    "RETRY_BACKOFF_CAP_SECONDS": "2",
}


@pytest.fixture(autouse=True)
def _reset_stack() -> None:
    """Overrides the conftest's: each test here starts a stack of its own."""


@pytest.fixture
def window_stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, SCALED) as started:
        yield started


@pytest.fixture
def short_window_stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, SHORT) as started:
        yield started


def send(stack: Stack, events: list[dict[str, Any]]) -> Counter[str]:
    """Every event through the API as Segment sends them (singles and batches)."""
    outcomes: Counter[str] = Counter()
    with ThreadPoolExecutor(4) as pool:
        for outcome in pool.map(lambda r: send_like_segment(stack.api, *r), requests_for(events)):
            outcomes.update(outcome)
    return outcomes


def retry_attempts(stack: Stack) -> Counter[str]:
    """messageId -> the highest attempt the retry function logged as "retry later"."""
    highest: Counter[str] = Counter()
    for line in stack.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("message") == "retry later" and entry.get("messageId"):
            highest[entry["messageId"]] = max(highest[entry["messageId"]], entry["attempt"])
    return highest


@pytest.mark.timeout(150)
def test_an_outage_within_the_window_ends_delivered_once_with_nothing_dead_lettered(
    window_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = window_stack
    run = uuid.uuid4().hex[:8]
    events = [make_event(f"outage-{run}", i) for i in range(EVENTS)]
    stack.set_behaviour(status=503)  # Richpanel is down: every call fails
    started = time.monotonic()
    ingest = send(stack, events)
    assert ingest == Counter(queued=EVENTS)

    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
    stack.reset_behaviour()  # Richpanel is back
    recovered = time.monotonic() - started
    wait_for(lambda: stack.queue_total("RetryQueue") == 0, timeout=40, interval=0.5)
    drained = time.monotonic() - started

    accepted = stack.http.get(f"{stack.sandbox}/_sandbox/accepted", timeout=30).json()["accepted"]
    in_dlq = dead_lettered(stack)
    sent = {e["messageId"] for e in events}
    once = {m for m in sent if accepted.get(m) == 1}
    twice = {m for m in sent if accepted.get(m, 0) > 1}
    lost = sent - set(accepted) - set(in_dlq)
    failed = stack.sandbox_calls(status=503)
    attempts = retry_attempts(stack)
    with capsys.disabled():
        print(
            f"\nlong outage ({EVENTS} events, {OUTAGE_SECONDS}s outage, {WINDOW_SECONDS}s window):"
            f" {len(failed)} calls failed, up to {max(attempts.values(), default=0)} attempts an"
            f" event; recovered at {recovered:.1f}s, drained at {drained:.1f}s;"
            f" once {len(once)}, twice {len(twice)}, DLQ {len(in_dlq)}, lost {len(lost)}"
        )
    assert not in_dlq, sorted(in_dlq.items())[:5]
    assert not lost, sorted(lost)[:10]
    assert not twice, sorted(twice)[:10]
    assert once == sent
    # the outage outlasted what the receive count used to allow, for most events
    outlived = [m for m in sent if attempts[m] >= OLD_GIVE_UP_ATTEMPT]
    assert len(outlived) > EVENTS // 2, Counter(attempts[m] for m in sent)


@pytest.mark.timeout(60)
def test_an_outage_longer_than_the_window_dead_letters_with_the_windows_reason(
    short_window_stack: Stack,
) -> None:
    stack = short_window_stack
    run = uuid.uuid4().hex[:8]
    events = [make_event(f"too-long-{run}", i) for i in range(SHORT_EVENTS)]
    stack.set_behaviour(status=503)  # and it never comes back within the test
    started = time.monotonic()
    assert send(stack, events) == Counter(queued=SHORT_EVENTS)

    wait_for(
        lambda: (
            stack.queue_total("RetryQueue") == 0
            and stack.queue_total("DeadLetterQueue") == SHORT_EVENTS
        ),
        timeout=30,
        interval=0.5,
    )
    gave_up_after = time.monotonic() - started
    in_dlq = dead_lettered(stack)
    assert set(in_dlq) == {e["messageId"] for e in events}
    # the last failure's reason: Richpanel's 503, or the circuit breaker holding the call back
    window = re.compile(rf"gave up after {SHORT_WINDOW_SECONDS} s \((\d+) attempts\): \S")
    matches = [window.match(reason) for reason in in_dlq.values()]
    assert all(matches), sorted(in_dlq.values())
    assert all(int(m[1]) >= 3 for m in matches if m)  # tried again and again meanwhile
    # not before the window ended, and not long after: the last wait ends at the window's end
    assert SHORT_WINDOW_SECONDS <= gave_up_after < SHORT_WINDOW_SECONDS + 8
    accepted = stack.http.get(f"{stack.sandbox}/_sandbox/accepted", timeout=30).json()["accepted"]
    assert not set(accepted) & set(in_dlq)
