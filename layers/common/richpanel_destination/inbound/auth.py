"""Inbound authentication: Segment write keys and Segment Webhooks signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import timestamps
from ..secrets import InboundCredentials
from .scopes import BROWSER, SERVER

WRITE_KEY = "writekey"
WEBHOOK = "webhook"
NONE = "none"
MODES = frozenset({WRITE_KEY, WEBHOOK, NONE})
BODY = "body"  # an X-Signature over the whole body
FIRST = "first"  # an X-Signature over a JSON array's first element only (Actions batching)
BATCH_NEEDS_WRITE_KEY = (
    "X-Signature covers only the first element of a batch; "
    "send the write key too (Authorization: Basic)"
)


@dataclass(frozen=True)
class Sender:
    """Who was admitted: ``method`` (writekey, webhook, webhook+writekey or none) and the
    ``scope`` of the credential that admitted the events (inbound/scopes.py)."""

    method: str
    scope: str = SERVER


class Unauthorized(Exception):
    """The request is not from a known sender; answered 401 and nothing else happens."""


def parse_modes(value: str) -> frozenset[str]:
    """``writekey``, ``webhook``, both (comma-separated) or ``none``; anything else is an error."""
    modes = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    if not modes or not modes <= MODES or (NONE in modes and len(modes) > 1):
        raise ValueError(
            f"INBOUND_AUTH must be writekey, webhook, writekey,webhook or none; got {value!r}"
        )
    return modes


def _matches(candidate: str, accepted: tuple[str, ...]) -> bool:
    given = candidate.encode("utf-8")
    # compare with every key so the time taken does not reveal which one matched
    return sum(hmac.compare_digest(given, k.encode("utf-8")) for k in accepted) > 0


def key_scope(candidate: str, found: InboundCredentials) -> str | None:
    """SERVER or BROWSER for an active write key, else None.

    Both lists are compared in full every time (constant time across all keys), so the time
    taken reveals neither whether nor which key matched, nor its scope.
    """
    server = _matches(candidate, found.write_keys)
    browser = _matches(candidate, found.browser_write_keys)
    return SERVER if server and candidate else BROWSER if browser and candidate else None


def basic_auth_key(authorization: str | None) -> str | None:
    """The write key from ``Authorization: Basic base64("<key>:")``, if present."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ""
    return decoded.split(":", 1)[0]


def signed_bytes(raw: bytes) -> bytes:
    """What Segment signs: the body, or for a JSON array the exact bytes of its first element."""
    text = raw.decode("utf-8", errors="strict")
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        return raw
    index = start + 1
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, index)
    except json.JSONDecodeError:
        return raw
    return text[index:end].encode("utf-8")


def signature_covers(signature: str, raw: bytes, secrets: tuple[str, ...]) -> str | None:
    """What a valid X-Signature vouches for: BODY, FIRST (a JSON array's first element), or None.

    Hex HMAC-SHA1 under any active secret, compared in constant time. Segment's Webhooks
    (Actions) batching signs the first element; an HMAC of the whole body is accepted too.
    """
    try:
        first = signed_bytes(raw)
    except UnicodeDecodeError:
        return None
    given = signature.strip().lower().encode("ascii", errors="replace")
    body = element = False
    for secret in secrets:
        key = secret.encode("utf-8")
        body |= hmac.compare_digest(given, hmac.new(key, raw, hashlib.sha1).hexdigest().encode())
        if first != raw:
            digest = hmac.new(key, first, hashlib.sha1).hexdigest().encode()
            element |= hmac.compare_digest(given, digest)
    return BODY if body else FIRST if element else None


def signature_valid(signature: str, raw: bytes, secrets: tuple[str, ...]) -> bool:
    """True when the X-Signature matches the body or, for a JSON array, its first element."""
    return signature_covers(signature, raw, secrets) is not None


def _configured_max_age() -> int:
    from .. import runtime  # deferred: runtime imports this module

    return runtime.settings().webhook_signature_max_age


def check_fresh(payload: Any, max_age: float, now: float) -> None:
    """Unauthorized when the signed event's ``receivedAt`` is more than max_age seconds old.

    The signed event is the body, or an array's first element. Without a ``receivedAt`` it is
    not aged (Segment sets one on every event it delivers, inside what it signs); max_age 0
    means no limit.
    """
    if max_age <= 0:
        return
    element = payload[0] if isinstance(payload, list) and payload else payload
    value = element.get("receivedAt") if isinstance(element, dict) else None
    if value is None:
        return
    received = timestamps.parse(value)
    if received is None:
        raise Unauthorized("the signed event's receivedAt is not a timestamp")
    age = now - received.timestamp()
    if age > max_age:
        raise Unauthorized(
            f"the signed event is too old (received by Segment {int(age)} s ago, more than "
            f"WEBHOOK_SIGNATURE_MAX_AGE_SECONDS={int(max_age)}): a replay is refused"
        )


def _signed(
    modes: frozenset[str],
    found: InboundCredentials,
    lowered: Mapping[str, str],
    raw: bytes,
    payload: Any,
    max_age: float,
    now: float,
) -> Sender:
    """Admit a request that carries an X-Signature (see ``authenticate``).

    Its scope is SERVER when the signature vouches for every event (the body, or a lone
    event); when it covers only a batch's first element, the write key admits the others and
    its scope applies.
    """
    covers = signature_covers(lowered["x-signature"], raw, found.webhook_secrets)
    if covers is None:
        raise Unauthorized("X-Signature does not match the body under any active webhook secret")
    key = basic_auth_key(lowered.get("authorization"))
    scope = key_scope(key, found) if key is not None else SERVER
    if scope is None:
        raise Unauthorized("the write key is not an active write key")
    batch = covers == FIRST and isinstance(payload, list) and len(payload) > 1
    signed_scope = scope if batch else SERVER
    if key is not None and WRITE_KEY in modes:
        # the write key alone admits any body; the signature matched too
        return Sender(WRITE_KEY, signed_scope)
    if key is None and batch:
        raise Unauthorized(BATCH_NEEDS_WRITE_KEY)
    check_fresh(payload, max_age, now)
    return Sender(WEBHOOK if key is None else f"{WEBHOOK}+{WRITE_KEY}", signed_scope)


def authenticate(
    modes: frozenset[str],
    credentials: Callable[[], InboundCredentials],
    headers: Mapping[str, str] | None,
    raw: bytes,
    payload: Any,
    *,
    max_age: float | None = None,
    now: Callable[[], float] = time.time,
) -> Sender:
    """Who was admitted (the method and its scope), or Unauthorized with a one-line reason.

    ``credentials`` is only called when a credential must be checked (SecretError if unreadable).
    An X-Signature that covers only an array's first element admits a batch of more than one
    event only with a valid write key (Basic) beside it. A request the signature admits is
    refused when its signed event is older than ``max_age`` seconds (default: the
    WEBHOOK_SIGNATURE_MAX_AGE_SECONDS setting). A browser write key admits with scope
    BROWSER; a server key, an X-Signature and ``none`` with SERVER.
    """
    if NONE in modes:
        return Sender(NONE)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if WEBHOOK in modes and "x-signature" in lowered:
        limit = _configured_max_age() if max_age is None else max_age
        return _signed(modes, credentials(), lowered, raw, payload, limit, now())
    if WRITE_KEY in modes:
        key = basic_auth_key(lowered.get("authorization"))
        if key is None and isinstance(payload, dict) and isinstance(payload.get("writeKey"), str):
            key = payload["writeKey"]
        if key is not None:
            scope = key_scope(key, credentials()) if key else None
            if scope is not None:
                return Sender(WRITE_KEY, scope)
            raise Unauthorized("the write key is not an active write key")
    wanted = {
        WRITE_KEY: "a write key (Authorization: Basic, or writeKey in the body)",
        WEBHOOK: "an X-Signature",
    }
    raise Unauthorized("missing credentials: send " + " or ".join(wanted[m] for m in sorted(modes)))
