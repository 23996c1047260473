"""Move dead-lettered messages back to the retry queue.

    python -m ops.redrive --local [--dry-run] [--filter REGEX] [--status N] [--limit N]
    python -m ops.redrive --stack NAME [--rate N] [--no-wait] ...
    python -m ops.redrive --source DLQ_URL --destination RETRY_URL ...

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

``--status N`` selects by the ``richpanelStatus`` attribute; a message parked before it
existed (a DLQ keeps messages 14 days) is selected when its reason says "Richpanel answered N".

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
import re
import signal
import sys
import time
from typing import TextIO

from local.targets import READY_FILE
from ops.cli import doc_parser

from .console import Progress, graceful_stop, stop_on_sigterm
from .move import DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS, SQSClient, move_manually
from .selection import Selector
from .targets import Target, TargetError, queue_arn, resolve_target, sqs_client, visible
from .task import DEFAULT_RATE, MAX_RATE, MoveTaskUnavailable, start_move_task, watch_move_task


def _parser() -> argparse.ArgumentParser:
    parser = doc_parser("python -m ops.redrive", __doc__)
    where = parser.add_argument_group("queues")
    where.add_argument("--local", action="store_true", help="the local stack (make run)")
    where.add_argument(
        "--ready-file", default=READY_FILE, help=f"with --local (default {READY_FILE})"
    )
    where.add_argument("--stack", help="a deployed stack: its DLQ and retry queue outputs")
    where.add_argument("--source", help="DLQ URL (default $DEAD_LETTER_QUEUE_URL)")
    where.add_argument("--destination", help="retry queue URL (default $RETRY_QUEUE_URL)")
    which = parser.add_argument_group("what to move")
    which.add_argument("--dry-run", action="store_true", help="count by reason, move nothing")
    which.add_argument("--filter", metavar="REGEX", help="only messages whose reason matches")
    which.add_argument(
        "--status",
        type=int,
        metavar="N",
        help='only Richpanel status N (or reasons "Richpanel answered N")',
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
    previous = stop_on_sigterm()
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


def _run(args: argparse.Namespace, selector: Selector, target: Target, out: TextIO) -> int:
    sqs = sqs_client(target)
    print(f"from {target.source}\n  to {target.destination}", file=out)
    whole = selector.everything and not args.dry_run and args.limit is None
    if whole and not args.manual and not target.local:
        source_arn = target.source_arn or queue_arn(sqs, target.source)
        destination_arn = target.destination_arn or queue_arn(sqs, target.destination)
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
    progress = Progress(out, visible(sqs, target.source))
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
