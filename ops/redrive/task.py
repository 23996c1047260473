"""SQS's own move task (StartMessageMoveTask): start it, follow it until it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from richpanel_destination.limits import reason

SQSClient = Any  # a boto3 SQS client (no stubs shipped)

DEFAULT_RATE = 50
MAX_RATE = 500  # StartMessageMoveTask's MaxNumberOfMessagesPerSecond limit
TASK_ENDED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# What an endpoint without StartMessageMoveTask answers (moto's server says 500).
UNAVAILABLE_CODES = frozenset(
    {
        "InvalidAction",
        "UnknownOperation",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "NotImplemented",
    }
)
UNAVAILABLE_STATUSES = frozenset({404, 500, 501})


class MoveTaskUnavailable(Exception):
    """The endpoint has no StartMessageMoveTask (moto, older SQS-compatible servers)."""


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, NotImplementedError | AttributeError):
        return True  # moto in-process; a botocore without the operation
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in UNAVAILABLE_CODES or status in UNAVAILABLE_STATUSES


def start_move_task(sqs: SQSClient, source_arn: str, destination_arn: str, rate: int) -> str:
    """Start SQS's move task; returns its handle (MoveTaskUnavailable where it is missing)."""
    try:
        answer = sqs.start_message_move_task(
            SourceArn=source_arn,
            DestinationArn=destination_arn,
            MaxNumberOfMessagesPerSecond=rate,
        )
    except Exception as exc:
        if _unavailable(exc):
            raise MoveTaskUnavailable(reason(f"{type(exc).__name__}: {exc}")) from exc
        raise
    return str(answer["TaskHandle"])


def watch_move_task(
    sqs: SQSClient,
    source_arn: str,
    handle: str,
    *,
    interval: float = 2.0,
    progress: Callable[[Mapping[str, Any]], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Mapping[str, Any]:
    """Poll ListMessageMoveTasks until the task ends; returns its last description."""
    while True:
        answer = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)
        tasks: list[dict[str, Any]] = answer.get("Results", [])
        # The handle is listed only while RUNNING; after that ours is the most recent task.
        task = next((t for t in tasks if t.get("TaskHandle") == handle), None)
        if task is None and tasks:
            task = tasks[0]
        if task is None:
            raise RuntimeError(f"ListMessageMoveTasks does not list task {handle}")
        if progress is not None:
            progress(task)
        if task.get("Status") in TASK_ENDED:
            return task
        (sleep or time.sleep)(interval)
