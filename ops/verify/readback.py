"""Richpanel's REST read-back: one customer by email, polled until every probe shows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from richpanel_destination.richpanel.readback import REST_KEY_HEADER, customer_in

from .probes import Probe, find


class ReadBackError(Exception):
    """The read-back cannot go on (bad REST key, an unexpected answer)."""


class BadRestKey(ReadBackError):
    """401/403: the REST key is not valid."""


@dataclass(frozen=True)
class Poll:
    """What one poll saw: the customer (None while it is not found) and how many arrived."""

    customer: Mapping[str, Any] | None
    arrived: int
    expected: int
    elapsed: float


def customer_url(rest_url: str, rest_path: str, email: str) -> str:
    """``GET {REST_URL}{rest_path}/email/{email}``."""
    return f"{rest_url}{rest_path}/email/{quote(email, safe='@')}"


def fetch_customer(
    session: requests.Session, url: str, rest_key: str, timeout: float = 10.0
) -> Mapping[str, Any] | None:
    """The customer, or None when it is not there yet (404 or a passing failure)."""
    try:
        response = session.get(url, headers={REST_KEY_HEADER: rest_key}, timeout=timeout)
    except requests.RequestException:
        return None  # a passing network failure: poll again
    if response.status_code in (401, 403):
        raise BadRestKey(f"the REST key is not valid (HTTP {response.status_code})")
    if response.status_code == 404 or response.status_code >= 500:
        return None
    if response.status_code != 200:
        raise ReadBackError(f"the read-back answered HTTP {response.status_code}")
    try:
        return customer_in(response)
    except ValueError as exc:
        raise ReadBackError(str(exc)) from exc


def observe(probes: list[Probe], customer: Mapping[str, Any], now: float) -> None:
    """Record what the customer shows; the first time a probe matches is its arrival."""
    for probe in probes:
        if probe.arrived or probe.sent_at is None:
            continue
        probe.seen = find(probe, customer)
        if probe.seen == probe.sent:
            probe.seen_at = now


def poll_until_arrived(
    probes: list[Probe],
    url: str,
    rest_key: str,
    *,
    timeout: float,
    interval: float,
    session: requests.Session | None = None,
    progress: Callable[[Poll], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any] | None:
    """Poll until every accepted probe arrived or ``timeout`` seconds passed; the last
    customer seen (None if never found). Raises ReadBackError to stop early."""
    session = session or requests.Session()
    waiting = [probe for probe in probes if probe.sent_at is not None]
    started = clock()
    deadline = started + timeout
    customer: Mapping[str, Any] | None = None
    while True:
        found = fetch_customer(session, url, rest_key, timeout=min(10.0, max(1.0, timeout)))
        now = clock()
        if found is not None:
            customer = found
            observe(waiting, found, now)
        arrived = sum(probe.arrived for probe in waiting)
        if progress is not None:
            progress(Poll(customer, arrived, len(waiting), now - started))
        if arrived == len(waiting) or now >= deadline:
            return customer
        sleep(max(0.0, min(interval, deadline - now)))
