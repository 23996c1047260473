"""Redrive (DLQ -> retry queue) against moto's in-process SQS (a unit test: mocked AWS)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from richpanel_destination.delivery import redrive
from richpanel_destination.delivery.park import dead_letter_parcel, envelope
from richpanel_destination.delivery.redrive import (
    NO_REASON,
    Holding,
    MoveTaskUnavailable,
    Selector,
    TargetError,
    local_target,
    move_manually,
    outgoing_attributes,
    reason_of,
    stack_target,
    start_move_task,
    status_of,
)

REJECTED = 'Richpanel answered 400: {"error": "bad call"}'
GAVE_UP = "gave up after 9 attempts: Richpanel answered 503"
POISON = "poison message: body is not JSON: Expecting value: line 1 column 1 (char 0)"


@dataclass
class Queues:
    sqs: Any
    dlq: str
    retry: str


@pytest.fixture
def queues(mocked_aws: None) -> Iterator[Queues]:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    retry = sqs.create_queue(QueueName="retry")["QueueUrl"]
    yield Queues(sqs, dlq, retry)


Sent = tuple[str, dict[str, str]]  # body, attributes as plain strings


def dead_letter(q: Queues, message_id: str, reason: str, **extra: dict[str, str]) -> Sent:
    """What the ingest and retry paths put on the DLQ (park.dead_letter_parcel)."""
    event = {"type": "track", "event": "Clicked", "userId": "u", "messageId": message_id}
    parcel = dead_letter_parcel(
        0, envelope(event, 2, reason), reason, message_id=message_id, attempt=2
    )
    attributes = {**parcel.attrs, **extra}
    q.sqs.send_message(QueueUrl=q.dlq, MessageBody=parcel.body, MessageAttributes=attributes)
    return parcel.body, {k: v["StringValue"] for k, v in attributes.items()}


def poison(q: Queues, body: str = "{not json", reason: str = POISON) -> Sent:
    """A body the retry path could not read, dead-lettered with a reason attribute."""
    parcel = dead_letter_parcel(0, body, reason, attempt=1)
    q.sqs.send_message(QueueUrl=q.dlq, MessageBody=parcel.body, MessageAttributes=parcel.attrs)
    return parcel.body, {k: v["StringValue"] for k, v in parcel.attrs.items()}


def counts(q: Queues, url: str) -> tuple[int, int]:
    """(visible, in flight)."""
    attrs = q.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def drain(q: Queues, url: str) -> list[dict[str, Any]]:
    """Every visible message (left invisible for a while: each is returned once)."""
    out: list[dict[str, Any]] = []
    while True:
        batch = q.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return out
        out += batch


def attrs_of(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}


def run(q: Queues, selector: Selector | None = None, **options: Any) -> redrive.Report:
    options.setdefault("wait_seconds", 0)
    # messages sent in this very millisecond count as already there
    options.setdefault("arrived_before_ms", int(time.time() * 1000) + 1)
    return move_manually(q.sqs, q.dlq, q.retry, selector, **options)


# --- parsing and selection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        (REJECTED, 400),
        ("Richpanel answered 401", 401),
        (GAVE_UP, 503),
        (POISON, None),
        ("Richpanel answered 4001", None),
        ("ConnectTimeout: timed out", None),
        ("", None),
    ],
)
def test_status_of_reads_the_richpanel_status_from_a_reason(reason: str, status: int) -> None:
    assert status_of(reason) == status


def test_selector_by_status_and_regex() -> None:
    assert Selector().everything
    assert Selector(status=400).wants(REJECTED)
    assert not Selector(status=400).wants(GAVE_UP)
    assert Selector(status=503).wants(GAVE_UP)
    assert not Selector(status=400).wants(POISON)
    assert Selector(re.compile("^poison")).wants(POISON)
    assert not Selector(re.compile("^poison")).wants(REJECTED)
    both = Selector(re.compile("gave up"), 503)
    assert both.wants(GAVE_UP)
    assert not both.wants("Richpanel answered 503")
    assert str(both) == "reason matching /gave up/ and Richpanel status 503"


def test_reason_comes_from_the_attribute_else_the_envelope() -> None:
    body = envelope({"messageId": "m"}, 1, "from the body")
    attribute = {"reason": {"DataType": "String", "StringValue": "from the attribute"}}
    assert reason_of({"Body": body, "MessageAttributes": attribute}) == "from the attribute"
    assert reason_of({"Body": body}) == "from the body"
    assert reason_of({"Body": "{not json"}) == NO_REASON
    assert reason_of({"Body": "[1]"}) == NO_REASON


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


# --- moving ---------------------------------------------------------------------------------


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


class Recording:
    """Delegates to the real (moto) client, logging calls; can fail sends or deletes."""

    def __init__(self, sqs: Any, fail_send: str | None = None, fail_delete: bool = False) -> None:
        self.sqs = sqs
        self.fail_send = fail_send  # "raise" or "refuse"
        self.fail_delete = fail_delete
        self.log: list[tuple[str, list[str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.log.append(
            ("send", [json.loads(e["MessageBody"])["event"]["messageId"] for e in Entries])
        )
        if self.fail_send == "raise":
            raise ConnectionError("retry queue unreachable")
        if self.fail_send == "refuse":
            return {
                "Failed": [
                    {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries
                ]
            }
        return self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.log.append(("delete", [e["Id"] for e in Entries]))
        if self.fail_delete:
            raise ConnectionError("DLQ unreachable")
        return self.sqs.delete_message_batch(QueueUrl=QueueUrl, Entries=Entries)


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

    def stop(_: redrive.Report) -> None:
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


# --- command line ---------------------------------------------------------------------------


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return redrive.main(list(argv), out=out), out.getvalue()


def test_cli_falls_back_to_moving_itself_where_the_move_task_is_missing(queues: Queues) -> None:
    q = queues
    for i in range(3):
        dead_letter(q, f"m-{i}", REJECTED)
    time.sleep(0.002)

    code, output = cli("--source", q.dlq, "--destination", q.retry)

    assert code == 0, output
    assert "no StartMessageMoveTask here (NotImplementedError" in output
    assert "moved 3, failed 0, left 0" in output
    assert counts(q, q.retry) == (3, 0)


def test_cli_dry_run_prints_counts_by_reason(queues: Queues) -> None:
    q = queues
    dead_letter(q, "m-1", REJECTED)
    dead_letter(q, "m-2", REJECTED)
    poison(q)
    time.sleep(0.002)

    code, output = cli("--source", q.dlq, "--destination", q.retry, "--dry-run")

    assert code == 0, output
    lines = output.splitlines()
    assert any(line.split()[:2] == ["2", "0"] and REJECTED in line for line in lines)
    assert any(line.split()[:2] == ["1", "0"] and "poison message" in line for line in lines)
    assert "would move 3" in output
    assert counts(q, q.dlq) == (3, 0)


def test_cli_exits_1_when_something_was_not_moved(
    queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = queues
    dead_letter(q, "m-1", REJECTED)
    time.sleep(0.002)
    monkeypatch.setattr(redrive, "sqs_client", lambda *a, **k: Recording(q.sqs, "refuse"))

    code, output = cli("--source", q.dlq, "--destination", q.retry, "--manual")

    assert code == 1
    assert "failed 1" in output
    assert "error: destination refused a message: InternalError" in output


def test_cli_usage_errors(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    monkeypatch.delenv("RETRY_QUEUE_URL", raising=False)
    assert cli()[0] == 2
    with pytest.raises(SystemExit):
        cli("--source", "s", "--destination", "d", "--filter", "(")
    with pytest.raises(SystemExit):
        cli("--source", "s", "--destination", "d", "--rate", "501")


class FakeTaskSqs:
    """Just enough SQS for the move-task path."""

    def __init__(self, statuses: list[dict[str, Any]], start_error: Exception | None = None):
        self.statuses = statuses
        self.start_error = start_error
        self.started: list[dict[str, Any]] = []
        self.listed = 0

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> Any:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:eu-west-1:1:" + QueueUrl.rsplit("/")[-1]}}

    def start_message_move_task(self, **kwargs: Any) -> Any:
        if self.start_error is not None:
            raise self.start_error
        self.started.append(kwargs)
        return {"TaskHandle": "handle-1"}

    def list_message_move_tasks(self, SourceArn: str, MaxResults: int) -> Any:
        self.listed += 1
        return {"Results": [self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]]}


DLQ_URL = "https://sqs.eu-west-1.amazonaws.com/1/app-dlq"
RETRY_URL = "https://sqs.eu-west-1.amazonaws.com/1/app-retry"


def with_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeTaskSqs) -> None:
    monkeypatch.setattr(redrive, "sqs_client", lambda *a, **k: fake)
    monkeypatch.setattr(redrive.time, "sleep", lambda _: None)


def test_cli_uses_the_move_task_with_the_rate_and_follows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = {
        "Status": "RUNNING",
        "TaskHandle": "handle-1",
        "ApproximateNumberOfMessagesToMove": 5,
    }
    fake = FakeTaskSqs(
        [
            {**running, "ApproximateNumberOfMessagesMoved": 2},
            {
                "Status": "COMPLETED",
                "ApproximateNumberOfMessagesMoved": 5,
                "ApproximateNumberOfMessagesToMove": 5,
            },
        ]
    )
    with_fake(monkeypatch, fake)

    code, output = cli("--source", DLQ_URL, "--destination", RETRY_URL, "--rate", "7")

    assert code == 0, output
    assert fake.started == [
        {
            "SourceArn": "arn:aws:sqs:eu-west-1:1:app-dlq",
            "DestinationArn": "arn:aws:sqs:eu-west-1:1:app-retry",
            "MaxNumberOfMessagesPerSecond": 7,
        }
    ]
    assert "RUNNING: moved 2 of 5" in output
    assert "move task completed: moved 5" in output


def test_cli_no_wait_returns_once_the_task_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTaskSqs([{"Status": "RUNNING"}])
    with_fake(monkeypatch, fake)
    code, output = cli("--source", DLQ_URL, "--destination", RETRY_URL, "--no-wait")
    assert code == 0
    assert fake.started and fake.listed == 0
    assert "cancel-message-move-task --task-handle 'handle-1'" in output


def test_cli_reports_a_failed_task(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTaskSqs(
        [{"Status": "FAILED", "ApproximateNumberOfMessagesMoved": 1, "FailureReason": "KMS"}]
    )
    with_fake(monkeypatch, fake)
    code, output = cli("--source", DLQ_URL, "--destination", RETRY_URL)
    assert code == 1
    assert "move task FAILED: moved 1; KMS" in output


class FakeClientError(Exception):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.mark.parametrize(
    "error",
    [
        NotImplementedError("The start_message_move_task action has not been implemented"),
        FakeClientError("500", 500),  # moto's server
        FakeClientError("InvalidAction", 400),
        FakeClientError("UnsupportedOperation", 400),
    ],
)
def test_a_missing_move_task_is_told_apart(error: Exception) -> None:
    with pytest.raises(MoveTaskUnavailable):
        start_move_task(FakeTaskSqs([], start_error=error), "a", "b", 10)


def test_a_refused_move_task_is_not_mistaken_for_a_missing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = FakeClientError("AccessDenied", 403)
    with pytest.raises(FakeClientError):
        start_move_task(FakeTaskSqs([], start_error=error), "a", "b", 10)
    with_fake(monkeypatch, FakeTaskSqs([], start_error=error))
    code, _ = cli("--source", DLQ_URL, "--destination", RETRY_URL)
    assert code == 1  # not silently moved by hand


# --- finding the queues ---------------------------------------------------------------------


def test_local_target_reads_the_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    with pytest.raises(TargetError, match="make run"):
        local_target(ready)
    info = {
        "sqs_endpoint": "http://127.0.0.1:5555",
        "queues": {"RetryQueue": "http://q/retry", "DeadLetterQueue": "http://q/dlq"},
        "queue_arns": {
            "RetryQueue": "arn:aws:sqs:us-east-1:123456789012:retry",
            "DeadLetterQueue": "arn:aws:sqs:us-east-1:123456789012:dlq",
        },
        "pid": 0,
    }
    ready.write_text(json.dumps(info))
    target = local_target(ready)
    assert (target.source, target.destination) == ("http://q/dlq", "http://q/retry")
    assert (target.endpoint, target.region, target.local) == (
        "http://127.0.0.1:5555",
        "us-east-1",
        True,
    )
    ready.write_text(json.dumps({**info, "pid": 2**22 + 12345}))  # above any pid_max
    with pytest.raises(TargetError, match="stale"):
        local_target(ready)


def test_stack_target_reads_the_stack_outputs(queues: Queues) -> None:
    template = {
        "Resources": {
            "RetryQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "s-retry"}},
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "s-dlq"}},
        },
        "Outputs": {
            "RetryQueueUrl": {"Value": {"Ref": "RetryQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        },
    }
    boto3.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))
    target = stack_target("s")
    assert target.source.endswith("/s-dlq")
    assert target.destination.endswith("/s-retry")
    assert target.region == "us-east-1"
