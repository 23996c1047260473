import json
import time
from typing import Any

import pytest

from richpanel_destination.delivery.deliver import OUT_OF_TIME, Delivery
from richpanel_destination.delivery.results import Fate, http_status, summary
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import FakeClient, FakeParking

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503, retry_after=5)
BAD = Outcome(Kind.PERMANENT, "Richpanel answered 401", 401)
TRACK = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}


def delivery(client: FakeClient, parking: FakeParking | None = None, **kw: Any) -> Delivery:
    return Delivery(client, parking or FakeParking(), **kw)  # type: ignore[arg-type]


def one(event: Any, client: FakeClient, parking: FakeParking | None = None) -> Any:
    (result,) = delivery(client, parking).deliver([event])
    return result


def test_delivered() -> None:
    client = FakeClient(OK)
    result = one(TRACK, client)
    assert (result.fate, result.status, result.message_id, result.type) == (
        Fate.DELIVERED,
        200,
        "m1",
        "track",
    )
    assert client.calls[0]["event"] == "E"


def test_retryable_is_parked_for_retry_with_its_metadata() -> None:
    parking = FakeParking()
    result = one(TRACK, FakeClient(DOWN), parking)
    assert result.fate is Fate.QUEUED
    (parcel,) = parking.parcels
    assert parcel.dead_letter is False
    assert parcel.delay == 5  # Retry-After becomes DelaySeconds
    assert json.loads(parcel.body)["event"] == TRACK
    assert parcel.attrs["messageId"] == {"DataType": "String", "StringValue": "m1"}
    assert parcel.attrs["attempt"] == {"DataType": "Number", "StringValue": "1"}
    assert parcel.attrs["retryAfter"] == {"DataType": "Number", "StringValue": "5"}
    assert parcel.attrs["reason"]["StringValue"] == "Richpanel answered 503"


def test_permanent_is_dead_lettered_with_reason() -> None:
    parking = FakeParking()
    result = one(TRACK, FakeClient(BAD), parking)
    assert result.fate is Fate.DEAD_LETTERED
    (parcel,) = parking.parcels
    assert parcel.dead_letter is True
    assert parcel.attrs["reason"]["StringValue"] == "Richpanel answered 401"


@pytest.mark.parametrize("outcome", [DOWN, BAD])
def test_unparkable_is_failed_not_acknowledged(outcome: Outcome) -> None:
    result = one(TRACK, FakeClient(outcome), FakeParking(fail=True))
    assert result.fate is Fate.FAILED
    assert (
        result.reason == f"{outcome.reason}; not queued: SQS send failed: EndpointConnectionError"
    )
    assert http_status([result], single=True) == 503


def test_invalid_event_is_rejected_without_a_call() -> None:
    client = FakeClient(OK)
    result = one({"type": "track", "userId": "u"}, client)
    assert result.fate is Fate.REJECTED
    assert result.errors == [{"path": "/event", "message": "event is required"}]
    assert client.calls == []
    assert http_status([result], single=True) == 400
    assert http_status([result], single=False) == 200


def test_anonymous_identify_is_rejected_with_richpanel_reason() -> None:
    result = one({"type": "identify", "anonymousId": "a"}, FakeClient(OK))
    assert result.fate is Fate.REJECTED
    assert result.errors == [
        {
            "path": "/userId",
            "message": (
                "identify requires userId (Richpanel's uid); anonymous identify is not accepted"
            ),
        }
    ]


def test_skipped_types_make_no_call() -> None:
    client = FakeClient(OK)
    result = one({"type": "group", "userId": "u", "groupId": "g"}, client)
    assert result.fate is Fate.SKIPPED
    assert client.calls == []


def test_batch_reports_each_event_in_order() -> None:
    events = [TRACK, {"type": "track"}, {**TRACK, "messageId": "m3"}]
    results = delivery(FakeClient(OK)).deliver(events)
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.REJECTED, Fate.DELIVERED]
    assert [r.index for r in results] == [0, 1, 2]
    counts = summary(results)
    assert (counts["received"], counts["delivered"], counts["rejected"]) == (3, 2, 1)
    assert results[1].as_dict()["errors"][0]["path"] == ""


def test_sends_run_concurrently_up_to_the_limit() -> None:
    client = FakeClient(OK, delay=0.2)
    events = [{**TRACK, "messageId": f"m{i}"} for i in range(8)]
    started = time.monotonic()
    results = delivery(client, concurrency=4, budget=10).deliver(events)
    elapsed = time.monotonic() - started
    assert {r.fate for r in results} == {Fate.DELIVERED}
    assert 0.4 <= elapsed < 0.8  # two waves of four, not eight in a row


def test_what_misses_the_budget_is_parked_and_the_answer_is_on_time() -> None:
    parking = FakeParking()
    client = FakeClient(OK, delay=3.0)  # Richpanel hangs
    started = time.monotonic()
    results = delivery(client, parking, concurrency=2, budget=1.5).deliver(
        [TRACK, {**TRACK, "messageId": "m2"}, {**TRACK, "messageId": "m3"}]
    )
    assert time.monotonic() - started < 1.5
    assert [r.fate for r in results] == [Fate.QUEUED] * 3
    assert {r.reason for r in results} == {OUT_OF_TIME.reason}
    assert len(parking.parcels) == 3


def test_duplicates_are_acknowledged_without_parking() -> None:
    parking = FakeParking()
    dup = Outcome(Kind.DUPLICATE, "already delivered", 200)
    result = one(TRACK, FakeClient(dup), parking)
    assert (result.fate, result.reason) == (Fate.DUPLICATE, "already delivered")
    assert parking.parcels == []
