"""Turn an API Gateway request body into Segment events."""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
import sys
import zlib
from typing import Any

from ..limits import MAX_DEPTH, SHOWN_CHARS, SMALL_BODY_BYTES, TRACKING_API, LimitExceeded, Limits
from ..observability.redact import is_field_name

# Top-level batch keys that apply to every item unless the item sets its own.
BATCH_SHARED_KEYS = ("context", "integrations")
# Deepest accepted nesting of arrays and objects (a Segment event needs about 6). Deeper
# bodies are refused before validation, mapping or json.dumps can recurse into trouble.
TOO_DEEP = f"Request body is nested too deeply; the limit is {MAX_DEPTH} levels"
NOT_JSON = "Request body is not valid JSON: "
# Media types whose body is read as JSON: analytics.js sends text/plain; no header is fine too.
JSON_MEDIA_TYPES = frozenset({"", "application/json", "text/plain"})
# Messages never echo a value from the body that may be personal: a key or type is named
# only if it reads as a field name, a number only if it has at most SHOWN_DIGITS digits
# (no phone number or account number); anything else by its JSON pointer and place.
SHOWN_DIGITS = 6
# Escapes that may decode to a lone surrogate (checked exactly, then): a high \uD800-\uDBFF
# not followed by a low \uDC00-\uDFFF, a low not preceded by a high, or a high-looking text
# after a backslash (escaped, so a low after it is lone). Proper pairs (emoji escaped by
# ensure_ascii senders such as analytics-python) match none of these.
# (Every branch starts with the backslash, so the search skips ahead at C speed.)
MAYBE_LONE_SURROGATE = re.compile(
    rb"\\(?:u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|[c-fC-F](?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F]))"
    rb"|\\u[dD][89abAB])"
)
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BadRequest(ValueError):
    """The request as a whole cannot be read; answered with ``status`` and the message."""

    status: int = 400


class UnsupportedMediaType(BadRequest):
    """The body is declared as something other than JSON or text/plain."""

    status = 415


def cut(text: str) -> str:
    """At most SHOWN_CHARS characters of a text echoed back to the sender."""
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def shown(value: Any) -> str:
    """A header's value for a message: its repr, cut to SHOWN_CHARS characters."""
    return cut(repr(value))


def check_content_type(content_type: str | None) -> None:
    """JSON (any ``+json`` type too), text/plain or no Content-Type; else UnsupportedMediaType."""
    media = (content_type or "").split(";", 1)[0].strip()
    lowered = media.lower()
    if lowered in JSON_MEDIA_TYPES or lowered.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"Content-Type {shown(media)} is not supported; send application/json or text/plain"
    )


def body_bytes(
    body: str | None,
    *,
    is_base64: bool,
    content_encoding: str | None,
    limits: Limits = TRACKING_API,
) -> bytes:
    """The request's JSON bytes: base64 undone, gzip inflated (never past the request limit)."""
    if body is None or body == "":
        raise BadRequest("Request body is empty; expected JSON")
    if is_base64:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("Request body is flagged base64 but is not valid base64") from exc
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError as exc:  # a str with lone surrogates from the event JSON
            raise BadRequest(f"{NOT_JSON}{exc}") from exc
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = _gunzip(raw, limits)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    limits.check_request_size(len(raw))
    return raw


def _gunzip(raw: bytes, limits: Limits) -> bytes:
    """Inflate every gzip member, stopping as soon as the output passes the request limit."""
    out = bytearray()
    rest = raw
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(rest, limits.request_bytes + 1 - len(out))
        except zlib.error as exc:
            raise BadRequest(
                f"Content-Encoding is gzip but the body is not valid gzip: {exc}"
            ) from exc
        if len(out) > limits.request_bytes or inflater.unconsumed_tail:
            raise LimitExceeded(
                f"Request body is over {limits.request_bytes} bytes once decompressed; "
                + limits.request_limit_text()
            )
        if not inflater.eof:
            raise BadRequest("Content-Encoding is gzip but the body is a truncated gzip stream")
        rest = inflater.unused_data
    return bytes(out)


class _RepeatedKey(ValueError):
    """An object has a key twice (located and described by _decode)."""


class _OutOfRange(ValueError):
    """A number is infinite as a float (located and described by _decode)."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedKey
    return obj


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _OutOfRange(text)
    return value


class _Pairs(list[tuple[str, Any]]):
    """An object's key/value pairs as written, repeats kept (to locate a problem)."""


_INFINITE = object()


def _key(key: str, place: int) -> str:
    """A key in a message or pointer: a field name as is, any other as its place."""
    return key if is_field_name(key) else f"<key {place}>"


def _locate(text: str, repeated: bool) -> tuple[str, str]:
    """The first repeated key's object (pointer, key as shown), or infinite number (pointer).

    Parses the text again, in document order, so only on the way to a 400.
    """

    def mark(number: str) -> Any:
        return _INFINITE if float(number) in (float("inf"), float("-inf")) else 0.0

    try:
        root = json.loads(text, object_pairs_hook=_Pairs, parse_float=mark)
    except (ValueError, RecursionError):  # e.g. an integer over the digit limit: no place
        return "", ""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, at = stack.pop()
        if node is _INFINITE and not repeated:
            return at, ""
        children: list[tuple[Any, str]] = []
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            for place, (key, value) in enumerate(node, 1):
                if repeated and key in seen:
                    return at, repr(key) if is_field_name(key) else f"<key {place}>"
                seen.add(key)
                children.append((value, f"{at}/{_key(key, place)}"))
        elif isinstance(node, list):
            children = [(value, f"{at}/{i}") for i, value in enumerate(node)]
        stack.extend(reversed(children))
    return "", ""


def _repeated_key(text: str) -> str:
    at, key = _locate(text, repeated=True)
    what = f"duplicate key {key}" if key else "a duplicate key"
    return f"{NOT_JSON}{what} in an object" + (f" at {at}" if at else "")


def _out_of_range(text: str, number: str) -> str:
    if sum(c.isdigit() for c in number) <= SHOWN_DIGITS:
        return f"{NOT_JSON}number {number} is out of range"
    at, _ = _locate(text, repeated=False)
    return f"{NOT_JSON}number {f'at {at} ' if at else ''}is out of range"


def _constant(name: str) -> Any:
    raise BadRequest(f"{NOT_JSON}{name} is not allowed (JSON has no NaN or Infinity)")


# RFC 8259 JSON: no NaN/Infinity, every number finite, no key twice in an object.
DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_finite, parse_constant=_constant)


def parse_json(raw: bytes) -> Any:
    """The body as strict JSON: UTF-8 (a leading BOM is ignored), at most MAX_DEPTH deep."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{NOT_JSON}{exc}") from exc
    payload = _decode(text)
    # a body with at most MAX_DEPTH brackets cannot nest deeper (counting is cheap on one event)
    small = len(raw) <= SMALL_BODY_BYTES and raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH
    if not small and deeper_than(payload, MAX_DEPTH):
        raise BadRequest(TOO_DEEP)
    if MAYBE_LONE_SURROGATE.search(raw):
        payload = _without_lone_surrogates(payload)
    return payload


def _decode(text: str) -> Any:
    try:
        return DECODER.decode(text)
    except BadRequest:
        raise
    except _RepeatedKey:
        raise BadRequest(_repeated_key(text)) from None
    except _OutOfRange as exc:
        raise BadRequest(_out_of_range(text, str(exc))) from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{NOT_JSON}{exc}") from exc
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None
    except ValueError as exc:  # an integer longer than int()'s digit limit
        limit = sys.get_int_max_str_digits()
        raise BadRequest(f"{NOT_JSON}a number has more than {limit} digits") from exc


def deeper_than(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests arrays/objects more than ``limit`` levels (iteratively)."""
    if type(value) is not dict and type(value) is not list:
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                if depth == limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _without_lone_surrogates(payload: Any) -> Any:
    """Lone UTF-16 surrogates (from escapes like \\ud800) become U+FFFD.

    They cannot be encoded as UTF-8, so Richpanel or SQS could never be sent such an event;
    refusing the request would lose a whole batch for one cut emoji. Go's encoding/json (and
    so, presumably, Segment's own API) makes the same replacement.
    Keys that only differ there become one key; the last one wins (not the sender's doing).
    """
    text = json.dumps(payload, ensure_ascii=False)
    if not LONE_SURROGATE.search(text):
        return payload
    return json.loads(LONE_SURROGATE.sub("\ufffd", text))


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
        named = isinstance(payload["type"], str) and is_field_name(payload["type"])
        body_type = f"Body type {payload['type']!r}" if named else "Body type"
        raise BadRequest(f"{body_type} does not match the path's {call_type!r}")
    return [payload]
