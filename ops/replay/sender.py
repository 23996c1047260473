"""Batches to the target's ingest API (POST /v1/batch, a server write key), paced.

- **Rate**: a token bucket in events per second (``--rate``), shared by the concurrent
  batches (``--concurrency``).
- **Budget**: ingest delivers a request within its budget (DELIVERY_BUDGET_SECONDS, 4 s)
  and queues the rest for retry. A batch answered after more than half the budget halves
  the batch size; one that came back with events ``queued`` halves the rate too; a clean
  one grows them back (up to ``--batch-size`` and ``--rate``).
- **Backpressure**: a 429 or 503 pauses every sender for its Retry-After (at most
  MAX_PAUSE_SECONDS, RETRY_AFTER_DEFAULT without one) and sends the batch again: what was
  delivered comes back ``duplicate`` and keeps its first fate. Connection errors and other
  5xx are retried with backoff, then ``Unreachable``.
- **Refusal**: a 401 or 403 stops at once (``Refused``): a wrong write key, or a browser key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

RESEND_HEADER = {"X-Replay": "resend"}  # richpanel_destination/inbound/replay.py
MAX_PAUSE_SECONDS = 60.0
RETRY_AFTER_DEFAULT = 5.0
UNREACHABLE_ATTEMPTS = 5  # connection errors / 5xx without Retry-After: tries, backoff 1,2,4,8 s
BACKOFF_SECONDS = 1.0
BUSY_ATTEMPTS = 20  # 429 / 503 with Retry-After: tries before giving up
REQUEST_TIMEOUT = 30.0
MAX_REQUEST_BYTES = 400_000  # under the Tracking API's 500 KB per request, with room
MIN_BATCH = 5
SETTLED = ("delivered", "duplicate", "superseded", "skipped", "rejected", "queued",
           "dead_lettered")  # fmt: skip


class Refused(Exception):
    """The target refused the write key (401/403): nothing more can be sent."""


class Unreachable(Exception):
    """The target cannot be reached or keeps failing."""


@dataclass(frozen=True)
class Target:
    url: str  # the stack's base URL: /v1/batch is appended
    write_key: str
    name: str  # for messages: "the local stack at ..." or the URL

    @property
    def batch_url(self) -> str:
        return self.url.rstrip("/") + "/v1/batch"


class Pacer:
    """The rate limit, the batch size, and pauses every sender shares (thread-safe)."""

    def __init__(
        self,
        rate: float | None,
        batch_size: int,
        budget: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_rate = rate if rate and rate > 0 else None
        self.rate = self.max_rate
        self.max_size = max(1, batch_size)
        self.size = self.max_size
        self.budget = budget
        self._clock, self._sleep = clock, sleep
        self._next = clock()  # when the next event may go
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.slowdowns = 0

    def take(self, events: int) -> None:
        """Wait until ``events`` may be sent under the rate and any pause."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._paused_until)
            if self.rate is not None:
                self._next = start + events / self.rate
        wait = start - now
        if wait > 0:
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, events: int, seconds: float, queued: int) -> None:
        """Adapt to a batch's answer: queued events halve the rate and the batch size, a late
        answer (over half the budget) the batch size; a clean one grows both back."""
        with self._lock:
            if queued:
                self.slowdowns += 1
                self.size = max(MIN_BATCH, self.size // 2)
                achieved = events / max(seconds, 0.001)
                self.rate = max(1.0, (self.rate or achieved) / 2)
            elif seconds > self.budget / 2:
                self.slowdowns += 1
                self.size = max(MIN_BATCH, self.size // 2)
            else:
                self.size = min(self.max_size, self.size + max(1, self.size // 4))
                if self.rate is not None:
                    self.rate *= 1.25
                    if self.max_rate is not None:
                        self.rate = min(self.max_rate, self.rate)
                    elif self.rate > 10_000:
                        self.rate = None  # unlimited again


def _retry_after(response: requests.Response) -> float:
    try:
        return min(MAX_PAUSE_SECONDS, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return RETRY_AFTER_DEFAULT


class Sender:
    """Posts one batch until every event has a settled fate (or raises)."""

    def __init__(
        self,
        target: Target,
        pacer: Pacer,
        *,
        resend: bool = False,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.pacer = pacer
        self.headers = {"Content-Type": "application/json"} | (RESEND_HEADER if resend else {})
        self.session = session or requests.Session()
        self.session.auth = (target.write_key, "")
        self._sleep = sleep

    def send(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each event's result from the answer (``outcome``, ``reason``, ``errors``)."""
        results: list[dict[str, Any] | None] = [None] * len(events)
        body = json.dumps({"batch": list(events)}, separators=(",", ":"))
        unreachable = busy = 0
        while True:
            self.pacer.take(len(events))
            started = time.monotonic()
            try:
                response = self.session.post(
                    self.target.batch_url, data=body, headers=self.headers, timeout=REQUEST_TIMEOUT
                )
            except requests.RequestException as exc:
                unreachable += 1
                if unreachable >= UNREACHABLE_ATTEMPTS:
                    raise Unreachable(
                        f"{self.target.name}: no answer after {unreachable} tries: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self._sleep(BACKOFF_SECONDS * 2 ** (unreachable - 1))
                continue
            seconds = time.monotonic() - started
            status = response.status_code
            if status in (401, 403):
                raise Refused(f"{self.target.name} answered {status}: {_message(response)}")
            answered = _results(response)
            for i, result in enumerate(answered[: len(events)]):
                if results[i] is None or results[i]["outcome"] == "failed":  # type: ignore[index]
                    results[i] = result
            if status == 200 and all(r is not None for r in results):
                queued = sum(1 for r in results if r and r["outcome"] == "queued")
                self.pacer.observe(len(events), seconds, queued)
                return [r for r in results if r is not None]
            if status == 413 and len(events) > 1:
                return self._halves(events)
            if status == 400:
                reason = f"the batch was refused (400): {_message(response)}"
                return [{"outcome": "rejected", "reason": reason} for _ in events]
            if status in (429, 503) and "Retry-After" in response.headers:
                busy += 1
                if busy >= BUSY_ATTEMPTS:
                    raise Unreachable(f"{self.target.name} still busy after {busy} tries")
                self.pacer.observe(len(events), seconds, len(events))
                self.pacer.pause(_retry_after(response))
                continue
            unreachable += 1
            if unreachable >= UNREACHABLE_ATTEMPTS:
                raise Unreachable(
                    f"{self.target.name} answered {status} {unreachable} times: "
                    f"{_message(response)}"
                )
            self._sleep(BACKOFF_SECONDS * 2 ** (unreachable - 1))

    def _halves(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        half = len(events) // 2
        with self.pacer._lock:
            self.pacer.size = max(MIN_BATCH, min(self.pacer.size, half))
        return self.send(events[:half]) + self.send(events[half:])


def _results(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    found = body.get("results") if isinstance(body, dict) else None
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", body) if isinstance(body, dict) else body)[:200]
