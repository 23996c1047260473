"""Turn an API Gateway request body into Segment events."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from .limits import MAX_REQUEST_BYTES, LimitExceeded, check_request_size

# Top-level batch keys that apply to every item unless the item sets its own.
BATCH_SHARED_KEYS = ("context", "integrations")


class BadRequest(ValueError):
    """The request as a whole cannot be read; answered with a 400."""


def body_bytes(body: str | None, *, is_base64: bool, content_encoding: str | None) -> bytes:
    """The request's JSON bytes: base64 undone, gzip inflated (never past the request limit)."""
    if body is None or body == "":
        raise BadRequest("Request body is empty; expected JSON")
    if is_base64:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("Request body is flagged base64 but is not valid base64") from exc
    else:
        raw = body.encode("utf-8")
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = _gunzip(raw)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    check_request_size(len(raw))
    return raw


def _gunzip(raw: bytes) -> bytes:
    """Inflate every gzip member, stopping as soon as the output passes the request limit."""
    out = bytearray()
    rest = raw
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(rest, MAX_REQUEST_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise BadRequest(
                f"Content-Encoding is gzip but the body is not valid gzip: {exc}"
            ) from exc
        if len(out) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
            raise LimitExceeded(
                f"Request body is over {MAX_REQUEST_BYTES} bytes once decompressed; the limit is "
                f"500 KB ({MAX_REQUEST_BYTES} bytes) per request"
            )
        if not inflater.eof:
            raise BadRequest("Content-Encoding is gzip but the body is a truncated gzip stream")
        rest = inflater.unused_data
    return bytes(out)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from exc


def _merge_shared(payload: dict[str, Any], items: list[Any]) -> list[dict[str, Any]]:
    shared = {k: payload[k] for k in BATCH_SHARED_KEYS if isinstance(payload.get(k), dict)}
    events: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            events.append({"__invalid__": item})
            continue
        merged = {**shared, **item}
        for key, value in shared.items():
            if isinstance(item.get(key), dict):
                merged[key] = {**value, **item[key]}
        events.append(merged)
    return events


def batch_events(payload: Any) -> list[dict[str, Any]]:
    """Items of a ``{"batch": [...]}`` body, with top-level context/integrations merged in."""
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
        raise BadRequest('A batch body must be a JSON object with a "batch" array')
    return _merge_shared(payload, payload["batch"])


def webhook_events(payload: Any) -> list[dict[str, Any]]:
    """One event object, or a JSON array of them (Segment Webhooks Actions batching)."""
    if isinstance(payload, list):
        return _merge_shared({}, payload)
    if isinstance(payload, dict):
        return [payload]
    raise BadRequest("A webhook body must be a JSON object or an array of objects")


def single_event(payload: Any, call_type: str) -> list[dict[str, Any]]:
    """A single call; its type comes from the path when the body has none."""
    if not isinstance(payload, dict):
        article = "An" if call_type[0] in "aeiou" else "A"
        raise BadRequest(f"{article} {call_type} body must be a JSON object")
    if "type" not in payload:
        return [{**payload, "type": call_type}]
    if payload["type"] != call_type:
        raise BadRequest(f"Body type {payload['type']!r} does not match the path's {call_type!r}")
    return [payload]
