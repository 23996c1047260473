"""Browser keys: which scope admits a request, and what a browser key's events lose."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from richpanel_destination.inbound.auth import Sender, Unauthorized, authenticate, key_scope
from richpanel_destination.inbound.scopes import (
    BROWSER,
    DEFAULT_BROWSER_PROFILE_FIELDS,
    LOGGED,
    SERVER,
    for_log,
    parse_fields,
    refused_paths,
    restrict,
    strip,
)
from richpanel_destination.mapping.table import ORDER_STATUSES
from richpanel_destination.mapping.transform import to_richpanel
from richpanel_destination.secrets import InboundCredentials

CREDS = InboundCredentials(
    write_keys=("wk-server",), webhook_secrets=("s-1",), browser_write_keys=("wk-b1", "wk-b2")
)
BOTH = frozenset({"writekey", "webhook"})
DEFAULT = DEFAULT_BROWSER_PROFILE_FIELDS


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def sign(body: bytes, secret: str = "s-1") -> dict[str, str]:
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def admit(headers: dict[str, str], payload: Any = None, modes: frozenset[str] = BOTH) -> Sender:
    payload = {} if payload is None else payload
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return authenticate(modes, lambda: CREDS, headers, raw, payload, max_age=0)


# --- which scope admitted the request -------------------------------------------------------


def test_a_server_key_has_full_rights() -> None:
    assert admit(basic("wk-server")) == Sender("writekey", SERVER)


@pytest.mark.parametrize("key", ["wk-b1", "wk-b2"])
def test_a_browser_key_is_admitted_with_the_browser_scope(key: str) -> None:
    assert admit(basic(key)) == Sender("writekey", BROWSER)
    assert admit({}, {"writeKey": key, "type": "track"}) == Sender("writekey", BROWSER)


def test_an_unknown_key_is_refused_as_before() -> None:
    with pytest.raises(Unauthorized, match="not an active write key"):
        admit(basic("wk-b3"))


def test_the_webhook_signature_keeps_full_rights() -> None:
    payload = {"type": "identify", "userId": "u1"}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    assert admit(sign(raw), payload) == Sender("webhook", SERVER)
    # a signature over the whole body vouches for every event, whatever key rides along
    assert admit({**sign(raw), **basic("wk-b1")}, payload) == Sender("writekey", SERVER)
    webhook_only = frozenset({"webhook"})
    assert admit({**sign(raw), **basic("wk-b1")}, payload, webhook_only) == Sender(
        "webhook+writekey", SERVER
    )


def test_a_batch_signed_on_its_first_element_takes_the_keys_scope() -> None:
    batch = [{"type": "track", "event": "a"}, {"type": "identify", "userId": "u"}]
    first = json.dumps(batch[0], separators=(",", ":")).encode()
    headers = {**sign(first), **basic("wk-b1")}
    assert admit(headers, batch) == Sender("writekey", BROWSER)  # the rest: only the key's word
    assert admit({**sign(first), **basic("wk-server")}, batch) == Sender("writekey", SERVER)


def test_no_authentication_is_full_rights() -> None:
    assert admit({}, modes=frozenset({"none"})) == Sender("none", SERVER)


def test_key_scope_compares_every_key_of_both_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for candidate in ("wk-server", "wk-b2", "nope"):
        compared.clear()
        key_scope(candidate, CREDS)
        assert sorted(compared) == [b"wk-b1", b"wk-b2", b"wk-server"], candidate
    assert key_scope("", InboundCredentials(("",), (), ("",))) is None


# --- what a browser key's events lose -------------------------------------------------------


def identify(**traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": "victim", "messageId": "m1", "traits": traits}


def test_identify_keeps_names_and_loses_email_and_phone() -> None:
    event = identify(name="Ann Lee", email="attacker@example.com", phone="+15550100")
    stripped, names = strip(event, DEFAULT)
    assert names == ("traits.email", "traits.phone")
    assert stripped["traits"] == {"name": "Ann Lee"}
    assert event["traits"]["email"] == "attacker@example.com"  # the caller's event unchanged
    profile = to_richpanel(stripped)["userProperties"]
    assert profile == {"uid": "victim", "firstName": "Ann", "lastName": "Lee", "name": "Ann Lee"}


@pytest.mark.parametrize(
    "traits",
    [
        {"phone_number": "+15550100"},
        {"emailAddress": "a@example.com"},  # the spread copies any key into userProperties
        {"email": ""},  # an empty email would blank the customer's
        {"address": {"city": "X"}},
        {"billing_address": {"city": "X"}},
        {"billingAddress": {"city": "X"}},
        {"shipping_address": {"city": "X"}},
        {"shippingAddress": {"city": "X"}},
        {"company": "Acme"},
    ],
)
def test_every_other_identify_trait_is_refused(traits: dict[str, Any]) -> None:
    for where in ("traits", "context.traits"):
        event: dict[str, Any] = {"type": "identify", "userId": "u"}
        if where == "traits":
            event["traits"] = traits
        else:
            event["context"] = {"traits": traits}
        stripped, names = strip(event, DEFAULT)
        assert names == tuple(f"{where}.{k}" for k in traits)
        assert set(to_richpanel(stripped)["userProperties"]) == {"uid"}


def test_the_session_id_is_not_a_profile_field() -> None:
    event = identify(richpanel_session_id="s1", first_name="Ann")
    stripped, names = strip(event, DEFAULT)
    assert names == ()
    assert stripped is event
    assert to_richpanel(stripped)["sid"] == "s1"


@pytest.mark.parametrize("call_type", ["track", "page", "screen"])
@pytest.mark.parametrize("user_id", ["victim", None])
def test_page_track_and_screen_lose_the_email_they_carry(call_type: str, user_id: Any) -> None:
    event: dict[str, Any] = {
        "type": call_type,
        "event": "Clicked",
        "anonymousId": "a1",
        "properties": {"email": "attacker@example.com", "plan": "pro"},
        "context": {"traits": {"email": "attacker@example.com", "name": "Ann"}},
    }
    if user_id:
        event["userId"] = user_id
    stripped, names = strip(event, DEFAULT)
    assert names == ("context.traits.email", "properties.email")
    call = to_richpanel(stripped)
    assert "email" not in call["userProperties"]
    assert "email" not in call["properties"]
    assert call["properties"]["plan"] == "pro"  # the event itself is delivered


@pytest.mark.parametrize("name", [n.title() for n in ORDER_STATUSES])
def test_an_order_event_loses_the_contact_data_of_its_addresses(name: str) -> None:
    event = {
        "type": "track",
        "event": name,
        "userId": "victim",
        "properties": {
            "order_id": "o1",
            "email": "attacker@example.com",
            "billing_address": {"city": "X", "email": "a@example.com", "phone": "+15550100"},
            "shipping_address": {"city": "Y", "phone_number": "+15550100"},
        },
    }
    stripped, names = strip(event, DEFAULT)
    assert sorted(names) == [
        "properties.billing_address.email",
        "properties.billing_address.phone",
        "properties.email",
        "properties.shipping_address.phone_number",
    ]
    props = to_richpanel(stripped)["properties"]
    assert props["billing_address"] == {"city": "X"}
    assert props["shipping_address"] == {"city": "Y"}
    assert "email" not in props and props["orderId"] == "o1"


def test_an_allowed_field_passes_and_an_allowed_address_loses_only_its_contact() -> None:
    event = identify(email="a@example.com", address={"city": "X", "phone": "+15550100"})
    assert strip(event, DEFAULT | {"email"})[1] == ("traits.address",)
    both = DEFAULT | {"billingAddress", "address"}
    stripped, names = strip(event, both)
    assert names == ("traits.email", "traits.address.phone")
    assert to_richpanel(stripped)["userProperties"]["billingAddress"] == {"city": "X"}


def test_nothing_allowed_keeps_only_who_the_customer_is() -> None:
    stripped, names = strip(identify(name="Ann", avatar="https://x/a.png"), frozenset())
    assert names == ("traits.name", "traits.avatar")
    assert to_richpanel(stripped)["userProperties"] == {"uid": "victim"}


@pytest.mark.parametrize(
    "event", [None, [], "x", {"type": "group", "traits": {"email": "a@b.c"}}, {"type": 3}]
)
def test_what_maps_to_no_profile_is_left_alone(event: Any) -> None:
    assert refused_paths(event, DEFAULT) == []
    assert strip(event, DEFAULT) == (event, ())


def test_contact_data_nested_in_a_kept_value_is_refused() -> None:
    event = identify(name={"email": "a@example.com"}, avatar=[{"x": {"phone": "1"}}])
    stripped, names = strip(event, DEFAULT)
    assert names == ("traits.name.email", "traits.avatar.0.x.phone")
    assert stripped["traits"] == {"name": {}, "avatar": [{"x": {}}]}
    event = {"type": "track", "event": "Order Completed", "userId": "u",
             "properties": {"products": [{"sku": "s", "email": "a@example.com"}]}}  # fmt: skip
    assert strip(event, DEFAULT)[1] == ("properties.products.0.email",)


def test_odd_shapes_do_not_break_stripping() -> None:
    for traits in (None, "x", [1], {"email": None}):
        odd: dict[str, Any] = {"type": "identify", "userId": "u", "traits": traits}
        strip(odd, DEFAULT)  # no exception
    event = {"type": "track", "event": "Order Completed", "properties": {"billing_address": "x"}}
    assert strip(event, DEFAULT) == (event, ())


def test_restrict_replaces_events_only_for_the_browser_scope() -> None:
    events: list[Any] = [identify(email="a@example.com"), {"type": "track", "event": "x"}]
    original = copy.deepcopy(events)
    assert restrict(events, SERVER, DEFAULT) == {}
    assert events == original
    assert restrict(events, BROWSER, DEFAULT) == {0: ("traits.email",)}
    assert events[0]["traits"] == {} and events[1] == original[1]


def test_logged_names_hide_keys_that_are_not_field_names_and_are_capped() -> None:
    event = identify(**{"victim@example.com": 1, "+1 555 0100": 2})
    names = strip(event, DEFAULT)[1]
    assert names == ("traits.<key>", "traits.<key>")
    many = tuple(f"traits.k{i}" for i in range(LOGGED + 5))
    assert for_log(many) == [*many[:LOGGED], "+5 more"]
    assert for_log(many[:2]) == list(many[:2])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DEFAULT),
        ("", DEFAULT),
        ("  ", DEFAULT),
        ("none", frozenset()),
        ("NONE", frozenset()),
        ("name, avatar,", frozenset({"name", "avatar"})),
        ("email", frozenset({"email"})),
    ],
)
def test_parse_fields(raw: str | None, expected: frozenset[str]) -> None:
    assert parse_fields(raw) == expected


@pytest.mark.parametrize("raw", ["name;email", "traits.email", "1st", "a b"])
def test_parse_fields_refuses_what_is_not_a_field_name(raw: str) -> None:
    with pytest.raises(ValueError, match="BROWSER_PROFILE_FIELDS must be comma-separated"):
        parse_fields(raw)


def test_the_default_allows_neither_email_nor_phone() -> None:
    assert not DEFAULT & {"email", "phone", "phone_number", "billingAddress", "shippingAddress"}


# --- the property: whatever is sent, a browser key sets only allowed profile fields ----------

KEYS = st.sampled_from(
    ["email", "phone", "phone_number", "name", "firstName", "first_name", "last_name",
     "lastName", "avatar", "address", "billing_address", "shipping_address", "billingAddress",
     "shippingAddress", "Email", "richpanel_session_id", "x"]
)  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=5),
    st.none(),
    st.dictionaries(st.sampled_from(["email", "phone", "city"]), st.text(max_size=3), max_size=3),
)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=6)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    call_type = draw(st.sampled_from(["identify", "track", "page", "screen"]))
    event: dict[str, Any] = {"type": call_type, "anonymousId": "a"}
    if call_type == "identify" or draw(st.booleans()):
        event["userId"] = "victim"
    if call_type == "track":
        event["event"] = draw(st.sampled_from(["Clicked", "Order Completed", "order refunded"]))
    for where in ("traits", "properties"):
        if draw(st.booleans()):
            event[where] = draw(OBJECTS)
    if draw(st.booleans()):
        event["context"] = {"traits": draw(OBJECTS)}
    return event


def contact(value: Any) -> bool:
    """Whether an email or phone key is anywhere in a value."""
    if isinstance(value, dict):
        return any(
            str(k).lower() in ("email", "phone", "phone_number") or contact(v)
            for k, v in value.items()
        )
    return isinstance(value, list) and any(contact(v) for v in value)


@settings(max_examples=300, deadline=None)
@given(events(), st.sampled_from([DEFAULT, frozenset(), frozenset({"name", "company"})]))
def test_a_browser_key_sets_only_allowed_profile_fields(
    event: dict[str, Any], allowed: frozenset[str]
) -> None:
    stripped, _ = strip(event, allowed)
    try:
        call = to_richpanel(stripped)
    except ValueError:
        return  # rejected events send nothing
    profile = call["userProperties"]
    assert set(profile) <= allowed | {"uid"}
    assert not contact(profile)
    assert not contact(call["properties"])
