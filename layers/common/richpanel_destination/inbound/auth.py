"""Inbound authentication: Segment write keys and Segment Webhooks signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from ..secrets import InboundCredentials

WRITE_KEY = "writekey"
WEBHOOK = "webhook"
NONE = "none"
MODES = frozenset({WRITE_KEY, WEBHOOK, NONE})


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


def signature_valid(signature: str, raw: bytes, secrets: tuple[str, ...]) -> bool:
    """Hex HMAC-SHA1 of the signed bytes under any active secret, compared in constant time."""
    try:
        message = signed_bytes(raw)
    except UnicodeDecodeError:
        return False
    given = signature.strip().lower().encode("ascii", errors="replace")
    found = False
    for secret in secrets:
        digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha1).hexdigest()
        found |= hmac.compare_digest(given, digest.encode("ascii"))
    return found


def authenticate(
    modes: frozenset[str],
    credentials: Callable[[], InboundCredentials],
    headers: Mapping[str, str] | None,
    raw: bytes,
    payload: Any,
) -> str:
    """The method that admitted the request, or Unauthorized with a one-line reason.

    ``credentials`` is only called when a credential must be checked (SecretError if unreadable).
    """
    if NONE in modes:
        return NONE
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if WEBHOOK in modes and "x-signature" in lowered:
        if signature_valid(lowered["x-signature"], raw, credentials().webhook_secrets):
            return WEBHOOK
        raise Unauthorized("X-Signature does not match the body under any active webhook secret")
    if WRITE_KEY in modes:
        key = basic_auth_key(lowered.get("authorization"))
        if key is None and isinstance(payload, dict) and isinstance(payload.get("writeKey"), str):
            key = payload["writeKey"]
        if key is not None:
            if key and _matches(key, credentials().write_keys):
                return WRITE_KEY
            raise Unauthorized("the write key is not an active write key")
    wanted = {
        WRITE_KEY: "a write key (Authorization: Basic, or writeKey in the body)",
        WEBHOOK: "an X-Signature",
    }
    raise Unauthorized("missing credentials: send " + " or ".join(wanted[m] for m in sorted(modes)))
