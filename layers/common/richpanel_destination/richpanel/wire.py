"""Richpanel's ingest wire format, in one place.

``POST {base}/t`` with ``{"h": base64(json(call)), "s": signature}``. The
endpoint version (in the base URL) and the signature scheme are unconfirmed
upstream, so both are settings (see docs/richpanel-wire.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..settings import Signing

TRACK_PATH = "/t"


def signature(b64: str, secret: str, signing: Signing) -> str | None:
    """Hex digest of ``b64 + secret`` (md5 as WooCommerce does, or sha256 as Magento does)."""
    if not secret or signing == "none":
        return None
    digest = hashlib.md5 if signing == "md5" else hashlib.sha256
    return digest((b64 + secret).encode("utf-8")).hexdigest()


def encode_call(
    call: Mapping[str, Any],
    *,
    app_client_id: str,
    secret: str,
    signing: Signing,
    sent_at_ms: int,
) -> bytes:
    """The request body for one call, stamped with the app client id and ``time.sentAt``."""
    stamped = dict(call)
    stamped["appClientId"] = app_client_id
    stamped["time"] = {**dict(call.get("time") or {}), "sentAt": sent_at_ms}
    raw = json.dumps(stamped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    b64 = base64.b64encode(raw)
    # base64 and hex need no JSON escaping: the envelope is written, not serialised again
    if not secret or signing == "none":
        return b'{"h":"' + b64 + b'"}'
    digest = (hashlib.md5 if signing == "md5" else hashlib.sha256)(b64)
    digest.update(secret.encode("utf-8"))
    return b'{"h":"' + b64 + b'","s":"' + digest.hexdigest().encode("ascii") + b'"}'


def decode_body(body: bytes | str) -> dict[str, Any]:
    """Inverse of encode_call's ``h`` (for logs and tests)."""
    outer = json.loads(body)
    decoded: dict[str, Any] = json.loads(base64.b64decode(outer["h"]))
    return decoded


# --------------------------------------------------------------------------- batch (/bt)
# Inferred from Richpanel's WooCommerce and Magento plugins, which only send orders this
# way; whether /bt accepts identify and page events is unconfirmed (docs/richpanel-wire.md).

BATCH_PATH = "/bt"
BATCH_EVENT = "send_batch"


def _stamped(call: Mapping[str, Any], app_client_id: str, sent_at_ms: int) -> dict[str, Any]:
    """A call stamped as encode_call stamps it: appClientId and time.sentAt."""
    stamped = dict(call)
    stamped["appClientId"] = app_client_id
    stamped["time"] = {**dict(call.get("time") or {}), "sentAt": sent_at_ms}
    return stamped


def encode_batch(
    calls: Sequence[Mapping[str, Any]],
    *,
    app_client_id: str,
    secret: str,
    signing: Signing,
    sent_at_ms: int,
) -> bytes:
    """The /bt request body for several calls, each stamped like a single call.

    ``{"hs": base64(json({"appClientId", "events": [...], "event": "send_batch"})),
    "s": signature (only when signed), "event_type": "send_batch"}``.
    """
    inner = {
        "appClientId": app_client_id,
        "events": [_stamped(call, app_client_id, sent_at_ms) for call in calls],
        "event": BATCH_EVENT,
    }
    raw = json.dumps(inner, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    b64 = base64.b64encode(raw).decode("ascii")
    body: dict[str, str] = {"hs": b64}
    sig = signature(b64, secret, signing)
    if sig is not None:
        body["s"] = sig
    body["event_type"] = BATCH_EVENT
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def decode_batch(body: bytes | str) -> dict[str, Any]:
    """Inverse of encode_batch's ``hs``: the inner object (for logs and tests)."""
    outer = json.loads(body)
    decoded: dict[str, Any] = json.loads(base64.b64decode(outer["hs"]))
    return decoded
