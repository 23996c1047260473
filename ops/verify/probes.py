"""The four calls of one run (identify, track, page, order) and how each is recognised."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from richpanel_destination.mapping.transform import to_richpanel

MARKER_TRAIT = "verifyMarker"
TRACK_EVENT = "Richpanel Destination Verify"
PAGE_NAME = "Richpanel Destination Verify"
PAGE_URL = "https://richpanel-destination.invalid/verify"


def new_marker(now: datetime | None = None) -> str:
    """A marker unique to this run: UTC time and randomness."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


@dataclass
class Probe:
    """One sent call: what was sent, where it shows in the customer, and when it was seen."""

    field: str  # the table's first column
    kind: str  # identify, track, page or order
    sent: str  # the value looked for in the read-back
    segment: dict[str, Any]  # the Segment-shaped event
    call: dict[str, Any] = dataclasses.field(default_factory=dict)  # to_richpanel's call object
    sent_at: float | None = None  # time.monotonic() when Richpanel accepted it
    refused: str = ""  # why the ingest refused it
    seen: str = ""  # the value found in the read-back
    seen_at: float | None = None

    @property
    def arrived(self) -> bool:
        return self.seen_at is not None

    @property
    def lag(self) -> float | None:
        if self.sent_at is None or self.seen_at is None:
            return None
        return max(0.0, self.seen_at - self.sent_at)


def build_probes(uid: str, email: str, marker: str, now: datetime | None = None) -> list[Probe]:
    """The run's four Segment events for one customer, mapped as the functions map them."""
    now = now or datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    base = {"userId": uid, "timestamp": stamp, "context": {"traits": {"email": email}}}
    order_id = f"verify-{marker}"
    events = [
        Probe(
            f"trait {MARKER_TRAIT}",
            "identify",
            marker,
            {"type": "identify", "traits": {"email": email, MARKER_TRAIT: marker}},
        ),
        Probe(
            "track eventId",
            "track",
            f"verify-{marker}-track",
            {"type": "track", "event": TRACK_EVENT, "properties": {MARKER_TRAIT: marker}},
        ),
        Probe(
            "page eventId",
            "page",
            f"verify-{marker}-page",
            {"type": "page", "name": PAGE_NAME, "properties": {"url": PAGE_URL}},
        ),
        Probe(
            "order id",
            "order",
            order_id,
            {
                "type": "track",
                "event": "Order Completed",
                "properties": {
                    "order_id": order_id,
                    "total": 0,
                    "currency": "USD",
                    "status": "completed",
                    MARKER_TRAIT: marker,
                },
            },
        ),
    ]
    for probe in events:
        probe.segment = base | probe.segment | {"messageId": f"verify-{marker}-{probe.kind}"}
        probe.call = to_richpanel(probe.segment)
    return events


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def find(probe: Probe, customer: Mapping[str, Any]) -> str:
    """The probe's value as the read-back shows it, or "" when it is not there (yet)."""
    if probe.kind == "identify":
        properties = customer.get("properties")
        if isinstance(properties, Mapping) and MARKER_TRAIT in properties:
            return _text(properties[MARKER_TRAIT])
        return _text(customer.get(MARKER_TRAIT))
    if probe.kind in ("track", "page"):
        for event in _records(customer, "events"):
            if _text(event.get("eventId")) == probe.sent:
                return probe.sent
        return ""
    for order in _records(customer, "orders"):
        for key in ("order_id", "orderId"):
            if _text(order.get(key)) == probe.sent:
                return probe.sent
    return ""


def _records(customer: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    records = customer.get(name)
    if not isinstance(records, list):
        return []
    return [record for record in records if isinstance(record, Mapping)]
