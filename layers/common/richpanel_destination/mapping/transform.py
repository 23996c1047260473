"""Interpret the mapping table: build a Richpanel call object from a Segment event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..timestamps import epoch_ms
from .codegen import Builder, build_function
from .table import Rule, table_for


class MappingError(ValueError):
    """The event is valid Segment but Richpanel cannot take it (never retried)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def lookup(event: Any, path: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _string(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _words(value: Any) -> list[str]:
    return value.split() if isinstance(value, str) else []


def _first_word(value: Any) -> str | None:
    words = _words(value)
    return words[0] if words else None


def _last_words(value: Any) -> str | None:
    return " ".join(_words(value)[1:]) or None


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "epoch_ms": epoch_ms,
    "string": _string,
    "first_word": _first_word,
    "last_words": _last_words,
    "list": lambda v: v if isinstance(v, list) else [v],
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


_BUILDERS: dict[int, tuple[tuple[Rule, ...], Builder]] = {}


def build(rules: tuple[Rule, ...], source: dict[str, Any]) -> dict[str, Any]:
    """Apply rules to one Segment object: field rules in order (first value wins), then spreads.

    Each table is compiled once per container (see codegen); tables are module constants,
    so they are found by identity rather than by hashing every rule on every event.
    """
    entry = _BUILDERS.get(id(rules))
    if entry is None or entry[0] is not rules:
        entry = _BUILDERS[id(rules)] = (rules, build_function(rules, CONVERTERS))
    return entry[1](source)


def to_richpanel(event: dict[str, Any]) -> dict[str, Any]:
    """The Richpanel call object for a valid event; the wire adds credentials and sentAt."""
    table = table_for(event)
    if table is None:
        raise MappingError("/type", f"Richpanel does not take {event.get('type')} calls")
    if event.get("type") == "identify" and _empty(event.get("userId")):
        raise MappingError(
            "/userId",
            "identify requires userId (Richpanel's uid); anonymous identify is not accepted",
        )
    return {"properties": {}, "userProperties": {}} | build(table, event)
