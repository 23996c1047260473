import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from richpanel_destination import runtime
from richpanel_destination.inbound.auth import (
    BODY,
    FIRST,
    Sender,
    Unauthorized,
    authenticate,
    basic_auth_key,
    check_fresh,
    parse_modes,
    signature_covers,
    signed_bytes,
)
from richpanel_destination.inbound.request import read_body, unpack
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
    return authenticate(modes, creds, headers, raw, {} if payload is None else payload).method


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
    signature = sign(first.encode(), "s-old")["X-Signature"]
    assert signature_covers(signature, body, CREDS.webhook_secrets) == FIRST
    assert check({**sign(first.encode(), "s-old"), **basic("wk-new")}, body, []) == "writekey"


def test_a_signature_over_the_whole_array_covers_every_element() -> None:
    body = compact([SIGNED, FORGED])  # as Segment's proposed full-batch signing would sign it
    assert signature_covers(sign(body, "s-old")["X-Signature"], body, ("s-old",)) == BODY
    assert check(sign(body, "s-old"), body, json.loads(body)) == "webhook"


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

    assert authenticate(frozenset({"none"}), unreadable, {}, b"", {}) == Sender("none", "server")


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


# --- issue 13.7: an array's X-Signature covers only its first element; signatures carry no time


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def ago(seconds: float) -> str:
    """An ISO-8601 receivedAt `seconds` before now, as Segment writes it."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


SIGNED = {"type": "track", "userId": "u-1", "event": "Signed", "messageId": "m-signed"}
FORGED = {
    "type": "identify",
    "userId": "victim",
    "messageId": "m-forged",
    "traits": {"email": "attacker@example.com"},
}


def forged_batch(first: dict[str, object] = SIGNED) -> tuple[bytes, dict[str, str]]:
    """A captured signed element followed by an unsigned identify, signed as Segment signs."""
    first_bytes = compact(first)
    return b"[" + first_bytes + b"," + compact(FORGED) + b"]", sign(first_bytes, "s-new")


def test_a_signed_first_element_does_not_vouch_for_the_rest_of_a_batch() -> None:
    body, headers = forged_batch()
    with pytest.raises(Unauthorized) as caught:
        check(headers, body, json.loads(body))
    assert str(caught.value) == (
        "X-Signature covers only the first element of a batch; "
        "send the write key too (Authorization: Basic)"
    )


def test_the_forged_batch_is_refused_before_any_event_is_read() -> None:
    body, headers = forged_batch()
    delivered: list[dict[str, object]] = []

    with pytest.raises(Unauthorized):
        read = read_body("webhook", body.decode(), is_base64=False, headers=headers)
        authenticate(BOTH, creds, headers, read.raw, read.payload)  # ingest's step after reading
        delivered.extend(unpack(read).events)  # what ingest would hand to delivery
    assert delivered == []


@pytest.fixture
def max_age(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """WEBHOOK_SIGNATURE_MAX_AGE_SECONDS=86400 in the runtime settings authenticate reads."""
    monkeypatch.setenv("WEBHOOK_SIGNATURE_MAX_AGE_SECONDS", "86400")
    runtime.reset()
    yield
    monkeypatch.undo()
    runtime.reset()


@pytest.mark.usefixtures("max_age")
def test_a_replayed_old_signed_event_is_refused() -> None:
    body = compact({**SIGNED, "receivedAt": ago(3 * 86_400)})  # captured three days ago
    with pytest.raises(Unauthorized) as caught:
        check(sign(body, "s-new"), body, json.loads(body))
    assert str(caught.value).startswith("the signed event is too old")


WEBHOOK_ONLY = frozenset({"webhook"})
BATCH_REFUSAL = (
    "X-Signature covers only the first element of a batch; "
    "send the write key too (Authorization: Basic)"
)


@pytest.mark.parametrize(("modes", "how"), [(BOTH, "writekey"), (WEBHOOK_ONLY, "webhook+writekey")])
def test_a_batch_signed_as_segment_signs_it_is_admitted_with_the_write_key_beside(
    modes: frozenset[str], how: str
) -> None:
    body, headers = forged_batch()
    assert check({**headers, **basic("wk-old")}, body, json.loads(body), modes=modes) == how


@pytest.mark.parametrize("modes", [BOTH, WEBHOOK_ONLY])
def test_beside_a_signature_a_wrong_write_key_is_refused(modes: frozenset[str]) -> None:
    body, headers = forged_batch()
    for key in ("nope", ""):
        with pytest.raises(Unauthorized, match=r"^the write key is not an active write key$"):
            check({**headers, **basic(key)}, body, json.loads(body), modes=modes)


def test_a_wrong_signature_is_refused_even_beside_a_valid_write_key() -> None:
    body, _ = forged_batch()
    with pytest.raises(Unauthorized, match=r"^X-Signature does not match"):
        check({"X-Signature": "0" * 40, **basic("wk-new")}, body, json.loads(body))


def test_with_webhook_mode_alone_a_batch_still_needs_the_write_key() -> None:
    body, headers = forged_batch()
    with pytest.raises(Unauthorized, match=r"^X-Signature covers only"):
        check(headers, body, json.loads(body), modes=WEBHOOK_ONLY)


def test_a_one_element_array_is_covered_by_its_signature() -> None:
    first = compact(SIGNED)
    assert check(sign(first, "s-new"), b"[" + first + b"]", [SIGNED]) == "webhook"


def test_a_captured_whole_batch_signature_cannot_lead_a_new_batch() -> None:
    captured = compact([SIGNED, SIGNED])
    headers = sign(captured, "s-new")  # a full-body signature, captured
    body = b"[" + captured + b"," + compact(FORGED) + b"]"
    with pytest.raises(Unauthorized, match=r"^X-Signature covers only"):
        check(headers, body, json.loads(body))


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat().replace("+00:00", "Z")


def signed_check(
    payload: object,
    max_age: float = 86_400,
    headers: dict[str, str] | None = None,
    modes: frozenset[str] = BOTH,
) -> str:
    body = compact(payload)
    first = compact(payload[0]) if isinstance(payload, list) else body
    return authenticate(
        modes,
        creds,
        {**sign(first, "s-new"), **(headers or {})},
        body,
        json.loads(body),
        max_age=max_age,
        now=NOW.timestamp,
    ).method


@pytest.mark.parametrize(
    "received", [at(seconds=0), at(hours=23, minutes=59), at(hours=-1), "2026-12-01 11:00:00+0100"]
)
def test_a_signed_event_within_the_max_age_is_admitted(received: str) -> None:
    assert signed_check({**SIGNED, "receivedAt": received}) == "webhook"


@pytest.mark.parametrize("received", [at(hours=24, seconds=1), at(days=3), "2020-01-01T00:00:00Z"])
def test_a_signed_event_older_than_the_max_age_is_refused_as_a_replay(received: str) -> None:
    with pytest.raises(Unauthorized, match=r"^the signed event is too old .* a replay is refused$"):
        signed_check({**SIGNED, "receivedAt": received})


def test_a_batch_is_aged_by_its_signed_first_element() -> None:
    old, fresh = {**SIGNED, "receivedAt": at(days=3)}, {**SIGNED, "receivedAt": at(seconds=1)}
    with pytest.raises(Unauthorized, match="too old"):
        signed_check([old, fresh], headers=basic("wk-new"), modes=WEBHOOK_ONLY)
    assert signed_check([fresh, old], headers=basic("wk-new"), modes=WEBHOOK_ONLY) == (
        "webhook+writekey"
    )


def test_the_write_key_admits_an_old_signed_batch_when_it_is_an_accepted_method() -> None:
    old = {**SIGNED, "receivedAt": at(days=3)}  # a Segment replay, sent with the write key
    assert signed_check([old, old], headers=basic("wk-new")) == "writekey"


def test_no_max_age_admits_any_age() -> None:
    assert signed_check({**SIGNED, "receivedAt": at(days=400)}, max_age=0) == "webhook"


def test_a_signed_event_without_receivedat_is_not_aged() -> None:
    assert signed_check(SIGNED) == "webhook"
    assert signed_check({**SIGNED, "receivedAt": None}) == "webhook"


@pytest.mark.parametrize("received", ["yesterday", "2026-02-30T00:00:00Z", 1764590400, ""])
def test_an_unreadable_receivedat_is_refused(received: object) -> None:
    with pytest.raises(Unauthorized, match=r"^the signed event's receivedAt is not a timestamp$"):
        signed_check({**SIGNED, "receivedAt": received})


def test_check_fresh_ignores_what_is_not_an_event() -> None:
    for payload in ([], [1, 2], "text", None):
        check_fresh(payload, 60, NOW.timestamp())
