"""Real Segment-compatible clients, unchanged, talking to the local stack over HTTP.

Each client sends an identify, a track, a page and an Order Completed; the sandbox must
receive the mapped Richpanel calls, and the client must have seen success at the first
attempt in its own terms (no error callback, no retry, every batch answered 200).

- segment-analytics-python (PyPI, `segment.analytics`)
- rudder-sdk-python (PyPI, `rudderstack.analytics`)
- @segment/analytics-node (npm, run by tests/e2e/node/send.js; `make venv` runs `npm ci`)
- Segment Webhooks: an Actions-style batched signed array and a classic single signed event
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from local.secrets import LOCAL_WEBHOOK_SECRET, LOCAL_WRITE_KEY

pytestmark = pytest.mark.integration

NODE_DIR = Path(__file__).resolve().parents[1] / "e2e" / "node"
ORDER_ID_SUFFIX = "o-1"


def expected_calls(stack: Any, wait_for: Callable[..., Any], run: str) -> dict[str, dict[str, Any]]:
    """Wait for the four calls of `run` (messageIds `<run>-<kind>`) at the sandbox."""
    kinds = ("identify", "track", "page", "order")
    ids = {f"{run}-{kind}": kind for kind in kinds}

    def arrived() -> dict[str, dict[str, Any]] | None:
        found: dict[str, dict[str, Any]] = {}
        for entry in stack.sandbox_calls():
            kind = ids.get((entry.get("call") or {}).get("eventId", ""))
            if kind is not None:
                assert kind not in found, f"{kind} reached the sandbox twice: {entry}"
                found[kind] = entry
        return found if len(found) == len(kinds) else None

    calls: dict[str, dict[str, Any]] = wait_for(arrived, timeout=15, what=f"4 calls of {run}")
    return calls


def assert_mapped(calls: dict[str, dict[str, Any]], run: str) -> None:
    """Event names and the order fields Richpanel needs."""
    for kind, entry in calls.items():
        assert entry["status"] == 200, (kind, entry)
        assert entry["signature_valid"] is True, (kind, entry)
    assert calls["identify"]["call"]["event"] == "identify"
    assert calls["identify"]["call"]["userProperties"]["uid"]
    assert calls["track"]["call"]["event"] == "Clicked Login Button"
    assert calls["page"]["call"]["event"] == "page_view"
    order = calls["order"]["call"]
    assert order["event"] == "Order Completed"
    assert order["properties"]["orderId"] == f"{run}-{ORDER_ID_SUFFIX}"
    assert order["properties"]["amount"] == 42.5
    assert order["properties"]["currency"] == "USD"
    items = order["properties"]["items"]
    assert isinstance(items, list) and len(items) == 1, order


ORDER_PROPERTIES = {
    "total": 42.5,
    "currency": "USD",
    "products": [
        {"product_id": "p-1", "sku": "SKU-1", "name": "Mug", "price": 21.25, "quantity": 2}
    ],
}


def send_four(client: Any, run: str) -> None:
    """The four calls through a Python client with analytics-python's call signatures."""
    user = f"py-user-{run}"
    client.identify(
        user, {"email": "py@example.com", "name": "Py Client"}, message_id=f"{run}-identify"
    )
    client.track(user, "Clicked Login Button", {"button": "header"}, message_id=f"{run}-track")
    client.page(
        user,
        name="Home",
        properties={"url": "https://shop.example.com/", "path": "/"},
        message_id=f"{run}-page",
    )
    client.track(
        user,
        "Order Completed",
        {"order_id": f"{run}-{ORDER_ID_SUFFIX}", **ORDER_PROPERTIES},
        message_id=f"{run}-order",
    )


@contextmanager
def observed(session: requests.Session) -> Iterator[list[requests.Response]]:
    """Record the responses a client library's own requests.Session receives (read only)."""
    seen: list[requests.Response] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(response)

    hooks = session.hooks.setdefault("response", [])
    hooks.append(hook)
    try:
        yield seen
    finally:
        hooks.remove(hook)


def assert_first_attempt_success(seen: list[requests.Response], stack: Any) -> None:
    assert seen, "the client sent nothing"
    for response in seen:
        assert response.request.url == f"{stack.api}/v1/batch"
        assert response.status_code == 200, response.text
        assert "X-Retry-Count" not in response.request.headers
        assert response.json()["summary"]["delivered"] >= 1


def run_python_client(client_class: Any, request_module: Any, stack: Any, run: str) -> list[Any]:
    """Send the four calls through a Python client in its normal background mode.

    Asserts the client reported no error, emptied its queue and got a first-attempt 200;
    returns the responses seen on its own HTTP session.
    """
    errors: list[Any] = []
    client = client_class(
        LOCAL_WRITE_KEY,
        host=stack.api,
        on_error=lambda error, batch: errors.append((error, batch)),
        upload_interval=0.1,
    )
    with observed(request_module._session) as seen:
        send_four(client, run)
        client.flush()
        client.join()

    assert errors == []
    assert client.queue.empty()
    assert_first_attempt_success(seen, stack)
    return list(seen)


def test_segment_analytics_python(stack: Any, wait_for: Callable[..., Any]) -> None:
    from segment.analytics import Client
    from segment.analytics import request as segment_request

    run = f"seg-py-{uuid.uuid4().hex[:8]}"
    seen = run_python_client(Client, segment_request, stack, run)
    # 2.4.0 sends the write key both in the body and as Basic auth.
    body = json.loads(seen[0].request.body or b"{}")
    assert body["writeKey"] == LOCAL_WRITE_KEY
    assert_mapped(expected_calls(stack, wait_for, run), run)


def test_rudder_sdk_python(stack: Any, wait_for: Callable[..., Any]) -> None:
    from rudderstack.analytics import Client
    from rudderstack.analytics import request as rudder_request

    run = f"rudder-py-{uuid.uuid4().hex[:8]}"
    seen = run_python_client(Client, rudder_request, stack, run)
    # Basic auth, gzip-compressed body, POST {dataPlaneUrl}/v1/batch.
    assert seen[0].request.headers["Authorization"].startswith("Basic ")
    assert seen[0].request.headers.get("Content-Encoding") == "gzip"
    assert_mapped(expected_calls(stack, wait_for, run), run)


def test_segment_analytics_node(stack: Any, wait_for: Callable[..., Any]) -> None:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    assert (NODE_DIR / "node_modules" / "@segment" / "analytics-node").is_dir(), (
        "run `make venv` (npm ci --prefix tests/e2e/node) first"
    )
    run = f"seg-node-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "E2E_HOST": stack.api, "E2E_WRITE_KEY": LOCAL_WRITE_KEY, "E2E_RUN": run}
    finished = subprocess.run(
        [node, "send.js"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    seen = json.loads(finished.stdout.strip().splitlines()[-1])

    assert seen["errors"] == []
    # maxEventsInBatch 4: one batch, one request, one 200, no retry.
    assert [r["status"] for r in seen["responses"]] == [200]
    (sent,) = seen["requests"]
    assert sent["url"] == f"{stack.api}/v1/batch"
    assert sent["headers"]["Authorization"].startswith("Basic ")
    assert "X-Retry-Count" not in sent["headers"]
    assert_mapped(expected_calls(stack, wait_for, run), run)


def webhook_events(run: str) -> list[dict[str, Any]]:
    """The four calls as Segment delivers them to a Webhooks destination."""
    user = f"hook-user-{run}"
    base = {"userId": user, "timestamp": "2026-11-28T09:16:30.250Z"}
    return [
        {**base, "type": "identify", "messageId": f"{run}-identify", "traits": {"name": "Hook"}},
        {
            **base,
            "type": "track",
            "messageId": f"{run}-track",
            "event": "Clicked Login Button",
            "properties": {"button": "header"},
        },
        {
            **base,
            "type": "page",
            "messageId": f"{run}-page",
            "name": "Home",
            "properties": {"url": "https://shop.example.com/"},
        },
        {
            **base,
            "type": "track",
            "messageId": f"{run}-order",
            "event": "Order Completed",
            "properties": {"order_id": f"{run}-{ORDER_ID_SUFFIX}", **ORDER_PROPERTIES},
        },
    ]


def compact(value: Any) -> bytes:
    """JSON.stringify's output for plain ASCII data."""
    return json.dumps(value, separators=(",", ":")).encode()


def sign(payload: bytes) -> str:
    return hmac.new(LOCAL_WEBHOOK_SECRET.encode(), payload, hashlib.sha1).hexdigest()


def test_segment_webhooks_actions_batch(stack: Any, wait_for: Callable[..., Any]) -> None:
    run = f"hook-batch-{uuid.uuid4().hex[:8]}"
    events = webhook_events(run)
    answer = requests.post(
        f"{stack.api}/v1/webhook",
        data=compact(events),
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Segment (Actions)",
            "X-Signature": sign(compact(events[0])),
            # the signature covers only the first element: the write key vouches for the rest
            "Authorization": "Basic " + base64.b64encode(f"{LOCAL_WRITE_KEY}:".encode()).decode(),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"]["delivered"] == 4
    assert_mapped(expected_calls(stack, wait_for, run), run)


def test_segment_webhooks_classic_single_events(stack: Any, wait_for: Callable[..., Any]) -> None:
    run = f"hook-single-{uuid.uuid4().hex[:8]}"
    for event in webhook_events(run):
        body = compact(event)
        answer = requests.post(
            f"{stack.api}/v1/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Segment.io/1.0",
                "X-Signature": sign(body),
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["summary"]["delivered"] == 1
    assert_mapped(expected_calls(stack, wait_for, run), run)
