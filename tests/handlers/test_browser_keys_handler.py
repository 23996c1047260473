"""Browser keys through the ingest ``lambda_handler``, with built API Gateway events.

A browser key (``browserWriteKeys``) is public: its identify may set a customer's name but
not their email or phone, in the call that reaches Richpanel (decoded from the wire by the
sandbox's own rules, as in test_golden_handler.py). A server key, an X-Signature sender (the
webhook route) and the retry queue keep what was sent; refused fields are counted in the
EMF line, named (never their values) on the outcome line and in the answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from local.secrets import LOCAL_WEBHOOK_SECRET, LOCAL_WRITE_KEY
from richpanel_destination import ingest, runtime
from richpanel_destination.observability.metrics import REFUSED_METRIC
from richpanel_destination.secrets import InboundCredentials
from tests.fuzz.conftest import FakeContext, StubQueues
from tests.handlers.test_golden_handler import (
    RICHPANEL_URL,
    WireRichpanel,
    api_gateway_event,
    ingest_handler,
    on_the_wire,
)

BROWSER_KEY = "pk-browser-public-key"
ATTACKER_EMAIL = "attacker@evil.example"
ATTACKER_PHONE = "+1 555 0100 999"


@pytest.fixture(scope="module")
def handler() -> Iterator[Any]:
    """lambda_handler with the template's environment and a browser key beside the server's."""
    inbound = InboundCredentials((LOCAL_WRITE_KEY,), (LOCAL_WEBHOOK_SECRET,), (BROWSER_KEY,))
    env = {"INBOUND_AUTH": "writekey,webhook", "BROWSER_PROFILE_FIELDS": None}  # the default
    with ingest_handler(inbound, env) as loaded:
        yield loaded


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def identify(message_id: str = "m-identify") -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": "victim-42",
        "messageId": message_id,
        "timestamp": "2026-12-01T10:00:00.000Z",
        "traits": {"name": "Ann Lee", "email": ATTACKER_EMAIL, "phone": ATTACKER_PHONE},
    }


def send(handler: Any, path: str, payload: Any, headers: dict[str, str]) -> tuple[int, Any, Any]:
    """POST ``payload`` through the handler: (status, answer, the Richpanel wire)."""
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **headers}
    result, richpanel = on_the_wire(handler, api_gateway_event(path, raw, headers))
    return int(result["statusCode"]), json.loads(result["body"]), richpanel


def profile(richpanel: WireRichpanel) -> dict[str, Any]:
    (call,) = richpanel.delivered_calls()
    return dict(call["userProperties"])


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
def logged(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """What the invocation writes: its log lines (the Logger's stream was bound when its
    module was imported, so it is swapped) and its EMF lines (printed)."""
    stream = io.StringIO()
    previous = ingest.logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    capsys.readouterr()
    try:
        yield lambda: stream.getvalue() + capsys.readouterr().out
    finally:
        ingest.logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def test_a_browser_keys_identify_sets_the_name_but_not_email_or_phone(
    handler: Any, logged: Any
) -> None:
    status, answer, richpanel = send(handler, "/v1/identify", identify(), basic(BROWSER_KEY))
    assert status == 200, answer
    assert answer["results"][0]["outcome"] == "delivered"
    assert answer["results"][0]["refused"] == ["traits.email", "traits.phone"]
    assert profile(richpanel) == {
        "uid": "victim-42", "firstName": "Ann", "lastName": "Lee", "name": "Ann Lee"
    }  # fmt: skip
    wire = json.dumps(richpanel.records)
    assert ATTACKER_EMAIL not in wire and "555 0100" not in wire

    out = logged()
    (outcome,) = [line for line in lines(out) if line.get("message") == "event outcome"]
    assert outcome["refused"] == ["traits.email", "traits.phone"]
    assert ATTACKER_EMAIL not in out and "555 0100" not in out  # names, never values
    assert any(line.get("scope") == "browser" for line in lines(out))
    (emf,) = [line for line in lines(out) if "_aws" in line and line.get("EventType")]
    assert emf[REFUSED_METRIC] == [2.0]
    assert REFUSED_METRIC in {
        m["Name"] for d in emf["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }


def test_a_browser_key_in_the_body_is_held_to_the_same_scope(handler: Any) -> None:
    """sendBeacon and keepalive sends carry the key in the body, not in a header."""
    payload = {**identify(), "writeKey": BROWSER_KEY}
    status, answer, richpanel = send(handler, "/v1/i", payload, {})
    assert status == 200, answer
    assert set(profile(richpanel)) == {"uid", "firstName", "lastName", "name"}


def test_a_browser_keys_track_cannot_update_the_email(handler: Any) -> None:
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "victim-42",
        "messageId": "m-track",
        "properties": {
            "order_id": "o-1",
            "total": 10,
            "email": ATTACKER_EMAIL,
            "billing_address": {"city": "Paris", "phone": ATTACKER_PHONE},
        },
        "context": {"traits": {"email": ATTACKER_EMAIL}},
    }
    status, answer, richpanel = send(handler, "/v1/track", event, basic(BROWSER_KEY))
    assert status == 200, answer
    (call,) = richpanel.delivered_calls()
    assert "email" not in call["userProperties"]
    assert call["properties"]["billing_address"] == {"city": "Paris"}
    assert call["properties"]["orderId"] == "o-1"
    assert ATTACKER_EMAIL not in json.dumps(richpanel.records)
    assert len(answer["results"][0]["refused"]) == 3


def test_a_browser_keys_batch_is_stripped_event_by_event(handler: Any) -> None:
    batch = {
        "batch": [
            identify("m-1"),
            {"type": "page", "anonymousId": "a-1", "messageId": "m-2", "name": "Home"},
        ]
    }
    status, answer, richpanel = send(handler, "/v1/batch", batch, basic(BROWSER_KEY))
    assert status == 200, answer
    assert answer["results"][0]["refused"] == ["traits.email", "traits.phone"]
    assert "refused" not in answer["results"][1]
    assert len(richpanel.delivered_calls()) == 2  # the anonymous page view passes untouched


def test_a_server_keys_identify_changes_email_and_phone(handler: Any, logged: Any) -> None:
    status, answer, richpanel = send(handler, "/v1/identify", identify(), basic(LOCAL_WRITE_KEY))
    assert status == 200, answer
    assert "refused" not in answer["results"][0]
    found = profile(richpanel)
    assert found["email"] == ATTACKER_EMAIL
    assert found["phone"] == ATTACKER_PHONE
    out = logged()
    assert REFUSED_METRIC not in out and '"refused"' not in out and '"scope"' not in out


def test_the_signed_webhook_route_keeps_full_rights(handler: Any) -> None:
    raw = json.dumps(identify("m-webhook")).encode()
    signature = hmac.new(LOCAL_WEBHOOK_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    status, answer, richpanel = send(
        handler, "/v1/webhook", identify("m-webhook"), {"X-Signature": signature}
    )
    assert status == 200, answer
    assert profile(richpanel)["email"] == ATTACKER_EMAIL


def test_the_webhook_route_does_not_lift_a_browser_keys_scope(handler: Any) -> None:
    """Rights follow the credential, not the route: no signature, a browser key, stripped."""
    status, answer, richpanel = send(
        handler, "/v1/webhook", identify("m-webhook-2"), basic(BROWSER_KEY)
    )
    assert status == 200, answer
    assert "email" not in profile(richpanel)


def test_the_allowlist_comes_from_the_environment(
    handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PROFILE_FIELDS", "email")
    runtime.reset()
    try:
        status, answer, richpanel = send(handler, "/v1/identify", identify(), basic(BROWSER_KEY))
    finally:
        monkeypatch.undo()
        runtime.reset()
    assert status == 200, answer
    assert profile(richpanel) == {"uid": "victim-42", "email": ATTACKER_EMAIL}
    assert answer["results"][0]["refused"] == ["traits.name", "traits.phone"]


def test_what_a_browser_keys_failed_event_queues_is_the_stripped_event(
    handler: Any,
) -> None:
    """The retry function maps the queued event again: it must not get the fields back."""
    queues = runtime.queues()
    assert isinstance(queues, StubQueues)
    queues.messages = []
    raw = json.dumps(identify("m-queued")).encode()
    richpanel = WireRichpanel()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, re.compile(re.escape(RICHPANEL_URL) + r"/b?t$"), status=500)
        headers = {"Content-Type": "application/json", **basic(BROWSER_KEY)}
        result = handler(api_gateway_event("/v1/identify", raw, headers), FakeContext())
    answer = json.loads(result["body"])
    assert answer["results"][0]["outcome"] == "queued", answer
    assert richpanel.records == []
    (message,) = queues.messages
    assert ATTACKER_EMAIL not in message.body and "555 0100" not in message.body
    assert "Ann Lee" in message.body
