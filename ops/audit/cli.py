"""The accepted events that have no final fate, locally or on a deployed stack.

    python -m ops.audit [--local | --stack NAME] [--since AGE|TIME] [--until AGE|TIME]
        [--retry-window S] [--margin S] [--log-file PATH] [--ready-file PATH]

Looks at the events ingest accepted from --since (default: 1 h before the newest window the
scheduled audit would look at) to --until (default now), and lists each one whose latest
line is not a final fate (delivered, duplicate, superseded, skipped, rejected,
dead_lettered): "in flight" while its latest line is younger than the retry window plus the
margin (the retry queue still holds it), UNACCOUNTED once older (it was lost).
The definition is in richpanel_destination/accounting.py and docs/operations.md ("Find one
event"); AuditFunction runs the same check hourly and publishes EventsUnaccounted.

Exit 0 when nothing is unaccounted, 1 when something is, 2 for a usage error or an
unreadable source.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from local import targets as local_stack
from ops.cli import doc_parser
from ops.trace import sources
from ops.trace.story import ago
from richpanel_destination import accounting


def parser() -> Any:
    p = doc_parser("python -m ops.audit", __doc__)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="the local stack (default)")
    where.add_argument("--stack", help="a deployed stack: Logs Insights over its log groups")
    p.add_argument("--since", help="from (an age: 30m, 26h, 3d; or an ISO time)")
    p.add_argument("--until", help="accepted before this (default now)")
    p.add_argument("--retry-window", type=float, help="seconds (default: the stack's, 86400)")
    p.add_argument("--margin", type=float, default=accounting.DEFAULT_MARGIN_SECONDS)
    p.add_argument("--log-file", type=Path, help="locally: this log file, not the ready file's")
    p.add_argument("--ready-file", type=Path, default=Path(local_stack.READY_FILE))
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = parser().parse_args(argv)
    now = time.time()
    try:
        if args.stack:
            import boto3

            source: sources.Source = sources.stack_source(
                args.stack,
                0,
                boto3.client("cloudformation"),
                boto3.client("logs"),
                args.retry_window,
            )
        else:
            source = sources.local_source(args.ready_file, args.log_file)
            if args.retry_window is not None:
                source.retry_window = args.retry_window
        window = source.retry_window
        since = (
            sources.parse_since(args.since, now)
            if args.since
            else now - window - args.margin - 3600
        )
        until = sources.parse_since(args.until, now) if args.until else now
        accounts = source.accounts(int(since * 1000), int(until * 1000))
    except sources.SourceError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    now_ms = int(now * 1000)
    result = accounting.audit(
        accounts, int(since * 1000), int(until * 1000), now_ms, window, args.margin
    )
    start, end = (accounting.format_timestamp(int(t * 1000)) for t in (since, until))
    print(f"accepted {start} .. {end} UTC in {source.where}:", file=out)
    rows = [("UNACCOUNTED", a) for a in result.unaccounted] + [
        ("in flight", a) for a in result.in_flight
    ]
    for label, account in sorted(rows, key=lambda r: r[1].accepted_ms or 0):
        silent = ago((now_ms - account.last_ms) / 1000)
        print(
            f"  {label:<11}  {account.message_id}  last {account.last_state}, "
            f"{silent} ago ({account.lines} lines)",
            file=out,
        )
    counted = "" if isinstance(source, sources.InsightsSource) else f"{result.accepted} accepted, "
    print(
        f"{counted}{len(result.unaccounted)} unaccounted, {len(result.in_flight)} in flight "
        f"(retry window {window:g} s + margin {args.margin:g} s)",
        file=out,
    )
    return 1 if result.unaccounted else 0
