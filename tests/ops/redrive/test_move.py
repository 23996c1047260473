"""The move done here (DLQ -> retry queue) against moto's in-process SQS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ops.redrive.move import Holding, move_manually, outgoing_attributes
from ops.redrive.selection import Report, Selector

from .helpers import (
    GAVE_UP,
    POISON,
    REJECTED,
    Queues,
    Recording,
    attrs_of,
    counts,
    dead_letter,
    drain,
    poison,
    run,
)


def test_outgoing_attributes_keep_everything_and_count_redrives() -> None:
    message = {
        "MessageAttributes": {
            "reason": {"DataType": "String", "StringValue": "r"},
            "attempt": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        }
    }
    out = outgoing_attributes(message)
    assert out == {
        "reason": {"DataType": "String", "StringValue": "r"},
        "attempt": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "redriven": {"DataType": "Number", "StringValue": "1"},
    }
    again = outgoing_attributes({"MessageAttributes": out})
    assert again["redriven"]["StringValue"] == "2"
    odd = {"redriven": {"DataType": "String", "StringValue": "many"}}
    assert outgoing_attributes({"MessageAttributes": odd})["redriven"]["StringValue"] == "1"
    full = {f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(10)}
    assert "redriven" not in outgoing_attributes({"MessageAttributes": full})  # SQS allows 10


def test_moves_both_forms_keeping_body_and_attributes(queues: Queues) -> None:
    q = queues
    before = dict([dead_letter(q, "m-1", REJECTED), poison(q)])

    report = run(q)

    assert (report.moved, report.failed, report.left, report.ok) == (2, 0, 0, True)
    assert counts(q, q.dlq) == (0, 0)
    after = {m["Body"]: attrs_of(m) for m in drain(q, q.retry)}
    assert set(after) == set(before)
    for body, attributes in before.items():
        assert after[body] == {**attributes, "redriven": "1"}
    envelope_attrs = next(a for b, a in after.items() if b.startswith("{"))
    assert envelope_attrs["messageId"] == "m-1"
    assert envelope_attrs["attempt"] == "2"
    assert envelope_attrs["reason"] == REJECTED


def test_a_message_redriven_before_counts_one_more(queues: Queues) -> None:
    dead_letter(queues, "m-1", REJECTED, redriven={"DataType": "Number", "StringValue": "2"})
    run(queues)
    (message,) = drain(queues, queues.retry)
    assert attrs_of(message)["redriven"] == "3"


def test_status_selects_and_leaves_the_rest_visible(queues: Queues) -> None:
    q = queues
    for i in range(3):
        dead_letter(q, f"bad-{i}", REJECTED)
    dead_letter(q, "late", GAVE_UP)
    poison(q)

    report = run(q, Selector(status=400))

    assert (report.moved, report.left) == (3, 2)
    assert report.by_reason[REJECTED]["moved"] == 3
    assert report.by_reason[GAVE_UP]["left"] == 1
    assert counts(q, q.dlq) == (2, 0)  # visible again right away, not after the hold
    moved = drain(q, q.retry)
    assert sorted(attrs_of(m)["messageId"] for m in moved) == ["bad-0", "bad-1", "bad-2"]


def test_filter_matches_the_reason(queues: Queues) -> None:
    q = queues
    dead_letter(q, "m-1", REJECTED)
    poison(q)
    report = run(q, Selector(re.compile("^poison")))
    assert (report.moved, report.left) == (1, 1)
    (moved,) = drain(q, q.retry)
    assert moved["Body"] == "{not json"
    (left,) = drain(q, q.dlq)
    assert attrs_of(left)["messageId"] == "m-1"


def test_dry_run_counts_by_reason_and_moves_nothing(queues: Queues) -> None:
    q = queues
    for i in range(12):  # more than one receive
        dead_letter(q, f"m-{i}", REJECTED if i % 3 else GAVE_UP)
    poison(q)

    report = run(q, dry_run=True)

    assert report.by_reason[REJECTED]["would move"] == 8
    assert report.by_reason[GAVE_UP]["would move"] == 4
    assert report.by_reason[POISON]["would move"] == 1
    assert report.moved == 0
    assert counts(q, q.dlq) == (13, 0)
    assert counts(q, q.retry) == (0, 0)
    assert "would move 13" in report.summary()
    table = report.table()
    assert table.splitlines()[1].split()[:2] == ["8", "0"]  # most frequent first
    assert "Richpanel answered 400" in table.splitlines()[1]


def test_limit_moves_at_most_that_many(queues: Queues) -> None:
    q = queues
    for i in range(15):
        dead_letter(q, f"m-{i}", REJECTED)
    report = run(q, limit=4)
    assert report.moved == 4
    assert counts(q, q.retry) == (4, 0)
    assert counts(q, q.dlq) == (11, 0)
    assert run(q, limit=4, dry_run=True).total("would move") == 4


def test_sends_before_it_deletes(queues: Queues) -> None:
    q = queues
    for i in range(3):
        dead_letter(q, f"m-{i}", REJECTED)
    client = Recording(q.sqs)
    move_manually(client, q.dlq, q.retry, wait_seconds=0, arrived_before_ms=2**62)
    assert [op for op, _ in client.log] == ["send", "delete"]


@pytest.mark.parametrize("how", ["raise", "refuse"])
def test_a_destination_that_rejects_sends_leaves_the_source_intact(
    queues: Queues, how: str
) -> None:
    q = queues
    for i in range(3):
        dead_letter(q, f"m-{i}", REJECTED)
    client = Recording(q.sqs, fail_send=how)

    report = move_manually(client, q.dlq, q.retry, wait_seconds=0, arrived_before_ms=2**62)

    assert (report.moved, report.failed, report.ok) == (0, 3, False)
    assert report.errors
    assert [op for op, _ in client.log] == ["send"]  # nothing deleted
    assert counts(q, q.dlq) == (3, 0)  # and visible again at once
    assert counts(q, q.retry) == (0, 0)


def test_a_delete_that_fails_leaves_a_copy_in_both_queues(queues: Queues) -> None:
    q = queues
    dead_letter(q, "m-1", REJECTED)
    client = Recording(q.sqs, fail_delete=True)
    report = move_manually(client, q.dlq, q.retry, wait_seconds=0, arrived_before_ms=2**62)
    assert (report.moved, report.undeleted, report.ok) == (1, 1, False)
    assert counts(q, q.retry) == (1, 0)
    assert counts(q, q.dlq) == (1, 0)  # a duplicate, never a loss


def test_interrupted_run_loses_nothing(queues: Queues) -> None:
    q = queues
    for i in range(25):
        dead_letter(q, f"m-{i}", REJECTED)

    def stop(_: Report) -> None:
        raise KeyboardInterrupt

    report = run(q, progress=stop)

    assert report.interrupted
    assert 0 < report.moved < 25
    retry, dlq = counts(q, q.retry), counts(q, q.dlq)
    assert dlq[1] == 0  # nothing left held
    assert retry[0] + dlq[0] == 25


def test_a_requested_stop_finishes_the_batch_in_hand(queues: Queues) -> None:
    q = queues
    for i in range(25):
        dead_letter(q, f"m-{i}", REJECTED)
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 1  # after the first batch

    report = run(q, should_stop=should_stop)

    assert report.interrupted
    assert (report.moved, report.undeleted) == (10, 0)  # sent and deleted: no copy in both
    assert counts(q, q.retry) == (10, 0)
    assert counts(q, q.dlq) == (15, 0)


class InterruptOnRelease(Recording):
    """A Ctrl-C arriving while the held messages are being released."""

    def __init__(self, sqs: Any) -> None:
        super().__init__(sqs)
        self.interrupted = False

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[Any]) -> Any:
        if not self.interrupted and Entries[0]["VisibilityTimeout"] == 0:
            self.interrupted = True
            raise KeyboardInterrupt
        return self.sqs.change_message_visibility_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_an_interrupt_during_the_release_still_releases_everything(queues: Queues) -> None:
    q = queues
    for i in range(25):
        dead_letter(q, f"m-{i}", REJECTED)
    client = InterruptOnRelease(q.sqs)

    report = move_manually(
        client, q.dlq, q.retry, dry_run=True, wait_seconds=0, arrived_before_ms=2**62
    )

    assert client.interrupted and report.interrupted
    assert counts(q, q.dlq) == (25, 0)  # the release picked up where it was stopped


class BreaksAfterOneReceive(Recording):
    def __init__(self, sqs: Any) -> None:
        super().__init__(sqs)
        self.receives = 0

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        if self.receives > 1:
            raise ConnectionError("DLQ unreachable")
        return self.sqs.receive_message(**kwargs)


def test_an_sqs_error_mid_run_reports_what_was_done(queues: Queues) -> None:
    q = queues
    for i in range(15):
        dead_letter(q, f"m-{i}", REJECTED)
    report = move_manually(
        BreaksAfterOneReceive(q.sqs), q.dlq, q.retry, wait_seconds=0, arrived_before_ms=2**62
    )
    assert (report.aborted, report.ok, report.moved) == (True, False, 10)
    assert "stopped early: ConnectionError: DLQ unreachable" in report.errors
    assert counts(q, q.dlq) == (5, 0)


def test_messages_arriving_during_the_run_are_left_for_the_next(queues: Queues) -> None:
    q = queues
    dead_letter(q, "m-1", REJECTED)
    report = run(q, arrived_before_ms=0)  # as if the run started before the epoch
    assert (report.moved, report.arrived) == (0, 1)
    assert counts(q, q.dlq) == (1, 0)
    assert "arrived during the run" in report.summary()


def test_holding_renews_what_is_due_and_releases_everything(queues: Queues) -> None:
    q = queues
    dead_letter(q, "m-1", REJECTED)
    dead_letter(q, "m-2", REJECTED)
    now = [100.0]
    holding = Holding(q.sqs, q.dlq, 60, clock=lambda: now[0])
    for message in q.sqs.receive_message(QueueUrl=q.dlq, MaxNumberOfMessages=10)["Messages"]:
        holding.hold(message)
    assert counts(q, q.dlq) == (0, 2)
    now[0] += 31  # past half the hold
    holding.renew_due()
    assert counts(q, q.dlq) == (0, 2)
    assert holding.release() == 0
    assert len(holding) == 0
    assert counts(q, q.dlq) == (2, 0)


def test_status_selects_by_the_attribute_where_there_is_one(queues: Queues) -> None:
    q = queues
    dead_letter(q, "new-400", "ConnectTimeout: timed out", status=400)  # the attribute decides
    dead_letter(q, "new-503", REJECTED, status=503)
    dead_letter(q, "old-400", REJECTED)  # parked before the attribute: the reason decides
    poison(q)

    report = run(q, Selector(status=400))

    assert (report.moved, report.left) == (2, 2)
    moved = drain(q, q.retry)
    assert sorted(attrs_of(m)["messageId"] for m in moved) == ["new-400", "old-400"]
    by_id = {attrs_of(m)["messageId"]: attrs_of(m) for m in moved}
    assert by_id["new-400"]["richpanelStatus"] == "400"  # kept, with redriven added
    assert by_id["new-400"]["redriven"] == "1"
    assert "richpanelStatus" not in by_id["old-400"]
    assert counts(q, q.dlq) == (2, 0)
