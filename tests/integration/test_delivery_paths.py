"""The whole path over real HTTP: API -> ingest -> sandbox, SQS retry queue, retry poller, DLQ."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

MAX_RECEIVE_COUNT = 8  # the test stack's MAX_RECEIVE_COUNT (tests/integration/conftest.py)


def track(**overrides: Any) -> dict[str, Any]:
    return {
        "userId": "user-42",
        "anonymousId": "anon-42",
        "messageId": f"it-{uuid.uuid4()}",
        "event": "Clicked Login Button",
        "timestamp": "2026-11-28T09:16:30.250Z",
        "properties": {"button": "header", "richpanel_session_id": "sess-9"},
        "context": {"ip": "203.0.113.7", "traits": {"email": "jane@example.com"}},
        **overrides,
    }


def calls_for(stack: Any, message_id: str, status: int | None = None) -> list[dict[str, Any]]:
    calls = requests.get(f"{stack.sandbox}/_sandbox/calls", timeout=5).json()["calls"]
    return [
        c
        for c in calls
        if (c.get("call") or {}).get("eventId") == message_id
        and (status is None or c["status"] == status)
    ]


def misbehave(stack: Any, **behaviour: Any) -> None:
    requests.post(
        f"{stack.sandbox}/_sandbox/behaviour", json=behaviour, timeout=5
    ).raise_for_status()


def behave(stack: Any) -> None:
    requests.delete(f"{stack.sandbox}/_sandbox/behaviour", timeout=5).raise_for_status()


def queue_depth(stack: Any, name: str) -> int:
    attrs = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queues[name],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def take_dead_letter(stack: Any) -> dict[str, Any]:
    """Receive and delete the one DLQ message (an in-flight one would outlive the next purge)."""
    url = stack.queues["DeadLetterQueue"]
    (message,) = stack.sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return dict(message)


def test_track_arrives_mapped_at_the_sandbox(stack: Any) -> None:
    event = track()
    response = stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10)

    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["delivered"] == 1
    assert body["results"] == [
        {
            "index": 0,
            "messageId": event["messageId"],
            "type": "track",
            "outcome": "delivered",
            "richpanelStatus": 200,
        }
    ]
    (recorded,) = calls_for(stack, event["messageId"])
    assert recorded["status"] == 200
    assert recorded["signature_valid"] is True
    call = recorded["call"]
    sent_at = call["time"].pop("sentAt")
    assert isinstance(sent_at, int)
    assert call == {
        "appClientId": "local-dev-key",
        "event": "Clicked Login Button",
        "eventId": event["messageId"],
        "did": "anon-42",
        "sid": "sess-9",
        "time": {"originalTimestamp": 1795857390250},
        "properties": {"button": "header"},
        "userProperties": {"uid": "user-42", "email": "jane@example.com"},
        "context": {"ip": {"networkIP": "203.0.113.7"}},
        "platform": "Segment",
        "version": "richpanel-destination 0.1.0",
    }


def test_503_parks_the_event_then_delivers_it_once_richpanel_recovers(
    stack: Any, wait_for: Any
) -> None:
    misbehave(stack, status=503)
    event = track()
    response = stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10)
    assert response.status_code == 200
    assert response.json()["results"][0]["outcome"] == "queued"
    assert queue_depth(stack, "RetryQueue") == 1
    wait_for(lambda: len(calls_for(stack, event["messageId"], 503)) >= 2, timeout=30)

    behave(stack)
    wait_for(lambda: calls_for(stack, event["messageId"], 200), timeout=30)
    wait_for(lambda: queue_depth(stack, "RetryQueue") == 0, timeout=30)
    assert len(calls_for(stack, event["messageId"], 200)) == 1
    assert queue_depth(stack, "DeadLetterQueue") == 0


def test_always_failing_ends_in_the_dlq_after_max_receive_count(stack: Any, wait_for: Any) -> None:
    misbehave(stack, status=503)
    event = track()
    response = stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10)
    assert response.json()["results"][0]["outcome"] == "queued"

    # the poller deletes the retry-queue message just after the invocation dead-letters it
    wait_for(
        lambda: (queue_depth(stack, "DeadLetterQueue"), queue_depth(stack, "RetryQueue")) == (1, 0),
        timeout=90,
    )
    message = take_dead_letter(stack)
    parked = json.loads(message["Body"])
    assert parked["event"]["messageId"] == event["messageId"]
    assert message["MessageAttributes"]["messageId"]["StringValue"] == event["messageId"]
    # one attempt at ingest, then one per receive until the last allowed one
    assert len(calls_for(stack, event["messageId"], 503)) == 1 + MAX_RECEIVE_COUNT
    reason = message["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith(
        f"gave up after {1 + MAX_RECEIVE_COUNT} attempts: Richpanel answered 503"
    )

    # the backoff schedule is in the retry function's logs, one line per attempt
    lines = [json.loads(x) for x in stack.log_tail(400_000).splitlines() if x.startswith("{")]
    retries = [
        line
        for line in lines
        if line.get("message") == "retry later" and line.get("messageId") == event["messageId"]
    ]
    assert [line["attempt"] for line in retries] == list(range(2, 1 + MAX_RECEIVE_COUNT))
    assert all(isinstance(line["delaySeconds"], int) for line in retries)
    assert all(line["reason"].startswith("Richpanel answered 503") for line in retries)


def test_permanent_rejection_is_dead_lettered_with_its_reason(stack: Any, wait_for: Any) -> None:
    misbehave(stack, status=400, body={"error": "bad call"}, times=1)
    event = track()
    response = stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10)
    result = response.json()["results"][0]
    assert response.status_code == 200
    assert result["outcome"] == "dead_lettered"
    assert result["richpanelStatus"] == 400
    message = take_dead_letter(stack)
    assert message["MessageAttributes"]["reason"]["StringValue"].startswith(
        "Richpanel answered 400"
    )
    assert queue_depth(stack, "RetryQueue") == 0


def test_single_invalid_event_gets_400_with_pointers(stack: Any) -> None:
    response = stack.http.post(f"{stack.api}/v1/track", json={"userId": "u"}, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Invalid track call: /event: event is required"
    assert body["results"][0]["errors"] == [{"path": "/event", "message": "event is required"}]


def test_invalid_json_gets_400(stack: Any) -> None:
    response = stack.http.post(
        f"{stack.api}/v1/identify",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_batch_reports_each_event(stack: Any) -> None:
    good = track()
    batch = {
        "batch": [
            {**good, "type": "track"},
            {"type": "identify", "anonymousId": "anon-only"},
            {"type": "page", "userId": "user-42", "name": "Pricing", "messageId": "it-page-1"},
        ]
    }
    response = stack.http.post(f"{stack.api}/v1/batch", json=batch, timeout=10)
    assert response.status_code == 200
    outcomes = [r["outcome"] for r in response.json()["results"]]
    assert outcomes == ["delivered", "rejected", "delivered"]
    assert calls_for(stack, "it-page-1")[0]["call"]["event"] == "page_view"


def test_only_template_routes_are_served(stack: Any) -> None:
    event = track()
    response = stack.http.post(f"{stack.api}/v1/tracks", json=event, timeout=10)
    assert response.status_code == 403  # API Gateway's answer to a path it does not route
    assert response.json() == {"message": "Missing Authentication Token"}
    assert calls_for(stack, event["messageId"]) == []


def test_max_receive_count_is_the_templates() -> None:
    from local.template import Template

    template = Template.load()
    redrive = template.queues()["RetryQueue"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == {"Ref": "RetryMaxReceiveCount"}
    # only a backstop behind the retry window (docs/operations.md#how-long-the-retry-path-tries)
    assert template.parameter_defaults()["RetryMaxReceiveCount"] == "150"


def test_duplicate_on_the_retry_queue_is_acknowledged_without_a_call(
    stack: Any, wait_for: Any
) -> None:
    event = {**track(), "type": "track"}
    assert stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10).status_code == 200
    # SQS delivers at least once, and a redrive may re-send: the same event arrives again
    stack.sqs.send_message(
        QueueUrl=stack.queues["RetryQueue"],
        MessageBody=json.dumps({"v": 1, "event": event, "attempt": 1, "reason": "test"}),
    )
    wait_for(lambda: queue_depth(stack, "RetryQueue") == 0, timeout=30)
    assert len(calls_for(stack, event["messageId"])) == 1
    lines = [json.loads(x) for x in stack.log_tail(100_000).splitlines() if x.startswith("{")]
    assert any(
        line.get("outcome") == "duplicate" and line.get("messageId") == event["messageId"]
        for line in lines
    )
