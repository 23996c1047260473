"""The mapping from Segment calls to Richpanel call objects, as data.

Read a rule as: Richpanel field ``dest`` <- the first non-empty of ``sources``
(dotted paths into the Segment event; ``path|convert`` converts that source, and
a converter may refuse a value, which rejects the event naming that path).
``provenance`` says where the field comes from: Richpanel's docs, Richpanel's
own code (its plugins and SDKs), a field report from a live tenant, or our
inference; ``source`` names it. ``naming`` marks the order fields that exist
twice, under the docs' camelCase and the plugins' snake_case names
(RICHPANEL_ORDER_FIELDS chooses documented, plugin or both). The first rule to give a field a value
wins; ``spread`` rules run last, copying whole objects into the keys no other
rule mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

Provenance = Literal["documented", "own code", "field report", "inferred"]
Naming = Literal["documented", "plugin"]
ORDER_FIELDS = ("documented", "plugin", "both")  # RICHPANEL_ORDER_FIELDS

DOC_EVENT = "Richpanel developer docs: event structure"
DOC_ORDER = "Richpanel developer docs: order event structure"
DOC_IDENTIFY = "Richpanel Segment destination docs: Identify"
DOC_SESSION = "Richpanel Segment destination docs: richpanel_session_id"
DOC_EMAIL = "Richpanel Segment destination docs: page/track only update email"
DOC_ENGAGE = "Richpanel Segment destination docs: Engage"
SDK = "Richpanel plugins and SDKs (research/richpanel-wire-contract.md)"
PLUGINS = "Richpanel's Magento 2 and WooCommerce plugins (richpanel-wire-contract.md, New evidence)"
BROWSER = "Richpanel's hosted browser tracking script (richpanel-wire-contract.md, New evidence)"
FIELD_REPORT = "field report from a live tenant (richpanel-wire-contract.md, New evidence, T3)"
SEGMENT = "Segment Spec reserved fields"


@dataclass(frozen=True)
class Rule:
    """Richpanel ``dest`` <- first non-empty of ``sources``, else ``default``."""

    dest: str
    sources: tuple[str, ...] = ()
    provenance: Provenance = "inferred"
    source: str = SDK
    default: Any = None  # when no source has a value
    spread: bool = False  # copy every key of the source objects into dest
    excludes: tuple[str, ...] = ()  # keys a spread leaves out
    requires: str | None = None  # only when this Segment path is non-empty
    unless: str | None = None  # only when this Segment path is empty
    each: tuple[Rule, ...] = ()  # map every object of a source list with these rules
    naming: Naming | None = None  # an order field under the docs' or the plugins' name


SESSION_KEY = "richpanel_session_id"
SESSION_SOURCES = tuple(
    f"{where}.{SESSION_KEY}" for where in ("properties", "traits", "context.traits")
)


def traits(*names: str) -> tuple[str, ...]:
    """A trait from ``traits`` first, then ``context.traits``, for each spelling."""
    return tuple(f"traits.{n}" for n in names) + tuple(f"context.traits.{n}" for n in names)


# What the call says about its sender, as Richpanel's own senders do: WooCommerce sends
# platform "WordPress x / WooCommerce y" and its version; the browser script its version.
VERSION = "richpanel-destination 0.1.0"

COMMON: tuple[Rule, ...] = (
    Rule("platform", ("context.library|platform",), "own code", PLUGINS, default="Segment"),
    Rule("version", (), "own code", PLUGINS, default=VERSION),
    Rule("eventId", ("messageId",)),
    Rule("did", ("anonymousId",)),
    Rule("sid", SESSION_SOURCES, "documented", DOC_SESSION),
    Rule("time.originalTimestamp", ("timestamp|epoch_ms", "originalTimestamp|epoch_ms")),
    Rule("context.ip.networkIP", ("context.ip",)),
    Rule("context.page", ("context.page",), spread=True),
    Rule("context.userAgent", ("context.userAgent",)),
    # the browser script's context keys, from Segment's context where present
    Rule("context.device", ("context.device",), "own code", BROWSER),
    Rule("context.os", ("context.os",), "own code", BROWSER),
    Rule("context.browser", ("context.userAgentData",), "inferred", BROWSER),
    Rule("context.screen", ("context.screen",), "own code", BROWSER),
    Rule("context.timezone", ("context.timezone",), "own code", BROWSER),
    Rule("context.location", ("context.location",), "own code", BROWSER),
    Rule("userProperties.uid", ("userId",), "documented", DOC_EVENT),
)

IDENTIFY: tuple[Rule, ...] = (
    Rule("event", default="identify"),
    Rule("userProperties.email", traits("email"), "documented", DOC_IDENTIFY),
    Rule(
        "userProperties.firstName",
        traits("firstName", "first_name") + traits("name|first_word"),
        "documented",
        DOC_IDENTIFY,
    ),
    Rule(
        "userProperties.lastName",
        traits("lastName", "last_name") + traits("name|last_words"),
        "documented",
        DOC_IDENTIFY,
    ),
    Rule("userProperties.phone", traits("phone", "phone_number"), "documented", DOC_IDENTIFY),
    Rule("userProperties.billingAddress", traits("address", "billing_address", "billingAddress")),
    Rule("userProperties.shippingAddress", traits("shipping_address", "shippingAddress")),
    # Engage audiences (snake_case booleans) and computed traits ride along here.
    Rule(
        "userProperties",
        ("context.traits", "traits"),
        "documented",
        DOC_ENGAGE,
        spread=True,
        excludes=(SESSION_KEY,),
    ),
)

# page and track may update the email of a known customer but never create one:
# email is sent only when the call carries a userId.
EMAIL_UPDATE = Rule(
    "userProperties.email",
    ("context.traits.email", "properties.email"),
    "documented",
    DOC_EMAIL,
    requires="userId",
)


def forwarded_properties(provenance: Provenance, source: str) -> tuple[Rule, Rule]:
    """The spread of ``properties`` without the session id; a visitor's also without ``email``.

    A visitor's call (no userId) carries no email in any field, so the ``email`` a
    form put in ``properties`` is left out as well as ``userProperties.email``.
    """
    return (
        Rule(
            "properties",
            ("properties",),
            provenance,
            source,
            spread=True,
            excludes=(SESSION_KEY,),
            requires="userId",
        ),
        Rule(
            "properties",
            ("properties",),
            provenance,
            source,
            spread=True,
            excludes=(SESSION_KEY, "email"),
            unless="userId",
        ),
    )


TRACK: tuple[Rule, ...] = (
    Rule("event", ("event",), "documented", DOC_EVENT),
    *forwarded_properties("documented", DOC_EVENT),
    EMAIL_UPDATE,
)

ITEM: tuple[Rule, ...] = (
    Rule("id", ("product_id|string", "id|string", "sku|string")),
    Rule("sku", ("sku",)),
    Rule("name", ("name",)),
    Rule("price", ("price|number",)),
    Rule("quantity", ("quantity|number",)),
    Rule("category", ("category",)),
    Rule("brand", ("brand",)),
    Rule("variant", ("variant",)),
    Rule("url", ("url",)),
    Rule("imageUrl", ("image_url",), naming="documented"),
    Rule("product_id", ("product_id|string", "id|string"), naming="plugin"),
    Rule("image_url", ("image_url",), naming="plugin"),
)

# Segment ecommerce v2 order events and the status each implies.
ORDER_STATUSES: dict[str, str] = {
    "order completed": "completed",
    "order updated": "updated",
    "order cancelled": "cancelled",
    "order refunded": "refunded",
}
EVENT_TIME = ("timestamp|epoch_ms", "originalTimestamp|epoch_ms")  # the order's date, epoch ms
AMOUNT = ("properties.total|number", "properties.revenue|number", "properties.value|number")


def both_names(
    documented: str,
    plugin: str,
    sources: tuple[str, ...],
    provenance: Provenance,
    source: str,
    default: Any = None,
) -> tuple[Rule, Rule]:
    """One order field under the docs' camelCase name and the plugins' snake_case name."""
    return (
        Rule(f"properties.{documented}", sources, provenance, source, default, naming="documented"),
        Rule(f"properties.{plugin}", sources, "own code", PLUGINS, default, naming="plugin"),
    )  # fmt: skip


UPDATED_AT = both_names("updatedAt", "updated_at", EVENT_TIME, "documented", DOC_ORDER)


def order_rules(status: str) -> tuple[Rule, ...]:
    """TRACK plus Richpanel's order fields, for an order event implying ``status``.

    The order's creation time is the event's time; on updated, cancelled and refunded
    events the event's time is also its update time (a field report: the date decides
    which order is the latest).
    """
    updated = status != "completed"
    return (
        *TRACK,
        *both_names(
            "orderId", "order_id", ("properties.order_id|string",), "documented", DOC_ORDER
        ),
        *both_names(
            "orderDbKey", "order_db_key", ("properties.order_id|string",), "documented", DOC_ORDER
        ),
        Rule("properties.amount", AMOUNT, "documented", DOC_ORDER),
        Rule("properties.currency", ("properties.currency",), "documented", DOC_ORDER),
        *both_names("createdAt", "created_at", EVENT_TIME, "documented", DOC_ORDER),
        *(UPDATED_AT if updated else ()),
        *both_names(
            "discountAmount",
            "discount_amount",
            ("properties.discount|number",),
            "documented",
            DOC_ORDER,
        ),
        Rule(
            "properties.shipping_amount",
            ("properties.shipping|number",),
            "own code",
            PLUGINS,
            naming="plugin",
        ),
        Rule(
            "properties.tax_amount",
            ("properties.tax|number",),
            "own code",
            PLUGINS,
            naming="plugin",
        ),
        Rule("properties.coupons", ("properties.coupon|list",), "documented", DOC_ORDER),
        *both_names(
            "paymentMethod",
            "payment_method",
            ("properties.payment_method",),
            "documented",
            DOC_ORDER,
        ),
        *both_names(
            "shippingMethod",
            "shipping_method",
            ("properties.shipping_method",),
            "documented",
            DOC_ORDER,
        ),
        Rule(
            "properties.shipping_address",
            ("properties.shipping_address",),
            "field report",
            FIELD_REPORT,
            naming="plugin",
        ),
        Rule(
            "properties.billing_address",
            ("properties.billing_address",),
            "own code",
            PLUGINS,
            naming="plugin",
        ),
        Rule("properties.status", ("properties.order_status",), "documented", DOC_ORDER, status),
        Rule("properties.order_status", ("properties.order_status",), "own code", PLUGINS, status),
        Rule("properties.items", ("properties.products",), "documented", DOC_ORDER, each=ITEM),
    )


# What identifies an order; every other order field is its state (or a Segment field that
# sets it, forwarded by the spread). A stale order event keeps only these and the
# properties no order rule reads (delivery/freshness.py, STALE_ORDER_EVENTS=strip).
ORDER_IDENTITY = frozenset({"orderId", "order_id", "orderDbKey", "order_db_key"})


def order_state_fields() -> frozenset[str]:
    """Richpanel's order state fields and the Segment properties they are made from."""
    names: set[str] = set()
    for rule in order_rules("updated")[len(TRACK) :]:
        if rule.dest.startswith("properties."):
            names.add(rule.dest.split(".")[1])
            names.update(
                source.split("|")[0].split(".")[1]
                for source in rule.sources
                if source.startswith("properties.")
            )
    return frozenset(names - ORDER_IDENTITY)


ORDER_STATE_FIELDS = order_state_fields()


PAGE: tuple[Rule, ...] = (
    Rule("event", default="page_view"),
    Rule("properties.name", ("name", "properties.name")),
    Rule("properties.category", ("category", "properties.category")),
    Rule("context.page.url", ("properties.url",)),
    Rule("context.page.path", ("properties.path",)),
    Rule("context.page.referrer", ("properties.referrer",)),
    Rule("context.page.title", ("properties.title",)),
    Rule("context.page.search", ("properties.search",)),
    *forwarded_properties("inferred", SEGMENT),
    EMAIL_UPDATE,
)

# Only with the SCREENS_AS_PAGE_VIEWS setting: mobile screens become page views.
SCREEN: tuple[Rule, ...] = (
    Rule("event", default="page_view"),
    Rule("properties.name", ("name", "properties.name")),
    Rule("properties.screen", default=True),
    *forwarded_properties("inferred", SDK),
    EMAIL_UPDATE,
)

TABLES: dict[str, tuple[Rule, ...]] = {
    "identify": COMMON + IDENTIFY,
    "track": COMMON + TRACK,
    "page": COMMON + PAGE,
    "screen": COMMON + SCREEN,
}
ORDER_TABLES: dict[str, tuple[Rule, ...]] = {
    name: COMMON + order_rules(status) for name, status in ORDER_STATUSES.items()
}


def named(rules: tuple[Rule, ...], order_fields: str) -> tuple[Rule, ...]:
    """The rules with only the order field names RICHPANEL_ORDER_FIELDS asks for."""
    if order_fields == "both":
        return rules
    keep = []
    for rule in rules:
        if rule.naming is not None and rule.naming != order_fields:
            continue
        if rule.each:
            rule = replace(rule, each=named(rule.each, order_fields))
        keep.append(rule)
    return tuple(keep)


ORDER_TABLES_BY_NAMING: dict[str, dict[str, tuple[Rule, ...]]] = {
    fields: {name: named(rules, fields) for name, rules in ORDER_TABLES.items()}
    for fields in ORDER_FIELDS
}


def table_for(event: dict[str, Any], order_fields: str = "both") -> tuple[Rule, ...] | None:
    """The rules for an event: by call type, and for track by order event name."""
    call_type = event.get("type")
    if call_type == "track" and isinstance(event.get("event"), str):
        order = ORDER_TABLES_BY_NAMING[order_fields].get(event["event"].strip().lower())
        if order is not None:
            return order
    return TABLES.get(str(call_type))
