"""Issue 13's windows where an event was lost or sent twice, at the delivery layer.

The store is moto's in-process DynamoDB; Richpanel and SQS are test doubles.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from richpanel_destination.delivery.dedupe import Deduplicator, event_key
from richpanel_destination.delivery.deliver import Delivery
from richpanel_destination.delivery.results import Fate
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import FakeClient, FakeQueues, deliver

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
TRACK = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}


class Context:
    """A Lambda context with a fixed remaining time (what a claim's expiry is taken from)."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def abandon_claim(table: str, key: str, remaining_ms: int = 60_000) -> None:
    """Another invocation claims the key and dies before it sends or settles."""
    holder = Deduplicator(table, 3600)
    holder.register_lambda_context(Context(remaining_ms))
    assert holder._claim(key) is None


# ---------------------------------------------------------------- 1. claimed elsewhere


def test_an_event_claimed_by_another_invocation_is_queued_not_acknowledged(table: str) -> None:
    abandon_claim(table, "m1")
    client, queues = FakeClient(OK), FakeQueues()
    (result,) = deliver(Delivery(client, queues, dedupe=Deduplicator(table, 3600)), [TRACK])  # type: ignore[arg-type]
    assert (result.fate, result.reason) == (
        Fate.QUEUED,
        "already being delivered by another invocation",
    )
    assert client.calls == []  # not sent now: the holder may still deliver it
    (message,) = queues.messages
    assert (message.dead_letter, json.loads(message.body)["event"]) == (False, TRACK)


def test_a_claim_whose_holder_died_is_taken_over_once_it_expires(table: str) -> None:
    abandon_claim(table, "m1", remaining_ms=-1)  # the holder's invocation is over
    client = FakeClient(OK)
    (result,) = deliver(Delivery(client, FakeQueues(), dedupe=Deduplicator(table, 3600)), [TRACK])  # type: ignore[arg-type]
    assert result.fate is Fate.DELIVERED
    assert len(client.calls) == 1


# -------------------------------------------------- 2. events without a messageId


def test_an_event_without_message_id_is_keyed_on_its_content() -> None:
    event = {"type": "track", "userId": "u", "event": "E", "properties": {"a": 1}}
    resent = {**event, "sentAt": "2026-12-01T10:00:01Z", "writeKey": "k"}  # a resend
    other = {**event, "properties": {"a": 2}}
    assert event_key(event) == event_key(resent) != event_key(other)
    assert event_key(event).startswith("content:")
    assert event_key({**event, "messageId": "m-9"}) == "m-9"


def test_a_batch_without_message_ids_sent_twice_reaches_richpanel_once(table: str) -> None:
    events = [{"type": "track", "userId": f"u{i}", "event": "E"} for i in range(17)]
    client = FakeClient(OK)
    delivery = Delivery(client, FakeQueues(), dedupe=Deduplicator(table, 3600))  # type: ignore[arg-type]
    assert {r.fate for r in deliver(delivery, events)} == {Fate.DELIVERED}
    assert {r.fate for r in deliver(delivery, events)} == {Fate.DUPLICATE}  # the sender retried
    assert len(client.calls) == 17


# ------------------------------------------------ 3. a success that cannot be recorded


def failing_saves(dedupe: Deduplicator, failures: int) -> list[int]:
    """Make the store's save_success fail ``failures`` times; returns the attempts seen."""
    store = dedupe._store
    real = store.save_success
    attempts: list[int] = []

    def save_success(*args: Any, **kwargs: Any) -> None:
        attempts.append(1)
        if len(attempts) <= failures:
            raise RuntimeError("DynamoDB is throttling")
        real(*args, **kwargs)

    store.save_success = save_success  # type: ignore[method-assign]
    return attempts


def test_a_success_the_store_cannot_record_is_delivered_not_retried(table: str) -> None:
    dedupe = Deduplicator(table, 3600)
    attempts = failing_saves(dedupe, failures=99)
    client, queues = FakeClient(OK), FakeQueues()
    (result,) = deliver(Delivery(client, queues, dedupe=dedupe), [TRACK])  # type: ignore[arg-type]
    assert result.fate is Fate.DELIVERED
    assert queues.messages == []  # not queued, so never sent a second time
    assert len(client.calls) == 1 and len(attempts) == 3  # saving was retried briefly
    assert result.record_failed is not None
    assert result.record_failed.startswith("delivery record not saved: RuntimeError")
    assert result.log_line()["recordFailed"] == result.record_failed


def test_a_save_that_succeeds_on_a_second_try_records_the_delivery(table: str) -> None:
    dedupe = Deduplicator(table, 3600)
    failing_saves(dedupe, failures=1)
    client = FakeClient(OK)
    delivery = Delivery(client, FakeQueues(), dedupe=dedupe)  # type: ignore[arg-type]
    (first,) = deliver(delivery, [TRACK])
    assert (first.fate, first.record_failed) == (Fate.DELIVERED, None)
    (again,) = deliver(delivery, [TRACK])
    assert again.fate is Fate.DUPLICATE
    assert len(client.calls) == 1


@pytest.mark.parametrize("batch_size", [0, 2])
def test_batch_and_single_sends_share_the_protocol(table: str, batch_size: int) -> None:
    abandon_claim(table, "b1")
    events = [{**TRACK, "messageId": f"b{i}"} for i in range(3)]
    client, queues = FakeClient(OK), FakeQueues()
    dedupe = Deduplicator(table, 3600)
    results = deliver(Delivery(client, queues, dedupe=dedupe, batch_size=batch_size), events)  # type: ignore[arg-type]
    assert [r.fate for r in results] == [Fate.DELIVERED, Fate.QUEUED, Fate.DELIVERED]
    sent = [c["eventId"] for c in client.calls] + [c["eventId"] for b in client.batches for c in b]
    assert sorted(sent) == ["b0", "b2"]
