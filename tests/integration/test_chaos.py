"""Fault injection: thousands of events through a Richpanel that fails 30% of the time.

Every accepted event must end delivered exactly once, or in the DLQ with a reason.
CHAOS_EVENTS (default 2000) sets the size; e.g. `CHAOS_EVENTS=20000 make chaos`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from .conftest import sender_session

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("CHAOS_EVENTS", "2000"))
SINGLES_SHARE = 0.2  # the rest arrives in batches
BATCH_SIZE = 80
SENDERS = 6
CHAOS = {
    "fail_rate": 0.3,
    "seed": 20261128,
    "failures": [
        {"status": 500},
        {"status": 503},
        {"status": 429, "retry_after": 1},
        {"timeout_ms": 800},  # past the stack's 0.5 s read timeout: the client gives up
        {"reset": True},
    ],
}


def make_event(run: str, i: int) -> dict[str, Any]:
    kind = ("track", "page", "identify")[i % 3]
    event: dict[str, Any] = {
        "type": kind,
        "messageId": f"chaos-{run}-{i}",
        "userId": f"user-{i % 97}",
        "timestamp": "2026-11-28T10:00:00Z",
    }
    if kind == "track":
        event |= {"event": "Order Completed", "properties": {"order_id": f"o-{i}", "total": i}}
    elif kind == "page":
        event |= {"name": "Pricing", "properties": {"url": "https://shop.example.com/pricing"}}
    else:
        event |= {"traits": {"email": f"user{i % 97}@example.com", "plan": "gold"}}
    return event


def requests_for(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    singles = int(len(events) * SINGLES_SHARE)
    out: list[tuple[str, Any]] = [(f"/v1/{e['type']}", e) for e in events[:singles]]
    rest = events[singles:]
    out += [
        ("/v1/batch", {"batch": rest[i : i + BATCH_SIZE]}) for i in range(0, len(rest), BATCH_SIZE)
    ]
    return out


def send_like_segment(api: str, path: str, body: Any) -> Counter[str]:
    """POST until answered 200, retrying 5xx and network errors as Segment does."""
    outcomes: Counter[str] = Counter()
    with sender_session() as http:
        for attempt in range(10):
            try:
                answer = http.post(f"{api}{path}", json=body, timeout=30)
            except requests.RequestException:
                time.sleep(0.2 * (attempt + 1))
                continue
            if answer.status_code == 200:
                outcomes.update(r["outcome"] for r in answer.json()["results"])
                return outcomes
            assert answer.status_code >= 500, answer.text  # anything else would be a bug here
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError(f"{path} never answered 200")


def dead_lettered(stack: Any) -> dict[str, str]:
    """messageId -> reason of every DLQ message, taking them off the queue."""
    found: dict[str, str] = {}
    while True:
        messages = stack.sqs.receive_message(
            QueueUrl=stack.queues["DeadLetterQueue"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attrs = message.get("MessageAttributes", {})
            message_id = attrs.get("messageId", {}).get("StringValue", "?")
            found[message_id] = attrs.get("reason", {}).get("StringValue", "")
            stack.sqs.delete_message(
                QueueUrl=stack.queues["DeadLetterQueue"], ReceiptHandle=message["ReceiptHandle"]
            )


def test_chaos_loses_nothing_and_delivers_nothing_twice(
    stack: Any, wait_for: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    events = [make_event(run, i) for i in range(EVENTS)]
    planned = requests_for(events)
    stack.set_behaviour(**CHAOS)

    started = time.monotonic()
    ingest: Counter[str] = Counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        for outcome in pool.map(lambda r: send_like_segment(stack.api, *r), planned):
            ingest.update(outcome)
    sent_for = time.monotonic() - started

    stack.reset_behaviour()  # Richpanel recovers; the retry path drains
    wait_for(lambda: stack.queue_total("RetryQueue") == 0, timeout=240, interval=0.5)
    drained_after = time.monotonic() - started

    accepted = stack.http.get(f"{stack.sandbox}/_sandbox/accepted", timeout=30).json()["accepted"]
    in_dlq = dead_lettered(stack)
    sent = {e["messageId"] for e in events}
    once = {m for m in sent if accepted.get(m) == 1}
    twice = {m for m in sent if accepted.get(m, 0) > 1}
    lost = sent - set(accepted) - set(in_dlq)
    chaos_calls = stack.sandbox_calls()
    failed_calls = sum(1 for c in chaos_calls if not c.get("accepted"))

    with capsys.disabled():
        print(
            f"\nchaos accounting ({EVENTS} events, {len(planned)} requests, fail rate 30%):\n"
            f"  Richpanel calls           {len(chaos_calls):6d} ({failed_calls} failed by chaos)\n"
            f"  ingest outcomes           {dict(ingest)}\n"
            f"  sent                      {len(sent):6d}\n"
            f"  delivered once            {len(once):6d}\n"
            f"  delivered twice or more   {len(twice):6d}\n"
            f"  in the DLQ with a reason  {len(in_dlq):6d}\n"
            f"  lost                      {len(lost):6d}\n"
            f"  sent in {sent_for:.1f}s, drained after {drained_after:.1f}s"
        )
    assert failed_calls > 0.2 * EVENTS  # the chaos really happened
    assert ingest["queued"] > 0
    assert not lost, sorted(lost)[:10]
    assert not twice, sorted(twice)[:10]
    assert all(reason for reason in in_dlq.values())
    assert len(once) + len(in_dlq) == EVENTS
