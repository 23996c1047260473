"""Properties of the freshness guard: whatever the arrival order, the newest data wins."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from richpanel_destination import timestamps
from richpanel_destination.delivery.freshness import Freshness
from richpanel_destination.mapping.table import ORDER_STATUSES
from richpanel_destination.mapping.transform import to_richpanel
from richpanel_destination.richpanel.outcomes import Kind, Outcome

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)
FIELDS = ("email", "firstName", "plan", "phone")
ORDER_EVENTS = ("Order Completed", "Order Updated", "Order Cancelled", "Order Refunded")
START = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1000)
RECEIVED = START + 86_400_000
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # a fresh table each example
)


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    """One client for all of a test's examples (a client per example is slow)."""
    return boto3.client("dynamodb")


def new_table(dynamodb: Any) -> str:
    """A table of its own for one example (moto keeps tables for the whole test)."""
    name = f"marks-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


class Flaky:
    """Richpanel answering 503 to an event's first ``failures[eventId]`` sends, then 200."""

    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = dict(failures)
        self.accepted: list[dict[str, Any]] = []

    def __call__(self, call: Mapping[str, Any]) -> Outcome:
        event_id = str(call.get("eventId"))
        if self.failures.get(event_id, 0) > 0:
            self.failures[event_id] -= 1
            return DOWN
        self.accepted.append(dict(call))
        return OK


def run(
    freshness: Freshness,
    events: list[dict[str, Any]],
    richpanel: Flaky,
    order_fields: str = "both",
) -> dict[str, Outcome]:
    """Send the events in turn; a retryable failure goes to the back of the queue."""
    queue = deque(events)
    final: dict[str, Outcome] = {}
    while queue:
        event = queue.popleft()
        call = to_richpanel(event, order_fields)
        at = timestamps.event_time(event, RECEIVED)
        outcome = freshness.send(event, at, event["messageId"], call, richpanel)
        if outcome.kind is Kind.RETRYABLE:
            queue.append(event)
        else:
            final[event["messageId"]] = outcome
    return final


@st.composite
def identifies(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One customer's identifies with distinct times, in arrival order, and their failures."""
    offsets = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=5, unique=True))
    events = []
    for i, offset in enumerate(offsets):
        chosen = draw(st.sets(st.sampled_from(FIELDS)))
        traits = {name: f"{name}-{i}" for name in sorted(chosen)}
        event: dict[str, Any] = {
            "type": "identify",
            "userId": "u1",
            "messageId": f"m{i}",
            "timestamp": iso(START + offset * 1000),
        }
        if traits:
            event["traits"] = traits
        events.append(event)
    arrival = draw(st.permutations(events))
    failures = {e["messageId"]: draw(st.integers(0, 1)) for e in events}
    return arrival, failures


@SETTINGS
@given(case=identifies())
def test_the_profile_ends_with_each_field_s_newest_value(
    dynamodb: Any, case: tuple[list[dict[str, Any]], dict[str, int]]
) -> None:
    events, failures = case
    richpanel = Flaky(failures)
    final = run(Freshness(new_table(dynamodb), 3600, "strip", dynamodb), events, richpanel)

    profile: dict[str, Any] = {}
    for call in richpanel.accepted:  # Richpanel's upsert: later arrival wins, nulls ignored
        profile.update({k: v for k, v in call["userProperties"].items() if v is not None})

    newest: dict[str, tuple[str, Any]] = {}
    for event in events:
        for name, value in event.get("traits", {}).items():
            if name not in newest or event["timestamp"] > newest[name][0]:
                newest[name] = (event["timestamp"], value)
    assert {k: v for k, v in profile.items() if k != "uid"} == {
        name: value for name, (_, value) in newest.items()
    }
    assert set(final) == {e["messageId"] for e in events}
    assert {o.kind for o in final.values()} <= {Kind.DELIVERED, Kind.SUPERSEDED}
    for event in events:  # superseded exactly when every field it carries was newer elsewhere
        carried = event.get("traits", {})
        beaten = bool(carried) and all(newest[n][0] > event["timestamp"] for n in carried)
        was_superseded = final[event["messageId"]].kind is Kind.SUPERSEDED
        assert not was_superseded or beaten


@st.composite
def order_histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, int], str]:
    """One order's status events with distinct times, in arrival order; failures; naming."""
    offsets = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=5, unique=True))
    events: list[dict[str, Any]] = [
        {
            "type": "track",
            "userId": "u1",
            "messageId": f"m{i}",
            "event": draw(st.sampled_from(ORDER_EVENTS)),
            "timestamp": iso(START + offset * 1000),
            # the same order, its id as a string or a number
            "properties": {"order_id": draw(st.sampled_from(["7", 7])), "total": 10 + i},
        }
        for i, offset in enumerate(offsets)
    ]
    arrival = draw(st.permutations(events))
    failures = {e["messageId"]: draw(st.integers(0, 1)) for e in events}
    return arrival, failures, draw(st.sampled_from(["both", "documented", "plugin"]))


@SETTINGS
@given(case=order_histories())
def test_the_order_ends_with_the_newest_event_s_state_and_all_reach_the_timeline(
    dynamodb: Any, case: tuple[list[dict[str, Any]], dict[str, int], str]
) -> None:
    events, failures, order_fields = case
    richpanel = Flaky(failures)
    freshness = Freshness(new_table(dynamodb), 3600, "strip", dynamodb)
    final = run(freshness, events, richpanel, order_fields)

    orders: dict[str, dict[str, Any]] = {}  # as local/sandbox/customers.py merges them
    for call in richpanel.accepted:
        properties = call["properties"]
        order_id = properties.get("order_id", properties.get("orderId"))
        orders.setdefault(str(order_id), {}).update(properties)

    newest = max(events, key=lambda e: e["timestamp"])
    assert list(orders) == ["7"]
    assert orders["7"]["status"] == ORDER_STATUSES[newest["event"].lower()]
    assert orders["7"]["order_status"] == ORDER_STATUSES[newest["event"].lower()]
    assert orders["7"]["amount"] == newest["properties"]["total"]
    assert {o.kind for o in final.values()} == {Kind.DELIVERED}
    timeline = sorted(call["eventId"] for call in richpanel.accepted)
    assert timeline == sorted(e["messageId"] for e in events)
