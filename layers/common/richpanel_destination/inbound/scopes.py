"""What a sender may change: a browser key's events lose the profile fields it may not set.

A write key in a web page is public: anyone who reads the page can send ``identify`` for any
``userId``. Server keys, X-Signature senders (Segment's webhooks) and ``INBOUND_AUTH=none``
have full rights (scope ``server``). A browser key (``browserWriteKeys`` in the inbound
secret) has scope ``browser``: its calls are delivered, but every Segment field that would
become a customer profile field not on BROWSER_PROFILE_FIELDS is removed first, and each
removal is counted (ProfileFieldsRefused) and named on the event's outcome line.

Which Segment fields reach a profile field is read from the mapping table, not listed here:
every rule whose destination is ``userProperties.<field>`` (identify's traits, the email a
page or track call carries in ``context.traits`` or ``properties``), and every key a spread
into ``userProperties`` copies (identify's ``traits`` and ``context.traits``). An address
(the customer's or an order's) and a call's forwarded ``properties`` lose their ``email``
and ``phone`` keys too, unless allowed (Richpanel may read them as contact data). The
event is stripped before it is mapped, so what is queued for a retry is the stripped event.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..mapping.table import ORDER_TABLES, TABLES, Rule, table_for
from ..observability.redact import is_field_name

SERVER = "server"  # full rights: server keys, X-Signature, INBOUND_AUTH=none
BROWSER = "browser"  # a public key: profile fields limited to BROWSER_PROFILE_FIELDS
SCOPES = (SERVER, BROWSER)
PROFILE = "userProperties"
# Safe to take from anyone: how a customer is called and pictured. Never email or phone: an
# agent trusts them to reach the customer (and a reset link sent to a changed email is an
# account takeover).
DEFAULT_BROWSER_PROFILE_FIELDS = frozenset(
    {"name", "firstName", "lastName", "first_name", "last_name", "avatar"}
)
# An address's keys that reach the customer, and the profile field each counts as.
CONTACT_KEYS: Mapping[str, str] = {
    "email": "email",
    "phone": "phone",
    "phone_number": "phone",
    "phonenumber": "phone",
}

FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Path = tuple[str | int, ...]  # keys, and list indices
LOGGED = 10  # refused fields named on an outcome line (all are counted)


@dataclass(frozen=True)
class Plan:
    """For one mapping table: the Segment paths that reach profile fields."""

    fixed: Mapping[Path, frozenset[str]]  # a path -> the profile fields it sets
    spreads: Mapping[Path, frozenset[str]]  # an object copied key by key -> keys left out
    addresses: tuple[Path, ...]  # objects whose email and phone keys are contact data


def _path(source: str) -> tuple[str, ...]:
    return tuple(source.split("|")[0].split("."))


def plan_for(rules: Iterable[Rule]) -> Plan:
    """Read a mapping table: every Segment path that becomes a profile field."""
    fixed: dict[Path, set[str]] = {}
    spreads: dict[Path, frozenset[str]] = {}
    addresses: list[Path] = []
    for rule in rules:
        parts = rule.dest.split(".")
        if rule.dest == PROFILE and rule.spread:
            spreads.update((_path(s), frozenset(rule.excludes)) for s in rule.sources)
        elif parts[0] == PROFILE and parts[1] != "uid":  # uid is the userId: who, not what
            for source in rule.sources:
                fixed.setdefault(_path(source), set()).add(parts[1])
        # contact data: an address's, and the email or phone among a call's own properties
        if parts[-1].lower().endswith("address") or (rule.dest == "properties" and rule.spread):
            addresses.extend(_path(s) for s in rule.sources if _path(s) not in addresses)
    return Plan({p: frozenset(f) for p, f in fixed.items()}, spreads, tuple(addresses))


_PLANS: dict[int, tuple[tuple[Rule, ...], Plan]] = {
    id(rules): (rules, plan_for(rules)) for rules in (*TABLES.values(), *ORDER_TABLES.values())
}


def _get(event: Any, path: Path) -> tuple[bool, Any]:
    node = event
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False, None
        elif not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _contacts(node: Any, path: Path) -> Iterable[tuple[Path, str]]:
    """Every email or phone key inside ``node``, at any depth: (its path, its field)."""
    if isinstance(node, dict):
        for key, value in node.items():
            field = CONTACT_KEYS.get(str(key).lower())
            if field is not None:
                yield (*path, key), field
            else:
                yield from _contacts(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _contacts(item, (*path, index))


def refused_paths(event: Any, allowed: frozenset[str]) -> list[Path]:
    """The Segment paths of ``event`` that would set a profile field not in ``allowed``."""
    if not isinstance(event, dict):
        return []
    rules = table_for(event)  # "both" names: only order fields differ, never profile ones
    entry = _PLANS.get(id(rules)) if rules is not None else None
    if entry is None:
        return []
    plan = entry[1]
    refused: list[Path] = []

    def check(path: Path, fields: Iterable[str]) -> None:
        if path not in refused and not set(fields) <= allowed:
            refused.append(path)

    kept: list[tuple[Path, Any]] = []  # profile values and contact containers let through
    for path, fields in plan.fixed.items():
        found, node = _get(event, path)
        if found:
            check(path, fields)
            kept.append((path, node))
    for parent, excludes in plan.spreads.items():
        found, node = _get(event, parent)
        if found and isinstance(node, dict):
            for key, value in node.items():
                if key not in excludes:
                    path = (*parent, key)
                    check(path, {key} | plan.fixed.get(path, frozenset()))
                    kept.append((path, value))
    for parent in plan.addresses:
        kept.append((parent, _get(event, parent)[1]))
    # an email or phone nested in what is let through: {"name": {"email": ...}}, an address
    for path, node in kept:
        if path not in refused:
            for inner, field in _contacts(node, path):
                check(inner, {field})
    return refused


def strip(event: Any, allowed: frozenset[str]) -> tuple[Any, tuple[str, ...]]:
    """``event`` without the fields a browser key may not set, and their dotted paths.

    The event itself when nothing is refused; otherwise a copy (the caller's is unchanged).
    """
    paths = refused_paths(event, allowed)
    if not paths:
        return event, ()
    stripped = copy.deepcopy(event)
    for path in paths:  # keys only: contact keys are never list items
        found, parent = _get(stripped, path[:-1])
        if found and isinstance(parent, dict):
            parent.pop(path[-1], None)
    return stripped, tuple(_name(p) for p in paths)


def _name(path: Path) -> str:
    """A dotted path as logged: a key that does not read as a field name (it could be an
    email an attacker used as a key) is shown as ``<key>``."""
    return ".".join(
        str(part) if isinstance(part, int) or is_field_name(part) else "<key>" for part in path
    )


def for_log(names: tuple[str, ...]) -> list[str]:
    """At most LOGGED names, then how many more: a line stays short whatever was sent."""
    shown = list(names[:LOGGED])
    return [*shown, f"+{len(names) - LOGGED} more"] if len(names) > LOGGED else shown


def restrict(events: list[Any], scope: str, allowed: frozenset[str]) -> dict[int, tuple[str, ...]]:
    """For a browser scope, replace each event in ``events`` by its stripped copy; the fields
    refused, by event index (only events that lost some). A server scope changes nothing."""
    if scope != BROWSER:
        return {}
    refused: dict[int, tuple[str, ...]] = {}
    for index, event in enumerate(events):
        events[index], names = strip(event, allowed)
        if names:
            refused[index] = names
    return refused


def parse_fields(value: str | None) -> frozenset[str]:
    """BROWSER_PROFILE_FIELDS: comma-separated profile field names; unset or empty means the
    default, ``none`` means no profile field at all. ValueError on a name that is not one."""
    if value is None or not value.strip():
        return DEFAULT_BROWSER_PROFILE_FIELDS
    if value.strip().lower() == "none":
        return frozenset()
    names = [part.strip() for part in value.split(",") if part.strip()]
    bad = [n for n in names if FIELD.fullmatch(n) is None]
    if bad:
        raise ValueError(
            "BROWSER_PROFILE_FIELDS must be comma-separated field names (or none); "
            f"not field names: {', '.join(repr(b) for b in bad)}"
        )
    return frozenset(names)
