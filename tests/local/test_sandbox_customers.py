"""The sandbox behaving like Richpanel: 200-and-drop, the customer store, the REST read-back."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.sandbox import Sandbox, start_sandbox
from local.sandbox.server import parse_args

KEY = "test-key"
SECRET = "test-secret"
REST_KEY = "local-dev-rest-key"


def signed(field: str, payload: dict[str, Any], secret: str = SECRET) -> dict[str, str]:
    """A /t or /bt body: base64 JSON signed md5(b64 + secret)."""
    encoded = base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")
    return {field: encoded, "s": hashlib.md5((encoded + secret).encode()).hexdigest()}


def call(event: str = "track", event_id: str = "e1", **extra: Any) -> dict[str, Any]:
    """A valid call for customer u1."""
    body = {
        "appClientId": KEY,
        "event": event,
        "eventId": event_id,
        "properties": {},
        "userProperties": {"uid": "u1", "email": "Ann@Example.com"},
        "time": {"sentAt": 1_700_000_000_000},
    }
    return {**body, **extra}


def post(sandbox: Sandbox, body: dict[str, Any], path: str = "/v2/t") -> requests.Response:
    return requests.post(f"{sandbox.url}{path}", json=body, timeout=5)


def recorded(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"])


def lookup(
    sandbox: Sandbox, field: str, value: str, key: str | None = REST_KEY, prefix: str = ""
) -> requests.Response:
    headers = {"x-richpanel-key": key} if key is not None else {}
    url = f"{sandbox.url}{prefix or '/v1/customers'}/{field}/{value}"
    return requests.get(url, headers=headers, timeout=5)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A default (Richpanel-like) signed sandbox."""
    server = start_sandbox(KEY, SECRET, "md5", port=0)
    yield server
    server.stop()


def test_unknown_app_client_id_is_answered_200_and_dropped(sandbox: Sandbox) -> None:
    """Done-when: 200 to an unknown appClientId, recorded as dropped, not accepted."""
    answer = post(sandbox, signed("h", call(appClientId="someone-else")))
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    [entry] = recorded(sandbox)
    assert entry["status"] == 200
    assert (entry["accepted"], entry["dropped"]) == (False, "unknown appClientId")
    assert entry["error"] is None
    assert entry["call"]["appClientId"] == "someone-else"
    accepted = requests.get(f"{sandbox.url}/_sandbox/accepted", timeout=5).json()
    assert accepted == {"accepted": {}, "total": 0}
    assert lookup(sandbox, "uid", "u1").status_code == 404


def test_bad_or_missing_signature_is_answered_200_and_dropped(sandbox: Sandbox) -> None:
    """A wrong secret or no signature: 200, dropped as "invalid signature"."""
    assert post(sandbox, signed("h", call(), secret="nope")).status_code == 200
    unsigned = signed("h", call())
    del unsigned["s"]
    assert post(sandbox, unsigned).status_code == 200
    assert post(sandbox, signed("h", call(event_id="ok"))).status_code == 200
    entries = recorded(sandbox)
    assert [(e["accepted"], e["dropped"]) for e in entries] == [
        (False, "invalid signature"),
        (False, "invalid signature"),
        (True, None),
    ]
    assert entries[0]["signature_valid"] is False
    customer = lookup(sandbox, "uid", "u1").json()["customer"]
    assert [e["eventId"] for e in customer["events"]] == ["ok"]


def test_dropped_batch_records_each_event(sandbox: Sandbox) -> None:
    """A /bt with an unknown appClientId: 200, one dropped entry per event."""
    batch = {"appClientId": "other", "events": [call(event_id="a"), call(event_id="b")]}
    assert post(sandbox, signed("hs", batch), "/v2/bt").status_code == 200
    entries = recorded(sandbox)
    assert [(e["batch_index"], e["dropped"]) for e in entries] == [
        (0, "unknown appClientId"),
        (1, "unknown appClientId"),
    ]


def test_malformed_bodies_are_still_rejected(sandbox: Sandbox) -> None:
    """Only well-formed bodies get the 200: undecodable ones stay 400, even with a bad key."""
    assert post(sandbox, {"h": "not base64!"}).status_code == 400
    batch = {"appClientId": "other", "events": []}
    assert post(sandbox, signed("hs", batch), "/v2/bt").status_code == 400


def test_strict_mode_keeps_the_401s() -> None:
    """strict=True answers 401 as before; nothing is recorded as dropped."""
    strict = start_sandbox(KEY, SECRET, "md5", port=0, strict=True)
    try:
        wrong = post(strict, signed("h", call(appClientId="other")))
        assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid appClientId"})
        bad = post(strict, signed("h", call(), secret="nope"))
        assert (bad.status_code, bad.json()) == (401, {"error": "invalid signature"})
        entries = recorded(strict)
        assert [(e["status"], e["accepted"], e["dropped"]) for e in entries] == [
            (401, False, None),
            (401, False, None),
        ]
    finally:
        strict.stop()


def test_read_back_builds_the_customer(sandbox: Sandbox) -> None:
    """Profile merge, recent events and orders with their status, by uid, email and phone."""
    identify = call(
        "identify",
        "i1",
        userProperties={"uid": "u1", "email": "Ann@Example.com", "firstName": "Ann", "plan": "a"},
    )
    order = call(
        "order",
        "o1",
        properties={"order_id": "o-1", "amount": 30, "status": "pending", "created_at": 1},
        time={"sentAt": 5, "originalTimestamp": 4},
    )
    update = call(
        "order",
        "o2",
        properties={"orderId": "o-1", "status": "completed"},
        userProperties={"uid": "u1", "phone": "+15550100", "plan": "b", "lastName": None},
    )
    for body in (identify, order, update):
        assert post(sandbox, signed("h", body)).status_code == 200
    answer = lookup(sandbox, "uid", "u1")
    assert answer.status_code == 200
    customer = answer.json()["customer"]
    assert {k: customer[k] for k in ("uid", "email", "firstName", "lastName", "phone")} == {
        "uid": "u1",
        "email": "Ann@Example.com",
        "firstName": "Ann",
        "lastName": None,
        "phone": "+15550100",
    }
    assert customer["properties"]["plan"] == "b"  # latest wins
    assert "lastName" not in customer["properties"]  # a null does not overwrite
    assert [(e["event"], e["eventId"], e["time"]) for e in customer["events"]] == [
        ("identify", "i1", 1_700_000_000_000),
        ("order", "o1", 4),
        ("order", "o2", 1_700_000_000_000),
    ]
    assert customer["events"][1]["properties"]["order_id"] == "o-1"
    assert customer["orders"] == [
        {"order_id": "o-1", "orderId": "o-1", "amount": 30, "status": "completed", "created_at": 1}
    ]
    assert lookup(sandbox, "email", "ann%40example.com").json() == answer.json()
    assert lookup(sandbox, "phone", "%2B15550100").json() == answer.json()


def test_read_back_needs_the_rest_key_and_answers_404(sandbox: Sandbox) -> None:
    """No or wrong x-richpanel-key: 401; unknown customer: 404; unknown field: 404."""
    assert post(sandbox, signed("h", call())).status_code == 200
    for key in (None, "wrong", KEY):
        answer = lookup(sandbox, "uid", "u1", key=key)
        assert (answer.status_code, answer.json()) == (401, {"error": "invalid api key"})
    missing = lookup(sandbox, "email", "nobody@example.com")
    assert (missing.status_code, missing.json()) == (404, {"error": "customer not found"})
    assert lookup(sandbox, "name", "Ann").status_code == 404
    url = f"{sandbox.url}/v1/customers/uid/u1"
    assert requests.post(url, headers={"x-richpanel-key": REST_KEY}, timeout=5).status_code == 405


def test_rest_path_and_key_are_settings() -> None:
    """rest_path and rest_key move the read-back; the default path then is not served."""
    server = start_sandbox(KEY, None, port=0, rest_key="rk", rest_path="/api/v9/people/")
    try:
        assert post(server, {"h": signed("h", call())["h"]}).status_code == 200
        found = lookup(server, "uid", "u1", key="rk", prefix="/api/v9/people")
        assert found.json()["customer"]["uid"] == "u1"
        assert lookup(server, "uid", "u1", key="rk").status_code == 404
    finally:
        server.stop()


def test_updates_show_after_visible_after_ms() -> None:
    """An accepted call shows in the read-back only once it is visible_after_ms old."""
    server = start_sandbox(KEY, SECRET, port=0, visible_after_ms=300)
    try:
        assert post(server, signed("h", call())).status_code == 200
        assert lookup(server, "uid", "u1").status_code == 404
        time.sleep(0.35)
        assert lookup(server, "uid", "u1").status_code == 200
    finally:
        server.stop()


def test_events_keep_the_last_fifty_once_per_event_id(sandbox: Sandbox) -> None:
    """Only the 50 most recent events are kept; a repeated eventId is not added twice."""
    for index in range(55):
        assert post(sandbox, signed("h", call(event_id=f"e{index}"))).status_code == 200
    assert post(sandbox, signed("h", call(event_id="e54"))).status_code == 200
    events = lookup(sandbox, "uid", "u1").json()["customer"]["events"]
    assert [e["eventId"] for e in events] == [f"e{i}" for i in range(5, 55)]


def test_injected_failures_do_not_update_the_store(sandbox: Sandbox) -> None:
    """A call answered with an injected 503 is not taken, so it is not in the store."""
    control = f"{sandbox.url}/_sandbox/behaviour"
    requests.post(control, json={"status": 503, "times": 1}, timeout=5).raise_for_status()
    assert post(sandbox, signed("h", call(appClientId="other"))).status_code == 503
    assert post(sandbox, signed("h", call())).status_code == 200
    entries = recorded(sandbox)
    assert [(e["status"], e["accepted"], e["dropped"]) for e in entries] == [
        (503, False, None),
        (200, True, None),
    ]


def test_delete_calls_clears_the_store(sandbox: Sandbox) -> None:
    """DELETE /_sandbox/calls forgets the customers too."""
    assert post(sandbox, signed("h", call())).status_code == 200
    assert lookup(sandbox, "uid", "u1").status_code == 200
    requests.delete(f"{sandbox.url}/_sandbox/calls", timeout=5).raise_for_status()
    assert lookup(sandbox, "uid", "u1").status_code == 404


def test_cli_options() -> None:
    """The CLI takes --strict, --rest-key, --visible-after-ms and --rest-path."""
    defaults = parse_args(["--app-client-id", KEY])
    assert (defaults.strict, defaults.rest_key, defaults.visible_after_ms, defaults.rest_path) == (
        False,
        REST_KEY,
        0,
        "/v1/customers",
    )
    argv = ["--app-client-id", KEY, "--strict", "--rest-key", "k", "--visible-after-ms", "5"]
    args = parse_args([*argv, "--rest-path", "/x"])
    assert (args.strict, args.rest_key, args.visible_after_ms, args.rest_path) == (
        True,
        "k",
        5,
        "/x",
    )


def test_rest_path_cannot_shadow_the_control_api() -> None:
    """A rest_path under /_sandbox/ (or the root) is refused."""
    for path in ("/", "/_sandbox/customers"):
        with pytest.raises(ValueError, match="rest_path"):
            Sandbox(KEY, rest_path=path)
