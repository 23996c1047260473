"""Compile a mapping table into one straight-line Python function, once per container.

The table stays the single description of the mapping; this turns it into code the
way fastjsonschema turns a schema into a validator, so an event costs a few dict
lookups per rule instead of an interpreter loop. ``python -m
richpanel_destination.mapping.codegen identify`` prints the code for a table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from .table import Rule

Builder = Callable[[dict[str, Any]], dict[str, Any]]


class Refused(ValueError):
    """A converter refuses a value: ``str()`` is the problem (never the value), ``path`` where.

    The compiled code adds the JSON pointer of the source (and of the item) on the way out.
    """

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(problem)
        self.path = path

    def at(self, prefix: str) -> Refused:
        """The same refusal, ``prefix`` (a JSON pointer) further out."""
        return Refused(str(self), prefix + self.path)


def pointer(path: str) -> str:
    """The JSON pointer of a dotted table path (table paths have no ``~`` or ``/``)."""
    return "/" + path.replace(".", "/")


def each_item(build: Builder, value: Any, path: str) -> list[dict[str, Any]]:
    """``build`` applied to each object of a list (anything else gives no items)."""
    if not isinstance(value, list):
        return []
    items = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            try:
                items.append(build(item))
            except Refused as refused:
                raise refused.at(f"{path}/{index}") from None
    return items


EMPTY = "({v} is None or (not {v} and isinstance({v}, (str, dict, list))))"  # None, '', {}, []


def _empty(name: str) -> str:
    return EMPTY.format(v=name)


class _Writer:
    """Accumulates indented lines and the constants the code refers to."""

    def __init__(self, converters: Mapping[str, Callable[[Any], Any]]) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self.objects: dict[tuple[str, ...], str] = {}  # path -> local holding that object
        self.converters = converters

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def constant(self, prefix: str, value: Any) -> str:
        name = f"_{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def walk(self, depth: int, target: str, path: str) -> None:
        """``target`` = the value at ``path``, None as soon as a step is not an object."""
        *parents, leaf = path.split(".")
        if not parents:
            self.line(depth, f"{target} = s.get({leaf!r})")
            return
        node = self.objects[tuple(parents)]
        self.line(depth, f"{target} = {node}.get({leaf!r}) if {node} is not None else None")

    def prefixes(self, rules: tuple[Rule, ...]) -> None:
        """Read each object the paths pass through once, at the top (the source is not changed)."""
        paths = [src.partition("|")[0] for rule in rules for src in rule.sources]
        paths += [p for rule in rules for p in (rule.requires, rule.unless) if p]
        parts_of = [tuple(p.split(".")) for p in paths]
        wanted = sorted({parts[:i] for parts in parts_of for i in range(1, len(parts))})
        for parts in wanted:  # sorted: a parent comes before its children
            name = f"o{len(self.objects)}"
            self.objects[parts] = name
            if len(parts) == 1:
                self.line(1, f"{name} = s.get({parts[0]!r})")
            else:
                parent, key = self.objects[parts[:-1]], parts[-1]
                self.line(1, f"{name} = {parent}.get({key!r}) if {parent} is not None else None")
            self.line(1, f"if not isinstance({name}, dict):")
            self.line(2, f"{name} = None")

    def source(self, depth: int, source: str, each: tuple[Rule, ...]) -> None:
        """``v`` = one source's value, converted when not empty, and mapped per item."""
        path, _, convert = source.partition("|")
        self.walk(depth, "v", path)
        if convert:
            fn = self.constant("convert_", self.converters[convert])
            self.line(depth, f"if not {_empty('v')}:")
            self.line(depth + 1, "try:")  # free unless raised (Python 3.11+)
            self.line(depth + 2, f"v = {fn}(v)")
            self.line(depth + 1, "except Refused as e:")
            self.line(depth + 2, f"raise e.at({pointer(path)!r}) from None")
        if each:
            item = self.constant("each_", build_function(each, self.converters))
            self.line(depth, f"v = each_item({item}, v, {pointer(path)!r})")

    def put(self, depth: int, dest: str, spread: bool) -> None:
        """Set ``dest`` to ``v``: the first rule wins; a spread fills in under mapped keys."""
        *parents, leaf = dest.split(".")
        node = "out"
        for level, part in enumerate(parents):
            child = f"n{level}"
            self.line(depth, f"{child} = {node}.get({part!r})")
            self.line(depth, f"if not isinstance({child}, dict):")
            self.line(depth + 1, f"{child} = {node}[{part!r}] = {{}}")
            node = child
        self.line(depth, f"c = {node}.get({leaf!r})")
        if spread:
            self.line(depth, "if isinstance(c, dict):")
            self.line(depth + 1, f"{node}[{leaf!r}] = {{**v, **c}}")
            self.line(depth, "elif c is None:")
        else:
            self.line(depth, "if c is None:")
        self.line(depth + 1, f"{node}[{leaf!r}] = v")

    def rule(self, rule: Rule) -> None:
        when = f" (if {rule.requires})" if rule.requires else ""
        when += f" (unless {rule.unless})" if rule.unless else ""
        self.line(1, f"# {rule.dest} <- {', '.join(rule.sources) or repr(rule.default)}{when}")
        depth = 1
        if rule.requires:
            self.walk(depth, "r", rule.requires)
            self.line(depth, f"if not {_empty('r')}:")
            depth += 1
        if rule.unless:
            self.walk(depth, "r", rule.unless)
            self.line(depth, f"if {_empty('r')}:")
            depth += 1
        if rule.spread:
            self.spread(depth, rule)
        else:
            self.first_of(depth, rule)

    def spread(self, depth: int, rule: Rule) -> None:
        excludes = self.constant("excludes_", frozenset(rule.excludes))
        self.line(depth, "m = {}")
        for source in rule.sources:
            self.walk(depth, "v", source)
            self.line(depth, "if isinstance(v, dict):")
            if rule.excludes:
                kept = f"(k, x) for k, x in v.items() if k not in {excludes}"
                self.line(depth + 1, f"m.update({kept})")
            else:
                self.line(depth + 1, "m.update(v)")
        self.line(depth, "if m:")
        self.line(depth + 1, "v = m")
        self.put(depth + 1, rule.dest, spread=True)

    def first_of(self, depth: int, rule: Rule) -> None:
        base = depth
        for source in rule.sources:
            self.source(depth, source, rule.each)
            self.line(depth, f"if {_empty('v')}:")
            depth += 1
        default = "None" if rule.default is None else self.constant("default_", rule.default)
        self.line(depth, f"v = {default}")
        self.line(base, "if v is not None:")
        self.put(base + 1, rule.dest, spread=False)


def source_code(
    rules: tuple[Rule, ...], converters: Mapping[str, Callable[[Any], Any]]
) -> tuple[str, dict[str, Any]]:
    """The function's source and the constants it needs: field rules in order, then spreads."""
    writer = _Writer(converters)
    writer.line(0, "def build(s):")
    writer.prefixes(rules)
    writer.line(1, "out = {}")
    for rule in sorted(rules, key=lambda r: r.spread):
        writer.rule(rule)
    writer.line(1, "return out")
    return "\n".join(writer.lines) + "\n", writer.names


def build_function(
    rules: tuple[Rule, ...], converters: Mapping[str, Callable[[Any], Any]]
) -> Builder:
    """Compile ``rules``; the function maps one Segment object (a dict) to a Richpanel one.

    It raises Refused, with the JSON pointer of the value, when a converter refuses one.
    """
    code, names = source_code(rules, converters)
    namespace: dict[str, Any] = {"Refused": Refused, "each_item": each_item, **names}
    exec(compile(code, f"<mapping {len(rules)} rules>", "exec"), namespace)
    builder: Builder = namespace["build"]
    return builder


if __name__ == "__main__":  # pragma: no cover - operator aid
    from .table import ORDER_TABLES, TABLES
    from .transform import CONVERTERS

    tables = {**TABLES, **ORDER_TABLES}
    for name in sys.argv[1:] or tables:
        print(f"# {name}\n{source_code(tables[name], CONVERTERS)[0]}")
