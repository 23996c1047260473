"""Backfill history into Richpanel, or replay events after a fix, through the ingest API.

    python -m ops.replay SOURCE... [--type T] [--event NAME] [--since ISO] [--until ISO]
        [--user-id ID] [--order-history] [--rate EPS] [--concurrency N] [--batch-size N]
        [--checkpoint PATH] [--restart] [--rejects PATH] [--dry-run] [--resend [--yes]]
        [--url URL --write-key KEY] [--ready-file PATH]

SOURCE: a folder or s3://bucket/prefix of Segment's S3 destination archive
(segment-logs/<source>/<day>/*.gz, JSON lines), .jsonl/.json/.gz files, or - for stdin.
Events go in batches to the target's POST /v1/batch with a server write key, so validation,
mapping, the freshest-data guard, idempotency and queueing apply as to live traffic. The
target is the running local stack (`make run`, its ready file .local-stack.json) unless
--url is given, with --write-key or $REPLAY_WRITE_KEY.

Safe to stop and rerun: the checkpoint (--checkpoint, default .replay-checkpoint.json, or
.replay-resend-checkpoint.json with --resend) lists the lines done and is saved after every
answered batch; a rerun continues from it. Ctrl-C (or SIGTERM) lets the batches in flight be
answered, saves and exits 130; a second one abandons them (a rerun sends them again and
idempotency answers duplicate). --resend sends delivered events again (after a mapping fix:
same eventId, never older data over newer; header X-Replay: resend, server keys only); it
shows the count and asks first (--yes for scripts). --dry-run validates and maps locally
and sends nothing. An unreadable file is reported and skipped, the run goes on; a bad line
is reported with file:line, skipped and counted; rejected events go to --rejects (default
replay-rejected.jsonl) with file:line and reasons.

Exit status: 0 every event answered and none refused; 1 done, but some events were rejected
or dead-lettered, lines bad or files unreadable; 2 usage, source or checkpoint error; 3 the
target refused the write key (401/403); 4 the target is unreachable or keeps failing;
130 interrupted (the checkpoint is saved: rerun to continue).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from local.targets import READY_FILE, LocalStackError, read_api
from ops.cli import doc_parser
from ops.redrive.console import graceful_stop
from richpanel_destination.timestamps import parse

from .checkpoint import Checkpoint, CheckpointError
from .dryrun import dry_run
from .filters import CALL_TYPES, Filters, split_values
from .run import Loop, Rejects, Tally, oldest_first, pending
from .sender import Pacer, Refused, Sender, Target, Unreachable
from .sources import SourceError, discover

OK, PROBLEMS, USAGE, REFUSED, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 4, 130
CHECKPOINT, RESEND_CHECKPOINT = ".replay-checkpoint.json", ".replay-resend-checkpoint.json"
REJECTS = "replay-rejected.jsonl"
DEFAULT_RATE, DEFAULT_CONCURRENCY, DEFAULT_BATCH, DEFAULT_BUDGET = 100.0, 2, 100, 4.0
SUMMARY_FATES = ("delivered", "duplicate", "superseded", "skipped", "rejected", "queued")


def _parser() -> argparse.ArgumentParser:
    parser = doc_parser("python -m ops.replay", __doc__)
    parser.add_argument("sources", nargs="+", metavar="SOURCE")
    which = parser.add_argument_group("which events")
    which.add_argument(
        "--type", action="append", metavar="TYPE", help="call types (repeat, or a,b)"
    )
    which.add_argument("--event", action="append", metavar="NAME", help="track event names")
    which.add_argument("--user-id", action="append", metavar="ID", help="userIds")
    which.add_argument("--since", metavar="ISO", help="event time from (inclusive)")
    which.add_argument("--until", metavar="ISO", help="event time until (exclusive)")
    which.add_argument(
        "--order-history", action="store_true", help="only order events, oldest first (onboarding)"
    )
    how = parser.add_argument_group("how")
    how.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        metavar="EPS",
        help=f"events per second at most (default {DEFAULT_RATE:g}; 0: no limit)",
    )
    how.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"batches in flight (default {DEFAULT_CONCURRENCY})",
    )
    how.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"events per request at most (default {DEFAULT_BATCH})",
    )
    how.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        metavar="SECONDS",
        help="the target's DELIVERY_BUDGET_SECONDS (default 4)",
    )
    how.add_argument("--stop-after", type=int, metavar="N", help="stop after N events sent")
    how.add_argument("--no-progress", action="store_true", help="no progress bar")
    state = parser.add_argument_group("checkpoint and output")
    state.add_argument("--checkpoint", metavar="PATH", help=f"default {CHECKPOINT}")
    state.add_argument("--restart", action="store_true", help="ignore the checkpoint, start over")
    state.add_argument("--rejects", default=REJECTS, metavar="PATH", help=f"default {REJECTS}")
    mode = parser.add_argument_group("mode")
    mode.add_argument("--dry-run", action="store_true", help="validate and map here, send nothing")
    mode.add_argument("--sample", type=int, default=3, metavar="N", help="dry run: calls shown")
    mode.add_argument("--resend", action="store_true", help="send delivered events again")
    mode.add_argument("--yes", action="store_true", help="--resend without asking")
    where = parser.add_argument_group("target")
    where.add_argument("--url", help="a deployed stack's API URL (default: the local stack)")
    where.add_argument("--write-key", help="its server write key (default $REPLAY_WRITE_KEY)")
    where.add_argument("--ready-file", default=READY_FILE, help=f"default {READY_FILE}")
    return parser


class Rate(ProgressColumn):
    """Events per second, as rich's speed of the task."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} ev/s")


def _filters(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Filters:
    types = split_values(args.type)
    unknown = sorted(types - set(CALL_TYPES))
    if unknown:
        parser.error(f"--type: unknown {unknown}; one of {', '.join(CALL_TYPES)}")
    since, until = parse(args.since), parse(args.until)
    if (args.since and since is None) or (args.until and until is None):
        parser.error("--since and --until take ISO-8601 times, e.g. 2026-11-30T00:00:00Z")
    return Filters(
        types,
        split_values(args.event),
        split_values(args.user_id),
        since,
        until,
        orders_only=args.order_history,
    )


def _target(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    if args.url:
        key = args.write_key or env.get("REPLAY_WRITE_KEY")
        if not key:
            raise LocalStackError("--url needs --write-key or $REPLAY_WRITE_KEY (a server key)")
        return Target(args.url, key, args.url)
    from local.secrets import LOCAL_WRITE_KEY

    api = read_api(Path(args.ready_file))
    return Target(api, args.write_key or LOCAL_WRITE_KEY, f"the local stack at {api}")


def main(
    argv: list[str] | None = None,
    out: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
) -> int:
    """The command line; returns the exit status."""
    env = os.environ if env is None else env
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rate < 0 or args.concurrency < 1 or args.batch_size < 1:
        parser.error("--rate must be 0 or more, --concurrency and --batch-size 1 or more")
    filters = _filters(args, parser)
    console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
    errors = Console(file=sys.stderr if out is None else out, highlight=False, soft_wrap=True)

    def warn(text: str) -> None:
        errors.print(f"replay: {text}", markup=False)

    mode = "resend" if args.resend else "send"
    path = Path(args.checkpoint or (RESEND_CHECKPOINT if args.resend else CHECKPOINT))
    try:
        files = discover(args.sources, stdin=stdin)
        checkpoint = Checkpoint.load(path, filters.signature(), mode, restart=args.restart)
        target = None if args.dry_run else _target(args, env)
    except (SourceError, CheckpointError, LocalStackError) as exc:
        warn(str(exc))
        return USAGE
    tally = Tally()
    rejects = Rejects(Path(args.rejects), warn)
    try:
        return _main(args, files, checkpoint, filters, target, tally, rejects, console, warn)
    except KeyboardInterrupt:  # while counting or asking: nothing was sent
        warn("interrupted before sending")
        return INTERRUPTED
    finally:
        rejects.close()


def _main(
    args: argparse.Namespace,
    files: Any,
    checkpoint: Checkpoint,
    filters: Filters,
    target: Target | None,
    tally: Tally,
    rejects: Rejects,
    console: Console,
    warn: Any,
) -> int:
    started = time.monotonic()
    mode = "resend" if args.resend else "send"
    if args.dry_run:
        checkpoint.path = None  # read, never written
        found = pending(files, checkpoint, filters, tally, rejects, warn)
        calls = dry_run(found, tally, rejects, args.sample)
        _dry_report(console, tally, calls, rejects)
        return PROBLEMS if _problems(tally) else OK
    assert target is not None
    total = sum(1 for _ in pending(files, checkpoint, filters, Tally(), None, warn))
    console.print(f"replay: {total:,} events to {mode} to {target.name}", markup=False)
    if args.resend and total and not _confirmed(args, total, console):
        warn("not confirmed: nothing sent")
        return USAGE
    return _send(
        args, files, checkpoint, filters, target, tally, rejects, total, console, warn, started
    )


def _confirmed(args: argparse.Namespace, total: int, console: Console) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        console.print("--resend asks before sending: give --yes when not interactive")
        return False
    answer = input(f"send {total:,} events again (same eventId)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _send(
    args: argparse.Namespace,
    files: Any,
    checkpoint: Checkpoint,
    filters: Filters,
    target: Target,
    tally: Tally,
    rejects: Rejects,
    total: int,
    console: Console,
    warn: Any,
    started: float,
) -> int:
    pacer = Pacer(args.rate or None, args.batch_size, args.budget)
    sender = Sender(target, pacer, resend=args.resend)
    columns = (
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=console, disable=args.no_progress, transient=False)
    status = OK
    with progress, graceful_stop() as stop_requested:
        task = progress.add_task("replay", total=total)
        loop = Loop(
            sender,
            pacer,
            checkpoint,
            tally,
            rejects,
            args.concurrency,
            lambda n: progress.advance(task, n),
            stop_requested,
            args.stop_after,
            touches=touches,
        )
        found = pending(files, checkpoint, filters, tally, rejects, warn)
        try:
            loop.run(oldest_first(found) if args.order_history else found)
        except Refused as exc:
            warn(f"{exc}: check the write key (a server key of this stack); stopped")
            status = REFUSED
        except Unreachable as exc:
            warn(f"{exc}: is the target up and the URL right? stopped")
            status = UNREACHABLE
        except KeyboardInterrupt:
            warn("abandoned the batches in flight; the checkpoint is saved")
            status = INTERRUPTED
        if status == OK and (loop.stopped and stop_requested()):
            status = INTERRUPTED
    _summary(console, tally, time.monotonic() - started, checkpoint, rejects, pacer)
    if status == INTERRUPTED:
        console.print(f"interrupted: rerun the same command to continue ({checkpoint.path})")
    if status == OK and _problems(tally):
        status = PROBLEMS
    return status


def touches(record: Any) -> frozenset[str]:
    """The customer profiles and orders an event's call would set (the freshness guard's
    subjects, from the layer's own mapping): what two events of one batch must not share."""
    from richpanel_destination import runtime
    from richpanel_destination.delivery.freshness import subjects
    from richpanel_destination.mapping.transform import MappingError, to_richpanel

    try:
        call = to_richpanel(record.event, runtime.settings().order_fields)
    except (MappingError, TypeError, ValueError, AttributeError):
        return frozenset()  # ingest rejects it: it touches nothing
    return frozenset(s.key for s in subjects(record.event, call))


def _problems(tally: Tally) -> bool:
    bad = sum(tally.fates[f] for f in ("rejected", "dead_lettered", "failed"))
    return bool(bad or tally.bad_lines or tally.unreadable)


def _summary(
    console: Console,
    tally: Tally,
    seconds: float,
    checkpoint: Checkpoint,
    rejects: Rejects,
    pacer: Pacer,
) -> None:
    answered = sum(tally.fates.values())
    rate = answered / seconds if seconds > 0 else 0.0
    console.print(f"\nsummary: {answered:,} events answered in {seconds:.1f} s ({rate:,.0f} ev/s)")
    for fate in SUMMARY_FATES:
        console.print(f"  {fate:<13} {tally.fates[fate]:>8,}")
    for fate in sorted(set(tally.fates) - set(SUMMARY_FATES)):
        console.print(f"  {fate:<13} {tally.fates[fate]:>8,}")
    extra = (
        ("bad lines", tally.bad_lines),
        ("filtered out", tally.filtered),
        ("done before", tally.already_done),
        ("unreadable", len(tally.unreadable)),
    )
    for name, count in extra:
        if count:
            console.print(f"  {name:<13} {count:>8,}")
    if pacer.slowdowns:
        console.print(f"  slowed down {pacer.slowdowns} times (late or queued answers)")
    if rejects.count:
        console.print(f"rejected events and bad lines: {rejects.path} ({rejects.count})")
    console.print(f"checkpoint: {checkpoint.path} ({checkpoint.done_files()} files done)")
    counts = _counts(tally) | {"seconds": round(seconds, 3)}
    console.print("json: " + json.dumps(counts), markup=False)


def _counts(tally: Tally) -> dict[str, Any]:
    return dict(tally.fates) | {
        "bad_lines": tally.bad_lines,
        "filtered": tally.filtered,
        "done_before": tally.already_done,
        "unreadable": len(tally.unreadable),
    }


def _dry_report(console: Console, tally: Tally, calls: list[Any], rejects: Rejects) -> None:
    console.print("dry run: nothing sent")
    fates = sorted({fate for _, fate in tally.types})
    kinds = sorted({kind for kind, _ in tally.types})
    console.print(f"  {'type':<10}" + "".join(f"{f:>10}" for f in fates), markup=False)
    for kind in kinds:
        row = "".join(f"{tally.types[(kind, f)]:>10,}" for f in fates)
        console.print(f"  {kind:<10}{row}", markup=False)
    console.print(f"  {'total':<10}" + "".join(f"{tally.fates[f]:>10,}" for f in fates))
    if tally.bad_lines or tally.filtered or tally.unreadable:
        console.print(
            f"  bad lines {tally.bad_lines}, filtered out {tally.filtered}, "
            f"unreadable files {len(tally.unreadable)}"
        )
    for sample in calls:
        console.print(f"\nsample {sample['at']}:", markup=False)
        console.print(json.dumps(sample["call"], indent=2, ensure_ascii=False), markup=False)
    if rejects.count:
        console.print(f"\nrejected events and bad lines: {rejects.path} ({rejects.count})")
    console.print("json: " + json.dumps(_counts(tally)), markup=False)


if __name__ == "__main__":
    sys.exit(main())
