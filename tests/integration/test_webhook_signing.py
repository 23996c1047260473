"""Over real HTTP: what an X-Signature vouches for (issue 13.7, docs/security.md#signing-limits).

Segment's Webhooks (Actions) batching signs only the first element of an array, and no
signature carries a time: a captured signed request must not admit a forged batch, and an
old one must not be replayed once idempotency has forgotten it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local.secrets import LOCAL_WEBHOOK_SECRET, LOCAL_WRITE_KEY

pytestmark = pytest.mark.integration


def compact(value: Any) -> bytes:
    """JSON.stringify's output for plain ASCII data (what Segment signs and sends)."""
    return json.dumps(value, separators=(",", ":")).encode()


def sign(payload: bytes) -> str:
    return hmac.new(LOCAL_WEBHOOK_SECRET.encode(), payload, hashlib.sha1).hexdigest()


def basic(key: str) -> str:
    """Authorization: Basic base64("<writeKey>:"), as the Send mapping's Headers carry it."""
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def received(seconds_ago: float = 0) -> str:
    """A receivedAt as Segment writes it."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def signed_track(run: str, seconds_ago: float = 0) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"u-{run}",
        "event": "Signed",
        "messageId": f"{run}-signed",
        "receivedAt": received(seconds_ago),
    }


def post(stack: Any, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        f"{stack.api}/v1/webhook",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def assert_nothing_happened(stack: Any) -> None:
    assert stack.sandbox_calls() == []
    assert stack.queue_total("RetryQueue") == stack.queue_total("DeadLetterQueue") == 0


def test_a_captured_signature_cannot_carry_a_forged_identify_in_a_batch(stack: Any) -> None:
    run = f"forge-{uuid.uuid4().hex[:8]}"
    first = compact(signed_track(run))  # what Segment signed, captured with its X-Signature
    forged = {
        "type": "identify",
        "userId": "victim-customer",
        "messageId": f"{run}-forged",
        "traits": {"email": f"attacker-{run}@example.com"},
    }
    body = b"[" + first + b"," + compact(forged) + b"]"
    answer = post(stack, body, **{"X-Signature": sign(first)})
    assert answer.status_code == 401, answer.text
    assert answer.json()["message"] == (
        "Unauthorized: X-Signature covers only the first element of a batch; "
        "send the write key too (Authorization: Basic)"
    )
    assert_nothing_happened(stack)


def test_a_replayed_old_signed_event_is_refused(stack: Any) -> None:
    run = f"replay-{uuid.uuid4().hex[:8]}"
    body = compact(signed_track(run, seconds_ago=3 * 86_400))  # older than the 24 h default
    answer = post(stack, body, **{"X-Signature": sign(body)})
    assert answer.status_code == 401, answer.text
    assert answer.json()["message"].startswith("Unauthorized: the signed event is too old")
    assert_nothing_happened(stack)


def test_a_signed_batch_with_the_write_key_is_delivered_and_a_replay_is_a_duplicate(
    stack: Any,
) -> None:
    run = f"batch-{uuid.uuid4().hex[:8]}"
    first = signed_track(run)
    second = {**first, "messageId": f"{run}-second", "event": "Second"}
    body = compact([first, second])
    headers = {"X-Signature": sign(compact(first))}
    answer = post(stack, body, **headers, Authorization=basic(LOCAL_WRITE_KEY))
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"]["delivered"] == 2
    # the same request again (a Segment retry, or a replay within the idempotency TTL)
    again = post(stack, body, **headers, Authorization=basic(LOCAL_WRITE_KEY))
    assert again.status_code == 200, again.text
    assert {r["outcome"] for r in again.json()["results"]} == {"duplicate"}


def test_a_wrong_signature_is_refused_even_with_the_write_key(stack: Any) -> None:
    run = f"wrong-{uuid.uuid4().hex[:8]}"
    body = compact([signed_track(run), {**signed_track(run), "messageId": f"{run}-2"}])
    answer = post(stack, body, **{"X-Signature": "0" * 40}, Authorization=basic(LOCAL_WRITE_KEY))
    assert answer.status_code == 401, answer.text
    assert_nothing_happened(stack)
