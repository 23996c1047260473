"""The EMF blobs a mixed batch produces: the same metrics CloudWatch would show."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from local.template import LOCAL_STACK_NAME

pytestmark = pytest.mark.integration
NAMESPACE = "RichpanelDestination"


def emf_blobs(stack: Any, since_ms: int) -> list[dict[str, Any]]:
    blobs = []
    for line in stack.log_tail(2_000_000).splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        if blob["_aws"]["Timestamp"] >= since_ms:
            blobs.append(blob)
    return blobs


def value_of(blob: dict[str, Any], name: str) -> float:
    value = blob[name]
    return float(sum(value)) if isinstance(value, list) else float(value)


def totals(blobs: list[dict[str, Any]], dimension: str) -> Counter[tuple[str, str]]:
    """(dimension value, metric name) -> summed value, for blobs carrying that dimension."""
    out: Counter[tuple[str, str]] = Counter()
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:  # a line may hold several
            if {dimension, "service"} not in [set(d) for d in directive["Dimensions"]]:
                continue
            for metric in directive["Metrics"]:
                out[(blob[dimension], metric["Name"])] += value_of(blob, metric["Name"])
    return out


def test_a_mixed_batch_emits_the_expected_metrics_and_dimensions(stack: Any, wait_for: Any) -> None:
    since = int(time.time() * 1000) - 1
    run = uuid.uuid4().hex[:8]
    batch = {
        "batch": [
            {"type": "track", "userId": "u", "event": "E", "messageId": f"m-{run}-1"},
            {"type": "track", "userId": "u", "event": "E", "messageId": f"m-{run}-2"},
            {"type": "page", "anonymousId": "a", "name": "P", "messageId": f"m-{run}-3"},
            {"type": "identify", "anonymousId": "a", "messageId": f"m-{run}-4"},
            {"type": "group", "userId": "u", "groupId": "g", "messageId": f"m-{run}-5"},
            {"type": "launch", "userId": "u", "messageId": f"m-{run}-6"},
        ]
    }
    assert stack.http.post(f"{stack.api}/v1/batch", json=batch, timeout=10).status_code == 200
    stack.set_behaviour(status=503, times=1)
    single = {"userId": "u", "event": "Queued", "messageId": f"m-{run}-7"}
    queued = stack.http.post(f"{stack.api}/v1/track", json=single, timeout=10).json()
    assert queued["results"][0]["outcome"] == "queued"
    wait_for(lambda: stack.queue_total("RetryQueue") == 0, timeout=30)  # the retry delivers it

    def counted() -> Counter[tuple[str, str]]:
        return totals(emf_blobs(stack, since), "EventType")

    by_type = wait_for(lambda: counted()[("track", "EventsReceived")] == 3 and counted())
    assert by_type[("track", "EventsDelivered")] == 2
    assert by_type[("track", "EventsQueued")] == 1
    assert by_type[("page", "EventsReceived")] == by_type[("page", "EventsDelivered")] == 1
    assert by_type[("identify", "EventsRejected")] == 1
    assert by_type[("group", "EventsSkipped")] == 1
    assert by_type[("unknown", "EventsRejected")] == 1  # an invented type is not a dimension

    blobs = emf_blobs(stack, since)
    directives = [d for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"]]
    assert all(directive["Namespace"] == NAMESPACE for directive in directives)
    assert all(blob["service"] == LOCAL_STACK_NAME for blob in blobs)  # the stack name
    calls = totals(blobs, "StatusClass")
    assert calls[("2xx", "RichpanelCalls")] >= 4  # three at ingest, one on retry
    assert calls[("5xx", "RichpanelCalls")] == 1
    assert calls[("2xx", "RichpanelLatency")] > 0
    retry: Counter[str] = Counter()
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                if metric["Name"].startswith("Retry"):
                    retry[metric["Name"]] += value_of(blob, metric["Name"])
    assert retry["RetryAttempts"] >= 1
    assert retry["RetryDelivered"] == 1
