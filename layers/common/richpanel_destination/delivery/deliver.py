"""Send a request's events concurrently within a budget, then settle them: queue the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..richpanel.outcomes import Kind, Outcome
from ..secrets import RichpanelCredentials
from .dedupe import LATE, Deduplicator, Send
from .freshness import Freshness, Lease, chains, subjects
from .gate import Gate
from .queues import (
    QueueMessage,
    Queues,
    dead_letter_message,
    envelope,
    retry_message,
)
from .results import EventResult, Fate, fate_of

OUT_OF_TIME = LATE  # one outcome for "the budget ran out", batch or single
NO_CREDENTIALS = Outcome(Kind.RETRYABLE, "Richpanel credentials unavailable")
# A send is not started with less time than this left: cut shorter, an answer Richpanel
# gives in time (typically ~0.1 s) could miss us, and the event would be sent twice.
MIN_SEND_SECONDS = 0.5
WAIT_SLICE = 0.05  # how often the deadline (which moves as events are delivered) is re-read
RUNNING_GRACE_SECONDS = 0.5  # for a send's bookkeeping (the store) after its deadline
SETTLED = frozenset({Kind.DELIVERED, Kind.DUPLICATE, Kind.SUPERSEDED})  # queue nothing
Answers = dict[int, Outcome]  # Richpanel's answer per event index, as soon as it came


@dataclass(frozen=True)
class Pending:
    """A valid event on its way to Richpanel."""

    index: int
    event: dict[str, Any]
    call: dict[str, Any]
    message_id: str | None
    key: str  # what deduplication keys on: the messageId, or a hash of the content
    time: int  # the event's time, epoch ms (timestamps.event_time): what freshness compares
    resend: bool = False  # a replay's X-Replay: resend: sent even if already delivered


def send_once(
    dedupe: Deduplicator | None, freshness: Freshness | None, p: Pending, send: Send
) -> Outcome:
    """One attempt with ``send``: deduplicated on the event's key, then guarded by freshness,
    each when its table is configured. Ingest and retry both deliver through here."""
    guarded = send
    if freshness is not None:

        def guarded(call: Mapping[str, Any]) -> Outcome:
            return freshness.send(p.event, p.time, p.message_id, call, send)

    if dedupe is None:
        return guarded(p.call)
    return dedupe.send(p.key, p.call, guarded, resend=p.resend)


def lease_for(freshness: Freshness | None, p: Pending, call: Mapping[str, Any]) -> Lease | Outcome:
    """The event's freshness lease (a no-op lease when the guard is off)."""
    if freshness is None:
        return Lease(None, "", p.time, p.message_id, call=call)
    return freshness.lease(p.event, p.time, p.message_id, call)


class Deadline:
    """When sends must be over: the budget less the time queues what is left will take.

    Every event not yet delivered may have to be queued, so the reserve shrinks (and the
    deadline moves later) as events are delivered. A send starts only if it can be over by
    the deadline, and is given no more time than is left, so none outlives the invocation.
    """

    def __init__(
        self, started: float, budget: float, to_queue: int, reserve: Callable[[int], float]
    ) -> None:
        self._end = started + budget
        self._to_queue = to_queue
        self._reserve = reserve
        self._lock = threading.Lock()

    def settled(self, count: int = 1) -> None:
        """``count`` events need no queues any more (delivered, or already delivered)."""
        with self._lock:
            self._to_queue -= count

    def at(self) -> float:
        """The monotonic time by which every send must be over."""
        return self._end - self._reserve(self._to_queue)

    def left(self) -> float | None:
        """Seconds a send may take from now, or None if there is too little time to start."""
        left = self.at() - time.monotonic()
        return left if left >= MIN_SEND_SECONDS else None


class Delivery:
    """Delivers a request's events over a bounded pool of keep-alive connections.

    With ``batch_size`` >= 2 the events go in /bt requests of up to that many events
    (RICHPANEL_BATCH_SIZE); otherwise one /t request each.
    """

    def __init__(
        self,
        client: Gate,
        queues: Queues,
        *,
        dedupe: Deduplicator | None = None,
        freshness: Freshness | None = None,
        concurrency: int = 16,
        budget: float = 4.0,
        batch_size: int = 0,
    ) -> None:
        self.client = client
        self.queues = queues
        self.dedupe = dedupe
        self.freshness = freshness
        self.budget = budget
        self.batch_size = batch_size
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="richpanel")

    def deliver(
        self,
        pending: list[Pending],
        credentials: RichpanelCredentials | None,
        started: float | None = None,
    ) -> dict[int, EventResult]:
        """Every pending event's fate, by index; the work ends within the budget from ``started``.

        ``credentials`` None: Richpanel's could not be read; every event is queued for retry.
        """
        started = time.monotonic() if started is None else started
        if credentials is None:
            return self._settle(pending, {p.index: NO_CREDENTIALS for p in pending})
        deadline = Deadline(started, self.budget, len(pending), self.queues.reserve)
        if self.batch_size >= 2:
            size = self.batch_size
            groups = [pending[start : start + size] for start in range(0, len(pending), size)]
            outcomes = self._run(groups, deadline, self._send_chunk, credentials)
        else:
            groups = [[p] for p in pending]
            if self.freshness is not None:  # a customer's (or order's) events in turn
                groups = chains(pending, lambda p: subjects(p.event, p.call))
            outcomes = self._run(groups, deadline, self._send_one, credentials)
        return self._settle(pending, outcomes)

    def _send_one(
        self,
        group: list[Pending],
        deadline: Deadline,
        answers: Answers,
        credentials: RichpanelCredentials,
    ) -> list[Outcome]:
        """The group's events one after another (a group shares a customer or an order)."""
        outcomes: list[Outcome] = []
        for p in group:
            if deadline.left() is None:
                outcomes.append(OUT_OF_TIME)  # not claimed, not sent
                continue
            held = self.client.held()  # breaker open, or Richpanel said wait: queue at once
            if held is not None:
                outcomes.append(held)
                continue

            def post(call: Mapping[str, Any], p: Pending = p) -> Outcome:
                within = deadline.left()
                if within is None:
                    return OUT_OF_TIME
                answers[p.index] = answer = self.client.send(call, credentials, within)
                return answer

            outcomes.append(send_once(self.dedupe, self.freshness, p, post))
        return outcomes

    def _send_chunk(
        self,
        chunk: list[Pending],
        deadline: Deadline,
        answers: Answers,
        credentials: RichpanelCredentials,
    ) -> list[Outcome]:
        """One /bt request for a chunk of events (deduplicated, then guarded by freshness).

        An event whose customer or order another event of the chunk already leased is
        queued (IN_FLIGHT) and retried, as any loser of a lease race.
        """
        if deadline.left() is None:
            return [OUT_OF_TIME] * len(chunk)
        held = self.client.held()
        if held is not None:
            return [held] * len(chunk)
        by_call = {id(p.call): p for p in chunk}

        def post(calls: Sequence[Mapping[str, Any]]) -> list[Outcome]:
            if deadline.left() is None:
                return [OUT_OF_TIME] * len(calls)
            members = [by_call[id(call)] for call in calls]
            leases = [lease_for(self.freshness, p, p.call) for p in members]
            sending = [i for i, lease in enumerate(leases) if isinstance(lease, Lease)]
            within = deadline.left()
            answer = OUT_OF_TIME
            if sending and within is not None:
                sent = [leases[i].call for i in sending]  # type: ignore[union-attr]
                answer = self.client.send_batch(sent, credentials, within)
                answers.update({members[i].index: answer for i in sending})
            return [
                lease if isinstance(lease, Outcome) else lease.settle(answer) for lease in leases
            ]

        if self.dedupe is None:
            return post([p.call for p in chunk])
        resend = any(p.resend for p in chunk)  # one request's events share the header
        return self.dedupe.send_batch([(p.key, p.call) for p in chunk], post, resend=resend)

    def _run(
        self,
        groups: list[list[Pending]],
        deadline: Deadline,
        send: Callable[[list[Pending], Deadline, Answers, RichpanelCredentials], list[Outcome]],
        credentials: RichpanelCredentials,
    ) -> dict[int, Outcome]:
        """Send the groups concurrently until the deadline; an outcome per event.

        A send still settling its record when the time is up is judged by Richpanel's answer,
        when there was one: an event Richpanel took is never parked to be sent again.
        """
        answers: Answers = {}

        def work(group: list[Pending]) -> list[Outcome]:
            outcomes = send(group, deadline, answers, credentials)
            deadline.settled(sum(o.kind in SETTLED for o in outcomes))
            return outcomes

        futures = {self._pool.submit(work, group): group for group in groups}
        waiting: set[Future[list[Outcome]]] = set(futures)
        while waiting and time.monotonic() < deadline.at():
            _, waiting = wait(waiting, timeout=min(WAIT_SLICE, deadline.at() - time.monotonic()))
        for future in waiting:
            future.cancel()  # not started: never runs (a started send ends by the deadline)
        running = [f for f in waiting if not f.cancelled()]
        wait(running, timeout=RUNNING_GRACE_SECONDS)
        outcomes: dict[int, Outcome] = {}
        for future, group in futures.items():
            if future.done() and not future.cancelled():
                outcomes.update({p.index: o for p, o in zip(group, future.result(), strict=True)})
            else:
                outcomes.update({p.index: answers.get(p.index, OUT_OF_TIME) for p in group})
        return outcomes

    def _settle(
        self, pending: list[Pending], outcomes: dict[int, Outcome]
    ) -> dict[int, EventResult]:
        """Turn outcomes into fates, queues the retryable and the permanent failures."""
        messages: list[QueueMessage] = []
        for p in pending:
            outcome = outcomes[p.index]
            if outcome.kind in (Kind.RETRYABLE, Kind.IN_FLIGHT):
                messages.append(retry_message(p.index, p.event, outcome, 1, p.time))
            elif outcome.kind is Kind.PERMANENT:
                body = envelope(p.event, 1, outcome.reason, p.time)
                messages.append(
                    dead_letter_message(
                        p.index,
                        body,
                        outcome.reason,
                        message_id=p.message_id,
                        attempt=1,
                        status=outcome.status,
                    )
                )
        failed = self.queues.send_many(messages) if messages else {}
        delays = {m.key: m.delay for m in messages if m.delay and not m.dead_letter}
        results: dict[int, EventResult] = {}
        for p in pending:
            outcome = outcomes[p.index]
            fate = fate_of(outcome, queued=p.index not in failed)
            reason: str | None = outcome.reason
            if p.index in failed:
                reason = f"{reason}; not queued: {failed[p.index]}"
            elif fate is Fate.DELIVERED:
                reason = None
            keep = outcome if fate is not Fate.DUPLICATE else None
            results[p.index] = EventResult.of(p.index, p.event, fate, reason, keep)
            if fate is Fate.QUEUED:  # when its next attempt is due (ops/trace)
                results[p.index].delay_seconds = delays.get(p.index)
        return results
