"""Every size and truncation limit, in one place (docs/delivery.md#limits).

Requests: per route, enforced before any event is processed.

The HTTP Tracking API routes keep Segment's Tracking API limits. The webhook route takes what
Segment's webhook destinations send: Webhooks (Actions) batches of up to 4,000 events, in one
request as large as the platform lets through. That ceiling is Lambda's, not API Gateway's:

- API Gateway (REST) takes request bodies up to 10 MB;
- a synchronous Lambda invocation takes at most 6 MB (6,291,456 bytes) of event JSON, and the
  API sends every body base64-encoded (``BinaryMediaTypes: */*``), which adds a third;
- so a body of at most ``WEBHOOK.request_bytes`` (4.25 MiB) becomes at most 5,941,932 bytes of
  base64, leaving about 340 KB for the headers, the request context and the JSON around it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KB = 1024
MB = 1024 * KB
LAMBDA_PAYLOAD_BYTES = 6 * MB  # a synchronous invocation's request (and response) payload
API_GATEWAY_PAYLOAD_BYTES = 10 * MB  # REST API request body


class LimitExceeded(ValueError):
    """A request breaks one of its route's limits; the message names the limit."""


@dataclass(frozen=True)
class Limits:
    """The most a request may carry; ``name`` says whose limits they are in messages."""

    name: str
    request_bytes: int
    batch_events: int
    event_bytes: int = 32 * KB

    def request_limit_text(self) -> str:
        """The request limit as messages state it."""
        return (
            f"the limit is {_size(self.request_bytes)} ({self.request_bytes} bytes) "
            f"per request on {self.name}"
        )

    def check_request_size(self, size: int) -> None:
        """LimitExceeded when a (decoded) body is larger than a request may be."""
        if size > self.request_bytes:
            raise LimitExceeded(f"Request body is {size} bytes; {self.request_limit_text()}")

    def check_events(self, events: list[Any], request_size: int) -> None:
        """At most ``batch_events`` events, each at most ``event_bytes`` serialised."""
        if len(events) > self.batch_events:
            raise LimitExceeded(
                f"Batch has {len(events)} events; the limit is {self.batch_events} events "
                f"per batch on {self.name}"
            )
        if request_size <= self.event_bytes:
            return  # no event can be larger than the whole request
        for index, event in enumerate(events):
            size = len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())
            if size > self.event_bytes:
                raise LimitExceeded(
                    f"Event {index} is {size} bytes; the limit is {_size(self.event_bytes)} "
                    f"({self.event_bytes} bytes) per event"
                )


def _size(count: int) -> str:
    return f"{count / MB:g} MiB" if count >= MB else f"{count // KB} KB"


# Segment's HTTP Tracking API: 32 KB per call, 500 KB per request, 2,500 events per batch.
TRACKING_API = Limits("the Tracking API routes", request_bytes=500 * KB, batch_events=2_500)
# Segment Webhooks (Actions): batch size up to 4,000; the body up to the Lambda ceiling above.
WEBHOOK = Limits("the webhook route", request_bytes=4 * MB + 256 * KB, batch_events=4_000)
LARGEST_REQUEST_BYTES = max(TRACKING_API.request_bytes, WEBHOOK.request_bytes)


# Bodies: how deep JSON may nest (a Segment event needs about 6), and up to what size a body
# is small enough to count brackets instead of walking the parsed value.
MAX_DEPTH = 64
SMALL_BODY_BYTES = 32 * KB

# Texts: what is kept of a reason (an outcome's, an SQS error's), of an SQS attribute or the
# envelope's reason, of a value echoed in a message or kept in a preview, and of a preview.
REASON_CHARS = 300
ATTRIBUTE_CHARS = 256
SHOWN_CHARS = 100
PREVIEW_CHARS = 1_000

# SQS: SendMessageBatch takes 10 entries and 256 KB at most.
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * KB

# A loser of a claim or lease race waits at most this long (or until the holder's claim or
# lease would expire, if sooner) before its next attempt: a live holder settles within a send.
HELD_RETRY_SECONDS = 5.0


def held_retry_after(left_seconds: float) -> float:
    """When a race's loser tries again: when the holder's claim or lease has ``left_seconds``
    to run, at most HELD_RETRY_SECONDS and at least a second."""
    return max(1.0, min(HELD_RETRY_SECONDS, left_seconds))


# Richpanel: the most calls in one /bt request (Magento's chunk size).
MAX_RICHPANEL_BATCH = 50


def reason(text: str) -> str:
    """A reason text as it is kept: at most REASON_CHARS characters."""
    return text[:REASON_CHARS]
