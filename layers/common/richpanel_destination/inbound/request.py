"""Read one inbound request: route, body decoding, limits, events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import decode, limits

BATCH = "batch"
WEBHOOK = "webhook"
# /v1/<name>: the HTTP Tracking API, analytics.js short paths, and the Webhooks route.
ROUTES: dict[str, str] = {
    "identify": "identify",
    "track": "track",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
    "batch": BATCH,
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
    "b": BATCH,
    "webhook": WEBHOOK,
}


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


Admit = Callable[[bytes, Any], None]


def read_request(
    route: str,
    body: str | None,
    *,
    is_base64: bool,
    headers: Mapping[str, str] | None,
    admit: Admit | None = None,
) -> InboundRequest:
    """Decode and unpack a request to /v1/<route>; BadRequest or LimitExceeded if unreadable.

    A Content-Type other than JSON or text/plain is UnsupportedMediaType (a BadRequest, 415).

    ``admit(raw, payload)`` (authentication) runs on the decoded body before anything else
    looks at the events, and raises to refuse the request.
    """
    kind = ROUTES[route]
    allowed = limits.WEBHOOK if kind == WEBHOOK else limits.TRACKING_API
    decode.check_content_type(header(headers, "Content-Type"))
    raw = decode.body_bytes(
        body,
        is_base64=is_base64,
        content_encoding=header(headers, "Content-Encoding"),
        limits=allowed,
    )
    payload = decode.parse_json(raw)
    if admit is not None:
        admit(raw, payload)
    if kind == BATCH:
        events, single = decode.batch_events(payload), False
    elif kind == WEBHOOK:
        events, single = decode.webhook_events(payload), not isinstance(payload, list)
    else:
        events, single = decode.single_event(payload, kind), True
    allowed.check_events(events, len(raw))
    return InboundRequest(kind, events, single)
