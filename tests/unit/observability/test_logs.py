"""The compact "event outcome" line (issue 18): exact keys for delivered and failed events."""

from __future__ import annotations

import json
from typing import Any

from richpanel_destination.delivery.results import EventResult, Fate, trace_keys
from richpanel_destination.observability import logs
from richpanel_destination.observability.redact import Redactor, digest
from richpanel_destination.retry import RetryResult, retry_line
from richpanel_destination.richpanel.outcomes import Kind, Outcome

ORDER = {
    "type": "track",
    "messageId": "m-1",
    "userId": "u-1",
    "event": "Order Completed",
    "context": {"traits": {"email": "jane@example.com"}},
    "properties": {"order_id": "o-50314", "total": 10},
}
OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200, latency_ms=143.2)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503, latency_ms=80.0)
SQS_KEYS = {"sqsMessageId": "sqs-1", "messageId": "m-1", "receiveCount": 3}


def as_logged(fields: dict[str, Any]) -> dict[str, Any]:
    """The line as the functions' serializer writes it (no first-line keys pending)."""
    logs._first.take()
    return dict(json.loads(logs.serializer(Redactor())({"level": "INFO", **fields})))


def test_a_delivered_ingest_line_has_only_the_keys_that_trace_the_event() -> None:
    line = EventResult.of(0, ORDER, Fate.DELIVERED, None, OK).log_line()
    assert line == {
        "messageId": "m-1",
        "userId": "u-1",
        "email": "jane@example.com",
        "orderId": "o-50314",
        "type": "track",
        "outcome": "delivered",
        "attempt": 1,
        "richpanelStatus": 200,
        "latencyMs": 143.2,
    }
    assert as_logged(line)["email"] == digest("jane@example.com")  # hashed in the log


def test_a_failed_ingest_line_keeps_its_index_and_reason() -> None:
    result = EventResult.of(4, ORDER, Fate.QUEUED, "Richpanel answered 503", DOWN)
    assert set(result.log_line()) == {
        "messageId", "userId", "email", "orderId", "type", "outcome", "attempt",
        "richpanelStatus", "latencyMs", "index", "reason",
    }  # fmt: skip
    assert result.log_line()["reason"] == "Richpanel answered 503"


def test_a_rejected_line_without_a_richpanel_call_has_no_status_or_latency() -> None:
    event = {"type": "identify", "messageId": "m-2"}
    line = EventResult.of(1, event, Fate.REJECTED, "invalid Segment call").log_line()
    assert line == {
        "messageId": "m-2",
        "type": "identify",
        "outcome": "rejected",
        "attempt": 1,
        "index": 1,
        "reason": "invalid Segment call",
    }


def test_a_delivered_retry_line_drops_the_sqs_keys() -> None:
    done = RetryResult(Fate.DELIVERED, "m-1", 4, None, OK, "u-1", "track", trace_keys(ORDER))
    assert set(retry_line(done, SQS_KEYS)) == {
        "messageId", "userId", "email", "orderId", "type", "outcome", "attempt",
        "richpanelStatus", "latencyMs",
    }  # fmt: skip


def test_a_dead_lettered_retry_line_keeps_its_sqs_keys_and_reason() -> None:
    reason = "gave up after 24 h (57 attempts): Richpanel answered 503"
    done = RetryResult(Fate.DEAD_LETTERED, "m-1", 57, reason, DOWN, "u-1", "track", {})
    line = retry_line(done, SQS_KEYS)
    assert set(line) == {
        "messageId", "userId", "type", "outcome", "attempt", "richpanelStatus", "latencyMs",
        "sqsMessageId", "receiveCount", "reason",
    }  # fmt: skip
    assert (line["reason"], line["sqsMessageId"]) == (reason, "sqs-1")


def test_a_poison_message_keeps_the_messageid_of_its_sqs_attribute() -> None:
    done = RetryResult(Fate.DEAD_LETTERED, None, 2, "poison message: body is not JSON")
    assert retry_line(done, SQS_KEYS)["messageId"] == "m-1"


def test_trace_keys_read_the_email_of_identify_track_and_a_numeric_order_id() -> None:
    assert trace_keys({"traits": {"email": "a@b.co"}}) == {"email": "a@b.co"}
    assert trace_keys({"properties": {"email": "a@b.co", "order_id": 42}}) == {
        "email": "a@b.co",
        "orderId": "42",
    }
    assert trace_keys({"properties": {"order_id": True}}) == {}
    assert trace_keys("not an event") == {}


def test_powertools_boilerplate_is_dropped_and_invocation_keys_go_on_the_first_line_only() -> None:
    serialize = logs.serializer(Redactor())
    record = {
        "level": "INFO",
        "message": "event outcome",
        "location": "ingest:88",
        "timestamp": "2026-12-02 00:24:23,472+0000",
        "service": "richpanel-destination",
        "sampling_rate": 0.0,
        "messageId": "m-1",
    }
    logs._first.set({"function_request_id": "req-1", "cold_start": None, "xray_trace_id": "1-a"})
    logs.first_line(auth="writeKey")
    first, second = json.loads(serialize(record)), json.loads(serialize(record))
    assert first == {
        "level": "INFO",
        "message": "event outcome",
        "messageId": "m-1",
        "function_request_id": "req-1",
        "xray_trace_id": "1-a",
        "auth": "writeKey",
    }
    assert second == {"level": "INFO", "message": "event outcome", "messageId": "m-1"}
    logs.first_line(auth="late")  # after the first line: nothing pending, nothing added
    assert "auth" not in json.loads(serialize(record))
