"""Read one inbound request: route, body decoding, limits, events (authentication apart)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import limits
from ..calls import ROUTED_TYPES
from . import decode

BATCH = "batch"
WEBHOOK = "webhook"
# /v1/<name>: the HTTP Tracking API, analytics.js short paths, and the Webhooks route.
ROUTES: dict[str, str] = (
    {t: t for t in ROUTED_TYPES}
    | {t[0]: t for t in ROUTED_TYPES}
    | {"batch": BATCH, "b": BATCH, "webhook": WEBHOOK}
)


@dataclass(frozen=True)
class Body:
    """A request's body as read: its route's kind, the decoded bytes and the parsed JSON."""

    kind: str
    raw: bytes
    payload: Any


@dataclass(frozen=True)
class InboundRequest:
    """What a request carries; ``single`` when it is one call rather than a batch."""

    kind: str
    events: list[dict[str, Any]]
    single: bool


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever its casing."""
    wanted = name.lower()
    return next((v for k, v in (headers or {}).items() if k.lower() == wanted), None)


def limits_for(kind: str) -> limits.Limits:
    """The webhook route takes Webhooks (Actions) batches; the rest keep Segment's limits."""
    return limits.WEBHOOK if kind == WEBHOOK else limits.TRACKING_API


def read_body(
    route: str, body: str | None, *, is_base64: bool, headers: Mapping[str, str] | None
) -> Body:
    """Decode a request to /v1/<route>; BadRequest or LimitExceeded if unreadable.

    A Content-Type other than JSON or text/plain is UnsupportedMediaType (a BadRequest, 415).
    """
    kind = ROUTES[route]
    decode.check_content_type(header(headers, "Content-Type"))
    raw = decode.body_bytes(
        body,
        is_base64=is_base64,
        content_encoding=header(headers, "Content-Encoding"),
        limits=limits_for(kind),
    )
    return Body(kind, raw, decode.parse_json(raw))


def unpack(body: Body) -> InboundRequest:
    """The events of an (authenticated) body, within its route's limits."""
    if body.kind == BATCH:
        events, single = decode.batch_events(body.payload), False
    elif body.kind == WEBHOOK:
        events, single = decode.webhook_events(body.payload), not isinstance(body.payload, list)
    else:
        events, single = decode.single_event(body.payload, body.kind), True
    limits_for(body.kind).check_events(events, len(body.raw))
    return InboundRequest(body.kind, events, single)


def read_request(
    route: str, body: str | None, *, is_base64: bool, headers: Mapping[str, str] | None
) -> InboundRequest:
    """read_body then unpack, without authentication (for callers that need no sender check)."""
    return unpack(read_body(route, body, is_base64=is_base64, headers=headers))
