"""The circuit breaker through the local stack: Richpanel hangs, the breaker opens for every
container, ingest queues without calling, one probe closes it, and everything arrives once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from .conftest import Stack, wait_for

pytestmark = pytest.mark.integration
FAILURES = 5  # BreakerFailures' default: the template's value reaches the stack


def track(n: int) -> dict[str, Any]:
    return {"type": "track", "userId": f"breaker-{n}", "event": "Breaker Test",
            "messageId": f"brk-{uuid.uuid4()}"}  # fmt: skip


def log_lines(stack: Stack) -> list[dict[str, Any]]:
    lines = []
    for raw in stack.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return lines


def test_a_hanging_richpanel_opens_the_breaker_and_one_probe_closes_it(stack: Stack) -> None:
    stack.set_behaviour(delay_ms=3000)  # longer than the stack's 0.5 s read timeout
    events = [track(n) for n in range(FAILURES + 6)]
    answers = [stack.post("/v1/track", event).json()["results"][0] for event in events]
    assert {a["outcome"] for a in answers} == {"queued"}
    timed_out, held = answers[:FAILURES], answers[FAILURES:]
    assert all("circuit open" not in a["reason"] for a in timed_out)
    assert all(a["reason"].startswith("not sent: Richpanel circuit open") for a in held)
    called = {(c.get("call") or {}).get("eventId") for c in stack.sandbox_calls()}
    assert called.isdisjoint(e["messageId"] for e in events[FAILURES:])  # never called

    stack.reset_behaviour()  # Richpanel recovers: a probe closes the breaker, retries drain

    def all_delivered() -> bool:
        counts = stack.http.get(f"{stack.sandbox}/_sandbox/accepted", timeout=5).json()["accepted"]
        # a call that timed out may have been taken too late (the sandbox hangs, then accepts):
        # sent again, Richpanel gets its eventId twice (docs/delivery.md, Never twice)
        return all(counts.get(e["messageId"], 0) >= 1 for e in events[:FAILURES]) and all(
            counts.get(e["messageId"]) == 1 for e in events[FAILURES:]
        )

    wait_for(all_delivered, timeout=60, interval=0.5, what="every event delivered")
    changes = [line["breaker"] for line in log_lines(stack) if "breaker" in line]
    assert "opened" in changes and "probe" in changes and changes[-1] == "closed"
    assert stack.queue_total("DeadLetterQueue") == 0
