"""Prove that calls arrive in Richpanel, not only that it answered 200.

    python -m ops.verify [--local] [--ready-file PATH] [--timeout SECONDS] [--interval SECONDS]
    python -m ops.verify --base-url URL --rest-url URL [--rest-path /v1/customers] ...

Sends one identify, one track, one page and one order (Segment-shaped events through the
functions' mapping and Richpanel client) for one synthetic customer reused across runs
(Richpanel cannot delete customers): uid richpanel-destination-verify and an email under
.invalid derived from the API key (--uid, --email). The identify carries the trait
verifyMarker, unique to this run. Then it reads the customer back by email through the REST
API (GET {rest-url}{rest-path}/email/{email}, header x-richpanel-key) until the marker, both
events (by eventId) and the order (by order id) show or --timeout passes, and prints field,
sent, seen, verdict and lag (from the send to the first poll that saw it).

Target: the running local stack (`make run`: its sandbox, appClientId local-dev-key, REST key
local-dev-rest-key) unless RICHPANEL_BASE_URL or RICHPANEL_API_KEY is set, or --base-url /
--rest-url given: then Richpanel, with RICHPANEL_API_KEY, RICHPANEL_API_SECRET,
RICHPANEL_SIGNING, RICHPANEL_REST_URL (default https://api.richpanel.com) and
RICHPANEL_REST_KEY. Secrets are read from the environment only and never printed.

Exit status: 0 everything arrived; 1 accepted but never arrived (within --timeout); 2 usage
or configuration error; 3 Richpanel refused a call; 4 no REST key, so arrival cannot be
proven (the calls were sent: check Richpanel's UI as printed); 5 the read-back failed (the
REST key is not valid, or an unexpected answer); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO, cast

import requests

from local.targets import READY_FILE
from ops.cli import doc_parser
from richpanel_destination.mapping.transform import MappingError
from richpanel_destination.richpanel.client import RichpanelClient

from .probes import Probe, build_probes, new_marker
from .readback import ReadBackError, customer_url, poll_until_arrived
from .redact import Redacted
from .report import Progress, refusals, table, ui_steps
from .target import DEFAULT_REST_PATH, Target, TargetError, resolve_target

ARRIVED, NEVER_ARRIVED, USAGE, REFUSED, NO_REST_KEY, READ_BACK_FAILED = 0, 1, 2, 3, 4, 5
INTERRUPTED = 130
DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = doc_parser("python -m ops.verify", __doc__)
    where = parser.add_argument_group("where")
    where.add_argument("--local", action="store_true", help="the local stack, whatever is set")
    where.add_argument("--ready-file", default=READY_FILE, help=f"default {READY_FILE}")
    where.add_argument("--base-url", help="Richpanel ingest base URL (default $RICHPANEL_BASE_URL)")
    where.add_argument("--rest-url", help="REST API URL (default $RICHPANEL_REST_URL)")
    where.add_argument(
        "--rest-path",
        default=DEFAULT_REST_PATH,
        help=f"customer read-back path (default {DEFAULT_REST_PATH}; unconfirmed upstream)",
    )
    who = parser.add_argument_group("the synthetic customer")
    who.add_argument("--uid", help="default richpanel-destination-verify")
    who.add_argument("--email", help="default derived from the API key, under .invalid")
    how = parser.add_argument_group("how long")
    how.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help="default 600"
    )
    how.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS", help="default 5"
    )
    return parser


def main(
    argv: list[str] | None = None, out: TextIO | None = None, env: Mapping[str, str] | None = None
) -> int:
    """The command line; returns the exit status."""
    env = os.environ if env is None else env
    parser = _parser()
    args = parser.parse_args(argv)
    if args.timeout < 0 or args.interval <= 0:
        parser.error("--timeout must be 0 or more and --interval more than 0")
    try:
        target = resolve_target(
            env,
            local=args.local,
            ready_file=Path(args.ready_file),
            base_url=args.base_url,
            rest_url=args.rest_url,
            rest_path=args.rest_path,
            uid=args.uid,
            email=args.email,
        )
    except TargetError as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return USAGE
    shown = cast(TextIO, Redacted(out or sys.stdout, target.secrets))
    try:
        return _run(target, args, shown)
    except KeyboardInterrupt:
        print("\ninterrupted", file=shown)
        return INTERRUPTED
    except MappingError as exc:
        print(f"verify: the mapping refused a verify event: {exc}", file=shown)
        return USAGE


def _send(target: Target, probes: list[Probe], out: TextIO) -> None:
    client = RichpanelClient(target.settings)
    for probe in probes:
        outcome = client.send(probe.call, target.credentials, within=None)
        if outcome.delivered:
            probe.sent_at = time.monotonic()
        else:
            probe.refused = outcome.reason
        print(f"sent {probe.kind:8} {probe.sent}: {outcome.reason}", file=out)


def _run(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    for line in target.describe():
        print(line, file=out)
    marker = new_marker()
    print(f"marker:   {marker}", file=out)
    probes = build_probes(target.uid, target.email, marker)
    _send(target, probes, out)
    refused = refusals(probes)
    if len(refused) == len(probes):
        print("\nRichpanel refused every call:\n  " + "\n  ".join(refused), file=out)
        return REFUSED
    if not target.rest_key:
        print(
            "\nno REST key: arrival cannot be proven (set RICHPANEL_REST_KEY; REST keys exist "
            "on some Richpanel plans only)\n" + ui_steps(target.email, marker, probes),
            file=out,
        )
        return REFUSED if refused else NO_REST_KEY
    url = customer_url(target.rest_url, target.rest_path, target.email)
    progress = Progress(out, args.timeout)
    try:
        customer = poll_until_arrived(
            probes,
            url,
            target.rest_key,
            timeout=args.timeout,
            interval=args.interval,
            session=requests.Session(),
            progress=progress,
        )
    except ReadBackError as exc:
        progress.done()
        print(
            f"\n{exc}: set RICHPANEL_REST_KEY to a valid key (or check --rest-url and --rest-path)",
            file=out,
        )
        return READ_BACK_FAILED
    progress.done()
    print("\n" + table(probes), file=out)
    return _verdict(probes, customer is not None, args.timeout, out)


def _verdict(probes: list[Probe], found: bool, timeout: float, out: TextIO) -> int:
    refused = refusals(probes)
    missing = [p.kind for p in probes if not p.refused and not p.arrived]
    if refused:
        print("\nRichpanel refused:\n  " + "\n  ".join(refused), file=out)
    if missing and not found:
        print(
            f"\naccepted but never arrived: check the API key (no customer with this email "
            f"after {timeout:.0f}s; Richpanel answers 200 to an unknown key and drops the calls)",
            file=out,
        )
    elif missing:
        print(
            f"\naccepted but never arrived: {', '.join(missing)} (the customer exists; wait "
            "longer with --timeout, or check the mapping of these calls)",
            file=out,
        )
    if missing:
        return NEVER_ARRIVED
    if refused:
        return REFUSED
    print("\nall arrived", file=out)
    return ARRIVED


if __name__ == "__main__":
    sys.exit(main())
