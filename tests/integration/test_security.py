"""Over real HTTP: strangers are refused without a trace; logs hold no personal data or secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
import requests

from local.secrets import LOCAL_WEBHOOK_SECRET

pytestmark = pytest.mark.integration

EMAIL = "planted.person@example.com"
PHONE = "+1 415 555 0199"
API_KEY = "sk_live_PLANTED0123456789"


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
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"]["delivered"] == 2


def test_planted_personal_data_and_keys_never_reach_the_logs(stack: Any, wait_for: Any) -> None:
    traits = {"email": EMAIL, "phone": PHONE, "firstName": "Planted", "api_key": API_KEY}
    run = uuid.uuid4().hex[:8]
    batch = {
        "batch": [
            {"type": "identify", "userId": "u-pii", "messageId": f"pii-{run}-1", "traits": traits},
            {
                "type": "track",
                "userId": "u-pii",
                "event": "Order Completed",
                "messageId": f"pii-{run}-2",
                "properties": {"note": f"reach me at {EMAIL} or {PHONE}", "token": API_KEY},
                "context": {"traits": traits, "ip": "198.51.100.23"},
            },
            # rejected: its (redacted) payload is logged
            {
                "type": "identify",
                "anonymousId": "a-pii",
                "messageId": f"pii-{run}-3",
                "traits": traits,
            },
            {"type": "track", "userId": "u-pii", "messageId": f"pii-{run}-4", "traits": traits},
        ]
    }
    # Richpanel refuses one call and echoes personal data back in its error
    stack.set_behaviour(status=400, times=1, body={"error": f"bad email {EMAIL}, phone {PHONE}"})
    assert stack.http.post(f"{stack.api}/v1/batch", json=batch, timeout=10).status_code == 200
    stack.http.post(f"{stack.api}/v1/batch", json={**batch, "writeKey": API_KEY}, timeout=10)
    requests.post(f"{stack.api}/v1/track", auth=(API_KEY, ""), json={"event": "x"}, timeout=10)
    wait_for(lambda: stack.queue_total("RetryQueue") == 0, timeout=30)

    log = stack.log_tail(2_000_000)
    assert f"pii-{run}-3" in log  # the run really was logged
    assert '"payload"' in log and "hash:" in log  # rejected events' payloads, redacted
    for planted in (EMAIL, PHONE, "415 555 0199", API_KEY, "Planted", "198.51.100.23"):
        assert planted not in log, planted
