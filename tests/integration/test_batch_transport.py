"""Opt-in /bt batching over real HTTP: API -> ingest -> sandbox /v2/bt, moto DynamoDB, SQS retry.

A stack of its own with RICHPANEL_BATCH_SIZE=50 (the session stack keeps the default, off).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Stack, running_stack

pytestmark = pytest.mark.integration

BATCH_SIZE = 50


@pytest.fixture(scope="module")
def batch_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("batch-stack")
    with running_stack(workdir, {"RICHPANEL_BATCH_SIZE": str(BATCH_SIZE)}) as started:
        yield started


@pytest.fixture(autouse=True)
def _reset_stack(batch_stack: Stack) -> None:
    """Overrides the conftest's: reset this module's stack, not the session one."""
    batch_stack.fresh()


def tracks(n: int) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    return [
        {
            "type": "track",
            "userId": f"user-{i}",
            "messageId": f"bt-{run}-{i:04d}",
            "event": "Order Completed",
            "properties": {"order_id": f"o-{i}", "total": i},
        }
        for i in range(n)
    ]


def requests_by_path(calls: list[dict[str, Any]]) -> Counter[str]:
    """HTTP requests the sandbox received, per path (a /bt request records one entry per event)."""
    return Counter(path for path, _seq in {(c["path"], c["request_seq"]) for c in calls})


def event_ids(calls: list[dict[str, Any]], status: int | None = None) -> Counter[str]:
    return Counter(c["call"]["eventId"] for c in calls if status is None or c["status"] == status)


def test_120_events_reach_richpanel_in_3_requests_and_a_resend_is_all_duplicates(
    batch_stack: Stack,
) -> None:
    events = tracks(120)
    response = batch_stack.post("/v1/batch", {"batch": events})
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["delivered"] == 120
    assert {r["outcome"] for r in body["results"]} == {"delivered"}
    assert {r["richpanelStatus"] for r in body["results"]} == {200}

    calls = batch_stack.sandbox_calls()
    assert requests_by_path(calls) == {"/v2/bt": 3}
    assert sorted(Counter(c["request_seq"] for c in calls).values()) == [20, 50, 50]
    assert event_ids(calls) == {e["messageId"]: 1 for e in events}
    assert {(c["status"], c["signature_valid"]) for c in calls} == {(200, True)}
    first = next(c["call"] for c in calls if c["call"]["eventId"] == events[7]["messageId"])
    assert first["appClientId"] == "local-dev-key"
    assert first["userProperties"] == {"uid": "user-7"}
    assert isinstance(first["time"]["sentAt"], int)

    again = batch_stack.post("/v1/batch", {"batch": events})
    assert again.status_code == 200
    assert {r["outcome"] for r in again.json()["results"]} == {"duplicate"}
    assert len(batch_stack.sandbox_calls()) == 120  # no new call


def test_a_503_chunk_is_queued_then_delivered_once_by_the_retry_lambda_as_single_calls(
    batch_stack: Stack, wait_for: Any
) -> None:
    batch_stack.set_behaviour(status=503, times=1)
    events = tracks(10)
    response = batch_stack.post("/v1/batch", {"batch": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {(r["outcome"], r["richpanelStatus"]) for r in results} == {("queued", 503)}

    ids = {e["messageId"] for e in events}

    def delivered() -> bool:
        return set(event_ids(batch_stack.sandbox_calls(), 200)) == ids

    wait_for(delivered, timeout=30, what="the retry Lambda to deliver every event")
    wait_for(lambda: batch_stack.queue_total("RetryQueue") == 0, timeout=30)
    calls = batch_stack.sandbox_calls()
    assert requests_by_path(calls) == {"/v2/bt": 1, "/v2/t": 10}
    assert {c["status"] for c in calls if c["path"] == "/v2/bt"} == {503}
    assert event_ids(calls, 200) == {i: 1 for i in ids}  # each exactly once, over /t
    assert {c["path"] for c in calls if c["status"] == 200} == {"/v2/t"}
    assert batch_stack.queue_total("DeadLetterQueue") == 0


def test_a_400_chunk_dead_letters_its_events_with_the_reason(batch_stack: Stack) -> None:
    batch_stack.set_behaviour(status=400, body={"error": "bad batch"}, times=1)
    events = tracks(3)
    response = batch_stack.post("/v1/batch", {"batch": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {(r["outcome"], r["richpanelStatus"]) for r in results} == {("dead_lettered", 400)}

    url = batch_stack.queue_url("DeadLetterQueue")
    messages: list[dict[str, Any]] = []
    while len(messages) < 3:
        got = batch_stack.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        assert got, f"only {len(messages)} of 3 events in the DLQ"
        messages.extend(got)
    for message in messages:
        batch_stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    parked = sorted(json.loads(m["Body"])["event"]["messageId"] for m in messages)
    assert parked == sorted(e["messageId"] for e in events)
    reasons = {m["MessageAttributes"]["reason"]["StringValue"] for m in messages}
    assert reasons == {'Richpanel answered 400: {"error": "bad batch"}'}
    assert batch_stack.queue_total("RetryQueue") == 0
    assert requests_by_path(batch_stack.sandbox_calls()) == {"/v2/bt": 1}
