"""The ingest path: validate, route, map, send concurrently within a budget, park the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..inbound.validate import validate_event
from ..mapping.routing import skip_reason
from ..mapping.transform import MappingError, to_richpanel
from ..richpanel.client import RichpanelClient
from ..richpanel.outcomes import Kind, Outcome
from .dedupe import LATE, Deduplicator, Send, event_key
from .park import Parcel, Parking, dead_letter_parcel, envelope, park_seconds, retry_parcel
from .results import EventResult, Fate

OUT_OF_TIME = LATE  # one outcome for "the budget ran out", batch or single
# A send is not started with less time than this left: cut shorter, an answer Richpanel
# gives in time (typically ~0.1 s) could miss us, and the event would be sent twice.
MIN_SEND_SECONDS = 0.5
WAIT_SLICE = 0.05  # how often the deadline (which moves as events are delivered) is re-read
RUNNING_GRACE_SECONDS = 0.5  # for a send's bookkeeping (the store) after its deadline
SETTLED = frozenset({Kind.DELIVERED, Kind.DUPLICATE})  # outcomes that park nothing
Answers = dict[int, Outcome]  # Richpanel's answer per event index, as soon as it came


@dataclass(frozen=True)
class Pending:
    """A valid event on its way to Richpanel."""

    index: int
    event: dict[str, Any]
    call: dict[str, Any]
    message_id: str | None
    key: str  # what deduplication keys on: the messageId, or a hash of the content


def ident(event: Any) -> tuple[str | None, str | None]:
    """An event's messageId and type, when they are strings."""
    if not isinstance(event, dict):
        return None, None
    message_id, call_type = event.get("messageId"), event.get("type")
    return (
        message_id if isinstance(message_id, str) else None,
        call_type if isinstance(call_type, str) else None,
    )


def _result(
    index: int,
    event: Any,
    fate: Fate,
    reason: str | None = None,
    outcome: Outcome | None = None,
    **extra: Any,
) -> EventResult:
    message_id, call_type = ident(event)
    user_id = event.get("userId") if isinstance(event, dict) else None
    if outcome is not None:
        extra |= {"status": outcome.status, "latency_ms": outcome.latency_ms}
        if outcome.latency_ms is not None:  # Richpanel was really called
            extra["status_class"] = outcome.status_class
        if outcome.record_failed:
            extra["record_failed"] = outcome.record_failed
    return EventResult(
        index,
        message_id,
        call_type,
        fate,
        reason,
        user_id=user_id if isinstance(user_id, str) else None,
        **extra,
    )


def prepare(
    index: int, event: Any, *, screens_as_page_views: bool, forwarded: bool = False
) -> EventResult | Pending:
    """Validate, route and map one event: a final result (rejected, skipped) or a call to send."""
    problems = validate_event(event)
    if problems:
        errors = [p.as_dict() for p in problems]
        return _result(index, event, Fate.REJECTED, "invalid Segment call", errors=errors)
    skip = skip_reason(event, screens_as_page_views=screens_as_page_views, forwarded=forwarded)
    if skip:
        return _result(index, event, Fate.SKIPPED, skip)
    try:
        call = to_richpanel(event)
    except MappingError as exc:
        errors = [{"path": exc.path, "message": str(exc)}]
        return _result(index, event, Fate.REJECTED, "not accepted by Richpanel", errors=errors)
    return Pending(index, event, call, ident(event)[0], event_key(event))


def send_once(
    client: RichpanelClient,
    dedupe: Deduplicator | None,
    key: str | None,
    call: Mapping[str, Any],
    send: Send | None = None,
) -> Outcome:
    """One attempt, deduplicated on ``key`` when a table is configured.

    ``send`` replaces ``client.send`` (a send that keeps to a deadline).
    """
    post = client.send if send is None else send
    return post(call) if dedupe is None else dedupe.send(key, call, post)


class Deadline:
    """When sends must be over: the budget less the time parking what is left will take.

    Every event not yet delivered may have to be parked, so the reserve shrinks (and the
    deadline moves later) as events are delivered. A send starts only if it can be over by
    the deadline, and is given no more time than is left, so none outlives the invocation.
    """

    def __init__(
        self, started: float, budget: float, to_park: int, reserve: Callable[[int], float]
    ) -> None:
        self._end = started + budget
        self._to_park = to_park
        self._reserve = reserve
        self._lock = threading.Lock()

    def settled(self, count: int = 1) -> None:
        """``count`` events need no parking any more (delivered, or already delivered)."""
        with self._lock:
            self._to_park -= count

    def at(self) -> float:
        """The monotonic time by which every send must be over."""
        return self._end - self._reserve(self._to_park)

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
        client: RichpanelClient,
        parking: Parking,
        *,
        dedupe: Deduplicator | None = None,
        concurrency: int = 16,
        budget: float = 4.0,
        screens_as_page_views: bool = False,
        batch_size: int = 0,
    ) -> None:
        self.client = client
        self.parking = parking
        self.dedupe = dedupe
        self.budget = budget
        self.screens_as_page_views = screens_as_page_views
        self.batch_size = batch_size
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="richpanel")

    def deliver(
        self, events: list[Any], started: float | None = None, *, forwarded: bool = False
    ) -> list[EventResult]:
        """Every event's fate; the work ends within the budget counted from ``started``.

        ``forwarded``: the events came from a Segment webhook destination (mapping/routing.py).
        """
        started = time.monotonic() if started is None else started
        results: dict[int, EventResult] = {}
        pending: list[Pending] = []
        for index, event in enumerate(events):
            prepared = prepare(
                index, event, screens_as_page_views=self.screens_as_page_views, forwarded=forwarded
            )
            if isinstance(prepared, Pending):
                pending.append(prepared)
            else:
                results[index] = prepared
        reserve = getattr(self.parking, "reserve", park_seconds)
        deadline = Deadline(started, self.budget, len(pending), reserve)
        if self.batch_size >= 2:
            size = self.batch_size
            groups = [pending[start : start + size] for start in range(0, len(pending), size)]
            outcomes = self._run(groups, deadline, self._send_chunk)
        else:
            outcomes = self._run([[p] for p in pending], deadline, self._send_one)
        results.update(self._settle(pending, outcomes))
        return [results[i] for i in range(len(events))]

    def _send_one(
        self, group: list[Pending], deadline: Deadline, answers: Answers
    ) -> list[Outcome]:
        (p,) = group
        if deadline.left() is None:
            return [OUT_OF_TIME]  # not claimed, not sent

        def post(call: Mapping[str, Any]) -> Outcome:
            within = deadline.left()
            if within is None:
                return OUT_OF_TIME
            answers[p.index] = answer = self.client.send(call, within)
            return answer

        return [send_once(self.client, self.dedupe, p.key, p.call, post)]

    def _send_chunk(
        self, chunk: list[Pending], deadline: Deadline, answers: Answers
    ) -> list[Outcome]:
        """One /bt request for a chunk of events (deduplicated on messageId)."""
        if deadline.left() is None:
            return [OUT_OF_TIME] * len(chunk)

        def post(calls: Sequence[Mapping[str, Any]]) -> Outcome:
            within = deadline.left()
            if within is None:
                return OUT_OF_TIME
            answer = self.client.send_batch(calls, within)
            sent = {id(call) for call in calls}  # the chunk's events left in the request
            answers.update({p.index: answer for p in chunk if id(p.call) in sent})
            return answer

        if self.dedupe is None:
            return [post([p.call for p in chunk])] * len(chunk)
        return self.dedupe.send_batch([(p.key, p.call) for p in chunk], post)

    def _run(
        self,
        groups: list[list[Pending]],
        deadline: Deadline,
        send: Callable[[list[Pending], Deadline, Answers], list[Outcome]],
    ) -> dict[int, Outcome]:
        """Send the groups concurrently until the deadline; an outcome per event.

        A send still settling its record when the time is up is judged by Richpanel's answer,
        when there was one: an event Richpanel took is never parked to be sent again.
        """
        answers: Answers = {}

        def work(group: list[Pending]) -> list[Outcome]:
            outcomes = send(group, deadline, answers)
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
        """Turn outcomes into fates, parking the retryable and the permanent failures."""
        results: dict[int, EventResult] = {}
        parcels: list[Parcel] = []
        for p in pending:
            outcome = outcomes[p.index]
            if outcome.kind is Kind.DELIVERED:
                results[p.index] = _result(p.index, p.event, Fate.DELIVERED, outcome=outcome)
            elif outcome.kind is Kind.DUPLICATE:
                results[p.index] = _result(p.index, p.event, Fate.DUPLICATE, outcome.reason)
            elif outcome.kind in (Kind.RETRYABLE, Kind.IN_FLIGHT):
                # in flight: its holder may have died; the retry path settles it once the
                # claim resolves (delivered by the holder: a duplicate; expired: sent)
                parcels.append(retry_parcel(p.index, p.event, outcome, attempt=1))
            else:
                body = envelope(p.event, 1, outcome.reason)
                parcels.append(
                    dead_letter_parcel(
                        p.index, body, outcome.reason, message_id=p.message_id, attempt=1
                    )
                )
        failed = self.parking.park_many(parcels) if parcels else {}
        by_index = {p.index: p for p in pending}
        for parcel in parcels:
            p = by_index[parcel.key]
            outcome = outcomes[p.index]
            if parcel.key in failed:
                reason = f"{outcome.reason}; not queued: {failed[parcel.key]}"
                fate = Fate.FAILED
            else:
                reason, fate = (
                    outcome.reason,
                    Fate.DEAD_LETTERED if parcel.dead_letter else Fate.QUEUED,
                )
            results[p.index] = _result(p.index, p.event, fate, reason, outcome)
        return results
