"""Segment's HTTP Tracking API limits, enforced before any event is processed."""

from __future__ import annotations

import json
from typing import Any

KB = 1024
MAX_EVENT_BYTES = 32 * KB
MAX_REQUEST_BYTES = 500 * KB
MAX_BATCH_EVENTS = 2_500


class LimitExceeded(ValueError):
    """A request breaks one of Segment's limits; the message names the limit."""


def check_request_size(size: int) -> None:
    if size > MAX_REQUEST_BYTES:
        raise LimitExceeded(
            f"Request body is {size} bytes; the limit is 500 KB ({MAX_REQUEST_BYTES} bytes) "
            "per request"
        )


def check_events(events: list[Any], request_size: int) -> None:
    """At most 2,500 events, each at most 32 KB serialised."""
    if len(events) > MAX_BATCH_EVENTS:
        raise LimitExceeded(
            f"Batch has {len(events)} events; the limit is {MAX_BATCH_EVENTS} events per batch"
        )
    if request_size <= MAX_EVENT_BYTES:
        return  # no event can be larger than the whole request
    for index, event in enumerate(events):
        size = len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > MAX_EVENT_BYTES:
            raise LimitExceeded(
                f"Event {index} is {size} bytes; the limit is 32 KB ({MAX_EVENT_BYTES} bytes) "
                "per event"
            )
