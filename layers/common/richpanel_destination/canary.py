"""The silent-drop canary: did the marker the previous run sent arrive in Richpanel?

Each scheduled run reads the synthetic customer back through Richpanel's REST API
(``GET {restUrl}/v1/customers/uid/{uid}``, header ``x-richpanel-key``) and looks at its
``canaryMarker`` trait, ``<scheduled time>-<nonce>``: the previous run's marker arrived when
the marker shown was scheduled no earlier than one rate before this run (with half a rate of
slack for the schedule's jitter). Then it sends a new identify with a new marker through the
stack's own API (Basic auth with the first write key), so a break anywhere on the path --
the API, inbound auth, the secrets, the mapping, Richpanel -- shows as a miss one run later.
No state is kept between runs: the customer is the state.
"""

from __future__ import annotations

import os
import secrets as random_tokens
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from . import secrets
from .richpanel.readback import REST_KEY_HEADER, REST_PATH, customer_in

CANARY_UID = "richpanel-destination-canary"
CANARY_EMAIL = "canary@richpanel-destination.invalid"
MARKER_TRAIT = "canaryMarker"
SENT_AT_TRAIT = "canarySentAt"  # epoch milliseconds of the send
SLACK = 0.5  # of a rate: how late a scheduled run may be and still count as the previous one
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


class CanaryError(RuntimeError):
    """The canary cannot run (configuration, secrets, the read-back); it emits nothing."""


@dataclass(frozen=True)
class CanaryConfig:
    """Where the canary sends and reads, from the function's environment."""

    api_url: str
    inbound_secret_arn: str
    rest_secret_arn: str
    rate_seconds: float
    secrets_max_age: int = 300
    timeout_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CanaryConfig:
        """CANARY_API_URL, INBOUND_SECRET_ARN, RICHPANEL_REST_SECRET_ARN, CANARY_RATE_MINUTES."""
        env = os.environ if env is None else env
        missing = [
            name
            for name in ("CANARY_API_URL", "INBOUND_SECRET_ARN", "RICHPANEL_REST_SECRET_ARN")
            if not env.get(name)
        ]
        if missing:
            raise CanaryError(f"not configured: {', '.join(missing)}")
        try:
            rate = float(env.get("CANARY_RATE_MINUTES", "15")) * 60
            max_age = int(env.get("SECRETS_MAX_AGE_SECONDS", "300"))
        except ValueError as exc:
            raise CanaryError(f"bad canary setting: {exc}") from exc
        return cls(
            env["CANARY_API_URL"].rstrip("/"),
            env["INBOUND_SECRET_ARN"],
            env["RICHPANEL_REST_SECRET_ARN"],
            rate,
            max_age,
        )


@dataclass(frozen=True)
class CanaryResult:
    """What one run saw and did."""

    arrived: bool  # the previous run's marker (or a later one) shows in Richpanel
    seen_marker: str  # the customer's marker now, "" when the customer is not found
    lag_ms: float | None  # age of the marker seen: from its send to this read-back
    sent_marker: str
    sent: bool  # the stack's API accepted the new marker (2xx)
    send_status: int | None  # the API's status, None when it could not be reached


def new_marker(scheduled: datetime) -> str:
    """``<scheduled time, UTC>-<nonce>``."""
    return f"{scheduled.astimezone(UTC).strftime(_STAMP)}-{random_tokens.token_hex(4)}"


def marker_time(marker: str) -> datetime | None:
    """When the run that sent the marker was scheduled, None if it is not a marker."""
    try:
        return datetime.strptime(marker[: len("2000-01-01T00:00:00Z")], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def scheduled_time(event: Mapping[str, Any], now: datetime | None = None) -> datetime:
    """The EventBridge event's ``time`` (the scheduled time), else now."""
    stamp = event.get("time") if isinstance(event, Mapping) else None
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return now or datetime.now(UTC)


def has_arrived(seen_marker: str, scheduled: datetime, rate_seconds: float) -> bool:
    """Whether the marker seen was sent by the previous scheduled run or a later one."""
    seen = marker_time(seen_marker)
    if seen is None:
        return False
    return seen >= scheduled - timedelta(seconds=rate_seconds * (1 + SLACK))


def read_customer(
    session: requests.Session, rest: secrets.RestCredentials, timeout: float
) -> Mapping[str, Any] | None:
    """The canary customer from the REST read-back, None when it is not found (404)."""
    url = f"{rest.rest_url}{REST_PATH}/uid/{quote(CANARY_UID, safe='')}"
    try:
        response = session.get(url, headers={REST_KEY_HEADER: rest.rest_key}, timeout=timeout)
    except requests.RequestException as exc:
        raise CanaryError(f"the read-back failed: {type(exc).__name__}") from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise CanaryError(f"the read-back answered HTTP {response.status_code}")
    try:
        return customer_in(response)
    except ValueError as exc:
        raise CanaryError(str(exc)) from exc


def trait(customer: Mapping[str, Any] | None, name: str) -> Any:
    """A trait of the read-back customer (under properties, or at the top level)."""
    if customer is None:
        return None
    properties = customer.get("properties")
    if isinstance(properties, Mapping) and name in properties:
        return properties[name]
    return customer.get(name)


def identify_event(marker: str, sent_at_ms: int) -> dict[str, Any]:
    """The Segment identify that carries a new marker."""
    stamp = datetime.fromtimestamp(sent_at_ms / 1000, UTC).isoformat(timespec="milliseconds")
    return {
        "type": "identify",
        "userId": CANARY_UID,
        "messageId": f"canary-{marker}",
        "timestamp": stamp.replace("+00:00", "Z"),
        "traits": {"email": CANARY_EMAIL, MARKER_TRAIT: marker, SENT_AT_TRAIT: sent_at_ms},
        "context": {"traits": {"email": CANARY_EMAIL}},
    }


def send(
    session: requests.Session,
    api_url: str,
    write_key: str,
    event: Mapping[str, Any],
    timeout: float,
) -> int | None:
    """POST the identify to the stack's API with Basic auth; its status (None: unreachable)."""
    try:
        response = session.post(
            f"{api_url}/v1/identify", json=event, auth=(write_key, ""), timeout=timeout
        )
    except requests.RequestException:
        return None
    return response.status_code


def run(
    config: CanaryConfig,
    scheduled: datetime,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
) -> CanaryResult:
    """One canary run: read the previous marker back, then send a new one."""
    session = session or requests.Session()
    try:
        rest = secrets.rest_credentials(config.rest_secret_arn, config.secrets_max_age)
        inbound = secrets.inbound_credentials(config.inbound_secret_arn, config.secrets_max_age)
    except secrets.SecretError as exc:
        raise CanaryError(str(exc)) from exc
    if not inbound.write_keys:
        raise CanaryError("the inbound secret holds no write key")
    customer = read_customer(session, rest, config.timeout_seconds)
    seen = str(trait(customer, MARKER_TRAIT) or "")
    sent_at = trait(customer, SENT_AT_TRAIT)
    now_ms = clock() * 1000
    lag = max(0.0, now_ms - float(sent_at)) if isinstance(sent_at, int | float) and seen else None
    marker = new_marker(scheduled)
    event = identify_event(marker, int(clock() * 1000))
    status = send(session, config.api_url, inbound.write_keys[0], event, config.timeout_seconds)
    return CanaryResult(
        arrived=has_arrived(seen, scheduled, config.rate_seconds),
        seen_marker=seen,
        lag_ms=lag,
        sent_marker=marker,
        sent=status is not None and 200 <= status < 300,
        send_status=status,
    )
