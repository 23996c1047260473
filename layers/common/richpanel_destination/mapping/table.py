"""The mapping from Segment calls to Richpanel call objects, as data.

Read a rule as: Richpanel field ``dest`` <- the first non-empty of ``sources``
(dotted paths into the Segment event; ``path|convert`` converts that source, and
a converter may refuse a value, which rejects the event naming that path).
``provenance`` says whether Richpanel documents the field or we inferred it
from Richpanel's own plugins and SDKs. The first rule to give a field a value
wins; ``spread`` rules run last, copying whole objects into the keys no other
rule mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Provenance = Literal["documented", "inferred"]

DOC_EVENT = "Richpanel developer docs: event structure"
DOC_ORDER = "Richpanel developer docs: order event structure"
DOC_IDENTIFY = "Richpanel Segment destination docs: Identify"
DOC_SESSION = "Richpanel Segment destination docs: richpanel_session_id"
DOC_EMAIL = "Richpanel Segment destination docs: page/track only update email"
DOC_ENGAGE = "Richpanel Segment destination docs: Engage"
SDK = "Richpanel plugins and SDKs (research/richpanel-wire-contract.md)"
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


SESSION_KEY = "richpanel_session_id"
SESSION_SOURCES = tuple(
    f"{where}.{SESSION_KEY}" for where in ("properties", "traits", "context.traits")
)


def traits(*names: str) -> tuple[str, ...]:
    """A trait from ``traits`` first, then ``context.traits``, for each spelling."""
    return tuple(f"traits.{n}" for n in names) + tuple(f"context.traits.{n}" for n in names)


COMMON: tuple[Rule, ...] = (
    Rule("eventId", ("messageId",)),
    Rule("did", ("anonymousId",)),
    Rule("sid", SESSION_SOURCES, "documented", DOC_SESSION),
    Rule("time.originalTimestamp", ("timestamp|epoch_ms", "originalTimestamp|epoch_ms")),
    Rule("context.ip.networkIP", ("context.ip",)),
    Rule("context.page", ("context.page",), spread=True),
    Rule("context.userAgent", ("context.userAgent",)),
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
    Rule("imageUrl", ("image_url",)),
)

# Segment ecommerce v2 order events and the status each implies.
ORDER_STATUSES: dict[str, str] = {
    "order completed": "completed",
    "order updated": "updated",
    "order cancelled": "cancelled",
    "order refunded": "refunded",
}


def order_rules(status: str) -> tuple[Rule, ...]:
    """TRACK plus Richpanel's order fields, for an order event implying ``status``."""
    return (
        *TRACK,
        Rule("properties.orderId", ("properties.order_id|string",), "documented", DOC_ORDER),
        Rule("properties.orderDbKey", ("properties.order_id|string",), "documented", DOC_ORDER),
        Rule(
            "properties.amount",
            ("properties.total|number", "properties.revenue|number", "properties.value|number"),
            "documented",
            DOC_ORDER,
        ),
        Rule("properties.currency", ("properties.currency",), "documented", DOC_ORDER),
        Rule("properties.discountAmount", ("properties.discount|number",), "documented", DOC_ORDER),
        Rule("properties.coupons", ("properties.coupon|list",), "documented", DOC_ORDER),
        Rule("properties.paymentMethod", ("properties.payment_method",), "documented", DOC_ORDER),
        Rule("properties.shippingMethod", ("properties.shipping_method",), "documented", DOC_ORDER),
        Rule("properties.status", ("properties.order_status",), "documented", DOC_ORDER, status),
        Rule(
            "properties.order_status", ("properties.order_status",), "documented", DOC_ORDER, status
        ),
        Rule("properties.items", ("properties.products",), "documented", DOC_ORDER, each=ITEM),
    )


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


def table_for(event: dict[str, Any]) -> tuple[Rule, ...] | None:
    """The rules for an event: by call type, and for track by order event name."""
    call_type = event.get("type")
    if call_type == "track" and isinstance(event.get("event"), str):
        order = ORDER_TABLES.get(event["event"].strip().lower())
        if order is not None:
            return order
    return TABLES.get(str(call_type))
