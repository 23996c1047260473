"""The mapping from Segment calls to Richpanel call objects, as data.

Each rule reads: Richpanel field ``dest`` <- the first non-empty of ``sources``
(dotted paths into the Segment event). ``provenance`` says whether Richpanel
documents the field or we inferred it from Richpanel's own plugins and SDKs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Provenance = Literal["documented", "inferred"]
Convert = Literal["epoch_ms", "string"]

DOC_EVENT = "developer.richpanel.com: order event structure"
DOC_SEED = "Segment catalog: Richpanel destination page"
SDK = "Richpanel plugins and SDKs (research/richpanel-wire-contract.md)"


@dataclass(frozen=True)
class Rule:
    """Richpanel ``dest`` <- first non-empty of ``sources`` (or ``const``)."""

    dest: str
    sources: tuple[str, ...] = ()
    provenance: Provenance = "inferred"
    source: str = SDK
    const: Any = None
    convert: Convert | None = None
    spread: bool = False  # merge every key of the source objects into dest


SESSION_SOURCES = (
    "properties.richpanel_session_id",
    "traits.richpanel_session_id",
    "context.traits.richpanel_session_id",
)

COMMON: tuple[Rule, ...] = (
    Rule("eventId", ("messageId",)),
    Rule("did", ("anonymousId",)),
    Rule("sid", SESSION_SOURCES, "documented", DOC_SEED, convert="string"),
    Rule("time.originalTimestamp", ("timestamp", "originalTimestamp"), convert="epoch_ms"),
    Rule("context.ip.networkIP", ("context.ip",)),
    Rule("context.page", ("context.page",)),
    Rule("context.userAgent", ("context.userAgent",)),
    Rule("userProperties.uid", ("userId",), "documented", DOC_EVENT, convert="string"),
)


def _trait(name: str, *aliases: str) -> tuple[str, ...]:
    keys = (name, *aliases)
    return tuple(f"traits.{k}" for k in keys) + tuple(f"context.traits.{k}" for k in keys)


IDENTIFY: tuple[Rule, ...] = (
    Rule("event", const="identify", provenance="inferred"),
    Rule("userProperties", ("context.traits", "traits"), spread=True),
    Rule("userProperties.email", _trait("email"), "documented", DOC_SEED),
    Rule("userProperties.firstName", _trait("firstName", "first_name"), "documented", DOC_SEED),
    Rule("userProperties.lastName", _trait("lastName", "last_name"), "documented", DOC_SEED),
    Rule("userProperties.phone", _trait("phone"), "documented", DOC_SEED),
)

TRACK: tuple[Rule, ...] = (
    Rule("event", ("event",), "documented", DOC_EVENT),
    Rule("properties", ("properties",), "documented", DOC_EVENT, spread=True),
    # page/track may update email but never create a customer (seed doc).
    Rule(
        "userProperties.email", ("context.traits.email", "properties.email"), "documented", DOC_SEED
    ),
)

PAGE: tuple[Rule, ...] = (
    Rule("event", const="page_view"),
    Rule("properties", ("properties",), spread=True),
    Rule("properties.name", ("name", "properties.name")),
    Rule("properties.category", ("category", "properties.category")),
    Rule("context.page.url", ("properties.url", "context.page.url")),
    Rule("context.page.path", ("properties.path", "context.page.path")),
    Rule("context.page.referrer", ("properties.referrer", "context.page.referrer")),
    Rule("context.page.title", ("properties.title", "context.page.title")),
    Rule("userProperties.email", ("context.traits.email",), "documented", DOC_SEED),
)

TABLES: dict[str, tuple[Rule, ...]] = {
    "identify": COMMON + IDENTIFY,
    "track": COMMON + TRACK,
    "page": COMMON + PAGE,
}
