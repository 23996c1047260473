"""Move dead-lettered messages back to the retry queue.

    python -m richpanel_destination.delivery.redrive [--dry-run] [--filter REGEX] [--status N]

On AWS, an unfiltered redrive uses SQS's StartMessageMoveTask at ``--rate`` messages
per second. With a filter, or where that API is missing (moto, the local stack), it
moves messages itself: send first, then delete, so an interrupted run loses nothing
(at worst a message is in both queues, and idempotency on messageId absorbs that).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUS = re.compile(r"Richpanel answered (\d{3})")
LOCAL_READY_FILE = ".local-stack.json"


def status_of(reason: str) -> int | None:
    """The Richpanel status a DLQ reason names, if any."""
    match = STATUS.search(reason)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Selector:
    """Which DLQ messages to move: by reason (regex) and/or Richpanel status."""

    reason: re.Pattern[str] | None = None
    status: int | None = None

    @property
    def everything(self) -> bool:
        return self.reason is None and self.status is None

    def wants(self, reason: str) -> bool:
        if self.reason is not None and not self.reason.search(reason):
            return False
        return self.status is None or status_of(reason) == self.status


@dataclass
class Report:
    moved: int = 0
    skipped: int = 0
    failed: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)


def _reason(message: dict[str, Any]) -> str:
    attr = message.get("MessageAttributes", {}).get("reason", {})
    return str(attr.get("StringValue") or "(no reason attribute)")


def _outgoing_attributes(message: dict[str, Any]) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in message.get("MessageAttributes", {}).items():
        if "StringValue" in value:
            out[name] = {"DataType": value["DataType"], "StringValue": value["StringValue"]}
    redriven = int(out.get("redriven", {}).get("StringValue", "0")) + 1
    out["redriven"] = {"DataType": "Number", "StringValue": str(redriven)}
    return out


def _receive_all(sqs: Any, url: str, hold_seconds: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of messages, each held invisible for ``hold_seconds``, until the queue is empty."""
    empty = 0
    while empty < 2:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=hold_seconds,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        empty = 0 if messages else empty + 1
        if messages:
            yield messages


def _release(sqs: Any, url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def move_manually(
    sqs: Any,
    source: str,
    destination: str,
    selector: Selector,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    progress: Callable[[Report], None] = lambda _: None,
    hold_seconds: int = 120,
) -> Report:
    """Receive, (send, delete) each selected message; put the others back when done."""
    report = Report()
    held: list[str] = []  # receipt handles to make visible again at the end
    try:
        for batch in _receive_all(sqs, source, hold_seconds):
            chosen: list[dict[str, Any]] = []
            for message in batch:
                reason = _reason(message)
                full = limit is not None and report.moved + len(chosen) >= limit
                if not selector.wants(reason) or full:
                    report.skipped += 1
                    held.append(message["ReceiptHandle"])
                    continue
                report.by_reason[reason] += 1
                if dry_run:
                    held.append(message["ReceiptHandle"])
                else:
                    chosen.append(message)
            if chosen:
                _move(sqs, source, destination, chosen, report)
            progress(report)
            if limit is not None and report.moved >= limit:
                break
    finally:
        _release(sqs, source, held)
    return report


def _move(
    sqs: Any, source: str, destination: str, chosen: list[dict[str, Any]], report: Report
) -> None:
    entries = [
        {
            "Id": str(i),
            "MessageBody": m["Body"],
            "MessageAttributes": _outgoing_attributes(m),
        }
        for i, m in enumerate(chosen)
    ]
    sent = sqs.send_message_batch(QueueUrl=destination, Entries=entries)
    ok = {int(s["Id"]) for s in sent.get("Successful", [])}
    report.failed += len(chosen) - len(ok)
    if ok:
        sqs.delete_message_batch(
            QueueUrl=source,
            Entries=[{"Id": str(i), "ReceiptHandle": chosen[i]["ReceiptHandle"]} for i in ok],
        )
    report.moved += len(ok)


def move_with_task(sqs: Any, source_arn: str, destination_arn: str, rate: int) -> str:
    """Start SQS's own move task (AWS only); returns its handle."""
    answer = sqs.start_message_move_task(
        SourceArn=source_arn, DestinationArn=destination_arn, MaxNumberOfMessagesPerSecond=rate
    )
    return str(answer["TaskHandle"])


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _local_defaults() -> dict[str, str]:
    path = Path(LOCAL_READY_FILE)
    if not path.exists():
        return {}
    info = json.loads(path.read_text())
    return {
        "source": info["queues"]["DeadLetterQueue"],
        "destination": info["queues"]["RetryQueue"],
        "endpoint": info["sqs_endpoint"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redrive", description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="DLQ URL (default: $DEAD_LETTER_QUEUE_URL)")
    parser.add_argument("--destination", help="retry queue URL (default: $RETRY_QUEUE_URL)")
    parser.add_argument("--local", action="store_true", help=f"use {LOCAL_READY_FILE} (make run)")
    parser.add_argument(
        "--dry-run", action="store_true", help="count messages by reason, move none"
    )
    parser.add_argument("--filter", help="move only messages whose reason matches this regex")
    parser.add_argument(
        "--status", type=int, help="move only messages Richpanel answered with this"
    )
    parser.add_argument("--rate", type=int, default=50, help="messages/s for the AWS move task")
    parser.add_argument("--limit", type=int, help="move at most this many")
    parser.add_argument("--manual", action="store_true", help="never use StartMessageMoveTask")
    args = parser.parse_args(argv)

    local = _local_defaults() if args.local else {}
    if local:
        os.environ.setdefault("AWS_ENDPOINT_URL", local["endpoint"])
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            os.environ.setdefault(name, value)
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    source = args.source or local.get("source") or os.environ.get("DEAD_LETTER_QUEUE_URL")
    destination = args.destination or local.get("destination") or os.environ.get("RETRY_QUEUE_URL")
    if not source or not destination:
        parser.error("give --source and --destination (or --local, or the queue URL variables)")

    import boto3

    sqs = boto3.client("sqs")
    selector = Selector(re.compile(args.filter) if args.filter else None, args.status)
    started = time.monotonic()

    def progress(report: Report) -> None:
        verb = "matched" if args.dry_run else "moved"
        count = sum(report.by_reason.values()) if args.dry_run else report.moved
        print(
            f"\r{verb} {count}, left {report.skipped}, failed {report.failed}", end="", flush=True
        )

    if selector.everything and not args.dry_run and not args.manual and args.limit is None:
        try:
            handle = move_with_task(sqs, _arn(sqs, source), _arn(sqs, destination), args.rate)
        except Exception as exc:  # moto and older endpoints lack the API
            print(
                f"StartMessageMoveTask unavailable ({type(exc).__name__}); moving messages myself"
            )
        else:
            print(
                f"started SQS move task {handle} at {args.rate} msg/s; watch it with "
                f"aws sqs list-message-move-tasks --source-arn {_arn(sqs, source)}"
            )
            return 0

    report = move_manually(
        sqs,
        source,
        destination,
        selector,
        dry_run=args.dry_run,
        limit=args.limit,
        progress=progress,
    )
    print(f"\n{'would move' if args.dry_run else 'moved'} by reason:")
    for reason, count in report.by_reason.most_common():
        print(f"  {count:6d}  {reason}")
    print(
        f"done in {time.monotonic() - started:.1f}s: moved {report.moved}, "
        f"left {report.skipped}, failed {report.failed}"
    )
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
