import json
import time
from typing import Any

import pytest

from richpanel_destination.delivery.deliver import OUT_OF_TIME, Delivery
from richpanel_destination.delivery.queues import queue_seconds
from richpanel_destination.delivery.results import Fate
from richpanel_destination.ingest import http_status, summary
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import TIMED_OUT, FakeClient, FakeQueues, deliver

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503, retry_after=5)
BAD = Outcome(Kind.PERMANENT, "Richpanel answered 401", 401)
TRACK = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}


def delivery(client: FakeClient, queues: FakeQueues | None = None, **kw: Any) -> Delivery:
    return Delivery(client, queues or FakeQueues(), **kw)  # type: ignore[arg-type]


def one(event: Any, client: FakeClient, queues: FakeQueues | None = None) -> Any:
    (result,) = deliver(delivery(client, queues), [event])
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
    queues = FakeQueues()
    result = one(TRACK, FakeClient(DOWN), queues)
    assert result.fate is Fate.QUEUED
    (message,) = queues.messages
    assert message.dead_letter is False
    assert message.delay == 5  # Retry-After becomes DelaySeconds
    assert json.loads(message.body)["event"] == TRACK
    assert message.attrs["messageId"] == {"DataType": "String", "StringValue": "m1"}
    assert message.attrs["attempt"] == {"DataType": "Number", "StringValue": "1"}
    assert message.attrs["retryAfter"] == {"DataType": "Number", "StringValue": "5"}
    assert message.attrs["reason"]["StringValue"] == "Richpanel answered 503"


def test_permanent_is_dead_lettered_with_reason() -> None:
    queues = FakeQueues()
    result = one(TRACK, FakeClient(BAD), queues)
    assert result.fate is Fate.DEAD_LETTERED
    (message,) = queues.messages
    assert message.dead_letter is True
    assert message.attrs["reason"]["StringValue"] == "Richpanel answered 401"


@pytest.mark.parametrize("outcome", [DOWN, BAD])
def test_unparkable_is_failed_not_acknowledged(outcome: Outcome) -> None:
    result = one(TRACK, FakeClient(outcome), FakeQueues(fail=True))
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
    results = deliver(delivery(FakeClient(OK)), events)
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.REJECTED, Fate.DELIVERED]
    assert [r.index for r in results] == [0, 1, 2]
    counts = summary(results)
    assert (counts["received"], counts["delivered"], counts["rejected"]) == (3, 2, 1)
    assert results[1].as_dict()["errors"][0]["path"] == ""


def test_sends_run_concurrently_up_to_the_limit() -> None:
    client = FakeClient(OK, delay=0.2)
    events = [{**TRACK, "messageId": f"m{i}"} for i in range(8)]
    started = time.monotonic()
    results = deliver(delivery(client, concurrency=4, budget=10), events)
    elapsed = time.monotonic() - started
    assert {r.fate for r in results} == {Fate.DELIVERED}
    assert 0.4 <= elapsed < 0.8  # two waves of four, not eight in a row


def test_what_misses_the_budget_is_parked_and_the_answer_is_on_time() -> None:
    queues = FakeQueues()
    client = FakeClient(OK, delay=3.0)  # Richpanel hangs
    started = time.monotonic()
    results = deliver(
        delivery(client, queues, concurrency=2, budget=1.5),
        [TRACK, {**TRACK, "messageId": "m2"}, {**TRACK, "messageId": "m3"}],
    )
    assert time.monotonic() - started < 1.5
    assert [r.fate for r in results] == [Fate.QUEUED] * 3
    # the two sends that started were given only the time left, and ended by the deadline
    assert [r.reason for r in results[:2]] == [TIMED_OUT.reason] * 2
    assert all(w is not None and w <= 1.5 - queue_seconds(3) for w in client.sends_within)
    # the third could not have finished in time: never started
    assert (len(client.calls), results[2].reason) == (2, OUT_OF_TIME.reason)
    assert len(queues.messages) == 3


def test_no_send_outlives_the_answer() -> None:
    client = FakeClient(OK, delay=0.9)
    events = [{**TRACK, "messageId": f"m{i}"} for i in range(6)]
    deliver(delivery(client, concurrency=2, budget=1.5), events)
    returned = time.monotonic()
    time.sleep(1.0)
    assert client.finished and max(client.finished) <= returned


def test_duplicates_are_acknowledged_without_parking() -> None:
    queues = FakeQueues()
    dup = Outcome(Kind.DUPLICATE, "already delivered", 200)
    result = one(TRACK, FakeClient(dup), queues)
    assert (result.fate, result.reason) == (Fate.DUPLICATE, "already delivered")
    assert queues.messages == []


# ----------------------------------------------------------------------------- /bt batching


def tracks(n: int, prefix: str = "b") -> list[dict[str, Any]]:
    return [{**TRACK, "messageId": f"{prefix}{i}", "event": f"E{i}"} for i in range(n)]


def test_batching_off_by_default_sends_one_call_per_event() -> None:
    client = FakeClient(OK)
    results = deliver(delivery(client), tracks(3))
    assert {r.fate for r in results} == {Fate.DELIVERED}
    assert (len(client.calls), client.batches) == (3, [])


def test_batch_size_chunks_the_pending_events_in_order() -> None:
    client = FakeClient(OK)
    events = tracks(120)
    events[5] = {"type": "track"}  # rejected: not in any chunk
    results = deliver(delivery(client, batch_size=50), events)
    assert client.calls == []
    assert sorted(len(b) for b in client.batches) == [19, 50, 50]
    sent = sorted((c["event"] for b in client.batches for c in b), key=lambda e: int(e[1:]))
    assert sent == [f"E{i}" for i in range(120) if i != 5]
    assert [r.fate for r in results] == [
        Fate.REJECTED if i == 5 else Fate.DELIVERED for i in range(120)
    ]
    assert {r.status for r in results if r.fate is Fate.DELIVERED} == {200}


def test_a_retryable_chunk_parks_each_of_its_events_for_retry() -> None:
    queues = FakeQueues()
    client = FakeClient(DOWN)
    results = deliver(delivery(client, queues, batch_size=2), tracks(3))
    assert len(client.batches) == 2
    assert [r.fate for r in results] == [Fate.QUEUED] * 3
    assert {r.reason for r in results} == {"Richpanel answered 503"}
    assert sorted(json.loads(p.body)["event"]["messageId"] for p in queues.messages) == [
        "b0",
        "b1",
        "b2",
    ]
    assert {(p.dead_letter, p.delay) for p in queues.messages} == {(False, 5)}


def test_a_permanent_chunk_dead_letters_each_of_its_events_with_the_reason() -> None:
    queues = FakeQueues()
    results = deliver(delivery(FakeClient(BAD), queues, batch_size=50), tracks(2))
    assert [(r.fate, r.reason, r.status) for r in results] == [
        (Fate.DEAD_LETTERED, "Richpanel answered 401", 401)
    ] * 2
    assert [p.dead_letter for p in queues.messages] == [True, True]
    assert {p.attrs["reason"]["StringValue"] for p in queues.messages} == {"Richpanel answered 401"}


def test_chunks_run_concurrently_up_to_the_limit() -> None:
    client = FakeClient(OK, delay=0.2)
    started = time.monotonic()
    results = deliver(delivery(client, concurrency=2, budget=10, batch_size=2), tracks(8))
    elapsed = time.monotonic() - started
    assert {r.fate for r in results} == {Fate.DELIVERED}
    assert len(client.batches) == 4
    assert 0.4 <= elapsed < 0.7  # two waves of two chunks


def test_a_chunk_unanswered_by_the_deadline_parks_all_its_events() -> None:
    queues = FakeQueues()
    client = FakeClient(OK, delay=3.0)  # Richpanel hangs
    started = time.monotonic()
    results = deliver(delivery(client, queues, concurrency=2, budget=1.5, batch_size=2), tracks(3))
    assert time.monotonic() - started < 1.5
    # both chunks were sent with the time left and timed out by the deadline
    assert [(r.fate, r.reason) for r in results] == [(Fate.QUEUED, TIMED_OUT.reason)] * 3
    assert len(client.batches) == 2
    assert all(w is not None and w <= 1.5 - queue_seconds(3) for w in client.sends_within)
    assert len(queues.messages) == 3


class FakeDedupe:
    """Answers DUPLICATE for the message ids it knows, sends the rest in one request."""

    def __init__(self, delivered: set[str]) -> None:
        self.delivered = delivered

    def send_batch(
        self, items: list[tuple[str | None, Any]], send_batch: Any, **_: Any
    ) -> list[Outcome]:
        fresh = [call for mid, call in items if mid not in self.delivered]
        answers = iter(send_batch(fresh) if fresh else [])
        dup = Outcome(Kind.DUPLICATE, "already delivered", 200)
        return [dup if mid in self.delivered else next(answers) for mid, _call in items]


def test_chunks_go_through_the_deduplicator() -> None:
    client = FakeClient(OK)
    dedupe = FakeDedupe({"b1"})
    results = deliver(delivery(client, dedupe=dedupe, batch_size=50), tracks(3))
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.DUPLICATE, Fate.DELIVERED]
    assert results[1].reason == "already delivered"
    assert [[c["event"] for c in b] for b in client.batches] == [["E0", "E2"]]


# ------------------------------------------------------- freshest data wins, one request


@pytest.fixture
def guard(marks_table: str) -> Any:
    """A freshness guard over a fresh table on moto's in-process DynamoDB."""
    from richpanel_destination.delivery.freshness import Freshness

    return Freshness(marks_table, 3600)


def identify(message_id: str, at: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "userId": "u-7",
            "timestamp": f"2026-12-01T{at}:00Z", "traits": traits}  # fmt: skip


def test_a_requests_events_for_one_customer_go_in_turn_and_the_older_loses_its_fields(
    guard: Any,
) -> None:
    """Newest first in the request: the older identify is sent only with what is newer."""
    client = FakeClient(OK)
    events = [
        identify("m-new", "10:00", email="new@example.com", plan="gold"),
        identify("m-old", "09:00", email="old@example.com", firstName="Ann"),
        identify("m-oldest", "08:00", email="oldest@example.com"),
    ]
    results = deliver(delivery(client, freshness=guard, concurrency=8), events)
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.DELIVERED, Fate.SUPERSEDED]
    assert [c["userProperties"] for c in client.calls] == [
        {"uid": "u-7", "email": "new@example.com", "plan": "gold"},
        {"uid": "u-7", "firstName": "Ann"},
    ]
    assert results[2].reason == (
        "Richpanel has newer data from 2026-12-01T10:00:00.000+00:00 (messageId m-new)"
    )
    assert summary(results)["superseded"] == 1 and http_status(results, single=False) == 200


def test_a_failed_send_moves_no_mark_so_a_later_older_event_still_counts(guard: Any) -> None:
    queues = FakeQueues()
    events = [identify("m-new", "10:00", email="new@example.com")]
    (failed,) = deliver(delivery(FakeClient(DOWN), queues, freshness=guard), events)
    assert failed.fate is Fate.QUEUED
    assert json.loads(queues.messages[0].body)["eventTime"] == 1_796_119_200_000
    client = FakeClient(OK)
    (older,) = deliver(delivery(client, freshness=guard), [identify("m-old", "09:00", email="o")])
    assert older.fate is Fate.DELIVERED and client.calls[0]["userProperties"]["email"] == "o"


def test_in_a_bt_chunk_a_second_event_for_the_customer_is_queued_not_raced(guard: Any) -> None:
    client, queues = FakeClient(OK), FakeQueues()
    events = [identify("m-a", "10:00", email="a@x.io"), identify("m-b", "11:00", email="b@x.io")]
    results = deliver(delivery(client, queues, freshness=guard, batch_size=10), events)
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.QUEUED]
    assert results[1].reason == "another event for this customer or order is being delivered"
    assert [[c["eventId"] for c in batch] for batch in client.batches] == [["m-a"]]
    assert [json.loads(m.body)["event"]["messageId"] for m in queues.messages] == ["m-b"]
