import base64
import hashlib
import json

import pytest

from richpanel_destination.richpanel.wire import (
    BATCH_PATH,
    decode_batch,
    decode_body,
    encode_batch,
    encode_call,
    signature,
)

CALL = {"event": "page_view", "properties": {"name": "Pricing"}, "time": {"originalTimestamp": 5}}


def test_unsigned_body_is_only_h() -> None:
    body = encode_call(CALL, app_client_id="key", secret="", signing="md5", sent_at_ms=1000)
    outer = json.loads(body)
    assert list(outer) == ["h"]
    assert json.loads(base64.b64decode(outer["h"])) == {
        "event": "page_view",
        "properties": {"name": "Pricing"},
        "time": {"originalTimestamp": 5, "sentAt": 1000},
        "appClientId": "key",
    }


@pytest.mark.parametrize(("signing", "digest"), [("md5", hashlib.md5), ("sha256", hashlib.sha256)])
def test_signed_body_carries_hex_digest_of_h_plus_secret(signing: str, digest: object) -> None:
    body = encode_call(CALL, app_client_id="k", secret="s3", signing=signing, sent_at_ms=1)  # type: ignore[arg-type]
    outer = json.loads(body)
    assert outer["s"] == digest((outer["h"] + "s3").encode()).hexdigest()  # type: ignore[operator]


def test_signing_none_or_no_secret_gives_no_signature() -> None:
    assert signature("abc", "secret", "none") is None
    assert signature("abc", "", "md5") is None


def test_non_ascii_survives_the_round_trip() -> None:
    call = {"event": "identify", "userProperties": {"uid": "u", "firstName": "Zoë 山田"}}
    body = encode_call(call, app_client_id="k", secret="", signing="none", sent_at_ms=1)
    assert decode_body(body)["userProperties"]["firstName"] == "Zoë 山田"


def test_encode_does_not_mutate_the_call() -> None:
    call = {"event": "x", "time": {"originalTimestamp": 1}}
    encode_call(call, app_client_id="k", secret="", signing="none", sent_at_ms=2)
    assert call == {"event": "x", "time": {"originalTimestamp": 1}}


# ----------------------------------------------------------------------------- /bt


def test_batch_body_is_hs_then_event_type_with_the_calls_stamped_like_single_calls() -> None:
    calls = [CALL, {"event": "identify", "userProperties": {"uid": "u"}}]
    body = encode_batch(calls, app_client_id="key", secret="", signing="md5", sent_at_ms=1000)
    outer = json.loads(body)
    assert list(outer) == ["hs", "event_type"]
    assert outer["event_type"] == "send_batch"
    inner = base64.b64decode(outer["hs"])
    singles = [
        decode_body(encode_call(c, app_client_id="key", secret="", signing="md5", sent_at_ms=1000))
        for c in calls
    ]
    assert json.loads(inner) == {"appClientId": "key", "events": singles, "event": "send_batch"}
    assert inner == (
        b'{"appClientId":"key","events":['
        b'{"event":"page_view","properties":{"name":"Pricing"},'
        b'"time":{"originalTimestamp":5,"sentAt":1000},"appClientId":"key"},'
        b'{"event":"identify","userProperties":{"uid":"u"},"appClientId":"key",'
        b'"time":{"sentAt":1000}}],"event":"send_batch"}'
    )
    assert body == (b'{"hs":"' + base64.b64encode(inner) + b'","event_type":"send_batch"}')
    assert decode_batch(body) == json.loads(inner)


@pytest.mark.parametrize(("signing", "digest"), [("md5", hashlib.md5), ("sha256", hashlib.sha256)])
def test_signed_batch_carries_the_same_signature_of_hs(signing: str, digest: object) -> None:
    body = encode_batch([CALL], app_client_id="k", secret="s3", signing=signing, sent_at_ms=1)  # type: ignore[arg-type]
    outer = json.loads(body)
    assert list(outer) == ["hs", "s", "event_type"]
    assert outer["s"] == digest((outer["hs"] + "s3").encode()).hexdigest()  # type: ignore[operator]
    assert outer["s"] == signature(outer["hs"], "s3", signing)  # type: ignore[arg-type]


def test_batch_signing_none_sends_no_signature() -> None:
    body = encode_batch([CALL], app_client_id="k", secret="s3", signing="none", sent_at_ms=1)
    assert list(json.loads(body)) == ["hs", "event_type"]


def test_batch_keeps_non_ascii_and_does_not_mutate_the_calls() -> None:
    call = {"event": "identify", "userProperties": {"uid": "u", "firstName": "Zoë 山田"}}
    body = encode_batch([call], app_client_id="k", secret="", signing="none", sent_at_ms=2)
    assert decode_batch(body)["events"][0]["userProperties"]["firstName"] == "Zoë 山田"
    assert call == {"event": "identify", "userProperties": {"uid": "u", "firstName": "Zoë 山田"}}
    assert BATCH_PATH == "/bt"
