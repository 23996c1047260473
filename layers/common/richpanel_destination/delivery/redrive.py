"""Move dead-lettered messages back to the retry queue.

    python -m richpanel_destination.delivery.redrive --local [--dry-run] [--filter REGEX]
        [--status N] [--limit N]
    python -m richpanel_destination.delivery.redrive --stack NAME [--rate N] [--no-wait] ...
    python -m richpanel_destination.delivery.redrive --source DLQ_URL --destination RETRY_URL ...

Two ways to move messages:

- SQS's own move task (StartMessageMoveTask) at ``--rate`` messages per second: used for an
  unfiltered, unlimited redrive on AWS. Its progress comes from ListMessageMoveTasks until
  the task ends (``--no-wait`` returns as soon as it is started).
- Moving them here: with ``--filter``, ``--status``, ``--limit``, ``--dry-run`` or
  ``--manual``, against the local stack, and wherever the move task is missing (moto).
  Messages are received from the DLQ and held invisible (``--hold`` seconds, extended while
  the run lasts); each selected one is sent to the retry queue with its body and message
  attributes unchanged plus ``redriven`` (how many times it was moved), and deleted from
  the DLQ only after the retry queue accepted it. Every message not moved (not selected,
  dry run, a send that failed) is made visible again when the run ends.

Safe to interrupt: nothing is deleted before its copy is on the retry queue. The first
Ctrl-C (or SIGTERM) lets the batch in hand finish, then stops and releases what it holds; a
second one stops at once. Stopped between the send and the delete (a second Ctrl-C, a kill,
a failed delete), a message is in both queues: the DLQ copy reappears, and if it is
redriven again the retry path delivers its messageId at most once (Powertools idempotency on
messageId) and acknowledges the other copy as a duplicate. If the process is killed, the
messages it held reappear in the DLQ after the hold. Messages that reach the DLQ after the
run started (such as a redriven message failing again) are left for the next run, so a run
always ends.

Exit status: 0 when everything selected was moved, 1 when something could not be moved (or
a moved message's DLQ copy could not be deleted), 2 for a usage error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .park import BATCH_ENTRIES, chunks

SQSClient = Any  # a boto3 SQS client (no stubs shipped)
Message = dict[str, Any]

STATUS = re.compile(r"Richpanel answered (\d{3})(?!\d)")
LOCAL_READY_FILE = ".local-stack.json"
NO_REASON = "(no reason)"
DEFAULT_RATE = 50
MAX_RATE = 500  # StartMessageMoveTask's MaxNumberOfMessagesPerSecond limit
DEFAULT_HOLD_SECONDS = 300
MAX_HOLD_SECONDS = 43200  # SQS's visibility timeout limit
MAX_ATTRIBUTES = 10  # SQS's message attribute limit
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

# What happened to each message, by reason.
MOVED, WOULD_MOVE, FAILED, LEFT = "moved", "would move", "failed", "left"


def status_of(reason: str) -> int | None:
    """The Richpanel status a DLQ reason names ("Richpanel answered 400: ..."), if any."""
    match = STATUS.search(reason)
    return int(match.group(1)) if match else None


def reason_of(message: Mapping[str, Any]) -> str:
    """A DLQ message's reason: its ``reason`` attribute, else the envelope's, else NO_REASON."""
    attribute = (message.get("MessageAttributes") or {}).get("reason") or {}
    if attribute.get("StringValue"):
        return str(attribute["StringValue"])
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        return NO_REASON
    if isinstance(body, dict) and isinstance(body.get("reason"), str) and body["reason"]:
        return str(body["reason"])
    return NO_REASON


@dataclass(frozen=True)
class Selector:
    """Which DLQ messages to move: reason matching a regex and/or naming a Richpanel status."""

    pattern: re.Pattern[str] | None = None
    status: int | None = None

    @property
    def everything(self) -> bool:
        return self.pattern is None and self.status is None

    def wants(self, reason: str) -> bool:
        if self.pattern is not None and not self.pattern.search(reason):
            return False
        return self.status is None or status_of(reason) == self.status

    def __str__(self) -> str:
        parts = []
        if self.pattern is not None:
            parts.append(f"reason matching /{self.pattern.pattern}/")
        if self.status is not None:
            parts.append(f"Richpanel status {self.status}")
        return " and ".join(parts) or "every message"


@dataclass
class Report:
    """What a redrive did (or, dry, would do), message by message."""

    dry_run: bool = False
    by_reason: dict[str, Counter[str]] = field(default_factory=dict)
    arrived: int = 0  # reached the DLQ after the run started: left for the next run
    undeleted: int = 0  # on the retry queue, but their DLQ copy could not be deleted
    unreleased: int = 0  # could not be made visible at the end: they reappear after the hold
    interrupted: bool = False
    aborted: bool = False  # an SQS error ended the run early
    errors: list[str] = field(default_factory=list)

    def count(self, reason: str, fate: str, n: int = 1) -> None:
        self.by_reason.setdefault(reason, Counter())[fate] += n

    def total(self, fate: str) -> int:
        return sum(counts[fate] for counts in self.by_reason.values())

    @property
    def moved(self) -> int:
        return self.total(MOVED)

    @property
    def failed(self) -> int:
        return self.total(FAILED)

    @property
    def left(self) -> int:
        return self.total(LEFT)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.undeleted and not self.aborted

    def error(self, text: str) -> None:
        if len(self.errors) < 5 and text not in self.errors:
            self.errors.append(text)

    def table(self, width: int = 120) -> str:
        """One line per reason, most frequent first."""
        columns = [WOULD_MOVE, LEFT] if self.dry_run else [MOVED, FAILED, LEFT]
        lines = ["  ".join(f"{c:>10}" for c in columns) + "  reason"]
        rows = sorted(self.by_reason.items(), key=lambda item: (-item[1].total(), item[0]))
        for reason, counts in rows:
            text = " ".join(reason.split())
            text = text if len(text) <= width else text[: width - 3] + "..."
            lines.append("  ".join(f"{counts[c]:>10}" for c in columns) + f"  {text}")
        return "\n".join(lines)

    def summary(self) -> str:
        if self.dry_run:
            line = f"dry run: would move {self.total(WOULD_MOVE)}, leave {self.left}; moved none"
        else:
            line = f"moved {self.moved}, failed {self.failed}, left {self.left}"
        if self.arrived:
            line += f"; {self.arrived} arrived during the run (left for the next one)"
        return line


def outgoing_attributes(message: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's attributes as SendMessage takes them, with ``redriven`` incremented."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        for kind in ("StringValue", "BinaryValue"):
            if kind in value:
                out[name] = {"DataType": value["DataType"], kind: value[kind]}
                break
    previous = str(out.get("redriven", {}).get("StringValue", "0"))
    if "redriven" in out or len(out) < MAX_ATTRIBUTES:
        moves = int(previous) + 1 if previous.isdigit() else 1
        out["redriven"] = {"DataType": "Number", "StringValue": str(moves)}
    return out


def _entry_size(entry: Mapping[str, Any]) -> int:
    size = len(str(entry["MessageBody"]).encode("utf-8"))
    for name, value in entry["MessageAttributes"].items():
        data = value.get("StringValue", value.get("BinaryValue", b""))
        size += len(name) + len(value["DataType"]) + len(data)
    return size


class Holding:
    """Received messages kept invisible until deleted or released; the hold is renewed."""

    def __init__(
        self,
        sqs: SQSClient,
        url: str,
        seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sqs = sqs
        self.url = url
        self.seconds = seconds
        self.clock = clock
        self._handles: dict[str, str] = {}  # SQS MessageId -> latest receipt handle
        self._since: dict[str, float] = {}  # SQS MessageId -> when last held

    def __len__(self) -> int:
        return len(self._handles)

    def hold(self, message: Mapping[str, Any]) -> None:
        self._handles[message["MessageId"]] = message["ReceiptHandle"]
        self._since[message["MessageId"]] = self.clock()

    def forget(self, message_id: str) -> None:
        self._handles.pop(message_id, None)
        self._since.pop(message_id, None)

    def renew_due(self) -> None:
        """Hold again what has been held for half the hold (a lapse only means a re-receive)."""
        now = self.clock()
        due = [m for m, since in self._since.items() if now - since >= self.seconds / 2]
        self._change(due, self.seconds)
        for message_id in due:
            self._since[message_id] = now

    def release(self) -> int:
        """Make every held message visible again; returns how many could not be.

        Resumable: if interrupted, calling it again releases what is still held.
        """
        failed = 0
        while self._handles:
            batch = list(self._handles)[:BATCH_ENTRIES]
            failed += self._change(batch, 0)
            for message_id in batch:
                self.forget(message_id)
        return failed

    def _change(self, message_ids: list[str], timeout: int) -> int:
        failed = 0
        for start in range(0, len(message_ids), BATCH_ENTRIES):
            ids = message_ids[start : start + BATCH_ENTRIES]
            entries = [
                {"Id": str(i), "ReceiptHandle": self._handles[m], "VisibilityTimeout": timeout}
                for i, m in enumerate(ids)
            ]
            try:
                answer = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.url, Entries=entries
                )
            except Exception:  # best effort: a message not released reappears after the hold
                failed += len(entries)
                continue
            failed += len(answer.get("Failed", []))
        return failed


def move_manually(
    sqs: SQSClient,
    source: str,
    destination: str,
    selector: Selector | None = None,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    rate: float | None = None,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    arrived_before_ms: int | None = None,
    wait_seconds: int = 1,
    progress: Callable[[Report], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Report:
    """Move the selected messages from source to destination: send, then delete.

    Stops when a receive finds nothing visible (or only messages seen before, twice in a
    row), when ``limit`` messages were selected, or at an SQS error (``report.aborted``).
    Messages sent to the source after ``arrived_before_ms`` (default: now) are left alone.
    ``should_stop`` is asked between batches; it or a KeyboardInterrupt ends the run early
    (``report.interrupted``). Held messages are released in every case.
    """
    selector = selector or Selector()
    report = Report(dry_run=dry_run)
    cutoff = int(time.time() * 1000) if arrived_before_ms is None else arrived_before_ms
    holding = Holding(sqs, source, hold_seconds)
    seen: set[str] = set()
    taken = 0
    started = time.monotonic()
    try:
        idle = 0
        while idle < 2 and (limit is None or taken < limit):
            if should_stop is not None and should_stop():
                report.interrupted = True
                break
            holding.renew_due()
            messages = sqs.receive_message(
                QueueUrl=source,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=hold_seconds,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            if not messages:
                break  # a long poll that finds nothing: nothing visible is left
            fresh: list[Message] = []
            for message in messages:
                holding.hold(message)  # even one seen before: its hold lapsed, renew it
                if message["MessageId"] not in seen:
                    seen.add(message["MessageId"])
                    fresh.append(message)
            idle = 0 if fresh else idle + 1  # only lapsed holds came back
            chosen: list[Message] = []
            for message in fresh:
                if int(message.get("Attributes", {}).get("SentTimestamp", 0)) > cutoff:
                    report.arrived += 1
                    continue
                reason = reason_of(message)
                if not selector.wants(reason) or (limit is not None and taken >= limit):
                    report.count(reason, LEFT)
                    continue
                taken += 1
                if dry_run:
                    report.count(reason, WOULD_MOVE)
                else:
                    chosen.append(message)
            if chosen:
                _move(sqs, source, destination, chosen, report, holding)
                if rate:
                    time.sleep(max(0.0, report.moved / rate - (time.monotonic() - started)))
            if progress is not None:
                progress(report)
    except KeyboardInterrupt:
        report.interrupted = True
    except Exception as exc:  # e.g. the source cannot be read: report what was done so far
        report.aborted = True
        report.error(f"stopped early: {type(exc).__name__}: {exc}")
    finally:
        while True:  # a second Ctrl-C must not leave messages held until the hold expires
            try:
                report.unreleased += holding.release()
                break
            except KeyboardInterrupt:
                report.interrupted = True
    return report


def _move(
    sqs: SQSClient,
    source: str,
    destination: str,
    chosen: list[Message],
    report: Report,
    holding: Holding,
) -> None:
    """Send the chosen messages to destination; delete from source only what was sent."""
    entries = [
        {"Id": str(i), "MessageBody": m["Body"], "MessageAttributes": outgoing_attributes(m)}
        for i, m in enumerate(chosen)
    ]
    for group in chunks(entries, _entry_size):
        try:
            answer = sqs.send_message_batch(QueueUrl=destination, Entries=group)
        except Exception as exc:  # none sent: all stay in the source
            report.error(f"sending to the destination failed: {type(exc).__name__}: {exc}")
            answer = {}
        for failure in answer.get("Failed", []):
            report.error(
                f"destination refused a message: {failure.get('Code')}: "
                f"{failure.get('Message', '')}"
            )
        sent = [chosen[int(s["Id"])] for s in answer.get("Successful", [])]
        sent_ids = {id(m) for m in sent}
        for entry in group:
            message = chosen[int(entry["Id"])]
            report.count(reason_of(message), MOVED if id(message) in sent_ids else FAILED)
        if not sent:
            continue
        deletes = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)]
        try:
            deleted = sqs.delete_message_batch(QueueUrl=source, Entries=deletes)
        except Exception as exc:  # each is in both queues now; idempotency absorbs a redrive
            report.error(f"deleting from the source failed: {type(exc).__name__}: {exc}")
            report.undeleted += len(sent)
            continue
        for success in deleted.get("Successful", []):
            holding.forget(sent[int(success["Id"])]["MessageId"])
        for failure in deleted.get("Failed", []):
            report.error(f"source kept a moved message: {failure.get('Code')}")
        report.undeleted += len(deleted.get("Failed", []))


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
            raise MoveTaskUnavailable(f"{type(exc).__name__}: {exc}"[:200]) from exc
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


# --- command line ---------------------------------------------------------------------------


class TargetError(Exception):
    """The queues to move between cannot be determined."""


@dataclass(frozen=True)
class Target:
    """Where to move from and to, and how to reach SQS."""

    source: str
    destination: str
    endpoint: str | None = None
    region: str | None = None
    local: bool = False
    source_arn: str | None = None
    destination_arn: str | None = None


def _region_of(url_or_arn: str) -> str | None:
    if url_or_arn.startswith("arn:"):
        parts = url_or_arn.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else None
    match = re.match(r"https://(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws", url_or_arn)
    return (match.group(1) or match.group(2)) if match else None


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # nothing to check
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_target(ready_file: Path) -> Target:
    """The local stack's queues, from the ready file `python -m local.run` writes."""
    if not ready_file.exists():
        raise TargetError(
            f"{ready_file} not found: start the local stack with `make run` (it writes the "
            "file), or give --ready-file"
        )
    info = json.loads(ready_file.read_text(encoding="utf-8"))
    if not _pid_alive(info.get("pid")):
        raise TargetError(f"{ready_file} is stale: the local stack (pid {info['pid']}) is gone")
    try:
        source, destination = info["queues"]["DeadLetterQueue"], info["queues"]["RetryQueue"]
        endpoint = info["sqs_endpoint"]
    except KeyError as exc:
        raise TargetError(f"{ready_file} has no {exc}") from exc
    arns = info.get("queue_arns") or {}
    source_arn = arns.get("DeadLetterQueue")
    return Target(
        source,
        destination,
        endpoint=endpoint,
        region=_region_of(source_arn) if source_arn else "us-east-1",
        local=True,
        source_arn=source_arn,
        destination_arn=arns.get("RetryQueue"),
    )


def stack_target(stack_name: str) -> Target:
    """A deployed stack's queues, from its DeadLetterQueueUrl and RetryQueueUrl outputs."""
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    try:
        source, destination = outputs["DeadLetterQueueUrl"], outputs["RetryQueueUrl"]
    except KeyError as exc:
        raise TargetError(f"stack {stack_name} has no output {exc}") from exc
    return Target(source, destination, region=_region_of(source))


def resolve_target(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Target:
    """The queues from --local, --stack, --source/--destination or the environment."""
    if args.local:
        target = local_target(Path(args.ready_file))
        if args.source or args.destination:  # other queues on the same local endpoint
            target = Target(
                args.source or target.source,
                args.destination or target.destination,
                endpoint=target.endpoint,
                region=target.region,
                local=True,
            )
        return target
    if args.stack:
        target = stack_target(args.stack)
        source = args.source or target.source
        destination = args.destination or target.destination
    else:
        source = args.source or environ.get("DEAD_LETTER_QUEUE_URL", "")
        destination = args.destination or environ.get("RETRY_QUEUE_URL", "")
    if not source or not destination:
        raise TargetError(
            "which queues? give --local (make run), --stack NAME, or --source and "
            "--destination (or DEAD_LETTER_QUEUE_URL and RETRY_QUEUE_URL)"
        )
    return Target(source, destination, region=_region_of(source))


def sqs_client(target: Target, *, retries: bool = True) -> SQSClient:
    """A boto3 SQS client for the target (fake credentials for the local stack)."""
    import boto3
    from botocore.config import Config

    attempts = {"mode": "standard"} if retries else {"mode": "standard", "total_max_attempts": 1}
    options: dict[str, Any] = {"config": Config(retries=attempts)}
    if target.region:
        options["region_name"] = target.region
    if target.endpoint:
        options["endpoint_url"] = target.endpoint
    if target.local:
        options["aws_access_key_id"] = "testing"
        options["aws_secret_access_key"] = "testing"
    return boto3.client("sqs", **options)


def _arn(sqs: SQSClient, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _visible(sqs: SQSClient, url: str) -> int | None:
    try:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])
    except Exception:  # only for the progress line
        return None


class Progress:
    """Progress lines: rewritten in place on a terminal, one every few seconds otherwise."""

    def __init__(self, out: TextIO, expected: int | None, interval: float | None = None) -> None:
        self.out = out
        self.expected = expected
        self.tty = out.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 2.0)
        self.started = self.last = time.monotonic()
        self.dirty = False

    def manual(self, report: Report) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        done = report.total(WOULD_MOVE) if report.dry_run else report.moved
        verb = "would move" if report.dry_run else "moved"
        of = f" of ~{self.expected}" if self.expected else ""
        rate = done / max(now - self.started, 1e-6)
        failed = "" if report.dry_run else f", failed {report.failed}"
        self._write(
            f"{verb} {done}{of}{failed}, left {report.left} "
            f"({now - self.started:.0f}s, {rate:.1f}/s)"
        )

    def task(self, task: Mapping[str, Any]) -> None:
        moved = task.get("ApproximateNumberOfMessagesMoved", 0)
        to_move = task.get("ApproximateNumberOfMessagesToMove")
        of = f" of {to_move}" if to_move is not None else ""
        self._write(f"{task.get('Status', '?')}: moved {moved}{of}")

    def _write(self, line: str) -> None:
        if self.tty:
            self.out.write(f"\r\x1b[K{line}")
            self.dirty = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.dirty:
            self.out.write("\n")
            self.dirty = False


def _parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m richpanel_destination.delivery.redrive",
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(doc.split("\n\n")[2:]),
    )
    where = parser.add_argument_group("queues")
    where.add_argument("--local", action="store_true", help="the local stack (make run)")
    where.add_argument(
        "--ready-file", default=LOCAL_READY_FILE, help=f"with --local (default {LOCAL_READY_FILE})"
    )
    where.add_argument("--stack", help="a deployed stack: its DLQ and retry queue outputs")
    where.add_argument("--source", help="DLQ URL (default $DEAD_LETTER_QUEUE_URL)")
    where.add_argument("--destination", help="retry queue URL (default $RETRY_QUEUE_URL)")
    which = parser.add_argument_group("what to move")
    which.add_argument("--dry-run", action="store_true", help="count by reason, move nothing")
    which.add_argument("--filter", metavar="REGEX", help="only messages whose reason matches")
    which.add_argument(
        "--status", type=int, metavar="N", help='only reasons "Richpanel answered N"'
    )
    which.add_argument("--limit", type=int, metavar="N", help="move at most N messages")
    how = parser.add_argument_group("how")
    how.add_argument(
        "--rate",
        type=int,
        default=DEFAULT_RATE,
        help=f"messages per second, 1-{MAX_RATE} (default {DEFAULT_RATE})",
    )
    how.add_argument("--manual", action="store_true", help="never use StartMessageMoveTask")
    how.add_argument("--no-wait", action="store_true", help="start the SQS move task and return")
    how.add_argument(
        "--hold",
        type=int,
        default=DEFAULT_HOLD_SECONDS,
        metavar="SECONDS",
        help=f"how long a received message stays hidden (default {DEFAULT_HOLD_SECONDS}; "
        "renewed while running; a killed run's messages reappear after it)",
    )
    return parser


def _selector(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Selector:
    try:
        pattern = re.compile(args.filter) if args.filter else None
    except re.error as exc:
        parser.error(f"--filter: {exc}")
    if not 1 <= args.rate <= MAX_RATE:
        parser.error(f"--rate must be 1-{MAX_RATE}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if not 1 <= args.hold <= MAX_HOLD_SECONDS:
        parser.error(f"--hold must be 1-{MAX_HOLD_SECONDS}")
    return Selector(pattern, args.status)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """The command line; returns the exit status."""
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    selector = _selector(parser, args)
    try:
        target = resolve_target(args)
    except TargetError as exc:
        print(f"redrive: {exc}", file=sys.stderr)
        return 2
    previous = _stop_on_sigterm()
    try:
        return _run(args, selector, target, out)
    except KeyboardInterrupt:
        print("\ninterrupted", file=out)
        return 130
    except Exception as exc:  # boto3's errors: report them without a traceback
        print(f"redrive: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def graceful_stop() -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C or SIGTERM is asked for between batches; a second one interrupts.

    A signal landing inside a ReceiveMessage call would leave its messages held (their
    receipt handles never arrive) until the hold expires; deferring it avoids that.
    """
    requested: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)
        print("\nstopping after this batch (again to stop at once)", file=sys.stderr)

    previous: dict[signal.Signals, Any] = {}
    for which in (signal.SIGINT, signal.SIGTERM):
        try:
            if signal.getsignal(which) is not signal.SIG_IGN:
                previous[which] = signal.signal(which, handler)
        except ValueError:  # not the main thread: signals stay as they are
            break
    try:
        yield lambda: bool(requested)
    finally:
        for which, old in previous.items():
            signal.signal(which, old)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> Any:
    """Let SIGTERM stop a run as cleanly as Ctrl-C (held messages released)."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        return None


def _run(args: argparse.Namespace, selector: Selector, target: Target, out: TextIO) -> int:
    sqs = sqs_client(target)
    print(f"from {target.source}\n  to {target.destination}", file=out)
    whole = selector.everything and not args.dry_run and args.limit is None
    if whole and not args.manual and not target.local:
        source_arn = target.source_arn or _arn(sqs, target.source)
        destination_arn = target.destination_arn or _arn(sqs, target.destination)
        try:
            handle = start_move_task(
                sqs_client(target, retries=False), source_arn, destination_arn, args.rate
            )
        except MoveTaskUnavailable as exc:
            print(f"no StartMessageMoveTask here ({exc}); moving the messages myself", file=out)
        except Exception as exc:
            print(
                f"redrive: StartMessageMoveTask refused: {type(exc).__name__}: {exc}\n"
                "  (--manual moves the messages without it)",
                file=sys.stderr,
            )
            return 1
        else:
            return _follow_task(sqs, source_arn, handle, args, out)
    elif target.local and whole and not args.manual:
        print(
            "local stack (moto has no StartMessageMoveTask): moving the messages myself", file=out
        )
    return _move_here(sqs, selector, target, args, out)


def _follow_task(
    sqs: SQSClient, source_arn: str, handle: str, args: argparse.Namespace, out: TextIO
) -> int:
    print(f"started SQS move task at {args.rate} messages/s\n  handle {handle}", file=out)
    cancel = f"aws sqs cancel-message-move-task --task-handle '{handle}'"
    if args.no_wait:
        print(f"watch: aws sqs list-message-move-tasks --source-arn {source_arn}", file=out)
        print(f"stop:  {cancel}", file=out)
        return 0
    progress = Progress(out, None)
    try:
        task = watch_move_task(sqs, source_arn, handle, progress=progress.task)
    except KeyboardInterrupt:
        progress.done()
        print(f"stopped watching; the task goes on. To stop it: {cancel}", file=out)
        return 130
    progress.done()
    moved = task.get("ApproximateNumberOfMessagesMoved", 0)
    if task.get("Status") == "COMPLETED":
        print(f"move task completed: moved {moved}", file=out)
        return 0
    reason = task.get("FailureReason") or "no reason given"
    print(f"move task {task.get('Status')}: moved {moved}; {reason}", file=out)
    return 1


def _move_here(
    sqs: SQSClient, selector: Selector, target: Target, args: argparse.Namespace, out: TextIO
) -> int:
    what = f"{selector}" + (f", at most {args.limit}" if args.limit else "")
    verb = "counting" if args.dry_run else f"moving at up to {args.rate}/s"
    print(f"{verb}: {what}", file=out)
    started = time.monotonic()
    progress = Progress(out, _visible(sqs, target.source))
    with graceful_stop() as should_stop:
        report = move_manually(
            sqs,
            target.source,
            target.destination,
            selector,
            dry_run=args.dry_run,
            limit=args.limit,
            rate=args.rate,
            hold_seconds=args.hold,
            progress=progress.manual,
            should_stop=should_stop,
        )
    progress.done()
    print(
        f"\nby reason:\n{report.table()}\n" if report.by_reason else "\nDLQ: nothing to move",
        file=out,
    )
    for text in report.errors:
        print(f"error: {text}", file=out)
    if report.undeleted:
        print(
            f"warning: {report.undeleted} moved message(s) are still in the DLQ too; a later "
            "redrive delivers them at most once (idempotency on messageId)",
            file=out,
        )
    if report.unreleased:
        print(
            f"note: {report.unreleased} message(s) could not be made visible again; they "
            f"reappear within {args.hold}s",
            file=out,
        )
    state = "interrupted" if report.interrupted else "stopped" if report.aborted else "done"
    print(f"{state} in {time.monotonic() - started:.1f}s: {report.summary()}", file=out)
    if report.interrupted:
        return 130
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
