"""A replay's resend (X-Replay: resend): delivered events sent again on purpose, once each,
never overwriting newer data (delivery/dedupe.py, inbound/replay.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from richpanel_destination.delivery.dedupe import Deduplicator
from richpanel_destination.delivery.deliver import Delivery
from richpanel_destination.delivery.freshness import Freshness
from richpanel_destination.inbound.replay import ReplayRefused, resend_requested
from richpanel_destination.inbound.scopes import BROWSER, SERVER
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .fakes import FakeClient, FakeQueues, deliver

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)


def count(outcome: Outcome, sent: list[Any]) -> Any:
    def send(call: Any) -> Outcome:
        sent.append(call)
        return outcome

    return send


def test_resend_sends_a_delivered_key_again_and_records_it_anew(table: str) -> None:
    sent: list[Any] = []
    dedupe = Deduplicator(table, 3600)
    assert dedupe.send("m1", {}, count(OK, sent)).kind is Kind.DELIVERED
    assert dedupe.send("m1", {}, count(OK, sent)).kind is Kind.DUPLICATE
    assert dedupe.send("m1", {}, count(OK, sent), resend=True).kind is Kind.DELIVERED
    assert dedupe.send("m1", {}, count(OK, sent)).kind is Kind.DUPLICATE  # recorded again
    assert len(sent) == 2


def test_resend_never_takes_a_key_being_delivered(table: str) -> None:
    seen: list[Outcome] = []

    def slow(call: Any) -> Outcome:
        seen.append(Deduplicator(table, 3600).send("m2", call, count(OK, []), resend=True))
        return OK

    assert Deduplicator(table, 3600).send("m2", {}, slow).kind is Kind.DELIVERED
    assert [o.kind for o in seen] == [Kind.IN_FLIGHT]


def test_resend_in_a_batch(table: str) -> None:
    dedupe = Deduplicator(table, 3600)
    batches: list[Any] = []

    def send_batch(calls: Any) -> list[Outcome]:
        batches.append(list(calls))
        return [OK] * len(calls)

    items = [("a", {"n": 1}), ("b", {"n": 2})]
    assert [o.kind for o in dedupe.send_batch(items, send_batch)] == [Kind.DELIVERED] * 2
    assert [o.kind for o in dedupe.send_batch(items, send_batch)] == [Kind.DUPLICATE] * 2
    again = dedupe.send_batch(items, send_batch, resend=True)
    assert [o.kind for o in again] == [Kind.DELIVERED] * 2
    assert len(batches) == 2


def identify(message_id: str, at: str, email: str) -> dict[str, Any]:
    return {"type": "identify", "userId": "u1", "messageId": message_id, "timestamp": at,
            "traits": {"email": email}}  # fmt: skip


@pytest.mark.parametrize("batch_size", [0, 50])
def test_a_resend_keeps_the_event_id_and_never_overwrites_newer_data(
    table: str, marks_table: str, batch_size: int
) -> None:
    client = FakeClient(OK)
    dynamodb = boto3.client("dynamodb")
    delivery = Delivery(
        client,  # type: ignore[arg-type]
        FakeQueues(),  # type: ignore[arg-type]
        dedupe=Deduplicator(table, 3600, dynamodb),
        freshness=Freshness(marks_table, 3600, "strip", dynamodb),
        batch_size=batch_size,
    )
    old = identify("m-old", "2026-01-01T10:00:00Z", "old@x.io")
    new = identify("m-new", "2026-01-02T10:00:00Z", "new@x.io")
    assert [r.fate.value for r in deliver(delivery, [old])] == ["delivered"]
    assert [r.fate.value for r in deliver(delivery, [new])] == ["delivered"]
    calls = len(client.calls) + sum(len(b) for b in client.batches)

    def resend(event: dict[str, Any]) -> str:
        from richpanel_destination import ingest

        from .fakes import patch_credentials

        with patch_credentials():
            (result,) = ingest.deliver_events([event], delivery, resend=True)
        return result.fate.value

    assert resend(new) == "delivered"  # same event time as its mark: sent again
    assert resend(old) == "superseded"  # older than what Richpanel has: never sent
    sent = client.calls + [c for b in client.batches for c in b]
    assert len(sent) == calls + 1
    assert sent[-1]["eventId"] == "m-new"  # Richpanel updates by eventId
    assert sent[-1]["userProperties"]["email"] == "new@x.io"


def test_the_header_is_for_server_keys_only() -> None:
    assert resend_requested({}, SERVER) is False
    assert resend_requested({"X-Replay": "resend"}, SERVER) is True
    assert resend_requested({"x-replay": " Resend "}, SERVER) is True
    with pytest.raises(ReplayRefused) as refused:
        resend_requested({"X-Replay": "resend"}, BROWSER)
    assert refused.value.status == 403
    with pytest.raises(ReplayRefused) as unknown:
        resend_requested({"X-Replay": "yes"}, SERVER)
    assert unknown.value.status == 400
