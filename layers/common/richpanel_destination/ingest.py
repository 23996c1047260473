"""The ingest path, top to bottom: one API Gateway request in, one answer out.

decode -> authenticate -> unpack -> validate -> filter -> map -> send -> settle -> answer.
The handler (functions/ingest/app.py) only translates API Gateway in and out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import runtime
from .delivery.dedupe import event_key
from .delivery.deliver import Delivery, Pending
from .delivery.results import EventResult, Fate
from .inbound.auth import Unauthorized, authenticate
from .inbound.decode import BadRequest
from .inbound.replay import ReplayRefused, resend_requested
from .inbound.request import WEBHOOK, read_body, unpack
from .inbound.scopes import BROWSER, for_log, restrict
from .inbound.validate import validate_event
from .limits import LimitExceeded
from .mapping.filtering import skip_reason
from .mapping.transform import MappingError, to_richpanel
from .observability import logs
from .observability.metrics import record_ingest
from .secrets import RichpanelCredentials, SecretError
from .timestamps import event_time

logger = logs.new_logger(runtime.redactor())
RETRY_AFTER_SECONDS = 30  # what a 503 tells the sender to wait


@dataclass(frozen=True)
class Request:
    """What the API Gateway event says, as the ingest path needs it."""

    route: str
    body: str | None
    is_base64: bool
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to the sender: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def ingest(request: Request, started: float | None = None) -> Answer:
    """Every event of a request to its fate, and the answer that says so."""
    started = time.monotonic() if started is None else started
    try:
        body = read_body(
            request.route, request.body, is_base64=request.is_base64, headers=request.headers
        )
        sender = authenticate(
            runtime.auth_modes(),
            runtime.inbound_credentials,
            request.headers,
            body.raw,
            body.payload,
        )
        # one invocation, one sender (a browser key's scope said; a server's is the default)
        logs.first_line(auth=sender.method, scope=BROWSER if sender.scope == BROWSER else None)
        calls = unpack(body)
        resend = resend_requested(request.headers, sender.scope)
    except (BadRequest, LimitExceeded, ReplayRefused) as exc:
        logger.info("request rejected", extra={"reason": str(exc)})
        return Answer(getattr(exc, "status", 400), {"message": str(exc)})
    except Unauthorized as exc:
        logger.warning("request refused", extra={"reason": str(exc)})
        return Answer(401, {"message": f"Unauthorized: {exc}"})
    except SecretError as exc:
        logger.error("inbound credentials unavailable", extra={"reason": str(exc)})
        message = "Credentials are unavailable; retry the request"
        return Answer(503, {"message": message}, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    forwarded = calls.kind == WEBHOOK  # Segment already applied the Integrations object
    # a browser key's events lose the profile fields it may not set (inbound/scopes.py)
    refused = restrict(calls.events, sender.scope, runtime.settings().browser_profile_fields)
    ordered = deliver_events(
        calls.events, runtime.delivery(), started, forwarded=forwarded, resend=resend
    )
    record_ingest(ordered, refused)
    for result in ordered:
        line = result.log_line()
        if result.index in refused:  # field names (Segment paths), never values
            line["refused"] = for_log(refused[result.index])
        if result.fate is Fate.REJECTED:  # what was wrong: its shape, never its values
            line["payload"] = runtime.redactor().payload(calls.events[result.index])
        logger.info("event outcome", extra=line)
    reply = answer(ordered, single=calls.single, kind=calls.kind)
    for index, names in refused.items():
        reply.body["results"][index]["refused"] = for_log(names)
    return reply


def deliver_events(
    events: list[Any],
    delivery: Delivery,
    started: float | None = None,
    *,
    forwarded: bool = False,
    resend: bool = False,
) -> list[EventResult]:
    """Validate, filter and map each event, send what is left, settle: a result per event.

    ``resend``: X-Replay: resend (inbound/replay.py): delivered events are sent again."""
    results: dict[int, EventResult] = {}
    pending: list[Pending] = []
    received_ms = int(time.time() * 1000)
    for index, event in enumerate(events):
        prepared = prepare(index, event, received_ms, forwarded=forwarded)
        if isinstance(prepared, Pending):
            pending.append(replace(prepared, resend=True) if resend else prepared)
        else:
            results[index] = prepared
    if pending:
        results |= delivery.deliver(pending, richpanel_credentials(), started)
    return [results[i] for i in range(len(events))]


def prepare(
    index: int, event: Any, received_ms: int, *, forwarded: bool = False
) -> EventResult | Pending:
    """Validate, filter and map one event: a final result (rejected, skipped) or a call to send."""
    problems = validate_event(event)
    if problems:
        errors = [p.as_dict() for p in problems]
        return EventResult.of(index, event, Fate.REJECTED, "invalid Segment call", errors=errors)
    settings = runtime.settings()
    skip = skip_reason(
        event, screens_as_page_views=settings.screens_as_page_views, forwarded=forwarded
    )
    if skip:
        return EventResult.of(index, event, Fate.SKIPPED, skip)
    try:
        call = to_richpanel(event, settings.order_fields)
    except MappingError as exc:
        errors = [{"path": exc.path, "message": str(exc)}]
        return EventResult.of(
            index, event, Fate.REJECTED, "not accepted by Richpanel", errors=errors
        )
    message_id = event.get("messageId")
    return Pending(index, event, call, message_id if isinstance(message_id, str) else None,
                   event_key(event), event_time(event, received_ms))  # fmt: skip


def richpanel_credentials() -> RichpanelCredentials | None:
    """Richpanel's key and secret, or None (logged) when they cannot be read: queue, retry."""
    try:
        return runtime.richpanel_credentials()
    except SecretError as exc:
        logger.error("Richpanel credentials unavailable", extra={"reason": str(exc)})
        return None


def summary(results: list[EventResult]) -> dict[str, int]:
    """How many events met each fate."""
    counts = {"received": len(results)} | {fate.value: 0 for fate in Fate}
    for result in results:
        counts[result.fate.value] += 1
    return counts


def http_status(results: list[EventResult], *, single: bool) -> int:
    """503 if anything was neither delivered nor parked; 400 for a lone invalid call; else 200."""
    if any(r.fate is Fate.FAILED for r in results):
        return 503
    if single and results and results[0].fate is Fate.REJECTED:
        return 400
    return 200


def answer(results: list[EventResult], *, single: bool, kind: str) -> Answer:
    """Status, JSON body and headers answering the sender."""
    status = http_status(results, single=single)
    body: dict[str, Any] = {"summary": summary(results), "results": [r.as_dict() for r in results]}
    headers: dict[str, str] = {}
    if status == 400:
        first = results[0]
        details = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in first.errors)
        body["message"] = f"Invalid {kind} call: {details or first.reason}"
    elif status == 503:
        failed = [r.index for r in results if r.fate is Fate.FAILED]
        body["message"] = f"Events {failed} were neither delivered nor queued; retry the request"
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Answer(status, body, headers)
