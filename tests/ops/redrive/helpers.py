"""Shared helpers of the redrive tests: queues like the Lambdas do, counting, fake clients."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from typing import Any

from ops.redrive import cli as redrive_cli
from ops.redrive.move import move_manually
from ops.redrive.selection import Report, Selector
from richpanel_destination.delivery.queues import dead_letter_message, envelope

REJECTED = 'Richpanel answered 400: {"error": "bad call"}'
GAVE_UP = "gave up after 9 attempts: Richpanel answered 503"
POISON = "poison message: body is not JSON: Expecting value: line 1 column 1 (char 0)"

DLQ_URL = "https://sqs.eu-west-1.amazonaws.com/1/app-dlq"
RETRY_URL = "https://sqs.eu-west-1.amazonaws.com/1/app-retry"


@dataclass
class Queues:
    sqs: Any
    dlq: str
    retry: str


Sent = tuple[str, dict[str, str]]  # body, attributes as plain strings


def dead_letter(
    q: Queues, message_id: str, reason: str, status: int | None = None, **extra: dict[str, str]
) -> Sent:
    """What the ingest and retry paths put on the DLQ (park.dead_letter_message).

    Without ``status``: as parked before the ``richpanelStatus`` attribute existed.
    """
    event = {"type": "track", "event": "Clicked", "userId": "u", "messageId": message_id}
    message = dead_letter_message(
        0, envelope(event, 2, reason), reason, message_id=message_id, attempt=2, status=status
    )
    attributes = {**message.attrs, **extra}
    q.sqs.send_message(QueueUrl=q.dlq, MessageBody=message.body, MessageAttributes=attributes)
    return message.body, {k: v["StringValue"] for k, v in attributes.items()}


def poison(q: Queues, body: str = "{not json", reason: str = POISON) -> Sent:
    """A body the retry path could not read, dead-lettered with a reason attribute."""
    message = dead_letter_message(0, body, reason, attempt=1)
    q.sqs.send_message(QueueUrl=q.dlq, MessageBody=message.body, MessageAttributes=message.attrs)
    return message.body, {k: v["StringValue"] for k, v in message.attrs.items()}


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


def run(q: Queues, selector: Selector | None = None, **options: Any) -> Report:
    options.setdefault("wait_seconds", 0)
    # messages sent in this very millisecond count as already there
    options.setdefault("arrived_before_ms", int(time.time() * 1000) + 1)
    return move_manually(q.sqs, q.dlq, q.retry, selector, **options)


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return redrive_cli.main(list(argv), out=out), out.getvalue()


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


class FakeClientError(Exception):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
