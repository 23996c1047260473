"""The prepared interpreter (mapping/interpret.py) against a plain reading of the table."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from richpanel_destination.mapping import interpret
from richpanel_destination.mapping.interpret import Refused
from richpanel_destination.mapping.table import ORDER_TABLES, TABLES, Rule
from richpanel_destination.mapping.transform import CONVERTERS, lookup

ALL_TABLES = {**TABLES, **ORDER_TABLES}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _pointer(path: str) -> str:
    return "/" + "/".join(path.split("."))


def oracle(rules: tuple[Rule, ...], source: dict[str, Any]) -> dict[str, Any]:
    """The table's documented meaning, rule by rule (slow and obvious)."""
    out: dict[str, Any] = {}
    for rule in sorted(rules, key=lambda r: r.spread):
        if rule.requires and _empty(lookup(source, rule.requires)):
            continue
        if rule.unless and not _empty(lookup(source, rule.unless)):
            continue
        value: Any = None
        if rule.spread:
            merged: dict[str, Any] = {}
            for path in rule.sources:
                found = lookup(source, path)
                if isinstance(found, dict):
                    merged.update((k, v) for k, v in found.items() if k not in rule.excludes)
            value = merged or None
        else:
            for spec in rule.sources:
                path, _, convert = spec.partition("|")
                value = lookup(source, path)
                if convert and not _empty(value):
                    try:
                        value = CONVERTERS[convert](value)
                    except Refused as refused:
                        raise refused.at(_pointer(path)) from None
                if rule.each:
                    items = value if isinstance(value, list) else ()
                    value = []
                    for index, item in enumerate(items):
                        if not isinstance(item, dict):
                            continue
                        try:
                            value.append(oracle(rule.each, item))
                        except Refused as refused:
                            raise refused.at(f"{_pointer(path)}/{index}") from None
                if not _empty(value):
                    break
            else:
                value = rule.default
        if value is None:
            continue
        *parents, leaf = rule.dest.split(".")
        node = out
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        current = node.get(leaf)
        if rule.spread and isinstance(current, dict):
            node[leaf] = {**value, **current}
        elif current is None:
            node[leaf] = value
    return out


def _paths(rules: tuple[Rule, ...]) -> list[str]:
    """Every path the rules read, plus dest names under spread sources (to collide)."""
    paths: list[str] = []
    for rule in rules:
        sources = [spec.partition("|")[0] for spec in rule.sources]
        paths += sources + [p for p in (rule.requires, rule.unless) if p]
        if rule.spread:
            leaves = {r.dest.split(".")[-1] for r in rules} | set(rule.excludes)
            paths += [f"{src}.{leaf}" for src in sources for leaf in sorted(leaves)]
    return paths


LEAVES = st.one_of(
    st.none(),
    st.sampled_from(["", "Jane Doe", "  ", "2026-11-28T09:15:00Z", "not a date", "x"]),
    st.sampled_from(["30.00", "-2", "1e16", "1e999", "1,234.50", " 3"]),
    st.integers(-3, 3),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e16, 30.0, 1.5, 10**400]),
    st.just({}),
    st.just([]),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2),
)


def _put(event: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = event
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


@st.composite
def events(draw: st.DrawFn, rules: tuple[Rule, ...]) -> dict[str, Any]:
    """An event that sets a random subset of the paths a table reads, to random values."""
    event: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(_paths(rules)), max_size=14)):
        _put(event, path, draw(LEAVES))
    for rule in rules:
        if rule.each and draw(st.booleans()):
            items = st.one_of(LEAVES, events(rule.each))
            _put(event, rule.sources[0].partition("|")[0], draw(st.lists(items, max_size=3)))
    return event


@settings(max_examples=400, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(ALL_TABLES)))
def test_interpreted_table_means_what_the_table_says(data: st.DataObject, name: str) -> None:
    rules = ALL_TABLES[name]
    event = data.draw(events(rules))
    assert outcome(build_function(rules), event) == outcome(lambda e: oracle(rules, e), event)


def outcome(build: Any, event: dict[str, Any]) -> Any:
    """The mapped object, or where and why a converter refused a value."""
    try:
        return build(event)
    except Refused as refused:
        return ("refused", refused.path, str(refused))


def test_oracle_and_interpreter_agree_on_a_full_order() -> None:
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "messageId": "m1",
        "timestamp": "2026-11-28T09:15:00Z",
        "context": {"traits": {"email": "a@example.com"}, "page": {"url": "https://x"}},
        "properties": {
            "order_id": 42,
            "total": 9.5,
            "coupon": "C",
            "products": [{"product_id": 7, "name": "Hat"}, "not an object", {"sku": "S"}],
        },
    }
    rules = ORDER_TABLES["order completed"]
    mapped = build_function(rules)(event)
    assert mapped == oracle(rules, event)
    assert mapped["properties"]["items"] == [
        {"id": "7", "product_id": "7", "name": "Hat"},  # the plugins' key too
        {"id": "S", "sku": "S"},
    ]
    assert mapped["properties"]["coupons"] == ["C"]
    for not_a_list in (1, "abc", {"product_id": 7}, True):
        odd = {**event, "properties": {"order_id": 1, "products": not_a_list}}
        assert "items" not in build_function(rules)(odd)["properties"]
    assert mapped["userProperties"] == {"uid": "u1", "email": "a@example.com"}


def test_rules_order_first_value_wins_and_spreads_fill_in_under() -> None:
    rules = (
        Rule("out", ("b",)),
        Rule("out", ("a",)),
        Rule("obj", ("o",), spread=True, excludes=("secret",)),
        Rule("obj.k", ("a",)),
        Rule("when", ("a",), requires="flag"),
        Rule("unless", ("a",), unless="flag"),
    )
    build = build_function(rules)
    event = {"a": 1, "b": "", "o": {"k": "spread", "j": 2, "secret": "s"}}
    assert build(event) == {"out": 1, "obj": {"k": 1, "j": 2}, "unless": 1}
    flagged = build({**event, "flag": "on"})
    assert flagged["when"] == 1 and "unless" not in flagged


def test_a_refused_value_is_reported_at_its_json_pointer_items_included() -> None:
    rules = ORDER_TABLES["order completed"]
    build = build_function(rules)
    products = [{"price": 1}, "not an object", {"price": "2", "quantity": "a lot"}]
    for properties, path in [
        ({"total": "$5"}, "/properties/total"),
        ({"total": "1e999"}, "/properties/total"),
        ({"products": products}, "/properties/products/2/quantity"),
    ]:
        event = {"type": "track", "event": "Order Completed", "properties": properties}
        assert outcome(build, event)[:2] == ("refused", path)
        assert outcome(build, event) == outcome(lambda e: oracle(rules, e), event)


def build_function(rules: tuple[Rule, ...]) -> Any:
    """The layer's interpreter for a table, as ingest runs it."""
    steps = interpret.prepare(rules, CONVERTERS)
    return lambda event: interpret.apply(steps, event)


def test_spreads_run_after_field_rules_whatever_the_table_order() -> None:
    rules = (Rule("obj", ("o",), spread=True), Rule("obj.k", ("a",)))
    assert [step.spread for step in interpret.prepare(rules, CONVERTERS)] == [False, True]
