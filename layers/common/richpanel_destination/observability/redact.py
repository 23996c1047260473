"""Keep personal data and secrets out of logs.

By default personal fields are replaced by a short hash (``hash:1a2b3c4d``: the same
value gives the same hash, so a customer's events can still be correlated), secret-looking
fields by ``[redacted]``, emails and phone numbers inside free text by their hash. IDs
(``messageId``, ``userId``...) stay as sent, so the one-message and one-user queries find
them, unless they are an email or a phone number. A rejected event's preview shows its
shape (keys, types, lengths) and only the fields known to be safe. ``LOG_PERSONAL_DATA=true``
keeps personal data in clear; secrets are always removed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from ..limits import PREVIEW_CHARS, SHOWN_CHARS

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
# A key (or word) that reads as a field name (userId, line1, order_id, $set) is shown in
# clear; one that may be personal (a name, an email, a phone number, text) is not.
FIELD_NAME = re.compile(r"[a-z_$][A-Za-z0-9_$]{0,39}")
# IDs: logged as sent (searchable) unless an email or phone number; shown in previews.
ID_FIELDS = frozenset({"messageId", "userId", "anonymousId", "previousId", "groupId"})
TIME_FIELDS = frozenset({"timestamp", "originalTimestamp", "sentAt", "receivedAt"})
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[0-9Tt:.,+Zz -]{0,30}")
# Depths tried in turn until a preview fits PREVIEW_CHARS (decode refuses deeper than 64).
PREVIEW_DEPTHS = (64, 3, 1, 0)


def digest(value: Any) -> str:
    """A short, stable stand-in for a personal value."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return "hash:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def normalise_email(value: str) -> str:
    """An email as it is hashed: surrounding blanks removed, lower-cased (``Jane@X.com `` and
    ``jane@x.com`` are one customer). ops/trace hashes what an operator types the same way."""
    return value.strip().lower()


def email_digest(value: str) -> str:
    """The stand-in for an email in logs: ``digest`` of its normalised form."""
    return digest(normalise_email(value))


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in SECRET_PARTS)


def is_field_name(text: str) -> bool:
    """Whether a key or value reads as a field name, so it is safe to show (FIELD_NAME)."""
    return FIELD_NAME.fullmatch(text) is not None


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


class Preview(str):
    """A rejected event's preview (Redactor.payload): already redacted, logged as it is."""


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
        value = EMAIL.sub(lambda m: email_digest(m.group(0)), value)
        return PHONE.sub(lambda m: digest(m.group(0)), value)

    def identifier(self, value: Any) -> Any:
        """An ID as logged: as sent, or hashed whole if it holds an email or phone number.

        Digits alone are an ID (a numeric userId or messageId), not a phone number.
        """
        if not isinstance(value, str):
            return value
        for secret in self.known:
            if secret in value:
                value = value.replace(secret, "[redacted]")
        if self.personal_in_clear or value.isdigit():
            return value
        if EMAIL.fullmatch(value.strip()):
            return email_digest(value)
        return digest(value) if EMAIL.search(value) or PHONE.search(value) else value

    def value(self, value: Any, key: str = "") -> Any:
        if key and _secret_key(key) and not isinstance(value, dict | list):
            return "[redacted]"
        if key.lower() in PERSONAL_KEYS and not self.personal_in_clear:
            if key == "email" and isinstance(value, str):
                return email_digest(value)
            return digest(value)
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def payload(self, event: Any) -> Preview:
        """A rejected event as valid JSON of at most PREVIEW_CHARS characters, for its log line.

        Its shape only (keys, types, string lengths: ``"<string 14>"``); in clear are only
        keys that read as field names (others are ``"<key N>"``, N its place) and the
        top-level fields known to be safe (see ``_safe``). Too long, it shows fewer levels.
        """
        text = ""
        for depth in PREVIEW_DEPTHS:
            text = json.dumps(self._shape(event, depth, top=True), ensure_ascii=False, default=str)
            for secret in self.known:
                text = text.replace(secret, "[redacted]")
            if len(text) <= PREVIEW_CHARS:
                break
        return Preview(text)

    def _shape(self, value: Any, depth: int, key: str = "", top: bool = False) -> Any:
        """What a preview shows of a value: keys, types and lengths (in clear: all but secrets)."""
        if isinstance(value, dict):
            if depth == 0:
                return f"<object {len(value)} keys>"
            out = {}
            for place, (name, item) in enumerate(value.items(), 1):
                kept = self._safe(name, item) if top else None
                out[self._key(name, place)] = (
                    self._shape(item, depth - 1, name) if kept is None else kept
                )
            return out
        if isinstance(value, list):
            if depth == 0:
                return f"<array {len(value)} items>"
            return [self._shape(item, depth - 1) for item in value]
        if self.personal_in_clear:
            if key and _secret_key(key):
                return "[redacted]"
            return _cut(self.text(value)) if isinstance(value, str) else value
        if isinstance(value, str):
            return f"<string {len(value)}>"
        return _TYPE_NAMES.get(type(value), "<value>")

    def _key(self, name: str, place: int) -> str:
        """A key as a preview shows it: a field name as is, any other as its place."""
        return name if self.personal_in_clear or is_field_name(name) else f"<key {place}>"

    def _safe(self, key: str, value: Any) -> Any:
        """A top-level field shown in clear, or None: IDs, a field-name-like type, the event
        name (free text: emails and phones hashed) and ISO-8601 timestamps.

        Nothing else: any string may be a name, and numbers and booleans are personal too
        (a latitude, an age, ``pregnant: true``), nor do their values explain a refusal.
        """
        if isinstance(value, str):
            if key in ID_FIELDS:
                return _cut(self.identifier(value))
            if key == "type" and is_field_name(value):
                return value
            if key == "event":
                return _cut(self.text(value))
            if key in TIME_FIELDS and ISO_TIME.fullmatch(value):
                return value
        elif key in ID_FIELDS and type(value) is int:
            return value
        return None

    def serializer(self, record: Any) -> str:
        """A Powertools Logger json_serializer: every log line passes through here."""
        return json.dumps(
            self.for_log(record), default=str, ensure_ascii=False, separators=(",", ":")
        )

    def for_log(self, record: Any) -> Any:
        """A log record with secrets removed, personal data hashed, free text scrubbed."""
        if not isinstance(record, dict):
            return record
        out = {}
        for key, value in record.items():
            if key in _TEXT_FIELDS and isinstance(value, str):
                out[key] = self.text(value)
            elif key in _LOG_FIELDS or type(value) is Preview:
                out[key] = value
            elif key in ID_FIELDS:
                out[key] = self.identifier(value)
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
_TYPE_NAMES = {bool: "<boolean>", int: "<integer>", float: "<number>", type(None): None}
