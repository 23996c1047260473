"""The move done here: receive from the DLQ, send to the retry queue, then delete.

Messages are received and held invisible (extended while the run lasts); each selected one is
sent with its body and message attributes unchanged plus ``redriven`` (how many times it was
moved), and deleted from the DLQ only after the retry queue accepted it. Every message not
moved (not selected, dry run, a send that failed) is made visible again when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from richpanel_destination.delivery.queues import chunks
from richpanel_destination.limits import SQS_BATCH_ENTRIES as BATCH_ENTRIES

from .selection import (
    FAILED,
    LEFT,
    MOVED,
    WOULD_MOVE,
    Report,
    Selector,
    reason_of,
    status_attribute,
)

SQSClient = Any  # a boto3 SQS client (no stubs shipped)
Message = dict[str, Any]

DEFAULT_HOLD_SECONDS = 300
MAX_HOLD_SECONDS = 43200  # SQS's visibility timeout limit
# SQS's message attribute limit. Ours: a retry message has at most 6 (messageId, type, attempt,
# reason, retryAfter, richpanelStatus), a DLQ message 4 (messageId, attempt, reason,
# richpanelStatus); ``redriven`` makes 7 (tests/unit/delivery/test_queues.py counts them).
MAX_ATTRIBUTES = 10


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
                wanted = selector.wants(reason, status_attribute(message))
                if not wanted or (limit is not None and taken >= limit):
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
