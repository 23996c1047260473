"""The replay loop: records -> filters -> batches -> concurrent senders -> fates, checkpoint.

Every answered batch is tallied, its rejected events written to the rejects file and its
lines marked done in the checkpoint, which is then saved: whatever stops the run (Ctrl-C,
a refused key, an unreachable target) leaves a checkpoint naming only answered lines.
Batches in flight when it stops are answered first (a second Ctrl-C abandons them: they are
not marked, so a rerun sends them again and idempotency answers ``duplicate``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .checkpoint import Checkpoint
from .filters import Filters, event_time
from .sender import MAX_REQUEST_BYTES, Pacer, Sender
from .sources import File, Record, SourceError, records

PROBLEM_FATES = ("rejected", "dead_lettered", "failed")
SHOWN_PROBLEMS = 10  # bad lines and unreadable files printed; all go to the rejects file


@dataclass
class Tally:
    fates: Counter[str] = field(default_factory=Counter)
    types: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, fate)
    bad_lines: int = 0
    filtered: int = 0
    already_done: int = 0  # lines (records) the checkpoint named done
    unreadable: list[str] = field(default_factory=list)
    sent: int = 0

    def add(self, record: Record, fate: str) -> None:
        self.fates[fate] += 1
        kind = record.event.get("type") if record.event else None
        self.types[(kind if isinstance(kind, str) else "?", fate)] += 1


class Rejects:
    """The rejects file (JSON lines, appended): where, what and why, for each refused event."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self.path = path
        self.warn = warn
        self.count = 0
        self._handle: TextIO | None = None

    def write(self, record: Record, outcome: str, reason: str | None, errors: Any = None) -> None:
        if self._handle is None:
            self._handle = self.path.open("a", encoding="utf-8")
        event = record.event or {}
        line = {"at": record.where, "messageId": event.get("messageId"),
                "type": event.get("type"), "outcome": outcome, "reason": reason}  # fmt: skip
        if errors:
            line["errors"] = errors
        self._handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.count += 1
        if self.count <= SHOWN_PROBLEMS:
            detail = "; ".join(f"{e.get('path') or '/'}: {e.get('message')}" for e in errors or [])
            self.warn(f"{record.where}: {outcome}: {reason}{f' ({detail})' if detail else ''}")
        elif self.count == SHOWN_PROBLEMS + 1:
            self.warn(f"... more in {self.path}")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def pending(
    files: list[File],
    checkpoint: Checkpoint,
    filters: Filters,
    tally: Tally,
    rejects: Rejects | None,
    warn: Callable[[str], None],
) -> Iterator[Record]:
    """The records still to send, in order. Lines filtered out or bad are marked done here
    (bad ones counted and written to the rejects file). An unreadable file is reported and
    the run goes on with the next one (the rule: see docs/operations.md); it is not marked
    done, so a rerun tries it again."""
    for file in files:
        key = file.checkpoint_key
        if checkpoint.finished(key):
            tally.already_done += checkpoint.total(key)
            continue
        last = 0
        try:
            for record in records(file):
                last = record.line
                if checkpoint.handled(key, record.line):
                    tally.already_done += 1
                    continue
                if record.event is None or not filters.keep(record.event):
                    if record.problem:
                        tally.bad_lines += 1
                        if rejects is not None:
                            rejects.write(record, "bad line", record.problem)
                    elif record.event is not None:
                        tally.filtered += 1
                    if rejects is not None:  # None: only counting
                        checkpoint.mark(key, [record.line])
                    continue
                yield replace(record, key=key)
        except SourceError as exc:
            if rejects is not None:
                tally.unreadable.append(str(exc))
                warn(f"unreadable, skipped (a rerun tries it again): {exc}")
            continue
        if rejects is not None:
            checkpoint.ended(key, last)


def oldest_first(found: Iterator[Record]) -> list[Record]:
    """--order-history: every record at once, by event time (no time: last), stable."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(found, key=lambda r: event_time(r.event or {}) or far)


def lane_of(record: Record, lanes: int) -> int:
    """Which concurrent sender takes the record: by customer (userId, else anonymousId), so
    one customer's events go in order through one sender and never race for a lease."""
    event = record.event or {}
    who = event.get("userId") or event.get("anonymousId") or event.get("messageId") or ""
    digest = hashlib.blake2b(str(who).encode("utf-8", "surrogatepass"), digest_size=4)
    return int.from_bytes(digest.digest(), "big") % lanes


@dataclass
class Loop:
    sender: Sender
    pacer: Pacer
    checkpoint: Checkpoint
    tally: Tally
    rejects: Rejects
    concurrency: int
    advance: Callable[[int], None]
    should_stop: Callable[[], bool]
    stop_after: int | None = None
    stopped: bool = False
    touches: Callable[[Record], frozenset[str]] = lambda record: frozenset()

    def run(self, found: Iterator[Record] | list[Record]) -> None:
        """Send every record, a lane (lane_of) per concurrent sender, a batch in flight per
        lane; raises the first Refused or Unreachable after the batches in flight settle.

        A batch never holds two events that touch the same customer profile or order (their
        freshness subjects, ``touches``): ingest with /bt sends a request's chunks side by
        side, and the second would lose the lease race and be queued."""
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="replay")
        in_flight: dict[Future[list[dict[str, Any]]], tuple[int, list[Record]]] = {}
        lanes: list[list[Record]] = [[] for _ in range(self.concurrency)]
        sizes = [0] * self.concurrency
        keys: list[set[str]] = [set() for _ in range(self.concurrency)]
        problem: BaseException | None = None

        def busy(lane: int) -> bool:
            return any(owner == lane for owner, _ in in_flight.values())

        def dispatch(lane: int) -> None:
            nonlocal problem
            while busy(lane) and problem is None:
                problem = self._settle(in_flight)
            if problem is not None or self._stop():
                return
            batch, lanes[lane], sizes[lane] = lanes[lane], [], 0
            keys[lane] = set()
            future = pool.submit(self.sender.send, [r.event or {} for r in batch])
            in_flight[future] = (lane, batch)
            self.tally.sent += len(batch)

        try:
            for record in found:
                lane = lane_of(record, self.concurrency)
                touched = self.touches(record)
                if lanes[lane] and (
                    sizes[lane] + record.size > MAX_REQUEST_BYTES or touched & keys[lane]
                ):
                    dispatch(lane)
                lanes[lane].append(record)
                sizes[lane] += record.size + 1
                keys[lane] |= touched
                if len(lanes[lane]) >= self.pacer.size:
                    dispatch(lane)
                if problem is not None or self.stopped:
                    break
            for lane in range(self.concurrency):
                if lanes[lane] and problem is None and not self.stopped:
                    dispatch(lane)
            while in_flight:
                problem = self._settle(in_flight) or problem
        except KeyboardInterrupt:  # a second Ctrl-C: abandon what is in flight
            pool.shutdown(wait=False, cancel_futures=True)
            self.checkpoint.save()
            raise
        pool.shutdown(wait=True)
        self.checkpoint.save()
        if problem is not None:
            raise problem

    def _stop(self) -> bool:
        if self.should_stop() or (
            self.stop_after is not None and self.tally.sent >= self.stop_after
        ):
            self.stopped = True
        return self.stopped

    def _settle(
        self, in_flight: dict[Future[list[dict[str, Any]]], tuple[int, list[Record]]]
    ) -> BaseException | None:
        """Tally, reject, mark and save each batch answered by now (waits for one at least)."""
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        problem: BaseException | None = None
        for future in done:
            _, batch = in_flight.pop(future)
            try:
                results = future.result()
            except Exception as exc:
                self.tally.sent -= len(batch)
                problem = problem or exc
                continue
            for record, result in zip(batch, results, strict=False):
                fate = str(result.get("outcome"))
                self.tally.add(record, fate)
                if fate in PROBLEM_FATES:
                    self.rejects.write(record, fate, result.get("reason"), result.get("errors"))
            by_file: dict[str, list[int]] = {}
            for record in batch[: len(results)]:
                by_file.setdefault(record.key or record.file, []).append(record.line)
            for name, lines in by_file.items():
                self.checkpoint.mark(name, lines)
            self.checkpoint.save()
            self.advance(len(batch))
        return problem
