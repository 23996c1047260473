"""What verify prints: a progress line while polling, the arrival table, the UI steps."""

from __future__ import annotations

import time
from typing import TextIO

from .probes import MARKER_TRAIT, Probe
from .readback import Poll


class Progress:
    """One line rewritten in place on a terminal, one every few seconds otherwise."""

    def __init__(self, out: TextIO, timeout: float, interval: float | None = None) -> None:
        self.out = out
        self.timeout = timeout
        self.tty = out.isatty()
        self.interval = interval if interval is not None else (0.0 if self.tty else 5.0)
        self.last: float | None = None
        self.dirty = False

    def __call__(self, poll: Poll) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        found = "customer found" if poll.customer is not None else "customer not found yet"
        line = (
            f"waiting for arrival: {poll.arrived}/{poll.expected} seen, {found} "
            f"({poll.elapsed:.0f}s of {self.timeout:.0f}s)"
        )
        if self.tty:
            self.out.write(f"\r\x1b[K{line}")
            self.dirty = True
        else:
            print(line, file=self.out)
        self.out.flush()

    def done(self) -> None:
        if self.dirty:
            self.out.write("\n")
            self.dirty = False


def verdict(probe: Probe) -> str:
    if probe.refused:
        return "refused"
    if probe.arrived:
        return "arrived"
    if probe.seen:
        return "stale"  # an earlier run's value
    return "missing"


def _lag(probe: Probe) -> str:
    lag = probe.lag
    return "-" if lag is None else f"{lag:.1f}s"


def table(probes: list[Probe]) -> str:
    """field, sent, seen, verdict, lag: one row per probe."""
    rows = [("field", "sent", "seen", "verdict", "lag")]
    rows += [(p.field, p.sent, p.seen or "-", verdict(p), _lag(p)) for p in probes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def refusals(probes: list[Probe]) -> list[str]:
    """One line per call the ingest refused."""
    return [f"{probe.kind}: {probe.refused}" for probe in probes if probe.refused]


def ui_steps(email: str, marker: str, probes: list[Probe]) -> str:
    """What to look up in Richpanel's UI when arrival cannot be read back."""
    by_kind = {probe.kind: probe.sent for probe in probes if not probe.refused}
    lines = [
        "In about 5 minutes, check in Richpanel's web app (records show up minutes later):",
        f"  1. Customers: search for the email {email}",
        f"  2. On that customer's profile: the trait {MARKER_TRAIT} = {marker}",
    ]
    if "track" in by_kind or "page" in by_kind:
        lines.append(
            "  3. Its activity / events: the event Richpanel Destination Verify and a page "
            "view of https://richpanel-destination.invalid/verify, from this run's time"
        )
    if "order" in by_kind:
        lines.append(f"  4. Its orders: the order {by_kind['order']} (status completed)")
    lines.append(
        "If the customer or the marker is missing after 10 minutes, the API key (appClientId) "
        "is most likely wrong: Richpanel answers 200 even for an unknown key."
    )
    return "\n".join(lines)
