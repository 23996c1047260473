"""Freshest data wins (delivery/freshness.py) against moto's in-process DynamoDB."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from richpanel_destination import timestamps
from richpanel_destination.delivery import freshness as fr
from richpanel_destination.delivery.deliver import Delivery
from richpanel_destination.delivery.freshness import (
    LEASE_HELD,
    SETTLE_ATTEMPTS,
    STATE,
    Freshness,
    Lease,
    Subject,
    chains,
    subjects,
)
from richpanel_destination.delivery.results import Fate
from richpanel_destination.mapping.table import ORDER_STATE_FIELDS
from richpanel_destination.mapping.transform import to_richpanel
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import FakeClient, FakeQueues, deliver

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)
BAD = Outcome(Kind.PERMANENT, "Richpanel answered 400", 400)
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1, T2, T3, T4 = (int((BASE + timedelta(minutes=n)).timestamp() * 1000) for n in (1, 2, 3, 4))
RECEIVED = int((BASE + timedelta(days=1)).timestamp() * 1000)
TABLE = "marks"


# ------------------------------------------------------------------------------ helpers


def iso(epoch_ms: int) -> str:
    """Segment's timestamp spelling of an epoch ms."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")


def identify(message_id: str | None, at: int, uid: str = "u1", **traits: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "identify", "userId": uid, "timestamp": iso(at)}
    if message_id:
        event["messageId"] = message_id
    if traits:
        event["traits"] = traits
    return event


def track(
    message_id: str, at: int, name: str = "Viewed", email: str | None = None, **properties: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": name,
        "userId": "u1",
        "messageId": message_id,
        "timestamp": iso(at),
        "properties": properties,
    }
    if email is not None:
        event["context"] = {"traits": {"email": email}}
    return event


def order(
    message_id: str, at: int, name: str, order_id: Any = "o1", **properties: Any
) -> dict[str, Any]:
    return track(message_id, at, name, order_id=order_id, **properties)


class Richpanel:
    """A send double: records (a copy of) each call it gets, answers in turn (last repeats)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes) or [OK]
        self.calls: list[dict[str, Any]] = []

    def __call__(self, call: Mapping[str, Any]) -> Outcome:
        self.calls.append(copy.deepcopy(dict(call)))
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


class Spy:
    """A DynamoDB client that records every UpdateItem; ``fail`` picks the ones that raise."""

    def __init__(self, inner: Any, fail: Any = None) -> None:
        self.inner = inner
        self.fail = fail or (lambda kwargs: False)
        self.updates: list[dict[str, Any]] = []

    def update_item(self, **kwargs: Any) -> Any:
        self.updates.append(kwargs)
        if self.fail(kwargs):
            raise EndpointConnectionError(endpoint_url="https://dynamodb.example")
        return self.inner.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected DynamoDB call: {name}")


def taking(update: dict[str, Any]) -> bool:
    """Whether an UpdateItem takes a lease (it sets how long the lease holds)."""
    return ":until" in update["ExpressionAttributeValues"]


def settling(update: dict[str, Any]) -> bool:
    """Whether an UpdateItem moves marks under our lease (the event's time and token)."""
    return {":t", ":token"} <= set(update["ExpressionAttributeValues"])


def guard(stale_orders: str = "strip", client: Any = None) -> Freshness:
    return Freshness(TABLE, 3600, stale_orders, client or boto3.client("dynamodb"))


def send(
    freshness: Freshness, event: dict[str, Any], richpanel: Richpanel, order_fields: str = "both"
) -> Outcome:
    """What ingest does with one event: map it, time it, send it through the guard."""
    call = to_richpanel(event, order_fields)
    at = timestamps.event_time(event, RECEIVED)
    return freshness.send(event, at, event.get("messageId"), call, richpanel)


def raw(key: str) -> dict[str, Any]:
    answer = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": key}})
    item: dict[str, Any] = answer.get("Item", {})
    return item


def marks(key: str) -> dict[str, int]:
    """The item's marks, as plain ints."""
    return {k: int(v["N"]) for k, v in raw(key).get("m", {}).get("M", {}).items()}


def customer(uid: str = "u1") -> str:
    return fr._hashed("uid", uid)


def order_key(order_id: str = "o1") -> str:
    return fr._hashed("order", order_id)


def without(call: dict[str, Any], where: str, names: Any) -> dict[str, Any]:
    """A copy of the mapped call with the named keys of ``where`` left out."""
    out = copy.deepcopy(call)
    out[where] = {k: v for k, v in out[where].items() if k not in names}
    return out


# ----------------------------------------------------------------------------- subjects()


def test_identify_with_traits_touches_its_customer_with_every_set_field() -> None:
    event = identify("m1", T1, email="a@x.io", firstName="Ann", plan="pro", nothing=None)
    assert subjects(event, to_richpanel(event)) == [
        Subject(customer(), ("email", "firstName", "plan"))
    ]


def test_identify_without_traits_and_track_without_email_touch_nothing() -> None:
    bare = identify("m1", T1)
    plain = track("m2", T1, "Viewed", sku="s1")
    assert subjects(bare, to_richpanel(bare)) == []
    assert subjects(plain, to_richpanel(plain)) == []


def test_track_with_email_touches_only_the_email() -> None:
    event = track("m1", T1, "Viewed", email="a@x.io")
    assert subjects(event, to_richpanel(event)) == [Subject(customer(), ("email",))]


@pytest.mark.parametrize(
    "name", ["Order Completed", "Order Updated", " order cancelled ", "ORDER REFUNDED"]
)
def test_an_order_event_touches_its_order_and_its_customer_sorted(name: str) -> None:
    event = order("m1", T1, name, "o1", total=5)
    event["context"] = {"traits": {"email": "a@x.io"}}
    found = subjects(event, to_richpanel(event))
    expected = [Subject(order_key("o1"), (STATE,), order=True), Subject(customer(), ("email",))]
    assert found == sorted(expected, key=lambda s: s.key)


def test_other_track_events_are_no_orders() -> None:
    event = track("m1", T1, "Order Viewed", order_id="o1")
    assert subjects(event, to_richpanel(event)) == []


@pytest.mark.parametrize("order_fields", ["both", "documented", "plugin"])
@pytest.mark.parametrize("order_id", [123, 123.0, "123"])
def test_a_numeric_order_id_is_the_same_order_as_its_string(
    order_fields: str, order_id: Any
) -> None:
    event = order("m1", T1, "Order Completed", order_id)
    found = subjects(event, to_richpanel(event, order_fields))
    assert found == [Subject(order_key("123"), (STATE,), order=True)]


def test_an_order_event_without_an_order_id_touches_no_order() -> None:
    event = track("m1", T1, "Order Completed", total=5)
    assert subjects(event, to_richpanel(event)) == []


def test_keys_are_hashed() -> None:
    event = order("m1", T1, "Order Completed", "order-77", total=1)
    event["context"] = {"traits": {"email": "a@x.io"}}
    keys = [s.key for s in subjects(event, to_richpanel(event))]
    assert all("u1" not in k and "order-77" not in k for k in keys)
    assert len(set(keys)) == 2


# --------------------------------------------------------------------------- profile marks


def test_nothing_touched_means_no_dynamodb_call_and_the_call_as_mapped(marks_table: str) -> None:
    spy = Spy(boto3.client("dynamodb"))
    richpanel = Richpanel()
    plain = track("m1", T1, "Viewed", sku="s1")
    bare = identify("m2", T1)
    assert send(guard(client=spy), plain, richpanel) == OK
    assert send(guard(client=spy), bare, richpanel) == OK
    assert richpanel.calls == [to_richpanel(plain), to_richpanel(bare)]
    assert spy.updates == []


def test_first_identify_is_sent_whole_and_marks_its_fields(marks_table: str) -> None:
    richpanel = Richpanel()
    event = identify("m1", T1, email="a@x.io", firstName="Ann")
    assert send(guard(), event, richpanel) == OK
    assert richpanel.calls == [to_richpanel(event)]
    assert marks(customer()) == {"email": T1, "firstName": T1}
    item = raw(customer())
    assert (item["at"], item["by"]) == ({"N": str(T1)}, {"S": "m1"})
    assert "lease" not in item and "leaseUntil" not in item
    assert int(item["expires"]["N"]) == pytest.approx(time.time() + 3600, abs=60)


def test_an_older_identify_loses_only_its_stale_fields(marks_table: str) -> None:
    richpanel = Richpanel()
    newer = identify("m2", T2, email="new@x.io", plan="pro")
    older = identify("m1", T1, email="old@x.io", firstName="Ann", plan="free")
    assert send(guard(), newer, richpanel) == OK
    assert send(guard(), older, richpanel) == OK
    assert richpanel.calls == [
        to_richpanel(newer),
        without(to_richpanel(older), "userProperties", {"email", "plan"}),
    ]
    assert richpanel.calls[1]["userProperties"] == {"uid": "u1", "firstName": "Ann"}
    assert marks(customer()) == {"email": T2, "plan": T2, "firstName": T1}
    assert raw(customer())["by"] == {"S": "m2"}  # the newest time is still m2's


def test_an_identify_with_nothing_newer_is_superseded_naming_time_and_message_id(
    marks_table: str,
) -> None:
    richpanel = Richpanel()
    assert send(guard(), identify("m2", T2, email="new@x.io", plan="pro"), richpanel) == OK
    outcome = send(guard(), identify("m1", T1, email="old@x.io"), richpanel)
    assert outcome == Outcome(
        Kind.SUPERSEDED, f"Richpanel has newer data from {iso(T2)} (messageId m2)"
    )
    assert len(richpanel.calls) == 1
    assert marks(customer()) == {"email": T2, "plan": T2}
    assert "lease" not in raw(customer())


def test_the_reason_names_a_message_id_only_when_it_is_that_time_s(marks_table: str) -> None:
    richpanel = Richpanel()
    send(guard(), identify("m2", T2, firstName="Ann"), richpanel)
    send(guard(), identify("m3", T3, email="a@x.io"), richpanel)  # the item's newest: m3
    outcome = send(guard(), identify("m1", T1, firstName="Old"), richpanel)
    assert outcome == Outcome(Kind.SUPERSEDED, f"Richpanel has newer data from {iso(T2)}")


def test_a_newest_event_without_message_id_forgets_the_older_one(marks_table: str) -> None:
    richpanel = Richpanel()
    send(guard(), identify("m2", T2, email="a@x.io"), richpanel)
    send(guard(), identify(None, T3, email="b@x.io"), richpanel)
    outcome = send(guard(), identify("m1", T1, email="c@x.io"), richpanel)
    assert outcome == Outcome(Kind.SUPERSEDED, f"Richpanel has newer data from {iso(T3)}")
    assert "by" not in raw(customer())


def test_a_tie_is_not_older(marks_table: str) -> None:
    richpanel = Richpanel()
    first = identify("m1", T2, email="a@x.io", plan="pro")
    tie = identify("m2", T2, email="b@x.io", plan="max")
    assert send(guard(), first, richpanel) == OK
    assert send(guard(), tie, richpanel) == OK
    assert richpanel.calls == [to_richpanel(first), to_richpanel(tie)]
    assert marks(customer()) == {"email": T2, "plan": T2}
    assert raw(customer())["by"] == {"S": "m2"}


def test_a_track_email_follows_the_profile_marks(marks_table: str) -> None:
    richpanel = Richpanel()
    send(guard(), identify("m2", T2, email="new@x.io"), richpanel)
    stale = track("m1", T1, "Viewed", email="old@x.io", sku="s1")
    fresh = track("m3", T3, "Viewed", email="newest@x.io", sku="s2")
    assert send(guard(), stale, richpanel) == OK  # the timeline still gets the event
    assert send(guard(), fresh, richpanel) == OK
    assert richpanel.calls[1:] == [
        without(to_richpanel(stale), "userProperties", {"email"}),
        to_richpanel(fresh),
    ]
    assert marks(customer()) == {"email": T3}


def test_the_event_time_decides_not_the_arrival(marks_table: str) -> None:
    richpanel = Richpanel()
    late = identify(None, T3, email="late@x.io")
    del late["timestamp"]
    late |= {"originalTimestamp": iso(T3), "sentAt": iso(T4)}  # corrected: RECEIVED - 1 min
    assert send(guard(), late, richpanel) == OK
    assert marks(customer()) == {"email": RECEIVED - (T4 - T3)}


# ---------------------------------------------------------------------------- order marks


def test_a_stale_order_event_reaches_the_timeline_without_its_state(marks_table: str) -> None:
    richpanel = Richpanel()
    updated = order("m2", T2, "Order Updated", total=20, order_status="shipped", note="n2")
    completed = order("m1", T1, "Order Completed", total=10, products=[{"sku": "a"}], note="n1")
    assert send(guard(), updated, richpanel) == OK
    assert send(guard(), completed, richpanel) == OK
    assert richpanel.calls == [
        to_richpanel(updated),
        without(to_richpanel(completed), "properties", ORDER_STATE_FIELDS),
    ]
    assert richpanel.calls[1]["properties"] == {
        "order_id": "o1",
        "orderId": "o1",
        "orderDbKey": "o1",
        "order_db_key": "o1",
        "note": "n1",
    }
    assert richpanel.calls[1]["event"] == "Order Completed"
    assert marks(order_key()) == {STATE: T2}


def test_a_stale_order_event_is_superseded_when_so_set(marks_table: str) -> None:
    richpanel = Richpanel()
    assert send(guard("supersede"), order("m2", T2, "Order Refunded", total=0), richpanel) == OK
    outcome = send(guard("supersede"), order("m1", T1, "Order Completed", total=10), richpanel)
    assert outcome == Outcome(
        Kind.SUPERSEDED, f"Richpanel has newer data from {iso(T2)} (messageId m2)"
    )
    assert len(richpanel.calls) == 1
    assert marks(order_key()) == {STATE: T2}
    assert "lease" not in raw(order_key())


def test_a_stale_order_event_with_a_fresh_email_is_sent_when_superseding(
    marks_table: str,
) -> None:
    richpanel = Richpanel()
    send(guard("supersede"), order("m2", T2, "Order Updated", total=20), richpanel)
    stale = order("m1", T1, "Order Completed", total=10)
    stale["context"] = {"traits": {"email": "a@x.io"}}
    assert send(guard("supersede"), stale, richpanel) == OK
    assert richpanel.calls[1] == without(to_richpanel(stale), "properties", ORDER_STATE_FIELDS)
    assert richpanel.calls[1]["userProperties"] == {"uid": "u1", "email": "a@x.io"}
    assert marks(customer()) == {"email": T1}
    assert marks(order_key()) == {STATE: T2}


def test_a_stale_order_event_with_a_stale_email_is_superseded(marks_table: str) -> None:
    richpanel = Richpanel()
    send(guard("supersede"), identify("m3", T3, email="new@x.io"), richpanel)
    send(guard("supersede"), order("m2", T2, "Order Updated", total=20), richpanel)
    stale = order("m1", T1, "Order Completed", total=10)
    stale["context"] = {"traits": {"email": "old@x.io"}}
    outcome = send(guard("supersede"), stale, richpanel)
    assert outcome == Outcome(
        Kind.SUPERSEDED, f"Richpanel has newer data from {iso(T3)} (messageId m3)"
    )
    assert len(richpanel.calls) == 2


@pytest.mark.parametrize("stale_orders", ["strip", "supersede"])
def test_order_events_in_time_order_and_ties_go_whole(marks_table: str, stale_orders: str) -> None:
    richpanel = Richpanel()
    events = [
        order("m1", T1, "Order Completed", total=10),
        order("m2", T2, "Order Updated", total=12),
        order("m3", T2, "Order Cancelled", total=0),
    ]
    assert [send(guard(stale_orders), e, richpanel) for e in events] == [OK] * 3
    assert richpanel.calls == [to_richpanel(e) for e in events]
    assert marks(order_key()) == {STATE: T2}


def test_a_numeric_order_id_shares_the_marks_of_its_string(marks_table: str) -> None:
    richpanel = Richpanel()
    send(guard(), order("m2", T2, "Order Updated", 42, total=5), richpanel, "documented")
    stale = order("m1", T1, "Order Completed", "42", total=3)
    send(guard(), stale, richpanel, "documented")
    expected = without(to_richpanel(stale, "documented"), "properties", ORDER_STATE_FIELDS)
    assert richpanel.calls[1] == expected


def test_no_user_id_or_email_is_stored_in_clear(marks_table: str) -> None:
    event = order("m1", T1, "Order Completed", "order-77", total=1)
    event["context"] = {"traits": {"email": "a@x.io"}}
    send(guard(), event, Richpanel())
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert len(items) == 2
    assert not any(s in str(items) for s in ("u1", "order-77", "a@x.io"))


# --------------------------------------------------------------- failures, leases, settling


@pytest.mark.parametrize("answer", [DOWN, BAD])
def test_a_failed_send_moves_no_mark_and_releases_the_lease(
    marks_table: str, answer: Outcome
) -> None:
    richpanel = Richpanel(answer, OK)
    send(guard(), identify("m1", T1, email="a@x.io"), Richpanel())
    failed = identify("m3", T3, email="b@x.io", plan="pro")
    assert send(guard(), failed, richpanel) == answer
    assert marks(customer()) == {"email": T1}
    assert "lease" not in raw(customer())
    older = identify("m2", T2, email="c@x.io", plan="free")
    assert send(guard(), older, richpanel) == OK  # nothing newer was recorded
    assert richpanel.calls == [to_richpanel(failed), to_richpanel(older)]
    assert marks(customer()) == {"email": T2, "plan": T2}


def test_a_failed_order_send_releases_every_lease(marks_table: str) -> None:
    event = order("m1", T1, "Order Completed", total=1)
    event["context"] = {"traits": {"email": "a@x.io"}}
    assert send(guard(), event, Richpanel(DOWN)) == DOWN
    for key in (customer(), order_key()):
        assert "lease" not in raw(key)
        assert marks(key) == {}
        assert int(raw(key)["expires"]["N"]) > time.time()  # a never-marked item expires


def test_a_lease_held_by_another_event_is_in_flight(marks_table: str) -> None:
    richpanel = Richpanel()
    first = identify("m1", T1, email="a@x.io")
    held = guard().lease(first, T1, "m1", to_richpanel(first))
    assert isinstance(held, Lease)
    second = identify("m2", T2, email="b@x.io")
    lost = send(guard(), second, richpanel)
    assert (lost.kind, lost.reason) == (Kind.IN_FLIGHT, LEASE_HELD.reason)
    # retried within HELD_RETRY_SECONDS (the holder's 30 s lease would end later)
    assert lost.retry_after == 5.0
    assert richpanel.calls == []
    assert held.settle(OK) == OK
    assert send(guard(), second, richpanel) == OK
    assert marks(customer()) == {"email": T2}


def test_losing_one_lease_gives_back_the_others(marks_table: str) -> None:
    blocker = identify("m0", T1, email="a@x.io")
    held = guard().lease(blocker, T1, "m0", to_richpanel(blocker))
    assert isinstance(held, Lease)
    event = order("m1", T2, "Order Completed", total=1)
    event["context"] = {"traits": {"email": "b@x.io"}}
    assert send(guard(), event, Richpanel()).reason == LEASE_HELD.reason
    assert "lease" not in raw(order_key())  # taken first (sorted), then given back
    assert raw(customer())["lease"] == {"S": held.token}


def test_an_expired_lease_can_be_taken(marks_table: str) -> None:
    first = identify("m1", T1, email="a@x.io")
    held = guard().lease(first, T1, "m1", to_richpanel(first))
    assert isinstance(held, Lease)
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": customer()}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time() * 1000) - 1)}},
    )
    richpanel = Richpanel()
    second = identify("m2", T2, email="b@x.io")
    assert send(guard(), second, richpanel) == OK
    assert richpanel.calls == [to_richpanel(second)]


def test_a_lease_lasts_as_long_as_the_invocation(marks_table: str) -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 7000

    freshness = guard()
    freshness.register_lambda_context(Context())
    event = identify("m1", T1, email="a@x.io")
    before = int(time.time() * 1000)
    assert isinstance(freshness.lease(event, T1, "m1", to_richpanel(event)), Lease)
    until = int(raw(customer())["leaseUntil"]["N"])
    assert before + 7000 <= until <= int(time.time() * 1000) + 7000


def test_a_store_failure_at_lease_is_retryable_and_nothing_is_sent(marks_table: str) -> None:
    spy = Spy(boto3.client("dynamodb"), fail=lambda kwargs: True)
    richpanel = Richpanel()
    outcome = send(guard(client=spy), identify("m1", T1, email="a@x.io"), richpanel)
    assert outcome.kind is Kind.RETRYABLE
    assert outcome.reason.startswith("freshness store: EndpointConnectionError: ")
    assert richpanel.calls == []


def test_a_store_failure_at_the_second_lease_gives_back_the_first(marks_table: str) -> None:
    second = customer()  # sorted after the order's key
    assert order_key() < second
    spy = Spy(
        boto3.client("dynamodb"),
        fail=lambda kwargs: kwargs["Key"]["pk"]["S"] == second and taking(kwargs),
    )
    event = order("m1", T1, "Order Completed", total=1)
    event["context"] = {"traits": {"email": "b@x.io"}}
    outcome = send(guard(client=spy), event, Richpanel())
    assert outcome.kind is Kind.RETRYABLE
    assert "lease" not in raw(order_key())


def test_marks_not_saved_are_noted_on_the_delivered_outcome(marks_table: str) -> None:
    spy = Spy(boto3.client("dynamodb"), fail=settling)
    richpanel = Richpanel()
    outcome = send(guard(client=spy), identify("m1", T1, email="a@x.io"), richpanel)
    assert (outcome.kind, outcome.status) == (Kind.DELIVERED, 200)
    assert outcome.record_failed is not None
    assert outcome.record_failed.startswith("freshness marks not saved: EndpointConnectionError")
    assert sum(settling(u) for u in spy.updates) == SETTLE_ATTEMPTS
    assert marks(customer()) == {}
    assert len(richpanel.calls) == 1


def test_a_settle_that_fails_once_is_tried_again(marks_table: str) -> None:
    attempts: list[int] = []

    def first_settle(update: dict[str, Any]) -> bool:
        if settling(update):
            attempts.append(1)
            return len(attempts) == 1
        return False

    spy = Spy(boto3.client("dynamodb"), fail=first_settle)
    outcome = send(guard(client=spy), identify("m1", T1, email="a@x.io"), Richpanel())
    assert outcome == OK
    assert len(attempts) == 2
    assert marks(customer()) == {"email": T1}
    assert "lease" not in raw(customer())


def test_a_lost_lease_moves_marks_only_forward(marks_table: str) -> None:
    client = boto3.client("dynamodb")
    slow = identify("m1", T2, email="slow@x.io", firstName="Ann", plan="pro")
    late = guard().lease(slow, T2, "m1", to_richpanel(slow))
    assert isinstance(late, Lease)
    client.update_item(  # the slow event's lease expires...
        TableName=TABLE,
        Key={"pk": {"S": customer()}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": "0"}},
    )
    richpanel = Richpanel()  # ...and two events are delivered meanwhile
    assert send(guard(), identify("m3", T3, email="newer@x.io"), richpanel) == OK
    assert send(guard(), identify("m0", T1, plan="free"), richpanel) == OK
    assert marks(customer()) == {"email": T3, "plan": T1}
    assert late.settle(OK) == OK
    assert marks(customer()) == {"email": T3, "firstName": T2, "plan": T2}
    assert raw(customer())["by"] == {"S": "m3"}


def test_a_lost_lease_leaves_the_new_holder_s_lease(marks_table: str) -> None:
    client = boto3.client("dynamodb")
    slow = identify("m1", T1, email="slow@x.io")
    late = guard().lease(slow, T1, "m1", to_richpanel(slow))
    assert isinstance(late, Lease)
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": customer()}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": "0"}},
    )
    newer = identify("m2", T2, email="new@x.io")
    holder = guard().lease(newer, T2, "m2", to_richpanel(newer))
    assert isinstance(holder, Lease)
    assert late.settle(OK) == OK
    assert raw(customer())["lease"] == {"S": holder.token}
    assert marks(customer()) == {"email": T1}
    assert holder.settle(OK) == OK
    assert marks(customer()) == {"email": T2}
    assert "lease" not in raw(customer())


def test_the_default_client_works(marks_table: str) -> None:
    event = identify("m1", T1, email="a@x.io")
    assert Freshness(TABLE, 60).send(event, T1, "m1", to_richpanel(event), Richpanel()) == OK
    assert marks(customer()) == {"email": T1}


def test_delivery_reports_a_superseded_event_and_sends_it_not(marks_table: str) -> None:
    client = FakeClient(OK)
    delivery = Delivery(client, FakeQueues(), freshness=guard())  # type: ignore[arg-type]
    newer = identify("m2", T2, email="new@x.io")
    older = identify("m1", T1, email="old@x.io")
    first, second = deliver(delivery, [newer, older])
    assert (first.fate, second.fate) == (Fate.DELIVERED, Fate.SUPERSEDED)
    assert second.reason == f"Richpanel has newer data from {iso(T2)} (messageId m2)"
    assert client.calls == [to_richpanel(newer)]


# -------------------------------------------------------------------------------- chains()


def keyed(*keys: str) -> list[Subject]:
    return [Subject(k, ("f",)) for k in keys]


def test_chains_group_items_touching_a_common_item_transitively() -> None:
    touched = {
        "a": keyed("X"),
        "b": keyed("Y"),
        "c": keyed("Z"),
        "lone": keyed("W"),
        "none": [],
        "d": keyed("X", "Y"),
        "e": keyed("Y", "Z"),
        "also-none": [],
    }
    groups = chains(list(touched), lambda item: touched[item])
    assert groups == [["a", "b", "c", "d", "e"], ["lone"], ["none"], ["also-none"]]


def test_chains_of_real_events_share_a_customer_or_an_order() -> None:
    events = [
        identify("m1", T1, email="a@x.io"),
        order("m2", T1, "Order Completed", "o9", total=1),  # no email: its order only
        identify("m3", T1, uid="u2", email="b@x.io"),
        order("m4", T2, "Order Updated", "o9", total=2),
        track("m5", T1, "Viewed"),
        track("m6", T2, "Viewed", email="c@x.io"),
    ]
    events[3]["context"] = {"traits": {"email": "a2@x.io"}}  # links o9 with u1
    calls = {id(e): to_richpanel(e) for e in events}
    groups = chains(events, lambda e: subjects(e, calls[id(e)]))
    ids = [[e["messageId"] for e in group] for group in groups]
    assert ids == [["m1", "m2", "m4", "m6"], ["m3"], ["m5"]]


def test_chains_of_nothing() -> None:
    assert chains([], lambda item: []) == []


# ----------------------------------------------------------------------- event_time()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


NOW = ms("2024-06-01T12:00:00+00:00")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {
                "timestamp": "2024-06-01T10:00:00Z",
                "originalTimestamp": "2024-06-01T09:00:00Z",
                "sentAt": "2024-06-01T09:30:00Z",
                "receivedAt": "2024-06-01T11:00:00Z",
            },
            ms("2024-06-01T10:00:00+00:00"),
        ),
        (  # no timestamp: Segment's clock-skew correction against our clock
            {
                "originalTimestamp": "2024-06-01T13:00:00Z",
                "sentAt": "2024-06-01T13:05:00Z",
                "receivedAt": "2024-06-01T11:00:00Z",
            },
            NOW - 5 * 60_000,
        ),
        (
            {"originalTimestamp": "2024-06-01T09:00:00Z", "receivedAt": "2024-06-01T11:00:00Z"},
            ms("2024-06-01T09:00:00+00:00"),
        ),
        (
            {"sentAt": "2024-06-01T09:30:00Z", "receivedAt": "2024-06-01T11:00:00Z"},
            ms("2024-06-01T09:30:00+00:00"),
        ),
        ({"receivedAt": "2024-06-01T11:00:00Z"}, ms("2024-06-01T11:00:00+00:00")),
        ({}, NOW),
        (
            {"timestamp": "yesterday", "originalTimestamp": 1717236000000, "sentAt": None},
            NOW,
        ),
        (  # unreadable timestamp and sentAt: the readable originalTimestamp, uncorrected
            {"timestamp": "", "originalTimestamp": "2024-06-01T08:00:00Z", "sentAt": "soon"},
            ms("2024-06-01T08:00:00+00:00"),
        ),
        ({"timestamp": "2024-06-01T13:00:00+0100"}, ms("2024-06-01T12:00:00+00:00")),
        ({"timestamp": "2024-06-01 11:00:00,250"}, ms("2024-06-01T11:00:00.250+00:00")),
    ],
)
def test_event_time_falls_back_in_order(event: dict[str, Any], expected: int) -> None:
    assert timestamps.event_time(event, NOW) == expected


@pytest.mark.parametrize(
    "event",
    [
        {"timestamp": "2030-01-01T00:00:00Z"},
        {"originalTimestamp": "2024-06-01T12:00:00Z", "sentAt": "2024-06-01T11:00:00Z"},
        {"sentAt": "2024-06-01T12:00:01Z"},
        {"receivedAt": "2099-01-01T00:00:00Z"},
    ],
)
def test_event_time_is_never_later_than_received(event: dict[str, Any]) -> None:
    assert timestamps.event_time(event, NOW) == NOW


@pytest.mark.parametrize("event", [None, [], "2024-06-01T10:00:00Z", 5])
def test_event_time_of_a_non_object_is_when_it_was_received(event: Any) -> None:
    assert timestamps.event_time(event, NOW) == NOW
