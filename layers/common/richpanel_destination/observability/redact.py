"""Keep personal data and secrets out of logs.

By default personal fields are replaced by a short hash (``hash:1a2b3c4d``: the same
value gives the same hash, so a customer's events can still be correlated), secret-looking
fields by ``[redacted]``, emails and phone numbers inside free text by their hash, and
logged payloads are cut to ``PAYLOAD_LIMIT`` characters. ``LOG_PERSONAL_DATA=true`` keeps
personal data in clear; secrets are always removed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

PAYLOAD_LIMIT = 1_000
PERSONAL_KEYS = frozenset(
    k.lower()
    for k in (
        "email", "phone", "phone_number", "phoneNumber", "name", "firstName", "first_name",
        "lastName", "last_name", "address", "billingAddress", "shippingAddress", "billing_address",
        "shipping_address", "street", "city", "postalCode", "postal_code", "zip", "ip",
        "networkIP", "birthday", "username", "userAgent", "avatar",
    )
)  # fmt: skip
SECRET_PARTS = ("key", "secret", "token", "password", "authorization", "signature", "credential")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# 7+ digits with separators, not an ISO date
PHONE = re.compile(r"(?<![\w.:-])(?!\d{4}-\d{2}-\d{2})\+?\d[\d ().-]{6,}\d(?![\w.:-])")


def digest(value: Any) -> str:
    """A short, stable stand-in for a personal value."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return "hash:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in SECRET_PARTS)


class Redactor:
    """Redacts structures and text; ``known`` secret values are removed wherever they appear."""

    def __init__(self, personal_in_clear: bool = False, known: Iterable[str] = ()) -> None:
        self.personal_in_clear = personal_in_clear
        self.known = {k for k in known if len(k) >= 6}

    def remember(self, *secrets: str) -> None:
        """Add secret values (write keys, API keys) that must never appear in a log line."""
        self.known.update(s for s in secrets if len(s) >= 6)

    def text(self, value: str) -> str:
        for secret in self.known:
            if secret in value:
                value = value.replace(secret, "[redacted]")
        if self.personal_in_clear:
            return value
        value = EMAIL.sub(lambda m: digest(m.group(0)), value)
        return PHONE.sub(lambda m: digest(m.group(0)), value)

    def value(self, value: Any, key: str = "") -> Any:
        if key and _secret_key(key) and not isinstance(value, dict | list):
            return "[redacted]"
        if key.lower() in PERSONAL_KEYS and not self.personal_in_clear:
            return digest(value)
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def payload(self, value: Any) -> str:
        """A redacted JSON preview of a payload, at most PAYLOAD_LIMIT characters."""
        text = json.dumps(self.value(value), ensure_ascii=False, default=str)
        return text if len(text) <= PAYLOAD_LIMIT else text[:PAYLOAD_LIMIT] + "…(truncated)"

    def serializer(self, record: Any) -> str:
        """A Powertools Logger json_serializer: every log line passes through here."""
        return json.dumps(self.for_log(record), default=str, ensure_ascii=False)

    def for_log(self, record: Any) -> Any:
        """A log record with secrets removed, personal data hashed, free text scrubbed."""
        if not isinstance(record, dict):
            return record
        out = {}
        for key, value in record.items():
            if key in _TEXT_FIELDS and isinstance(value, str):
                out[key] = self.text(value)
            elif key in _LOG_FIELDS:
                out[key] = value
            else:
                out[key] = self.value(value, str(key))
        return out


# Powertools' own fields are never personal or secret; its free-text ones are scrubbed.
_LOG_FIELDS = frozenset(
    {
        "level", "location", "timestamp", "service", "cold_start", "function_name",
        "function_memory_size", "function_arn", "function_request_id", "correlation_id",
        "xray_trace_id", "sampling_rate", "exception_name",
    }
)  # fmt: skip
_TEXT_FIELDS = frozenset({"message", "exception", "stack_trace"})
