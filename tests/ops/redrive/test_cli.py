"""The redrive command line: the move task where there is one, else moving here."""

from __future__ import annotations

import time

import pytest

from ops.redrive import cli as redrive_cli
from ops.redrive.task import start_move_task

from .helpers import (
    DLQ_URL,
    REJECTED,
    RETRY_URL,
    FakeClientError,
    FakeTaskSqs,
    Queues,
    Recording,
    cli,
    counts,
    dead_letter,
    poison,
)


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
    monkeypatch.setattr(redrive_cli, "sqs_client", lambda *a, **k: Recording(q.sqs, "refuse"))

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


def with_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeTaskSqs) -> None:
    monkeypatch.setattr(redrive_cli, "sqs_client", lambda *a, **k: fake)
    monkeypatch.setattr(redrive_cli.time, "sleep", lambda _: None)


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


def test_a_refused_move_task_is_not_mistaken_for_a_missing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = FakeClientError("AccessDenied", 403)
    with pytest.raises(FakeClientError):
        start_move_task(FakeTaskSqs([], start_error=error), "a", "b", 10)
    with_fake(monkeypatch, FakeTaskSqs([], start_error=error))
    code, _ = cli("--source", DLQ_URL, "--destination", RETRY_URL)
    assert code == 1  # not silently moved by hand
