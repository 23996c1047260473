"""Turn an API Gateway request body into a list of Segment events."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

BATCH = "batch"
# Paths the ingest API serves: /v1/<one of these>. template.yaml declares the routes.
ROUTED_TYPES = frozenset({"identify", "track", "page", BATCH})
CALL_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
# Top-level batch keys that apply to every item unless the item sets its own.
BATCH_SHARED_KEYS = ("context", "integrations")


class BadRequest(ValueError):
    """The request as a whole cannot be read; answered with a 400."""


def parse_body(body: str | None, *, is_base64: bool = False) -> Any:
    """Parse a JSON body, undoing API Gateway's base64 when flagged."""
    if body is None or body == "":
        raise BadRequest("Request body is empty; expected a JSON object")
    raw: str | bytes = body
    if is_base64:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("Request body is flagged base64 but is not valid base64") from exc
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from exc


def events_from_payload(payload: Any, path_type: str) -> list[dict[str, Any]]:
    """Return the events a request carries; a single call's type comes from its path."""
    if path_type == BATCH:
        if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
            raise BadRequest('A batch body must be a JSON object with a "batch" array')
        shared = {k: payload[k] for k in BATCH_SHARED_KEYS if isinstance(payload.get(k), dict)}
        events: list[dict[str, Any]] = []
        for item in payload["batch"]:
            if isinstance(item, dict):
                merged = {**shared, **item}
                for key, value in shared.items():
                    if isinstance(item.get(key), dict):
                        merged[key] = {**value, **item[key]}
                events.append(merged)
            else:
                events.append({"__invalid__": item})
        return events
    if not isinstance(payload, dict):
        raise BadRequest(f"A {path_type} body must be a JSON object")
    if "type" not in payload:
        return [{**payload, "type": path_type}]
    return [payload]
