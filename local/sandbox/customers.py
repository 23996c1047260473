"""The sandbox's customer store and Richpanel's REST read-back built from it.

Accepted calls update a customer keyed by ``userProperties.uid`` (``email`` and ``phone``
index it too): the profile merges userProperties (latest arrival wins, nulls ignored),
``events`` keeps the last 50 calls (one per eventId) and an ``order`` event merges its
properties into ``orders[order_id or orderId]``. An update becomes visible
``visible_after_ms`` after it arrived, as Richpanel's records show up minutes later.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

MAX_EVENTS = 50
LOOKUP_FIELDS = ("email", "phone", "uid")
# Order events: the plugins' "order", and Segment's ecommerce names, which Richpanel's Segment
# destination docs say it takes (the mapping forwards them by name, with the order fields).
ORDER_EVENTS = frozenset({"order", "order completed", "order updated", "order cancelled",
                          "order refunded"})  # fmt: skip
REST_KEY_HEADER = "x-richpanel-key"
_TOP_LEVEL = ("uid", "email", "firstName", "lastName", "phone")


@dataclass
class _Customer:
    profile: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        view: dict[str, Any] = {name: self.profile.get(name) for name in _TOP_LEVEL}
        view["properties"] = dict(self.profile)
        view["events"] = [dict(event) for event in self.events]
        view["orders"] = [dict(order) for order in self.orders.values()]
        return view


def _index_key(name: str, value: Any) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        return None
    text = str(value)
    return text.lower() if name == "email" else text


def _time_of(call: dict[str, Any]) -> Any:
    stamp = call.get("time")
    if not isinstance(stamp, dict):
        return None
    original = stamp.get("originalTimestamp")
    return original if original is not None else stamp.get("sentAt")


@dataclass
class CustomerStore:
    """Customers built from accepted calls; an update shows visible_after_ms after arrival."""

    visible_after_ms: int = 0
    _pending: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    _customers: dict[str, _Customer] = field(default_factory=dict)
    _index: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Any, arrived: float | None = None) -> None:
        """Queue one accepted call (time.monotonic() arrival; ignored if not an object)."""
        if not isinstance(call, dict):
            return
        with self._lock:
            self._pending.append((time.monotonic() if arrived is None else arrived, call))

    def find(self, name: str, value: str) -> dict[str, Any] | None:
        """The visible customer whose `name` (email, phone or uid) is value, as JSON."""
        key = _index_key(name, value)
        with self._lock:
            self._promote()
            uid = self._index.get((name, key)) if key is not None else None
            customer = self._customers.get(uid) if uid is not None else None
            return customer.to_json() if customer is not None else None

    def clear(self) -> None:
        """Forget every customer and pending update."""
        with self._lock:
            self._pending.clear()
            self._customers.clear()
            self._index.clear()

    def _promote(self) -> None:
        """Apply the pending updates that are old enough, in arrival order."""
        cutoff = time.monotonic() - self.visible_after_ms / 1000
        while self._pending and self._pending[0][0] <= cutoff:
            self._apply(self._pending.popleft()[1])

    def _apply(self, call: dict[str, Any]) -> None:
        user = call.get("userProperties")
        user = user if isinstance(user, dict) else {}
        uid = _index_key("uid", user.get("uid"))
        if uid is None:  # no uid: merge into the customer its email or phone names
            for name in ("email", "phone"):
                key = _index_key(name, user.get(name))
                uid = self._index.get((name, key)) if key is not None else None
                if uid is not None:
                    break
        if uid is None:
            return
        customer = self._customers.setdefault(uid, _Customer())
        customer.profile.setdefault("uid", user.get("uid", uid))
        customer.profile.update({k: v for k, v in user.items() if v is not None})
        for name in LOOKUP_FIELDS:
            key = _index_key(name, customer.profile.get(name))
            if key is not None:
                self._index[(name, key)] = uid
        self._add_event(customer, call)
        properties = call.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        if str(call.get("event", "")).strip().lower() in ORDER_EVENTS:
            order_id = properties.get("order_id", properties.get("orderId"))
            if order_id is not None:
                customer.orders.setdefault(str(order_id), {}).update(properties)

    @staticmethod
    def _add_event(customer: _Customer, call: dict[str, Any]) -> None:
        event_id = call.get("eventId")
        if event_id is not None and any(e["eventId"] == event_id for e in customer.events):
            return  # Richpanel is idempotent on the event id
        properties = call.get("properties")
        customer.events.append(
            {
                "event": call.get("event"),
                "eventId": event_id,
                "time": _time_of(call),
                "properties": properties if isinstance(properties, dict) else {},
            }
        )
        del customer.events[:-MAX_EVENTS]


def read_back(
    store: CustomerStore, rest_key: str, method: str, rest: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """Answer ``{rest_path}/{field}/{value}`` (rest is the part after rest_path)."""
    sent = {k.lower(): v for k, v in headers.items()}.get(REST_KEY_HEADER)
    if sent != rest_key:
        return 401, {"error": "invalid api key"}
    parts = rest.strip("/").split("/")
    if len(parts) != 2 or parts[0] not in LOOKUP_FIELDS or not parts[1]:
        return 404, {"error": "not found"}
    if method != "GET":
        return 405, {"error": "method not allowed"}
    customer = store.find(parts[0], unquote(parts[1]))
    if customer is None:
        return 404, {"error": "customer not found"}
    return 200, {"customer": customer}
