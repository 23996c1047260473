"""SQS's move task: told apart from an endpoint without it, and followed until it ends."""

from __future__ import annotations

import pytest

from ops.redrive.task import MoveTaskUnavailable, start_move_task, watch_move_task

from .helpers import FakeClientError, FakeTaskSqs


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


def test_watching_follows_the_task_until_it_ends() -> None:
    fake = FakeTaskSqs(
        [
            {"Status": "RUNNING", "TaskHandle": "h", "ApproximateNumberOfMessagesMoved": 1},
            {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 4},
        ]
    )
    seen: list[str] = []
    task = watch_move_task(
        fake, "arn", "h", progress=lambda t: seen.append(t["Status"]), sleep=lambda _: None
    )
    assert (task["Status"], seen, fake.listed) == ("COMPLETED", ["RUNNING", "COMPLETED"], 2)
