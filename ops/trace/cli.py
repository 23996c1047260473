"""Every log line about one event, in time order, and its fate in one line.

    python -m ops.trace (--message-id ID | --user-id U | --order-id O | --email E)
        [--local | --stack NAME] [--since AGE|TIME] [--log-file PATH] [--ready-file PATH]

Lines of ingest, retry and the canary (redrive and replay move messages; the retry
function's lines after them show the new attempts), with attempt, Richpanel status,
latency and reason; then one sentence per event: "delivered on attempt 3, 2 min after it
arrived", "in the DLQ: <reason>", "superseded by <messageId>", "still queued (in the retry
queue), next attempt in about 40 s". Where the event is now is read from its lines: nothing
is received from a queue. A lookup by user, order or email finds the events' messageIds,
then every line of those.

--email is hashed as the redactor hashes emails in logs: blanks stripped, lower-cased, then
``hash:`` + 8 hex digits of SHA-256 (observability/redact.py, ``email_digest``). Exit 0
when something was found, 1 when nothing was, 2 for a usage error or an unreadable source.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from local import targets as local_stack
from ops.cli import doc_parser
from ops.trace import sources, story
from richpanel_destination import accounting
from richpanel_destination.observability.redact import Redactor, email_digest, normalise_email

MAX_EVENTS = 50  # messageIds a lookup by user, order or email follows
DEFAULT_SINCE = "3d"  # on AWS: a retry window (24 h), its margin and a day to look back


def parser() -> Any:
    p = doc_parser("python -m ops.trace", __doc__)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--message-id", help="Segment's messageId")
    what.add_argument("--user-id", help="the event's userId (hashed like the logs, if an email)")
    what.add_argument("--order-id", help="properties.order_id")
    what.add_argument("--email", help="traits.email / context.traits.email / properties.email")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="the local stack (default)")
    where.add_argument("--stack", help="a deployed stack: Logs Insights over its log groups")
    p.add_argument("--since", default=None, help=f"on AWS: how far back (default {DEFAULT_SINCE})")
    p.add_argument("--log-file", type=Path, help="locally: this log file, not the ready file's")
    p.add_argument("--ready-file", type=Path, default=Path(local_stack.READY_FILE))
    p.add_argument("--margin", type=float, default=accounting.DEFAULT_MARGIN_SECONDS)
    return p


def lookup(args: Any) -> dict[str, list[str]]:
    """The field values to search for, as the logs hold them (hashed or in clear)."""
    if args.message_id is not None:
        return {"messageId": [args.message_id]}
    if args.order_id is not None:
        return {"orderId": [args.order_id]}
    if args.user_id is not None:
        hashed = Redactor().identifier(args.user_id)
        return {"userId": sorted({args.user_id, hashed})}
    # a stack with LogPersonalData=true logs emails in clear
    return {"email": sorted({email_digest(args.email), normalise_email(args.email), args.email})}


def open_source(args: Any) -> sources.Source:
    if args.stack:
        import boto3

        start = sources.parse_since(args.since or DEFAULT_SINCE)
        return sources.stack_source(
            args.stack, start, boto3.client("cloudformation"), boto3.client("logs")
        )
    return sources.local_source(args.ready_file, args.log_file)


def trace(source: sources.Source, keys: dict[str, list[str]]) -> list[accounting.Entry]:
    """The lines of every event the keys find (by messageId, then all lines of those)."""
    found = source.find(keys)
    if "messageId" in keys:
        return found
    ids = sorted({str(e.fields["messageId"]) for e in found if "messageId" in e.fields})
    if not ids:
        return found
    return source.find({"messageId": ids[:MAX_EVENTS]})


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = parser().parse_args(argv)
    keys = lookup(args)
    try:
        source = open_source(args)
        lines = trace(source, keys)
    except sources.SourceError as exc:
        print(f"trace: {exc}", file=sys.stderr)
        return 2
    what = " or ".join(f"{k} {' / '.join(v)}" for k, v in keys.items())
    if not lines:
        print(f"trace: nothing found for {what} in {source.where}", file=sys.stderr)
        if args.stack:
            print("  (look further back with --since, e.g. --since 14d)", file=sys.stderr)
        return 1
    now_ms = int(time.time() * 1000)
    events = story.by_message(lines)
    for index, (message_id, event_lines) in enumerate(events.items()):
        if index:
            print(file=out)
        print(story.header(message_id, event_lines), file=out)
        for line in event_lines:
            print("  " + story.describe(line), file=out)
        sentence, _ = story.fate(event_lines, now_ms, source.retry_window, args.margin)
        print(f"  => {sentence}", file=out)
    if len(events) >= MAX_EVENTS and "messageId" not in keys:
        print(f"(the first {MAX_EVENTS} events only: narrow the lookup)", file=out)
    return 0
