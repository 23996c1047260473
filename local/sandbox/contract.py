"""The Richpanel ingest wire contract as the sandbox checks it, independently of the encoder.

A /t body is ``{"h": base64(JSON call), "s": signature}``, a /bt body ``{"hs": base64(JSON
{"events": [...]}), "s": ...}``; the signature is md5 or sha256 of the base64 text + secret.
Like Richpanel, a well-formed body with an unknown appClientId or a bad signature is answered
200 and dropped; ``strict`` answers it 401 instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

SIGNING_CHOICES = ("none", "md5", "sha256")


@dataclass
class IngestOutcome:
    """How an ingest request is answered and what is recorded for it."""

    status: int
    body: dict[str, Any]
    signature_valid: bool | None
    calls: list[Any]
    error: str | None
    batch_events: bool = False
    dropped: str | None = None


@dataclass
class SandboxConfig:
    """Credentials the sandbox accepts and how it answers.

    strict: 401 for an unknown appClientId or a bad signature (Richpanel answers 200 and
    drops the call); rest_key / rest_path: the REST read-back's key and path prefix;
    visible_after_ms: delay before an accepted call shows in the read-back.
    """

    app_client_id: str
    secret: str | None = None
    signing: str = "md5"
    strict: bool = False
    rest_key: str = "local-dev-rest-key"
    visible_after_ms: int = 0
    rest_path: str = "/v1/customers"

    def __post_init__(self) -> None:
        """Validate the signing scheme, the delay and the REST path."""
        if self.signing not in SIGNING_CHOICES:
            raise ValueError(f"signing must be one of {SIGNING_CHOICES}")
        if self.visible_after_ms < 0:
            raise ValueError("visible_after_ms must be >= 0")
        path = "/" + self.rest_path.strip("/")
        if path == "/" or path.startswith("/_sandbox"):
            raise ValueError("rest_path must be a path outside /_sandbox/")
        self.rest_path = path

    def expected_signature(self, encoded: str) -> str | None:
        """Hex signature of the encoded call, or None when calls are not signed."""
        if not self.secret or self.signing == "none":
            return None
        digest = hashlib.md5 if self.signing == "md5" else hashlib.sha256
        return digest((encoded + self.secret).encode("utf-8")).hexdigest()


def _error(
    status: int, message: str, signature_valid: bool | None, calls: list[Any]
) -> IngestOutcome:
    return IngestOutcome(status, {"error": message}, signature_valid, calls, message)


def evaluate_ingest(kind: str, raw: bytes, config: SandboxConfig) -> IngestOutcome:
    """Check one /t ("t") or /bt ("bt") request body the way the sandbox answers it."""
    field_name = "h" if kind == "t" else "hs"
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return _error(400, "body is not a JSON object", None, [None])
    encoded = body.get(field_name)
    if not isinstance(encoded, str) or not encoded:
        return _error(400, f"{field_name} is required", None, [None])
    expected = config.expected_signature(encoded)
    signature_valid: bool | None = None
    if expected is not None:
        sent = body.get("s")
        signature_valid = isinstance(sent, str) and hmac.compare_digest(sent.lower(), expected)
    try:
        decoded = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = None
    if not isinstance(decoded, dict):
        message = f"{field_name} is not base64 of a UTF-8 JSON object"
        return _error(400, message, signature_valid, [None])
    dropped = None
    if decoded.get("appClientId") != config.app_client_id:
        if config.strict:
            return _error(401, "invalid appClientId", signature_valid, [decoded])
        dropped = "unknown appClientId"
    elif signature_valid is False:
        if config.strict:
            return _error(401, "invalid signature", signature_valid, [decoded])
        dropped = "invalid signature"
    if kind == "t":
        events: list[Any] = [decoded]
    else:
        events = decoded.get("events")  # type: ignore[assignment]
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, dict) for e in events)
        ):
            return _error(
                400, "events must be a non-empty list of objects", signature_valid, [decoded]
            )
    for event in events:
        user = event.get("userProperties")
        uid = user.get("uid") if isinstance(user, dict) else None
        if event.get("event") == "identify" and uid in (None, ""):
            outcome = _error(400, "uid is required", signature_valid, events)
            outcome.batch_events = kind == "bt"
            return outcome
    ok = {"status": "ok"}
    return IngestOutcome(200, ok, signature_valid, events, None, kind == "bt", dropped)
