"""Interpret the mapping table: build a Richpanel call object from a Segment event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..timestamps import epoch_ms
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


Source = tuple[tuple[str, ...], Callable[[Any], Any] | None]  # path parts, converter


def _walk(event: Any, parts: tuple[str, ...]) -> Any:
    node = event
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


@dataclass(frozen=True)
class Step:
    """A rule with its paths split and converters looked up once per container."""

    rule: Rule
    sources: tuple[Source, ...]
    requires: tuple[str, ...]
    dest: tuple[str, ...]


@cache
def plan(rules: tuple[Rule, ...]) -> tuple[Step, ...]:
    """The rules in the order they apply (field rules, then spreads), precompiled."""
    steps = []
    for rule in sorted(rules, key=lambda r: r.spread):
        sources = []
        for source in rule.sources:
            path, _, convert = source.partition("|")
            sources.append((tuple(path.split(".")), CONVERTERS[convert] if convert else None))
        requires = tuple(rule.requires.split(".")) if rule.requires else ()
        steps.append(Step(rule, tuple(sources), requires, tuple(rule.dest.split("."))))
    return tuple(steps)


def _apply(step: Step, event: Any) -> Any:
    rule = step.rule
    if step.requires and _empty(_walk(event, step.requires)):
        return None
    if rule.spread:
        merged: dict[str, Any] = {}
        for parts, _ in step.sources:
            value = _walk(event, parts)
            if isinstance(value, dict):
                merged.update((k, v) for k, v in value.items() if k not in rule.excludes)
        return merged or None
    for parts, convert in step.sources:
        value = _walk(event, parts)
        if convert is not None and not _empty(value):
            value = convert(value)
        if rule.each:
            value = [build(rule.each, item) for item in value or () if isinstance(item, dict)]
        if not _empty(value):
            return value
    return rule.default


def _set(target: dict[str, Any], path: tuple[str, ...], value: Any, spread: bool) -> None:
    *parents, leaf = path
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    current = node.get(leaf)
    if spread and isinstance(current, dict):
        node[leaf] = {**value, **current}  # mapped fields win over a spread
    elif current is None:
        node[leaf] = value  # the first rule to give a field a value wins


def build(rules: tuple[Rule, ...], source: Any) -> dict[str, Any]:
    """Apply rules to one source object: field rules in order (first value wins), then spreads."""
    out: dict[str, Any] = {}
    for step in plan(rules):
        value = _apply(step, source)
        if value is not None:
            _set(out, step.dest, value, step.rule.spread)
    return out


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
