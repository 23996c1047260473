"""The terminal side of a redrive: progress lines, and Ctrl-C / SIGTERM handling."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from .selection import WOULD_MOVE, Report


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


def stop_on_sigterm() -> Any:
    """Let SIGTERM stop a run as cleanly as Ctrl-C (held messages released)."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        return None
