"""The ingest path: validate, route, map, send concurrently within a budget, park the rest."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..inbound.validate import validate_event
from ..mapping.routing import skip_reason
from ..mapping.transform import MappingError, to_richpanel
from ..richpanel.client import RichpanelClient
from ..richpanel.outcomes import Kind, Outcome
from .dedupe import LATE, DedupeUnavailable, Deduplicator
from .park import Parcel, Parking, dead_letter_parcel, envelope, retry_parcel
from .results import EventResult, Fate

PARK_RESERVE_SECONDS = 1.0  # kept back from the budget for parking what is not delivered
OUT_OF_TIME = LATE  # one outcome for "the budget ran out", batch or single


@dataclass(frozen=True)
class Pending:
    """A valid event on its way to Richpanel."""

    index: int
    event: dict[str, Any]
    call: dict[str, Any]
    message_id: str | None


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
    return EventResult(
        index,
        message_id,
        call_type,
        fate,
        reason,
        user_id=user_id if isinstance(user_id, str) else None,
        **extra,
    )


def prepare(index: int, event: Any, *, screens_as_page_views: bool) -> EventResult | Pending:
    """Validate, route and map one event: a final result (rejected, skipped) or a call to send."""
    problems = validate_event(event)
    if problems:
        errors = [p.as_dict() for p in problems]
        return _result(index, event, Fate.REJECTED, "invalid Segment call", errors=errors)
    skip = skip_reason(event, screens_as_page_views=screens_as_page_views)
    if skip:
        return _result(index, event, Fate.SKIPPED, skip)
    try:
        call = to_richpanel(event)
    except MappingError as exc:
        errors = [{"path": exc.path, "message": str(exc)}]
        return _result(index, event, Fate.REJECTED, "not accepted by Richpanel", errors=errors)
    return Pending(index, event, call, ident(event)[0])


def send_once(
    client: RichpanelClient,
    dedupe: Deduplicator | None,
    message_id: str | None,
    call: Mapping[str, Any],
) -> Outcome:
    """One attempt, deduplicated on messageId when a table is configured."""
    if dedupe is None:
        return client.send(call)
    try:
        return dedupe.send(message_id, call, client.send)
    except DedupeUnavailable as exc:
        return Outcome(Kind.RETRYABLE, str(exc)[:300])


def send_chunk(
    client: RichpanelClient,
    dedupe: Deduplicator | None,
    chunk: list[Pending],
    deadline: float | None = None,
) -> dict[int, Outcome]:
    """One /bt request for a chunk of events (deduplicated on messageId): an outcome per event.

    A chunk not sent by the deadline is not sent at all (its claims are released).
    """
    if dedupe is None:
        late = deadline is not None and time.monotonic() >= deadline
        outcome = OUT_OF_TIME if late else client.send_batch([p.call for p in chunk])
        return {p.index: outcome for p in chunk}
    items = [(p.message_id, p.call) for p in chunk]
    outcomes = dedupe.send_batch(items, client.send_batch, deadline=deadline)
    return {p.index: outcome for p, outcome in zip(chunk, outcomes, strict=True)}


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

    def deliver(self, events: list[Any], started: float | None = None) -> list[EventResult]:
        """Every event's fate; the work ends within the budget counted from ``started``."""
        started = time.monotonic() if started is None else started
        results: dict[int, EventResult] = {}
        pending: list[Pending] = []
        for index, event in enumerate(events):
            prepared = prepare(index, event, screens_as_page_views=self.screens_as_page_views)
            if isinstance(prepared, Pending):
                pending.append(prepared)
            else:
                results[index] = prepared
        outcomes = self._send_all(pending, deadline=started + self.budget - PARK_RESERVE_SECONDS)
        results.update(self._settle(pending, outcomes))
        return [results[i] for i in range(len(events))]

    def _send_all(self, pending: list[Pending], deadline: float) -> dict[int, Outcome]:
        if self.batch_size >= 2:
            return self._send_chunks(pending, deadline)
        futures: dict[Future[Outcome], Pending] = {
            self._pool.submit(send_once, self.client, self.dedupe, p.message_id, p.call): p
            for p in pending
        }
        done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        outcomes = {futures[f].index: f.result() for f in done}
        for future in late:
            future.cancel()  # not started: never runs; running: finishes later, deduplicated
            outcomes[futures[future].index] = OUT_OF_TIME
        return outcomes

    def _send_chunks(self, pending: list[Pending], deadline: float) -> dict[int, Outcome]:
        """Chunks of batch_size events, one /bt request each, concurrently on the pool."""
        size = self.batch_size
        chunks = [pending[start : start + size] for start in range(0, len(pending), size)]
        futures: dict[Future[dict[int, Outcome]], list[Pending]] = {
            self._pool.submit(send_chunk, self.client, self.dedupe, chunk, deadline): chunk
            for chunk in chunks
        }
        done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        outcomes: dict[int, Outcome] = {}
        for future in done:
            outcomes.update(future.result())
        for future in late:
            future.cancel()  # as for single calls: a running chunk finishes later, deduplicated
            outcomes.update({p.index: OUT_OF_TIME for p in futures[future]})
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
            elif outcome.kind in (Kind.DUPLICATE, Kind.IN_FLIGHT):
                results[p.index] = _result(p.index, p.event, Fate.DUPLICATE, outcome.reason)
            elif outcome.kind is Kind.RETRYABLE:
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
