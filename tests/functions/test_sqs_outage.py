"""SQS outage: ingest answers 503 with Retry-After, and the sender's retry delivers everything.

Richpanel fails some events while SQS is unreachable, so those can be neither delivered nor
parked. The answer says exactly which, the sender retries the same request, and every
event reaches Richpanel exactly once (the ones delivered the first time are duplicates).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from local.run import LocalStack
from local.secrets import LOCAL_WRITE_KEY
from richpanel_destination import runtime

from .conftest import forget

CLOSED_PORT_URL = "http://127.0.0.1:9"
AUTH = (LOCAL_WRITE_KEY, "")


def batch(n: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    return {
        "batch": [
            {"type": "track", "userId": "u-1", "event": "Outage", "messageId": f"out-{run}-{i}"}
            for i in range(n)
        ]
    }


def test_sqs_outage_gets_503_then_the_retry_delivers_each_event_once(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget(local_stack)
    api, sandbox = local_stack.api.url, local_stack.sandbox.url  # type: ignore[union-attr]
    body = batch(6)
    requests.post(f"{sandbox}/_sandbox/behaviour", json={"status": 503, "times": 2}, timeout=5)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", CLOSED_PORT_URL)  # SQS is down for ingest
    runtime.reset()
    try:
        first = requests.post(f"{api}/v1/batch", json=body, auth=AUTH, timeout=30)
    finally:
        monkeypatch.undo()
        runtime.reset()

    assert first.status_code == 503
    assert first.headers["Retry-After"] == "30"
    answer = first.json()
    failed = [r["index"] for r in answer["results"] if r["outcome"] == "failed"]
    assert len(failed) == 2
    assert answer["summary"]["delivered"] == 4
    assert (
        answer["message"] == f"Events {failed} were neither delivered nor queued; retry the request"
    )
    for result in answer["results"]:
        if result["outcome"] == "failed":
            assert result["reason"].startswith("Richpanel answered 503")
            assert "not queued: SQS send failed" in result["reason"]

    second = requests.post(f"{api}/v1/batch", json=body, auth=AUTH, timeout=30)  # Segment retries
    assert second.status_code == 200
    outcomes = {r["index"]: r["outcome"] for r in second.json()["results"]}
    assert {outcomes[i] for i in failed} == {"delivered"}
    assert {o for i, o in outcomes.items() if i not in failed} == {"duplicate"}

    accepted = requests.get(f"{sandbox}/_sandbox/accepted", timeout=5).json()["accepted"]
    assert {m["messageId"]: accepted.get(m["messageId"]) for m in body["batch"]} == {
        m["messageId"]: 1 for m in body["batch"]
    }


def test_sqs_outage_does_not_matter_when_richpanel_is_up(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget(local_stack)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", CLOSED_PORT_URL)
    runtime.reset()
    try:
        answer = requests.post(
            f"{local_stack.api.url}/v1/batch", json=batch(3), auth=AUTH, timeout=30
        )  # type: ignore[union-attr]
    finally:
        monkeypatch.undo()
        runtime.reset()
    assert answer.status_code == 200
    assert answer.json()["summary"]["delivered"] == 3
