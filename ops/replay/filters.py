"""Which events a replay sends: call type, event names, a time range, userIds, orders.

The time range is on the event's time (``timestamp``, else ``originalTimestamp``, else
``receivedAt``): ``--since`` inclusive, ``--until`` exclusive. ``--order-history`` keeps only
order events (a track named as the mapping's order statuses: Order Completed, ...).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from richpanel_destination.mapping.table import ORDER_STATUSES
from richpanel_destination.timestamps import parse

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When the event happened, from its own fields (None: no readable time)."""
    for name in ("timestamp", "originalTimestamp", "receivedAt"):
        when = parse(event.get(name))
        if when is not None:
            return when
    return None


def is_order(event: Mapping[str, Any]) -> bool:
    name = event.get("event")
    return (
        event.get("type") == "track"
        and isinstance(name, str)
        and name.strip().lower() in ORDER_STATUSES
    )


def split_values(values: Iterable[str] | None) -> frozenset[str]:
    """Repeated and comma-separated option values as one set."""
    return frozenset(v.strip() for value in values or () for v in value.split(",") if v.strip())


@dataclass(frozen=True)
class Filters:
    types: frozenset[str] = field(default_factory=frozenset)
    events: frozenset[str] = field(default_factory=frozenset)
    user_ids: frozenset[str] = field(default_factory=frozenset)
    since: datetime | None = None
    until: datetime | None = None
    orders_only: bool = False

    def keep(self, event: Mapping[str, Any]) -> bool:
        """Whether the event passes every filter given."""
        if self.types and event.get("type") not in self.types:
            return False
        if self.events and event.get("event") not in self.events:
            return False
        if self.user_ids and event.get("userId") not in self.user_ids:
            return False
        if self.orders_only and not is_order(event):
            return False
        if self.since is not None or self.until is not None:
            when = event_time(event)
            if when is None:
                return False
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when >= self.until:
                return False
        return True

    def signature(self) -> str:
        """A short fingerprint: a checkpoint is only continued with the same filters."""
        view = {
            "types": sorted(self.types),
            "events": sorted(self.events),
            "userIds": sorted(self.user_ids),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "orders": self.orders_only,
        }
        text = json.dumps(view, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
