import base64
import hashlib
import hmac
import json

import pytest

from richpanel_destination.inbound.auth import (
    Unauthorized,
    authenticate,
    basic_auth_key,
    parse_modes,
    signed_bytes,
)
from richpanel_destination.secrets import InboundCredentials

CREDS = InboundCredentials(write_keys=("wk-old", "wk-new"), webhook_secrets=("s-old", "s-new"))
BOTH = frozenset({"writekey", "webhook"})


def creds() -> InboundCredentials:
    return CREDS


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def check(headers: dict[str, str], raw: bytes = b"{}", payload: object = None, modes=BOTH) -> str:  # type: ignore[no-untyped-def]
    return authenticate(modes, creds, headers, raw, {} if payload is None else payload)


@pytest.mark.parametrize("key", ["wk-old", "wk-new"])
def test_any_active_write_key_by_basic_auth(key: str) -> None:
    assert check(basic(key)) == "writekey"


def test_write_key_in_the_body_as_analytics_python_sends_it() -> None:
    assert check({}, payload={"writeKey": "wk-new", "batch": []}) == "writekey"


@pytest.mark.parametrize(
    ("headers", "payload", "message"),
    [
        (basic("nope"), {}, "the write key is not an active write key"),
        ({}, {"writeKey": "nope"}, "the write key is not an active write key"),
        ({"Authorization": "Basic !!!"}, {}, "the write key is not an active write key"),
        (basic(""), {}, "the write key is not an active write key"),
    ],
)
def test_invalid_write_keys(headers: dict[str, str], payload: object, message: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        check(headers, payload=payload)
    assert str(caught.value) == message


def test_missing_credentials_name_what_to_send() -> None:
    with pytest.raises(Unauthorized) as caught:
        check({"Authorization": "Bearer x"})
    assert str(caught.value) == (
        "missing credentials: send an X-Signature or a write key "
        "(Authorization: Basic, or writeKey in the body)"
    )


@pytest.mark.parametrize("secret", ["s-old", "s-new"])
def test_signature_over_the_raw_body_with_any_active_secret(secret: str) -> None:
    body = b'{"type":"track","userId":"u","event":"E"}'
    assert check(sign(body, secret), body) == "webhook"


def test_signature_header_casing_and_hex_case_do_not_matter() -> None:
    body = b'{"a":1}'
    signature = sign(body, "s-new")["X-Signature"].upper()
    assert check({"x-signature": signature}, body) == "webhook"


def test_array_signature_covers_the_first_element_exactly() -> None:
    first = json.dumps({"type": "track", "userId": "u", "event": "É"}, separators=(",", ":"))
    body = f'[ {first},{{"type":"page","userId":"u"}}]'.encode()
    assert signed_bytes(body) == first.encode()
    assert check(sign(first.encode(), "s-old"), body) == "webhook"
    with pytest.raises(Unauthorized):
        check(sign(body, "s-old"), body)  # the whole array is not what Segment signs


@pytest.mark.parametrize(
    ("headers", "raw"),
    [
        ({"X-Signature": "0" * 40}, b"{}"),
        ({"X-Signature": ""}, b"{}"),
        ({"X-Signature": "zz"}, b"\xff\xfe"),
    ],
)
def test_bad_signatures(headers: dict[str, str], raw: bytes) -> None:
    with pytest.raises(Unauthorized) as caught:
        check(headers, raw)
    assert (
        str(caught.value) == "X-Signature does not match the body under any active webhook secret"
    )


def test_a_rotated_out_secret_no_longer_works() -> None:
    body = b'{"a":1}'
    rotated = InboundCredentials(write_keys=("wk-new",), webhook_secrets=("s-new",))
    with pytest.raises(Unauthorized):
        authenticate(BOTH, lambda: rotated, sign(body, "s-old"), body, {})
    with pytest.raises(Unauthorized):
        authenticate(BOTH, lambda: rotated, basic("wk-old"), body, {})


def test_only_the_configured_method_counts() -> None:
    body = b'{"a":1}'
    with pytest.raises(Unauthorized):
        check(sign(body, "s-new"), body, modes=frozenset({"writekey"}))
    with pytest.raises(Unauthorized):
        check(basic("wk-new"), modes=frozenset({"webhook"}))


def test_none_mode_never_reads_secrets() -> None:
    def unreadable() -> InboundCredentials:
        raise AssertionError("must not be called")

    assert authenticate(frozenset({"none"}), unreadable, {}, b"", {}) == "none"


@pytest.mark.parametrize("value", ["", "basic", "none,writekey", "writekey, nope"])
def test_bad_modes_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="INBOUND_AUTH must be"):
        parse_modes(value)


def test_modes() -> None:
    assert parse_modes("WriteKey, webhook") == BOTH
    assert parse_modes("none") == frozenset({"none"})


def test_basic_auth_parsing() -> None:
    assert basic_auth_key(None) is None
    assert basic_auth_key("Bearer x") is None
    assert basic_auth_key(basic("k:with:colons")["Authorization"]) == "k"
