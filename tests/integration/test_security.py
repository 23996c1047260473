"""Over real HTTP: strangers are refused without a trace; logs hold no personal data or secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
import requests

from local.secrets import LOCAL_WEBHOOK_SECRET, LOCAL_WRITE_KEY

pytestmark = pytest.mark.integration

EMAIL = "planted.person@example.com"
PHONE = "+1 415 555 0199"
API_KEY = "sk_live_PLANTED0123456789"
NAME = "Janeth Roewood"
LINE1 = "12 Plantedelm Street"
AD_ID = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
LATITUDE = 37.7749295


def test_unauthenticated_requests_get_401_and_nothing_happens(stack: Any) -> None:
    marker = f"stranger-{uuid.uuid4()}"
    event = {"type": "track", "userId": "u", "event": "E", "messageId": marker}
    answers = [
        requests.post(f"{stack.api}/v1/track", json=event, timeout=10),
        requests.post(f"{stack.api}/v1/track", json=event, auth=("not-a-key", ""), timeout=10),
        requests.post(
            f"{stack.api}/v1/batch", json={"writeKey": "nope", "batch": [event]}, timeout=10
        ),
        requests.post(
            f"{stack.api}/v1/webhook", json=event, headers={"X-Signature": "0" * 40}, timeout=10
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert all(a.json()["message"].startswith("Unauthorized: ") for a in answers)
    assert stack.sandbox_calls() == []
    assert stack.queue_total("RetryQueue") == stack.queue_total("DeadLetterQueue") == 0
    log = stack.log_tail(200_000)
    assert marker not in log  # not even its messageId was logged
    assert log.count('"request refused"') >= 4


def test_a_signed_webhook_array_is_admitted(stack: Any) -> None:
    first = {"type": "track", "userId": "u", "event": "Signed", "messageId": f"sig-{uuid.uuid4()}"}
    first_bytes = json.dumps(first, separators=(",", ":")).encode()
    body = b"[" + first_bytes + b"," + json.dumps({**first, "messageId": "x2"}).encode() + b"]"
    signature = hmac.new(LOCAL_WEBHOOK_SECRET.encode(), first_bytes, hashlib.sha1).hexdigest()
    answer = requests.post(
        f"{stack.api}/v1/webhook",
        data=body,
        headers={"X-Signature": signature, "Content-Type": "application/json"},
        auth=(LOCAL_WRITE_KEY, ""),  # X-Signature covers only the first element (issue 13.7)
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"]["delivered"] == 2


def test_planted_personal_data_and_keys_never_reach_the_logs(stack: Any, wait_for: Any) -> None:
    traits = {
        "email": EMAIL,
        "phone": PHONE,
        "firstName": "Planted",
        "full_name": NAME,
        "customer_name": NAME,
        "api_key": API_KEY,
    }
    context = {
        "traits": traits,
        "ip": "198.51.100.23",
        "device": {"advertisingId": AD_ID},
        "location": {"latitude": LATITUDE},
    }
    run = uuid.uuid4().hex[:8]
    numeric_id = str(uuid.uuid4().int)[:16]  # an ID of digits only: must stay searchable
    batch = {
        "batch": [
            {"type": "identify", "userId": "u-pii", "messageId": f"pii-{run}-1", "traits": traits},
            {
                "type": "track",
                "userId": "u-pii",
                "event": "Order Completed",
                "messageId": f"pii-{run}-2",
                "properties": {"note": f"reach me at {EMAIL} or {PHONE}", "token": API_KEY},
                "context": context,
            },
            # rejected: its preview (shape only) is logged
            {
                "type": "identify",
                "anonymousId": "a-pii",
                "messageId": f"pii-{run}-3",
                "traits": traits,
                "context": context,
            },
            {
                "type": "track",
                "userId": numeric_id,
                "messageId": numeric_id,
                "traits": traits,
                "properties": {"shipping": {"line1": LINE1}, NAME: True},
                "context": context,
            },
        ]
    }
    # Richpanel refuses one call and echoes personal data back in its error
    error = f"customer {NAME}: bad email {EMAIL}, phone {PHONE}"
    stack.set_behaviour(status=400, times=1, body={"error": error})
    assert stack.http.post(f"{stack.api}/v1/batch", json=batch, timeout=10).status_code == 200
    stack.http.post(f"{stack.api}/v1/batch", json={**batch, "writeKey": API_KEY}, timeout=10)
    requests.post(f"{stack.api}/v1/track", auth=(API_KEY, ""), json={"event": "x"}, timeout=10)
    # a bad request's message names the problem and where it is, not the sender's value
    duplicate = '{"userId": "u-pii", "event": "E", "traits": {' + f'"{NAME}": 1, "{NAME}": 2' + "}}"
    answer = stack.http.post(f"{stack.api}/v1/track", data=duplicate, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["message"].endswith("duplicate key <key 2> in an object at /traits")
    wait_for(lambda: stack.queue_total("RetryQueue") == 0, timeout=30)

    log = stack.log_tail(2_000_000)
    assert f"pii-{run}-3" in log  # the run really was logged
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    previews = [json.loads(line["payload"]) for line in lines if "payload" in line]
    assert {"messageId": numeric_id, "userId": numeric_id} in [
        {k: p.get(k) for k in ("messageId", "userId")} for p in previews
    ]  # a rejected event's preview is valid JSON, its numeric IDs as sent
    assert any(line.get("messageId") == numeric_id for line in lines)  # the query finds it
    assert "Richpanel answered 400: body of " in log  # Richpanel's error, counted and hashed
    planted = (EMAIL, PHONE, "415 555 0199", API_KEY, "Planted", "198.51.100.23", NAME, AD_ID)
    for value in (*planted, "Roewood", "Plantedelm", str(LATITUDE)):
        assert value not in log, value
