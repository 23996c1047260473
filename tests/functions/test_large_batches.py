"""The largest requests each route accepts, with the default settings: nothing lost.

The stack runs in this process with its retry poller held back, so what ingest queued stays
in moto's retry queue, where it is read without receiving it (a receive would hide it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.run import LocalStack
from local.template import Template
from richpanel_destination import runtime
from richpanel_destination.limits import TRACKING_API, WEBHOOK

from .golden_cases import SENDER_AUTHORIZATION


class HeldBack(LocalStack):
    """The local stack without its SQS pollers."""

    def _start_pollers(self, context: Any) -> None:
        return None


@pytest.fixture(scope="module")
def held_stack() -> Iterator[LocalStack]:
    import os

    saved = dict(os.environ)
    runtime.reset()
    local = HeldBack(Template.load(), api_port=0, sandbox_port=0, environ={})
    try:
        local.start()
        yield local
    finally:
        if local.sqs is not None:
            local.sqs.reset()  # moto's state is the process's: leave no queued thousands behind
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        runtime.reset()


def queued_event_ids(local: LocalStack, logical_id: str) -> list[str]:
    """messageIds of the events in a queue, read from moto's state (nothing is received)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    assert local.context is not None
    backend = sqs_backends[DEFAULT_ACCOUNT_ID][local.context.region]
    queue = backend.queues[local.queues[logical_id].name]
    return [json.loads(m.body)["event"]["messageId"] for m in queue._messages]


def event(prefix: str, i: int, size: int) -> dict[str, Any]:
    item = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"{prefix}-{i:05d}",
        "userId": f"user-{i}",
        "timestamp": "2024-03-15T12:34:56.789Z",
        "properties": {"product_id": f"sku-{i}", "description": ""},
    }
    item["properties"]["description"] = "x" * (size - len(json.dumps(item)) - 2)
    return item


@pytest.mark.parametrize(
    ("path", "limits", "wrap"),
    [
        ("/v1/webhook", WEBHOOK, lambda items: items),
        ("/v1/batch", TRACKING_API, lambda items: {"batch": items}),
    ],
    ids=["webhook-4000", "batch-2500"],
)
def test_the_largest_batch_ends_delivered_or_queued_with_none_lost(
    held_stack: LocalStack, path: str, limits: Any, wrap: Any
) -> None:
    count = limits.batch_events
    size = min(1024, (limits.request_bytes - 1000) // count)
    prefix = path.rsplit("/", 1)[-1]
    events = [event(prefix, i, size) for i in range(count)]
    body = json.dumps(wrap(events)).encode()
    assert len(body) <= limits.request_bytes
    assert held_stack.api is not None and held_stack.sandbox is not None
    requests.delete(f"{held_stack.sandbox.url}/_sandbox/calls", timeout=5)
    started = time.monotonic()
    answer = requests.post(
        held_stack.api.url + path,
        data=body,
        headers={"Content-Type": "application/json", "Authorization": SENDER_AUTHORIZATION},
        timeout=120,
    )
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text[:500]
    results = answer.json()["results"]
    fates = {r["messageId"]: r["outcome"] for r in results}
    assert len(fates) == count and set(fates.values()) <= {"delivered", "queued"}
    delivered = {m for m, fate in fates.items() if fate == "delivered"}
    queued = sorted(m for m, fate in fates.items() if fate == "queued")
    accepted = requests.get(f"{held_stack.sandbox.url}/_sandbox/accepted", timeout=5).json()
    assert set(accepted["accepted"]) == delivered  # what Richpanel got is what we said
    assert set(accepted["accepted"].values()) <= {1}  # each once
    in_queue = [m for m in queued_event_ids(held_stack, "RetryQueue") if m.startswith(prefix)]
    assert sorted(in_queue) == queued  # the rest is queued, each once
    print(
        f"{path}: {count} events, {len(body)} bytes: {len(delivered)} delivered, "
        f"{len(queued)} queued, answered in {took:.2f} s on the local stack"
    )
