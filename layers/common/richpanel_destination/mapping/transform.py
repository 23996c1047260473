"""Interpret the mapping table: build a Richpanel call object from a Segment event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .table import TABLES, Rule


class MappingError(ValueError):
    """The event is valid Segment but Richpanel cannot take it (never retried)."""


def lookup(event: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if isinstance(value, dict) and isinstance(node.get(leaf), dict):
        node[leaf] = {**value, **node[leaf]}  # fields already mapped win over a spread
    else:
        node[leaf] = value


def epoch_ms(value: Any) -> int | None:
    """ISO-8601 (lenient) to epoch milliseconds; None if unreadable."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def _apply(rule: Rule, event: dict[str, Any]) -> Any:
    if rule.const is not None:
        return rule.const
    if rule.spread:
        merged: dict[str, Any] = {}
        for source in rule.sources:
            value = lookup(event, source)
            if isinstance(value, dict):
                merged.update(value)
        return merged or None
    for source in rule.sources:
        value = lookup(event, source)
        if _empty(value):
            continue
        if rule.convert == "epoch_ms":
            value = epoch_ms(value)
        elif rule.convert == "string" and isinstance(value, int | float):
            value = str(value)
        if not _empty(value):
            return value
    return None


def to_richpanel(event: dict[str, Any]) -> dict[str, Any]:
    """The Richpanel call object for a valid event; the wire adds credentials and sentAt."""
    call_type = event.get("type")
    table = TABLES.get(str(call_type))
    if table is None:
        raise MappingError(f"Richpanel does not take {call_type} calls")
    if call_type == "identify" and _empty(event.get("userId")):
        raise MappingError(
            "identify requires userId (Richpanel's uid); anonymous identify is not accepted"
        )
    call: dict[str, Any] = {"properties": {}, "userProperties": {}}
    for rule in table:
        value = _apply(rule, event)
        if value is not None:
            _set(call, rule.dest, value)
    return call
