"""Every file in events/ through its handler, as `sam local invoke -e events/<file>` would run it.

The handlers run in this process against the Richpanel sandbox and moto's SQS over real HTTP
(the same LocalStack `make run` uses), and each response is checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from local.run import LocalStack
from local.template import Template
from richpanel_destination.inbound.request import ROUTES

from .conftest import forget

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALL_EVENTS = sorted(EVENTS.glob("*.json"))


def function_for(event: dict[str, Any]) -> str:
    """Which template function a sample event is for."""
    return "RetryFunction" if "Records" in event else "IngestFunction"


def invoke(local_stack: LocalStack, path: Path) -> tuple[dict[str, Any], Any]:
    event = json.loads(path.read_text())
    forget(local_stack)
    return event, local_stack.functions[function_for(event)].invoke(event)


def recorded(local_stack: LocalStack) -> list[dict[str, Any]]:
    url = f"{local_stack.sandbox.url}/_sandbox/calls"  # type: ignore[union-attr]
    return [c["call"] for c in requests.get(url, timeout=5).json()["calls"]]


SKIPPED = "Richpanel does not take {} calls"
# sample -> (messageId, type, outcome, reason) for each event it carries
EXPECTED: dict[str, list[tuple[str, str, str, str | None]]] = {
    "identify": [("evt-identify-0001", "identify", "delivered", None)],
    "track": [("evt-track-0001", "track", "delivered", None)],
    "track_gzip": [("evt-track-gzip-0001", "track", "delivered", None)],
    # an HTTP API (ApiKind=http) event, payload format 2.0, to the same handler
    "track_http": [("evt-track-http-0001", "track", "delivered", None)],
    "page": [("evt-page-0001", "page", "delivered", None)],
    "screen": [("evt-screen-0001", "screen", "skipped", SKIPPED.format("screen"))],
    "group": [("evt-group-0001", "group", "skipped", SKIPPED.format("group"))],
    "alias": [("evt-alias-0001", "alias", "skipped", SKIPPED.format("alias"))],
    "webhook": [("evt-webhook-0001", "track", "delivered", None)],
    "webhook_batch": [
        ("evt-webhook-0002", "track", "delivered", None),
        ("evt-webhook-0003", "track", "delivered", None),
    ],
}


def test_there_is_a_sample_for_every_kind_of_route_and_the_retry_queue() -> None:
    kinds = {ROUTES[route.path.rsplit("/", 1)[1]] for route in Template.load().api_routes()}
    names = {p.stem for p in ALL_EVENTS}
    assert kinds <= names
    assert "retry_sqs" in names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ingest_sample_gets_its_exact_response(local_stack: LocalStack, name: str) -> None:
    _, response = invoke(local_stack, EVENTS / f"{name}.json")
    expected = EXPECTED[name]
    assert response["statusCode"] == 200
    results = []
    for index, (message_id, call_type, outcome, reason) in enumerate(expected):
        result: dict[str, Any] = {
            "index": index,
            "messageId": message_id,
            "type": call_type,
            "outcome": outcome,
        }
        if reason:
            result["reason"] = reason
        if outcome == "delivered":
            result["richpanelStatus"] = 200
        results.append(result)
    counts = {"received": len(expected)} | dict.fromkeys(
        (
            "delivered",
            "queued",
            "duplicate",
            "superseded",
            "dead_lettered",
            "rejected",
            "skipped",
            "failed",
        ),
        0,
    )
    for _, _, outcome, _ in expected:
        counts[outcome] += 1
    assert json.loads(response["body"]) == {"summary": counts, "results": results}
    delivered = sorted(m for m, _, outcome, _ in expected if outcome == "delivered")
    assert sorted(c["eventId"] for c in recorded(local_stack)) == delivered


def test_batch_sample_delivers_every_item(local_stack: LocalStack) -> None:
    event, response = invoke(local_stack, EVENTS / "batch.json")
    items = json.loads(event["body"])["batch"]
    assert response["statusCode"] == 200
    results = json.loads(response["body"])["results"]
    assert [(r["messageId"], r["outcome"]) for r in results] == [
        (item["messageId"], "delivered") for item in items
    ]
    calls = recorded(local_stack)
    assert sorted(c["eventId"] for c in calls) == sorted(item["messageId"] for item in items)
    assert {c["event"] for c in calls} == {
        "identify",
        "Clicked Login Button",
        "page_view",
        "Order Completed",
    }


def test_retry_sample_is_redelivered(local_stack: LocalStack) -> None:
    event, response = invoke(local_stack, EVENTS / "retry_sqs.json")
    assert response == {"batchItemFailures": []}
    parked = json.loads(event["Records"][0]["body"])["event"]
    (call,) = recorded(local_stack)
    assert call["eventId"] == parked["messageId"]
    assert call["userProperties"]["uid"] == parked["userId"]


def test_every_sample_file_is_covered() -> None:
    covered = set(EXPECTED) | {"batch", "retry_sqs"}
    assert {p.stem for p in ALL_EVENTS} == covered
