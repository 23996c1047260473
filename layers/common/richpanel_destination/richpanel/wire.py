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


def _sign(b64: bytes, secret: str, signing: Signing) -> bytes | None:
    """Hex digest of ``b64 + secret`` (md5 as WooCommerce does, or sha256 as Magento does)."""
    if not secret or signing == "none":
        return None
    digest = (hashlib.md5 if signing == "md5" else hashlib.sha256)(b64)
    digest.update(secret.encode("utf-8"))
    return digest.hexdigest().encode("ascii")


def signature(b64: str, secret: str, signing: Signing) -> str | None:
    """The signature of a base64 payload, as text (None when unsigned)."""
    sig = _sign(b64.encode("ascii"), secret, signing)
    return None if sig is None else sig.decode("ascii")


def _stamped(call: Mapping[str, Any], app_client_id: str, sent_at_ms: int) -> dict[str, Any]:
    """A call with the app client id and ``time.sentAt`` (the time of the request)."""
    stamped = dict(call)
    stamped["appClientId"] = app_client_id
    stamped["time"] = {**dict(call.get("time") or {}), "sentAt": sent_at_ms}
    return stamped


def _envelope(key: bytes, payload: Any, secret: str, signing: Signing, extra: bytes = b"") -> bytes:
    """``{key: base64(json(payload)), "s": signature}`` written around the base64 bytes.

    base64 and hex need no JSON escaping, so the envelope is not serialised again.
    """
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    b64 = base64.b64encode(raw)
    sig = _sign(b64, secret, signing)
    signed = b"" if sig is None else b',"s":"' + sig + b'"'
    return b'{"' + key + b'":"' + b64 + b'"' + signed + extra + b"}"


def encode_call(
    call: Mapping[str, Any],
    *,
    app_client_id: str,
    secret: str,
    signing: Signing,
    sent_at_ms: int,
) -> bytes:
    """The request body for one call, stamped with the app client id and ``time.sentAt``."""
    return _envelope(b"h", _stamped(call, app_client_id, sent_at_ms), secret, signing)


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
BATCH_EVENT_BYTES = BATCH_EVENT.encode("ascii")


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
    return _envelope(b"hs", inner, secret, signing, b',"event_type":"' + BATCH_EVENT_BYTES + b'"')


def decode_batch(body: bytes | str) -> dict[str, Any]:
    """Inverse of encode_batch's ``hs``: the inner object (for logs and tests)."""
    outer = json.loads(body)
    decoded: dict[str, Any] = json.loads(base64.b64decode(outer["hs"]))
    return decoded
