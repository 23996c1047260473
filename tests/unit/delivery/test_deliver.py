import json
from typing import Any

import pytest

from richpanel_destination.delivery.deliver import deliver_events, deliver_one
from richpanel_destination.delivery.results import Fate, http_status, summary
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import FakeClient, FakeParking

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503, retry_after=5)
BAD = Outcome(Kind.PERMANENT, "Richpanel answered 401", 401)
TRACK = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}


def run(event: Any, client: FakeClient, parking: FakeParking | None = None) -> Any:
    return deliver_one(0, event, client, parking or FakeParking())  # type: ignore[arg-type]


def test_delivered() -> None:
    client = FakeClient(OK)
    result = run(TRACK, client)
    assert (result.fate, result.status, result.message_id, result.type) == (
        Fate.DELIVERED,
        200,
        "m1",
        "track",
    )
    assert client.calls[0]["event"] == "E"


def test_retryable_is_parked_with_attempt_one() -> None:
    parking = FakeParking()
    result = run(TRACK, FakeClient(DOWN), parking)
    assert result.fate is Fate.QUEUED
    assert parking.retried == [(TRACK, DOWN, 1)]


def test_permanent_is_dead_lettered_with_reason() -> None:
    parking = FakeParking()
    result = run(TRACK, FakeClient(BAD), parking)
    assert result.fate is Fate.DEAD_LETTERED
    body, reason, message_id = parking.dead[0]
    assert json.loads(body)["event"] == TRACK
    assert (reason, message_id) == ("Richpanel answered 401", "m1")


@pytest.mark.parametrize("outcome", [DOWN, BAD])
def test_unparkable_is_failed_not_acknowledged(outcome: Outcome) -> None:
    result = run(TRACK, FakeClient(outcome), FakeParking(fail=True))
    assert result.fate is Fate.FAILED
    assert "EndpointConnectionError" in (result.reason or "")
    assert http_status([result], single=True) == 503


def test_invalid_event_is_rejected_without_a_call() -> None:
    client = FakeClient(OK)
    result = run({"type": "track", "userId": "u"}, client)
    assert result.fate is Fate.REJECTED
    assert result.errors == [{"path": "/event", "message": "event is required"}]
    assert client.calls == []
    assert http_status([result], single=True) == 400
    assert http_status([result], single=False) == 200


def test_anonymous_identify_is_rejected_with_richpanel_reason() -> None:
    result = run({"type": "identify", "anonymousId": "a"}, FakeClient(OK))
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
    result = run({"type": "group", "userId": "u", "groupId": "g"}, client)
    assert result.fate is Fate.SKIPPED
    assert client.calls == []


def test_batch_reports_each_event_in_order() -> None:
    events = [TRACK, {"type": "track"}, {**TRACK, "messageId": "m3"}]
    results = deliver_events(events, FakeClient(OK, OK), FakeParking())  # type: ignore[arg-type]
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.REJECTED, Fate.DELIVERED]
    assert [r.index for r in results] == [0, 1, 2]
    counts = summary(results)
    assert (counts["received"], counts["delivered"], counts["rejected"]) == (3, 2, 1)
    assert results[1].as_dict()["errors"][0]["path"] == ""
