"""Interpret the mapping table: build a Richpanel call object from a Segment event."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..timestamps import epoch_ms
from . import interpret
from .interpret import Refused
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
    """An id as a string: a number as written, an integral float as an integer (1e16, 30.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(Decimal(repr(value))))  # the shortest digits: 1e23 -> "1000...0"
    return str(value)


# A numeric string: an optional sign, ASCII digits, an optional fraction (a dot and digits)
# and an optional exponent; nothing else (no spaces, currency symbols or separators).
NUMERIC = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
INTEGER = re.compile(r"[+-]?[0-9]+")
NOT_A_NUMBER = "must be a number or a numeric string"
NOT_FINITE = "must be a finite number"
LARGEST = sys.float_info.max


def _number(value: Any) -> int | float:
    """An amount as a number: a number, or a numeric string (integer digits give an int)."""
    kind = type(value)  # exact types: JSON gives no subclasses, and bool is not a number
    if kind is float or kind is int:
        number: int | float = value
    elif kind is not str or NUMERIC.fullmatch(value) is None:
        raise Refused(NOT_A_NUMBER)
    else:
        number = float(value)  # first: int() refuses over 4300 digits, float() overflows
        if INTEGER.fullmatch(value) and -LARGEST <= number <= LARGEST:
            number = int(value)
    if -LARGEST <= number <= LARGEST:  # finite (not NaN), and an int a double can hold
        return number
    raise Refused(NOT_FINITE)


def _words(value: Any) -> list[str]:
    return value.split() if isinstance(value, str) else []


def _first_word(value: Any) -> str | None:
    words = _words(value)
    return words[0] if words else None


def _last_words(value: Any) -> str | None:
    return " ".join(_words(value)[1:]) or None


def _platform(library: Any) -> Any:
    """Segment and the sending library, as Richpanel's plugins name their platform."""
    if not isinstance(library, dict):
        return "Segment"
    name, version = library.get("name"), library.get("version")
    parts = [str(p) for p in (name, version) if isinstance(p, str | int | float) and p != ""]
    return f"Segment ({' '.join(parts)})" if parts else "Segment"


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "platform": _platform,
    "epoch_ms": epoch_ms,
    "string": _string,
    "number": _number,
    "first_word": _first_word,
    "last_words": _last_words,
    "list": lambda v: v if isinstance(v, list) else [v],
}


_PREPARED: dict[int, tuple[tuple[Rule, ...], Any]] = {}


def build(rules: tuple[Rule, ...], source: dict[str, Any]) -> dict[str, Any]:
    """Apply rules to one Segment object: field rules in order (first value wins), then spreads.

    Each table is prepared once per container (mapping/interpret.py); tables are module
    constants, so they are found by identity rather than by hashing every rule on every
    event. A value a converter refuses is a MappingError at its JSON pointer.
    """
    entry = _PREPARED.get(id(rules))
    if entry is None or entry[0] is not rules:
        entry = _PREPARED[id(rules)] = (rules, interpret.prepare(rules, CONVERTERS))
    try:
        return interpret.apply(entry[1], source)
    except Refused as refused:  # the message names the field, never its value
        raise MappingError(refused.path, f"{refused.path[1:]} {refused}") from None


def to_richpanel(event: dict[str, Any], order_fields: str = "both") -> dict[str, Any]:
    """The Richpanel call object for a valid event; the wire adds credentials and sentAt.

    ``order_fields`` (RICHPANEL_ORDER_FIELDS): documented, plugin or both order field names.
    """
    table = table_for(event, order_fields)
    if table is None:
        raise MappingError("/type", f"Richpanel does not take {event.get('type')} calls")
    if event.get("type") == "identify" and interpret.empty(event.get("userId")):
        raise MappingError(
            "/userId",
            "identify requires userId (Richpanel's uid); anonymous identify is not accepted",
        )
    return {"properties": {}, "userProperties": {}} | build(table, event)
